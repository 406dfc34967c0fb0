/**
 * Parameter initialisation, seeded through `Rng`: PyTorch 1.13's default
 * initialisation of Conv3d and Linear (kaiming_uniform_ with a = sqrt(5)
 * for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias), the
 * formulas of `torch.nn.init`, and uniform, normal and constant fills.
 * Values are drawn on the host in float64, rounded to f32 and uploaded;
 * the streams differ from PyTorch's generator, the distributions do not.
 */
import {
  formatShape,
  full,
  type Shape,
  sizeOf,
  type Tensor,
  tensor,
} from "../tensor.ts";
import type { Rng } from "../util/rng.ts";

export type Nonlinearity =
  | "linear"
  | "conv1d"
  | "conv2d"
  | "conv3d"
  | "sigmoid"
  | "tanh"
  | "relu"
  | "leaky_relu"
  | "selu";

export type FanMode = "fan_in" | "fan_out";

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU after this layer (default 0). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/**
 * Computes fan-in and fan-out as `torch.nn.init._calculate_fan_in_and_fan_out`
 * does: shape[1] and shape[0] times the product of the remaining dimensions
 * (the receptive field). Needs at least two dimensions.
 */
export function fanInAndFanOut(
  shape: Shape,
): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw new Error(
      `Fan-in and fan-out need a shape with at least 2 dimensions, got ${
        formatShape(shape)
      }`,
    );
  }
  let receptiveField = 1;
  for (const d of shape.slice(2)) receptiveField *= d;
  return {
    fanIn: shape[1] * receptiveField,
    fanOut: shape[0] * receptiveField,
  };
}

/** Returns the recommended gain, as `torch.nn.init.calculate_gain`. */
export function calculateGain(
  nonlinearity: Nonlinearity,
  param?: number,
): number {
  switch (nonlinearity) {
    case "linear":
    case "conv1d":
    case "conv2d":
    case "conv3d":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.sqrt(2);
    case "leaky_relu": {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope ** 2));
    }
    case "selu":
      return 3 / 4;
    default:
      throw new Error(`Unsupported nonlinearity '${nonlinearity}'`);
  }
}

/**
 * Returns the bound b of kaiming_uniform_'s U(-b, b), computed in PyTorch's
 * order: gain / sqrt(fan) * sqrt(3). With a = sqrt(5) this is
 * 1/sqrt(fan_in) up to rounding.
 */
export function kaimingUniformBound(
  shape: Shape,
  options: KaimingOptions = {},
): number {
  const { a = 0, mode = "fan_in", nonlinearity = "leaky_relu" } = options;
  const { fanIn, fanOut } = fanInAndFanOut(shape);
  const fan = mode === "fan_in" ? fanIn : fanOut;
  if (fan === 0) {
    throw new Error(
      `kaiming_uniform_ on ${formatShape(shape)}: the ${mode} is 0`,
    );
  }
  const gain = calculateGain(nonlinearity, a);
  const std = gain / Math.sqrt(fan);
  return Math.sqrt(3) * std;
}

/** Returns the bound 1/sqrt(fan_in) of PyTorch's default Conv and Linear bias. */
export function defaultBiasBound(weightShape: Shape): number {
  const { fanIn } = fanInAndFanOut(weightShape);
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}

/** Draws `size` values of U(low, high), rounded to f32. */
export function uniformValues(
  size: number,
  rng: Rng,
  low: number,
  high: number,
): Float32Array {
  if (!(low <= high)) {
    throw new Error(`uniform: low ${low} must not exceed high ${high}`);
  }
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform(low, high);
  return out;
}

/** Draws `size` values of N(mean, std^2), rounded to f32. */
export function normalValues(
  size: number,
  rng: Rng,
  mean: number,
  std: number,
): Float32Array {
  if (!(std >= 0)) throw new Error(`normal: std must be >= 0, got ${std}`);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = mean + std * rng.normal();
  return out;
}

/** Creates a tensor of U(low, high) values. */
export function uniform(
  shape: Shape,
  rng: Rng,
  low: number,
  high: number,
  name?: string,
): Tensor {
  return tensor(
    uniformValues(sizeOf(shape), rng, low, high),
    shape,
    "f32",
    name,
  );
}

/** Creates a tensor of N(mean, std^2) values. */
export function normal(
  shape: Shape,
  rng: Rng,
  mean = 0,
  std = 1,
  name?: string,
): Tensor {
  return tensor(
    normalValues(sizeOf(shape), rng, mean, std),
    shape,
    "f32",
    name,
  );
}

/** Creates a tensor filled with `value`. */
export function constant(shape: Shape, value: number, name?: string): Tensor {
  return full(shape, value, name);
}

/** Creates a tensor of zeros. */
export function zeros(shape: Shape, name?: string): Tensor {
  return full(shape, 0, name);
}

/** Creates a tensor of ones. */
export function ones(shape: Shape, name?: string): Tensor {
  return full(shape, 1, name);
}

/** Creates a weight of kaiming_uniform_ values (He et al. 2015). */
export function kaimingUniform(
  shape: Shape,
  rng: Rng,
  options: KaimingOptions = {},
  name?: string,
): Tensor {
  // As in PyTorch, a tensor without elements is left as it is.
  if (sizeOf(shape) === 0) return tensor([], shape, "f32", name);
  const bound = kaimingUniformBound(shape, options);
  return uniform(shape, rng, -bound, bound, name);
}

/**
 * PyTorch's default weight of Conv1d/2d/3d and Linear:
 * kaiming_uniform_(a = sqrt(5)), about U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export function defaultWeight(shape: Shape, rng: Rng, name?: string): Tensor {
  return kaimingUniform(shape, rng, { a: Math.sqrt(5) }, name);
}

/** PyTorch's default bias of Conv and Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function defaultBias(
  weightShape: Shape,
  rng: Rng,
  name?: string,
): Tensor {
  const bound = defaultBiasBound(weightShape);
  return uniform([weightShape[0]], rng, -bound, bound, name);
}
