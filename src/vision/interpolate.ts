/**
 * Frame interpolation from the onset to the (magnified) apex. MPFNet used
 * the learned EMA-VFI model (Zhang et al., CVPR 2023), whose weights are not
 * available, and this is the classical flow-based counterpart. With F the forward flow from onset to
 * target, the frame at time t in [0, 1] blends the onset warped forward by
 * t * F and the target warped back by (1 - t) * F along the same
 * trajectory: for each output pixel y, G = F(y - t * G) (fixed-point
 * iterations) and out(y) = (1 - t) * onset(y - t * G) + t * target(y + (1 -
 * t) * G). The first frame is the onset and the last the target exactly;
 * frame k of `count` is at t = k / (count - 1), so 11 frames step by 1/10.
 */
import { scope, type Tensor } from "../tensor.ts";
import { checkInteger, checkNumber, checkSameShape } from "./image.ts";
import { flowWarp, grayForFlow, MOTION_TVL1 } from "./magnify.ts";
import { tvl1Flow, type Tvl1Options } from "./tvl1.ts";

/** Options of `interpolateFrames`. */
export interface InterpolateOptions {
  /** TV-L1 parameters when the flow is computed here (default MOTION_TVL1). */
  tvl1?: Tvl1Options;
  /**
   * Factor applied to the flow (default 1). Passing the onset-to-apex flow
   * with flowScale = alpha interpolates towards `magnify(onset, apex, alpha,
   * flow)` without computing its flow again.
   */
  flowScale?: number;
}

/**
 * Interpolates `count` frames (default 11, MPFNet's L) from `onset` to
 * `target` along `flow`, the [2, H, W] forward flow from onset to target.
 * Without a flow, TV-L1 runs on grayscale with MOTION_TVL1. Frames are
 * [H, W], [1, H, W] or [3, H, W] (RGB) in 0..255, and each result has the
 * onset's shape.
 *
 * @example
 * ```ts
 * const flow = tvl1Flow(onsetGray, apexGray, MOTION_TVL1);
 * const magnified = magnify(onset, apex, 5, flow);
 * const frames = interpolateFrames(onset, magnified, 11, flow, { flowScale: 5 });
 * ```
 */
export function interpolateFrames(
  onset: Tensor,
  target: Tensor,
  count = 11,
  flow?: Tensor,
  options: InterpolateOptions = {},
): Tensor[] {
  checkSameShape(onset, target, "interpolateFrames");
  checkInteger(count, "count", 2, 1000, "interpolateFrames");
  const flowScale = options.flowScale ?? 1;
  checkNumber(flowScale, "flowScale", -100, 100, "interpolateFrames");
  return scope(() => {
    const motion = flow ?? tvl1Flow(
      grayForFlow(onset, "interpolateFrames"),
      grayForFlow(target, "interpolateFrames"),
      { ...MOTION_TVL1, ...options.tvl1 },
    );
    const frames: Tensor[] = [];
    for (let k = 0; k < count; k++) {
      const t = k / (count - 1);
      frames.push(flowWarp(onset, target, motion, {
        gain: flowScale,
        t,
        a0: 1 - t,
        s0: t,
        a1: t,
        s1: 1 - t,
      }));
    }
    return frames;
  });
}
