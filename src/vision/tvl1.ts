/**
 * TV-L1 optical flow (Zach, Pock and Bischof, "A Duality Based Approach for
 * Realtime TV-L1 Optical Flow", DAGM 2007) as OpenCV 4.6's
 * `cv::optflow::DualTVL1OpticalFlow` computes it, with its default
 * parameters. The images form a pyramid of `nscales` levels, each
 * `scaleStep` times the size of the one above (INTER_LINEAR), which stops
 * before a side drops under 16 pixels. Each level warps I1 and its gradient
 * `warps` times (bicubic). After each warp come up to `outerIterations`
 * rounds of a 5x5 median filter of the flow, each followed by up to
 * `innerIterations` thresholding, primal and dual steps. The flow is then
 * resized to the next level and divided by `scaleStep`.
 *
 * The stopping rule is OpenCV's: a warp ends as soon as the sum of squared
 * flow updates of one iteration is at most epsilon^2 * H * W. The kernel
 * that runs the iterations reduces and tests the sum on the GPU, so no
 * readback interrupts them. Dispatches of a warp that has already converged
 * return at once.
 *
 * Every step runs in WGSL (shaders/vision/): resample.wgsl (pyramid and flow
 * upsampling), tvl1_gradient.wgsl, tvl1_warp.wgsl, median.wgsl and
 * tvl1_iterate.wgsl. A batch of image pairs of one size runs in the same
 * dispatches, one workgroup per pair in the iteration kernel.
 */
import { runtime } from "../gpu/runtime.ts";
import type { KernelSpec } from "../gpu/shader.ts";
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
import iterateGlobalSource from "../../shaders/vision/tvl1_iterate_global.wgsl" with {
  type: "text",
};

/** Parameters of `tvl1Flow`, named as OpenCV's DualTVL1OpticalFlow names them. */
export interface Tvl1Options {
  /** Time step of the numerical scheme. */
  tau?: number;
  /** Weight of the data term (smaller values give smoother flow). */
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
  /**
   * Interpolation of I1 at x + u (not an OpenCV option). "opencv" is
   * OpenCV's remap, bicubic with a = -0.75 at positions rounded to 1/32
   * pixel. "keys" is Keys' cubic (a = -0.5) at exact positions. On smooth
   * images the first biases sub-pixel flow towards zero, so a 0.3 px motion
   * of Gaussian blobs comes out as about 0.255 px, in OpenCV too. The second
   * has no such bias.
   */
  warpInterpolation?: "opencv" | "keys";
}

/**
 * The defaults of OpenCV 4.6 (`cv2.optflow.DualTVL1OpticalFlow_create()`:
 * tau 0.25, lambda 0.15, theta 0.3, nscales 5, warps 5, epsilon 0.01,
 * innerIterations 30, outerIterations 10, scaleStep 0.8, medianFiltering 5,
 * gamma 0), with OpenCV's remap for the warps.
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
  warpInterpolation: "opencv",
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
  ["groups_per_image", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["scaled_epsilon", "f32"],
]);
const iterateLayout = new UniformLayout([
  ["h", "u32"],
  ["w", "u32"],
  ["inner_iterations", "u32"],
  ["tile_w", "u32"],
  ["tiles_per_row", "u32"],
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
  if (o.warpInterpolation !== "opencv" && o.warpInterpolation !== "keys") {
    throw new Error(
      `tvl1Flow: warpInterpolation must be "opencv" or "keys", got ` +
        String(o.warpInterpolation),
    );
  }
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

/** The iteration kernel for an image size, with its tile layout. */
export interface IterationPlan {
  kernel: KernelSpec;
  /** Tile width and tiles per row (tvl1_iterate.wgsl). */
  tileWidth: number;
  tilesPerRow: number;
}

/** Tile sides of tvl1_iterate.wgsl. */
const TILE_ROWS = 4;
const MAX_TILE_COLUMNS = 16;

/**
 * Plans tvl1_iterate.wgsl for an image: tiles of 4 rows and at most 16
 * columns, one per invocation of a workgroup of 64 or 256. Images of more
 * than 256 tiles use tvl1_iterate_global.wgsl.
 */
export function planIterations(
  h: number,
  w: number,
  forceGlobal = false,
): IterationPlan {
  const tilesPerRow = Math.ceil(w / MAX_TILE_COLUMNS);
  const tileWidth = Math.ceil(w / tilesPerRow);
  const tiles = Math.ceil(h / TILE_ROWS) * tilesPerRow;
  if (tiles > 256 || forceGlobal) {
    return {
      kernel: {
        file: "shaders/vision/tvl1_iterate_global.wgsl",
        source: iterateGlobalSource,
        constants: { WORKGROUP_SIZE: 256 },
      },
      tileWidth,
      tilesPerRow,
    };
  }
  // Two sizes only, because each compiles for about a second on llvmpipe.
  return {
    kernel: {
      file: "shaders/vision/tvl1_iterate.wgsl",
      source: iterateSource,
      constants: { WORKGROUP_SIZE: tiles <= 64 ? 64 : 256 },
    },
    tileWidth,
    tilesPerRow,
  };
}

