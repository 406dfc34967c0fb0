/**
 * MPFNet's input tensor and flow pictures. `motionFeatures` turns L frames
 * into [5, L - 1, H, W] with two parts per consecutive pair. The first is
 * the TV-L1 flow (u, v) on grayscale, quantised like the authors' code. It
 * is mapped from [-15, 15] pixels to 8-bit levels by (f + 15) * 255 / 30,
 * rounded, clipped to [0, 255] and divided by 255. The
 * second is the absolute frame difference of each colour channel divided by
 * 255, and a grayscale clip repeats its one channel three times. The colour
 * channels keep the frames' order: RGB from the loaders, where the authors'
 * code used OpenCV's BGR.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, readAll, scope, type Tensor } from "../tensor.ts";
import { mean, sub } from "../ops/mod.ts";
import { matchBrightness, toGray } from "./color.ts";
import { checkNumber, planeLayout, slicePlanes, stack } from "./image.ts";
import { grayForFlow } from "./magnify.ts";
import { tvl1FlowBatch, type Tvl1Options } from "./tvl1.ts";
import featuresSource from "../../shaders/vision/flow_features.wgsl" with {
  type: "text",
};
import magnitudeSource from "../../shaders/vision/flow_magnitude.wgsl" with {
  type: "text",
};
import statsSource from "../../shaders/vision/flow_magnitude_stats.wgsl" with {
  type: "text",
};
import rgbSource from "../../shaders/vision/flow_to_rgb.wgsl" with {
  type: "text",
};

/** Flow bound of the authors' quantisation, in pixels. */
export const FLOW_BOUND = 15;

export interface MotionFeatureOptions {
  /**
   * Colour handling. With "rgb" the frames are [3, H, W] RGB and the
   * difference has one channel per colour. With "gray" the frames are
   * [H, W] or [1, H, W] (RGB frames are converted) and the difference of the
   * gray frames is repeated three times.
   */
  channels: "rgb" | "gray";
  /** Round the quantised flow to 8-bit levels as the authors did (default true). */
  roundFlow?: boolean;
  /** Flow bound in pixels of the quantisation (default 15). */
  flowBound?: number;
  /** TV-L1 parameters (default OpenCV's). */
  tvl1?: Tvl1Options;
}

const featuresLayout = new UniformLayout([
  ["steps", "u32"],
  ["channels", "u32"],
  ["plane", "u32"],
  ["round_flow", "u32"],
  ["bound", "f32"],
]);
const magnitudeLayout = new UniformLayout([
  ["n", "u32"],
  ["plane", "u32"],
]);
const statsLayout = new UniformLayout([["plane", "u32"]]);

/**
 * Builds MPFNet's motion features of a clip: `frames` are L >= 2 frames of
 * one size in 0..255 (11 in MPFNet: onset, 9 interpolated, magnified apex);
 * returns [5, L - 1, H, W] with channels (u, v, |dc0|, |dc1|, |dc2|) in
 * [0, 1]. The L - 1 flows run as one TV-L1 batch.
 *
 * @example
 * ```ts
 * const features = motionFeatures(frames, { channels: "rgb" }); // [5, 10, H, W]
 * ```
 */
export function motionFeatures(
  frames: readonly Tensor[],
  options: MotionFeatureOptions,
): Tensor {
  const op = "motionFeatures";
  if (!Array.isArray(frames) || frames.length < 2) {
    throw new Error(`${op} needs at least 2 frames, got ${frames?.length}`);
  }
  if (options.channels !== "rgb" && options.channels !== "gray") {
    throw new Error(
      `${op}: channels must be "rgb" or "gray", got ${
        String(options.channels)
      }`,
    );
  }
  const bound = options.flowBound ?? FLOW_BOUND;
  checkNumber(bound, "flowBound", 1e-3, 1e6, op);
  const { planes, height, width } = planeLayout(frames[0], op);
  if (options.channels === "rgb" && (frames[0].rank !== 3 || planes !== 3)) {
    throw new Error(
      `${op} with channels "rgb" expects frames [3, H, W], got ` +
        `${frames[0].describe()}; use channels "gray" for grayscale clips`,
    );
  }
  const steps = frames.length - 1;
  const plane = height * width;
  return scope(() => {
    const clip = stack(frames, op);
    let colour: Tensor;
    let gray: Tensor;
    if (options.channels === "rgb") {
      colour = clip;
      gray = toGray(clip);
    } else {
      gray = planes === 1
        ? slicePlanes(
          clip,
          0,
          frames.length,
          [frames.length, height, width],
          op,
        )
        : toGray(clip);
      colour = gray;
    }
    const colourChannels = colour.size / (frames.length * plane);
    const first = slicePlanes(gray, 0, steps, [steps, height, width], op);
    const second = slicePlanes(gray, 1, steps, [steps, height, width], op);
    const flows = tvl1FlowBatch(first, second, options.tvl1);
    const out = empty([5, steps, height, width], "f32", op);
    runtime().dispatch({
      op: "vision.motionFeatures",
      kernel: {
        file: "shaders/vision/flow_features.wgsl",
        source: featuresSource,
      },
      uniforms: featuresLayout.pack({
        steps,
        channels: colourChannels,
        plane,
        round_flow: options.roundFlow === false ? 0 : 1,
        bound,
      }),
      bindings: [flows.binding(), colour.binding(), out.binding()],
      workgroups: Math.ceil((steps * plane) / 256),
      shapes: `${frames.length} frames ${frames[0].describe()}`,
    });
    return out;
  });
}

