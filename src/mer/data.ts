/**
 * Training data for the MPFNet stages: preprocessed clips held on the host,
 * batches uploaded and normalised per channel on the GPU with statistics of
 * the training fold only.
 */
import { noGrad } from "../autograd.ts";
import { div, sub } from "../ops/mod.ts";
import { type Tensor, tensor } from "../tensor.ts";

export interface ClipSet {
  /** Class index of each clip. */
  labels: number[];
  subjects: string[];
  /** Clip ids, e.g. "s1/s1_ne_01". */
  ids: string[];
  classNames: string[];
  /** [C, T, H, W] of every input. */
  inputShape: [number, number, number, number];
  /**
   * Channel of the horizontal flow u, stored as 0.5 + u / 30. A left-right
   * mirror negates it. Null when the input has no flow channels.
   */
  horizontalFlowChannel: number | null;
  /** The main input of a clip (apex magnified by the preset's alpha). */
  input(index: number): Float32Array;
  /** The input with the apex magnified by `alpha` (the PLSM copies). */
  amplified(index: number, alpha: number): Float32Array;
}

/** Per-channel mean and standard deviation of the training inputs. */
export interface ChannelStats {
  mean: number[];
  std: number[];
}

export function channelStats(
  set: ClipSet,
  items: readonly number[],
): ChannelStats {
  const [channels, t, h, w] = set.inputShape;
  const plane = t * h * w;
  const sum = new Float64Array(channels);
  const squares = new Float64Array(channels);
  for (const i of items) {
    const x = set.input(i);
    for (let c = 0; c < channels; c++) {
      let s = 0;
      let q = 0;
      for (let k = c * plane; k < (c + 1) * plane; k++) {
        s += x[k];
        q += x[k] * x[k];
      }
      sum[c] += s;
      squares[c] += q;
    }
  }
  const count = Math.max(1, items.length * plane);
  const mean = [...sum].map((s) => s / count);
  const std = [...squares].map((q, c) =>
    Math.sqrt(Math.max(q / count - mean[c] ** 2, 1e-12))
  );
  return { mean, std: std.map((s) => Math.max(s, 1e-6)) };
}

/** Uploads inputs as one [B, C, T, H, W] batch normalised with `stats`. */
export function makeBatch(
  inputs: Float32Array[],
  shape: readonly number[],
  stats: ChannelStats,
): Tensor {
  const plane = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(inputs.length * plane);
  inputs.forEach((x, i) => {
    if (x.length !== plane) {
      throw new Error(
        `Clip input has ${x.length} values, expected ${plane} ([${shape}])`,
      );
    }
    data.set(x, i * plane);
  });
  return noGrad(() => {
    const raw = tensor(data, [inputs.length, ...shape]);
    const channelShape = [1, shape[0], 1, 1, 1];
    const centred = sub(raw, tensor(stats.mean, channelShape));
    return div(centred, tensor(stats.std, channelShape));
  });
}

/**
 * Mirrors a [C, T, H, W] input left to right: every plane is reversed along
 * W and the horizontal flow channel, stored as 0.5 + u / 30, becomes
 * 1 - value (u negated). The classes of the datasets are symmetric, so a
 * mirrored clip keeps its label.
 */
export function mirrorInput(
  x: Float32Array,
  shape: readonly number[],
  horizontalFlowChannel: number | null,
): Float32Array {
  const [channels, frames, height, width] = shape;
  const plane = frames * height;
  if (x.length !== channels * plane * width) {
    throw new Error(
      `mirrorInput: invalid input of ${x.length} values, expected [${shape}]`,
    );
  }
  const out = new Float32Array(x.length);
  for (let c = 0; c < channels; c++) {
    const negate = c === horizontalFlowChannel;
    for (let row = c * plane; row < (c + 1) * plane; row++) {
      const base = row * width;
      for (let w = 0; w < width; w++) {
        const value = x[base + width - 1 - w];
        out[base + w] = negate ? 1 - value : value;
      }
    }
  }
  return out;
}

/**
 * Mirrors each input with probability 1/2 when `enabled` (training-time
 * augmentation). It draws from `rng` either way, so a run's sampling does
 * not depend on the setting.
 */
export function randomMirror(
  inputs: Float32Array[],
  set: Pick<ClipSet, "inputShape" | "horizontalFlowChannel">,
  enabled: boolean,
  rng: { next(): number },
): Float32Array[] {
  return inputs.map((x) => {
    const flip = rng.next() < 0.5;
    return enabled && flip
      ? mirrorInput(x, set.inputShape, set.horizontalFlowChannel)
      : x;
  });
}
