/**
 * TV-L1 optical flow (Zach, Pock and Bischof, "A Duality Based Approach for
 * Realtime TV-L1 Optical Flow", DAGM 2007) as OpenCV 4.6's
 * `cv::optflow::DualTVL1OpticalFlow` computes it, with its default
 * parameters: a pyramid of `nscales` levels, each `scaleStep` times the size
 * of the one above (INTER_LINEAR, stopping before a side drops under 16
 * pixels); per level `warps` bicubic warps of I1 and its gradient; per warp
 * up to `outerIterations` rounds of a 5x5 median filter of the flow followed
 * by up to `innerIterations` thresholding, primal and dual steps; the flow
 * resized to the next level and divided by `scaleStep`.
 *
 * The stopping rule is OpenCV's: a warp ends as soon as the sum of squared
 * flow updates of one iteration is at most epsilon^2 * H * W. The sum is
 * reduced and tested on the GPU by the kernel that runs the iterations, so
 * no readback interrupts the iterations; dispatches of a warp that has
 * already converged return at once.
 *
 * Every step runs in WGSL (shaders/vision/): resample.wgsl (pyramid and flow
 * upsampling), tvl1_gradient.wgsl, tvl1_warp.wgsl, median.wgsl and
 * tvl1_iterate.wgsl. A batch of image pairs of one size runs in the same
 * dispatches, one workgroup per pair in the iteration kernel.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, scope, type Tensor, zeros } from "../tensor.ts";
import {
  checkInteger,
  checkNumber,
  checkSameShape,
  planeLayout,
  slicePlanes,
} from "./image.ts";
import { linearTaps, resample } from "./resize.ts";
import gradientSource from "../../shaders/vision/tvl1_gradient.wgsl" with {
  type: "text",
};
import warpSource from "../../shaders/vision/tvl1_warp.wgsl" with {
  type: "text",
};
import medianSource from "../../shaders/vision/median.wgsl" with {
  type: "text",
};
import iterateSource from "../../shaders/vision/tvl1_iterate.wgsl" with {
  type: "text",
};

/** Parameters of `tvl1Flow`, named as OpenCV's DualTVL1OpticalFlow names them. */
export interface Tvl1Options {
  /** Time step of the numerical scheme. */
  tau?: number;
  /** Weight of the data term; smaller values give smoother flow. */
  lambda?: number;
  /** Coupling weight between the flow and its thresholded copy. */
  theta?: number;
  /** Number of pyramid levels. */
  nscales?: number;
  /** Warps of I1 per pyramid level. */
  warps?: number;
  /** Stopping threshold on the root-mean-square flow update, in pixels. */
  epsilon?: number;
  /** Iterations between median filterings. */
  innerIterations?: number;
  /** Median filterings (and iteration rounds) per warp. */
  outerIterations?: number;
  /** Size ratio between consecutive pyramid levels, in (0, 1). */
  scaleStep?: number;
  /** Median window side: 5 or 3, or 0 or 1 for no median filtering. */
  medianFiltering?: number;
}

/**
 * The defaults of OpenCV 4.6 (`cv2.optflow.DualTVL1OpticalFlow_create()`:
 * tau 0.25, lambda 0.15, theta 0.3, nscales 5, warps 5, epsilon 0.01,
 * innerIterations 30, outerIterations 10, scaleStep 0.8, medianFiltering 5,
 * gamma 0).
 */
export const TVL1_DEFAULTS: Readonly<Required<Tvl1Options>> = Object.freeze({
  tau: 0.25,
  lambda: 0.15,
  theta: 0.3,
  nscales: 5,
  warps: 5,
  epsilon: 0.01,
  innerIterations: 30,
  outerIterations: 10,
  scaleStep: 0.8,
  medianFiltering: 5,
});

/** Floats per image in the convergence state (see tvl1_iterate.wgsl). */
const STATE_STRIDE = 288;
/** OpenCV stops building the pyramid before a side gets below this. */
const MIN_LEVEL_SIZE = 16;