/** Runs the warps of one pyramid level and returns the updated flow. */
function solveLevel(
  i0: Tensor,
  i1: Tensor,
  initialFlow: Tensor,
  state: Tensor,
  o: Required<Tvl1Options>,
  iterationKernel: "auto" | "global",
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
    kernel: {
      file: "shaders/vision/tvl1_gradient.wgsl",
      source: gradientSource,
    },
    uniforms: gradientLayout.pack({ images, h, w }),
    bindings: [i1.binding(), gradient.binding()],
    workgroups,
    shapes,
  });
  const warped = empty([images, h, w, 4], "f32", "tvl1.warped");
  const dual = zeros([images, 4, h, w], "f32", "tvl1.dual");
  let flow = initialFlow;
  let spare = empty([images, 2, h, w], "f32", "tvl1.flow");
  const plan = planIterations(h, w, iterationKernel === "global");
  const warpUniforms = warpLayout.pack({ images, h, w });
  // A few workgroups per image, each looping over many pixels.
  const medianGroups = Math.min(16, Math.ceil((2 * plane) / 2048));
  const medianUniforms = medianLayout.pack({
    groups_per_image: medianGroups,
    h,
    w,
    scaled_epsilon: scaledEpsilon,
  });
  const medianKernel: KernelSpec = {
    file: "shaders/vision/median.wgsl",
    source: medianSource,
    defines: { WINDOW_3: o.medianFiltering === 3 },
  };
  const iterateUniforms = iterateLayout.pack({
    h,
    w,
    inner_iterations: o.innerIterations,
    tile_w: plan.tileWidth,
    tiles_per_row: plan.tilesPerRow,
    l_t: o.lambda * o.theta,
    theta: o.theta,
    taut: o.tau / o.theta,
    scaled_epsilon: scaledEpsilon,
  });

  const warpKernel: KernelSpec = {
    file: "shaders/vision/tvl1_warp.wgsl",
    source: warpSource,
    constants: o.warpInterpolation === "opencv"
      ? { CUBIC_A: -0.75, SUBPIXEL_STEPS: 32 }
      : { CUBIC_A: -0.5, SUBPIXEL_STEPS: 0 },
  };
  for (let warp = 0; warp < o.warps; warp++) {
    rt.dispatch({
      op: "tvl1.warp",
      kernel: warpKernel,
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
          kernel: medianKernel,
          uniforms: medianUniforms,
          bindings: [flow.binding(), state.binding(), spare.binding()],
          workgroups: images * medianGroups,
          shapes,
        });
        [flow, spare] = [spare, flow];
      }
      rt.dispatch({
        op: "tvl1.iterate",
        kernel: plan.kernel,
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

/** Flows of a batch with the convergence state of each pair. */
export interface Tvl1Result {
  /** [B, 2, H, W]: u (horizontal) and v (vertical) in pixels. */
  flow: Tensor;
  /**
   * [B, STATE_STRIDE] convergence state. Entry 1 of each row counts the
   * inner iterations run over all levels and warps.
   */
  state: Tensor;
}

/**
 * Computes the TV-L1 flow of a batch of grayscale pairs, [B, H, W] each
 * (0..255), and keeps the convergence state for inspection.
 * `iterationKernel` "global" runs tvl1_iterate_global.wgsl at every size,
 * to compare it with the tiled kernel.
 */
export function tvl1FlowWithState(
  frames0: Tensor,
  frames1: Tensor,
  options: Tvl1Options = {},
  iterationKernel: "auto" | "global" = "auto",
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
      levels0.push(
        downscale(levels0[s - 1], sizes[s - 1], sizes[s], o.scaleStep),
      );
      levels1.push(
        downscale(levels1[s - 1], sizes[s - 1], sizes[s], o.scaleStep),
      );
    }
    const state = zeros([images, STATE_STRIDE], "f32", "tvl1.state");
    const coarsest = sizes[sizes.length - 1];
    let flow = zeros([images, 2, ...coarsest], "f32", "tvl1.flow");
    for (let s = sizes.length - 1; s >= 0; s--) {
      flow = solveLevel(
        levels0[s],
        levels1[s],
        flow,
        state,
        o,
        iterationKernel,
      );
      if (s > 0) {
        flow = upscaleFlow(flow, sizes[s], sizes[s - 1], o.scaleStep);
      }
    }
    return { flow, state };
  });
}

/**
 * Computes the TV-L1 flow of a batch of grayscale pairs, [B, H, W] each in
 * 0..255, as [B, 2, H, W], with frames0(x) ~ frames1(x + (u, v)) per pair.
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
 * Computes the TV-L1 flow from grayscale `frame0` to `frame1` ([H, W] or
 * [1, H, W], 0..255) as a [2, H, W] tensor (u, v), with
 * frame0(x) ~ frame1(x + (u, v)). The defaults are OpenCV 4.6's
 * (TVL1_DEFAULTS).
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
