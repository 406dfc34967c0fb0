/**
 * Motion magnification of the apex frame. MPFNet used the learned model of
 * Oh et al. ("Learning-based Video Motion Magnification", ECCV 2018), whose
 * weights are not available. This is the classical flow-based (Lagrangian)
 * counterpart. The TV-L1 flow F from onset to apex gives each onset point's
 * displacement, and the magnified apex moves every onset point by alpha * F
 * instead. The output is made by backward warping
 * the onset: for each output pixel y the displacement G of the trajectory
 * through y solves G = alpha * F(y - G) (a few fixed-point iterations,
 * which converge while alpha * |dF/dx| < 1, as for the small, smooth motion
 * of micro-expressions), and out(y) = onset(y - G) with bilinear sampling.
 * Unlike the learned model it cannot magnify changes of shading, and
 * occlusions are filled by stretching the onset.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, scope, type Tensor } from "../tensor.ts";
import { toGray } from "./color.ts";
import { checkNumber, checkSameShape, planeLayout } from "./image.ts";
import { tvl1Flow, type Tvl1Options } from "./tvl1.ts";
import flowWarpSource from "../../shaders/vision/flow_warp.wgsl" with {
  type: "text",
};

/** Fixed-point iterations that invert the flow at each output pixel. */
export const FLOW_INVERSION_ITERATIONS = 10;

const flowWarpLayout = new UniformLayout([
  ["channels", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["iterations", "u32"],
  ["gain", "f32"],
  ["t", "f32"],
  ["a0", "f32"],
  ["s0", "f32"],
  ["a1", "f32"],
  ["s1", "f32"],
]);

/** Weights and sampling offsets of one flow-warp output (flow_warp.wgsl). */
export interface FlowWarpTerms {
  /** Scale of the flow. */
  gain: number;
  /** Time along the trajectory at which the flow is inverted. */
  t: number;
  /** Weight and backward offset of the first image. */
  a0: number;
  s0: number;
  /** Weight and forward offset of the second image (a1 = 0: unused). */
  a1: number;
  s1: number;
}

/**
 * Warps `first` (and blends `second`) along `flow` ([2, H, W], forward flow
 * from first to second) per flow_warp.wgsl. Images are [H, W] or [C, H, W].
 */
export function flowWarp(
  first: Tensor,
  second: Tensor,
  flow: Tensor,
  terms: FlowWarpTerms,
): Tensor {
  checkSameShape(first, second, "flowWarp");
  const { planes, height, width } = planeLayout(first, "flowWarp");
  if (first.rank > 3) {
    throw new Error(
      `flowWarp expects one image [H, W] or [C, H, W], got ${first.describe()}`,
    );
  }
  const flowShape = [2, height, width];
  if (
    flow.shape.length !== 3 || flow.shape.some((d, i) => d !== flowShape[i])
  ) {
    throw new Error(
      `flowWarp expects a flow [2, ${height}, ${width}] for images ` +
        `${first.describe()}, got ${flow.describe()}`,
    );
  }
  const out = empty(first.shape, "f32", "flowWarp");
  runtime().dispatch({
    op: "vision.flowWarp",
    kernel: { file: "shaders/vision/flow_warp.wgsl", source: flowWarpSource },
    uniforms: flowWarpLayout.pack({
      channels: planes,
      h: height,
      w: width,
      iterations: FLOW_INVERSION_ITERATIONS,
      ...terms,
    }),
    bindings: [
      flow.binding(),
      first.binding(),
      second.binding(),
      out.binding(),
    ],
    workgroups: Math.ceil((height * width) / 256),
    shapes: `image ${first.describe()}`,
  });
  return out;
}

/** Grayscale view of a frame for TV-L1: [H, W] from [H, W], [1, H, W] or [3, H, W] (RGB). */
export function grayForFlow(frame: Tensor, op: string): Tensor {
  const { planes } = planeLayout(frame, op);
  if (frame.rank === 2 || planes === 1) return frame;
  if (frame.rank === 3 && planes === 3) return toGray(frame);
  throw new Error(
    `${op} expects frames [H, W], [1, H, W] or [3, H, W] (RGB), got ` +
      frame.describe(),
  );
}

/**
 * TV-L1 parameters for the flows that magnification and interpolation
 * compute themselves. They are OpenCV's, except that I1 is warped with Keys'
 * cubic. OpenCV's remap shrinks sub-pixel motion of smooth images by up to
 * a quarter (a 0.3 px motion of smooth blobs comes out as 0.255 px), and
 * magnification would multiply that error.
 */
export const MOTION_TVL1: Readonly<Tvl1Options> = Object.freeze({
  warpInterpolation: "keys",
});

/** Options of `magnify`. */
export interface MagnifyOptions {
  /** TV-L1 parameters when the flow is computed here (default MOTION_TVL1). */
  tvl1?: Tvl1Options;
}

/**
 * Magnifies the motion from `onset` to `apex` by `alpha`: returns the onset
 * warped so that each point moves alpha times its onset-to-apex
 * displacement (alpha = 1 reproduces the apex's geometry, alpha = 0 the
 * onset). Frames are [H, W], [1, H, W] or [3, H, W] (RGB) in 0..255; `flow`
 * ([2, H, W], forward flow from onset to apex) is computed on grayscale with
 * MOTION_TVL1 when not given.
 *
 * @example
 * ```ts
 * const magnified = magnify(onset, apex, 5);
 * ```
 */
export function magnify(
  onset: Tensor,
  apex: Tensor,
  alpha: number,
  flow?: Tensor,
  options: MagnifyOptions = {},
): Tensor {
  checkSameShape(onset, apex, "magnify");
  checkNumber(alpha, "alpha", -100, 100, "magnify");
  return scope(() => {
    const motion = flow ?? tvl1Flow(
      grayForFlow(onset, "magnify"),
      grayForFlow(apex, "magnify"),
      { ...MOTION_TVL1, ...options.tvl1 },
    );
    return flowWarp(onset, onset, motion, {
      gain: alpha,
      t: 1,
      a0: 1,
      s0: 1,
      a1: 0,
      s1: 0,
    });
  });
}