const gradientLayout = new UniformLayout([
  ["images", "u32"],
  ["h", "u32"],
  ["w", "u32"],
]);
const warpLayout = gradientLayout;
const medianLayout = new UniformLayout([
  ["images", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["radius", "u32"],
  ["scaled_epsilon", "f32"],
]);
const iterateLayout = new UniformLayout([
  ["h", "u32"],
  ["w", "u32"],
  ["inner_iterations", "u32"],
  ["l_t", "f32"],
  ["theta", "f32"],
  ["taut", "f32"],
  ["scaled_epsilon", "f32"],
]);

/** Rounds half to even, like OpenCV's cvRound. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Checks the options and fills in OpenCV's defaults. */
export function resolveTvl1Options(
  options: Tvl1Options = {},
): Required<Tvl1Options> {
  const known = new Set(Object.keys(TVL1_DEFAULTS));
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new Error(
        `tvl1Flow: unknown option '${key}'; the options are ` +
          [...known].join(", "),
      );
    }
  }
  const o = { ...TVL1_DEFAULTS, ...options };
  const op = "tvl1Flow";
  checkNumber(o.tau, "tau", 1e-6, 10, op);
  checkNumber(o.lambda, "lambda", 1e-6, 1e6, op);
  checkNumber(o.theta, "theta", 1e-6, 1e6, op);
  checkInteger(o.nscales, "nscales", 1, 64, op);
  checkInteger(o.warps, "warps", 1, 1000, op);
  checkNumber(o.epsilon, "epsilon", 0, 1e6, op);
  checkInteger(o.innerIterations, "innerIterations", 1, 100000, op);
  checkInteger(o.outerIterations, "outerIterations", 1, 100000, op);
  checkNumber(o.scaleStep, "scaleStep", 0.01, 0.99, op);
  if (![0, 1, 3, 5].includes(o.medianFiltering)) {
    throw new Error(
      `tvl1Flow: medianFiltering must be 5 or 3 (window side), or 0 or 1 ` +
        `for none, got ${o.medianFiltering}`,
    );
  }
  return o;
}

/** Level sizes of OpenCV's pyramid, finest first. */
export function pyramidSizes(
  height: number,
  width: number,
  o: Required<Tvl1Options>,
): [number, number][] {
  const sizes: [number, number][] = [[height, width]];
  for (let s = 1; s < o.nscales; s++) {
    const [h, w] = sizes[s - 1];
    const next: [number, number] = [
      roundHalfEven(h * o.scaleStep),
      roundHalfEven(w * o.scaleStep),
    ];
    if (next[0] < MIN_LEVEL_SIZE || next[1] < MIN_LEVEL_SIZE) break;
    sizes.push(next);
  }
  return sizes;
}

function downscale(
  images: Tensor,
  from: [number, number],
  to: [number, number],
  scaleStep: number,
): Tensor {
  // OpenCV is given the factor, so positions step by exactly 1 / scaleStep.
  const step = 1 / scaleStep;
  return resample(images, to[0], to[1], {
    x: linearTaps(from[1], to[1], step),
    y: linearTaps(from[0], to[0], step),
    key: `tvl1.down:${from}->${to}@${scaleStep}`,
  });
}

function upscaleFlow(
  flow: Tensor,
  from: [number, number],
  to: [number, number],
  scaleStep: number,
): Tensor {
  return resample(
    flow,
    to[0],
    to[1],
    {
      x: linearTaps(from[1], to[1], from[1] / to[1]),
      y: linearTaps(from[0], to[0], from[0] / to[0]),
      key: `linear:${from}->${to}`,
    },
    1 / scaleStep,
  );
}

/** Flow of one pyramid level; returns the updated flow tensor. */
function solveLevel(
  i0: Tensor,
  i1: Tensor,
  initialFlow: Tensor,
  state: Tensor,
  o: Required<Tvl1Options>,
): Tensor {
  const rt = runtime();
  const [images, h, w] = i0.shape;
  const plane = h * w;
  const workgroups = Math.ceil((images * plane) / 256);
  const shapes = `${images} pairs of ${h}x${w}`;
  const scaledEpsilon = o.epsilon * o.epsilon * plane;

  const gradient = empty([images, 2, h, w], "f32", "tvl1.i1_gradient");
  rt.dispatch({
    op: "tvl1.gradient",
    kernel: { file: "shaders/vision/tvl1_gradient.wgsl", source: gradientSource },
    uniforms: gradientLayout.pack({ images, h, w }),
    bindings: [i1.binding(), gradient.binding()],
    workgroups,
    shapes,
  });
  const warped = empty([images, h, w, 4], "f32", "tvl1.warped");
  const dual = zeros([images, 4, h, w], "f32", "tvl1.dual");
  let flow = initialFlow;
  let spare = empty([images, 2, h, w], "f32", "tvl1.flow");
  const warpUniforms = warpLayout.pack({ images, h, w });
  const medianUniforms = medianLayout.pack({
    images,
    h,
    w,
    radius: Math.max(0, (o.medianFiltering - 1) / 2),
    scaled_epsilon: scaledEpsilon,
  });
  const iterateUniforms = iterateLayout.pack({
    h,
    w,
    inner_iterations: o.innerIterations,
    l_t: o.lambda * o.theta,
    theta: o.theta,
    taut: o.tau / o.theta,
    scaled_epsilon: scaledEpsilon,
  });

  for (let warp = 0; warp < o.warps; warp++) {
    rt.dispatch({
      op: "tvl1.warp",
      kernel: { file: "shaders/vision/tvl1_warp.wgsl", source: warpSource },
      uniforms: warpUniforms,
      bindings: [
        i0.binding(),
        i1.binding(),
        gradient.binding(),
        flow.binding(),
        warped.binding(),
        state.binding(),
      ],
      workgroups,
      shapes,
    });
    for (let outer = 0; outer < o.outerIterations; outer++) {
      if (o.medianFiltering > 1) {
        rt.dispatch({
          op: "tvl1.median",
          kernel: { file: "shaders/vision/median.wgsl", source: medianSource },
          uniforms: medianUniforms,
          bindings: [flow.binding(), state.binding(), spare.binding()],
          workgroups: Math.ceil((images * 2 * plane) / 256),
          shapes,
        });
        [flow, spare] = [spare, flow];
      }
      rt.dispatch({
        op: "tvl1.iterate",
        kernel: {
          file: "shaders/vision/tvl1_iterate.wgsl",
          source: iterateSource,
        },
        uniforms: iterateUniforms,
        bindings: [
          warped.binding(),
          flow.binding(),
          dual.binding(),
          state.binding(),
        ],
        workgroups: images,
        shapes,
      });
    }
  }
  spare.dispose();
  return flow;
}