function checkFlow(
  flow: Tensor,
  op: string,
): { images: number; plane: number } {
  const { planes, height, width } = planeLayout(flow, op);
  const channelAxis = flow.rank - 3;
  if (flow.rank < 3 || flow.shape[channelAxis] !== 2) {
    throw new Error(
      `${op} expects a flow [2, H, W] or [N, 2, H, W], got ${flow.describe()}`,
    );
  }
  return { images: planes / 2, plane: height * width };
}

/** Per-pixel flow magnitude: [2, H, W] -> [H, W], [N, 2, H, W] -> [N, H, W]. */
export function flowMagnitude(flow: Tensor): Tensor {
  const { images, plane } = checkFlow(flow, "flowMagnitude");
  const shape = [...flow.shape.slice(0, -3), ...flow.shape.slice(-2)];
  const out = empty(shape, "f32", "flowMagnitude");
  runtime().dispatch({
    op: "vision.flowMagnitude",
    kernel: {
      file: "shaders/vision/flow_magnitude.wgsl",
      source: magnitudeSource,
    },
    uniforms: magnitudeLayout.pack({ n: images * plane, plane }),
    bindings: [flow.binding(), out.binding()],
    workgroups: Math.ceil((images * plane) / 256),
    shapes: `flow ${flow.describe()}`,
  });
  return out;
}

function magnitudeStats(
  flow: Tensor,
  op: string,
): { mean: Tensor; range: Tensor } {
  const { images, plane } = checkFlow(flow, op);
  const mean = empty([images], "f32", `${op}.mean`);
  const range = empty([images, 2], "f32", `${op}.range`);
  runtime().dispatch({
    op: `vision.${op}`,
    kernel: {
      file: "shaders/vision/flow_magnitude_stats.wgsl",
      source: statsSource,
    },
    uniforms: statsLayout.pack({ plane }),
    bindings: [flow.binding(), mean.binding(), range.binding()],
    workgroups: images,
    shapes: `flow ${flow.describe()}`,
  });
  return { mean, range };
}

/** Mean flow magnitude per image: [2, H, W] -> [1], [N, 2, H, W] -> [N]. */
export function meanFlowMagnitude(flow: Tensor): Tensor {
  return scope(() => magnitudeStats(flow, "meanFlowMagnitude").mean);
}

/**
 * Colour-wheel picture of a flow, [2, H, W] -> [3, H, W] (or batched) RGB in
 * 0..255: hue = direction, value = magnitude min-max normalised per image,
 * like the authors' HSV flow pictures.
 */
export function flowToRgb(flow: Tensor): Tensor {
  const { images, plane } = checkFlow(flow, "flowToRgb");
  return scope(() => {
    const { range } = magnitudeStats(flow, "flowToRgb");
    const shape = [...flow.shape.slice(0, -3), 3, ...flow.shape.slice(-2)];
    const out = empty(shape, "f32", "flowToRgb");
    runtime().dispatch({
      op: "vision.flowToRgb",
      kernel: { file: "shaders/vision/flow_to_rgb.wgsl", source: rgbSource },
      uniforms: magnitudeLayout.pack({ n: images * plane, plane }),
      bindings: [flow.binding(), range.binding(), out.binding()],
      workgroups: Math.ceil((images * plane) / 256),
      shapes: `flow ${flow.describe()}`,
    });
    return out;
  });
}

/**
 * Picks the apex of a clip as the frame whose TV-L1 flow from the onset has
 * the largest mean magnitude (for SMIC, which codes no apex). `frames` are
 * the candidate frames ([H, W], [1, H, W] or [3, H, W] RGB). Returns the
 * index into `frames` and the mean magnitude of each, read back with one
 * sync. Each candidate costs one TV-L1 flow, so long clips may be
 * subsampled first.
 *
 * With `matchBrightnessFirst` (the default) each candidate's brightness is
 * first scaled to the onset's mean, so that lighting flicker does not read
 * as motion. With `compensateGlobalMotion`
 * (the default) each flow's mean (u, v) is
 * subtracted before the magnitude is taken, so slow head drift, which
 * grows with the distance from the onset, does not pull the estimate to
 * the last frame.
 */
export async function estimateApexIndex(
  onset: Tensor,
  frames: readonly Tensor[],
  tvl1?: Tvl1Options,
  compensateGlobalMotion = true,
  matchBrightnessFirst = true,
): Promise<{ index: number; meanMagnitudes: number[] }> {
  if (frames.length === 0) {
    throw new Error("estimateApexIndex needs at least one candidate frame");
  }
  const means = scope(() => {
    const op = "estimateApexIndex";
    const onsetGray = grayForFlow(onset, op);
    const { height, width } = planeLayout(onsetGray, op);
    const candidates = stack(
      frames.map((f) => {
        const gray = grayForFlow(f, op);
        return matchBrightnessFirst ? matchBrightness(gray, onsetGray) : gray;
      }),
      op,
    );
    const others = slicePlanes(candidates, 0, frames.length, [
      frames.length,
      height,
      width,
    ], op);
    const repeated = stack(frames.map(() => onsetGray), op);
    const first = slicePlanes(repeated, 0, frames.length, [
      frames.length,
      height,
      width,
    ], op);
    const flows = tvl1FlowBatch(first, others, tvl1);
    if (!compensateGlobalMotion) return magnitudeStats(flows, op).mean;
    const residual = sub(flows, mean(flows, { axes: [2, 3], keepDims: true }));
    return magnitudeStats(residual, op).mean;
  });
  const [values] = await readAll([means]);
  means.dispose();
  const meanMagnitudes = Array.from(values);
  let index = 0;
  meanMagnitudes.forEach((m, i) => {
    if (m > meanMagnitudes[index]) index = i;
  });
  return { index, meanMagnitudes };
}