/** Flows of a batch plus the inner iterations each pair ran. */
export interface Tvl1Result {
  /** [B, 2, H, W]: u (horizontal) and v (vertical) in pixels. */
  flow: Tensor;
  /** [B, STATE_STRIDE] convergence state; entry 1 of each row counts the
   * inner iterations run over all levels and warps. */
  state: Tensor;
}

/**
 * TV-L1 flow of a batch of grayscale pairs, [B, H, W] each (0..255), with
 * the convergence state kept for inspection.
 */
export function tvl1FlowWithState(
  frames0: Tensor,
  frames1: Tensor,
  options: Tvl1Options = {},
): Tvl1Result {
  const o = resolveTvl1Options(options);
  checkSameShape(frames0, frames1, "tvl1Flow");
  if (frames0.rank !== 3) {
    throw new Error(
      `tvl1FlowBatch expects grayscale batches [B, H, W], got ` +
        `${frames0.describe()}; convert colour frames with toGray first`,
    );
  }
  const { height, width } = planeLayout(frames0, "tvl1Flow");
  if (height < 3 || width < 3) {
    throw new Error(
      `tvl1Flow needs images of at least 3x3 pixels, got ${height}x${width}`,
    );
  }
  const images = frames0.shape[0];
  return scope(() => {
    const sizes = pyramidSizes(height, width, o);
    const levels0: Tensor[] = [frames0];
    const levels1: Tensor[] = [frames1];
    for (let s = 1; s < sizes.length; s++) {
      levels0.push(downscale(levels0[s - 1], sizes[s - 1], sizes[s], o.scaleStep));
      levels1.push(downscale(levels1[s - 1], sizes[s - 1], sizes[s], o.scaleStep));
    }
    const state = zeros([images, STATE_STRIDE], "f32", "tvl1.state");
    const coarsest = sizes[sizes.length - 1];
    let flow = zeros([images, 2, ...coarsest], "f32", "tvl1.flow");
    for (let s = sizes.length - 1; s >= 0; s--) {
      flow = solveLevel(levels0[s], levels1[s], flow, state, o);
      if (s > 0) {
        flow = upscaleFlow(flow, sizes[s], sizes[s - 1], o.scaleStep);
      }
    }
    return { flow, state };
  });
}

/**
 * TV-L1 flow of a batch of grayscale pairs, [B, H, W] each in 0..255, to
 * [B, 2, H, W]: for each pair, frames0(x) ~ frames1(x + (u, v)).
 */
export function tvl1FlowBatch(
  frames0: Tensor,
  frames1: Tensor,
  options: Tvl1Options = {},
): Tensor {
  const { flow, state } = tvl1FlowWithState(frames0, frames1, options);
  state.dispose();
  return flow;
}

/**
 * TV-L1 flow from grayscale `frame0` to `frame1` ([H, W] or [1, H, W], 0..255)
 * as a [2, H, W] tensor (u, v): frame0(x) ~ frame1(x + (u, v)). The defaults
 * are OpenCV 4.6's (TVL1_DEFAULTS).
 *
 * @example
 * ```ts
 * const flow = tvl1Flow(onsetGray, apexGray); // [2, H, W]
 * ```
 */
export function tvl1Flow(
  frame0: Tensor,
  frame1: Tensor,
  options: Tvl1Options = {},
): Tensor {
  checkSameShape(frame0, frame1, "tvl1Flow");
  const isGray = frame0.rank === 2 ||
    (frame0.rank === 3 && frame0.shape[0] === 1);
  if (!isGray) {
    throw new Error(
      `tvl1Flow expects grayscale frames [H, W] or [1, H, W], got ` +
        `${frame0.describe()}; convert colour frames with toGray first`,
    );
  }
  const { height, width } = planeLayout(frame0, "tvl1Flow");
  return scope(() => {
    const batch0 = slicePlanes(frame0, 0, 1, [1, height, width], "tvl1Flow");
    const batch1 = slicePlanes(frame1, 0, 1, [1, height, width], "tvl1Flow");
    const flow = tvl1FlowBatch(batch0, batch1, options);
    return slicePlanes(flow, 0, 2, [2, height, width], "tvl1Flow");
  });
}
