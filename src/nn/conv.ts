/** The Conv3d module: a 3D convolution with PyTorch 1.13's default initialisation. */
import { conv3d, type Conv3dPadding } from "../ops/conv.ts";
import type { Tensor } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import { defaultBias, defaultWeight } from "./init.ts";
import { Module } from "./module.ts";

export type Triple = [number, number, number];

export interface Conv3dConfig {
  inChannels: number;
  outChannels: number;
  /** Kernel size per axis D, H, W, or one size for all three. */
  kernel: number | Triple;
  /** Stride per axis, or one for all three (default 1). */
  stride?: number | Triple;
  /**
   * Zero padding (default 0): one size, one per axis, TensorFlow's "same",
   * or [before, after] per axis.
   */
  padding?: Conv3dPadding;
  /** Adds a learned per-channel bias (default true). */
  bias?: boolean;
  /** Draws the initial weight and bias. */
  rng: Rng;
}

/** Checks that `value` is a positive integer and returns it. */
export function positiveInteger(
  module: string,
  name: string,
  value: unknown,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new Error(
      `${module}: ${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

/** Expands one size or a triple to a triple of positive integers. */
export function toTriple(
  module: string,
  name: string,
  value: number | Triple,
): Triple {
  const triple = typeof value === "number" ? [value, value, value] : value;
  if (!Array.isArray(triple) || triple.length !== 3) {
    throw new Error(
      `${module}: ${name} must be a positive integer or three of them [D, H, W], ` +
        `got ${JSON.stringify(value)}`,
    );
  }
  return triple.map((v, i) =>
    positiveInteger(module, `${name}[${i}]`, v)
  ) as Triple;
}

/**
 * A 3D convolution over NCDHW input, as torch.nn.Conv3d: the weight
 * [out, in, kD, kH, kW] from kaiming_uniform_(a = sqrt(5)) and the bias
 * from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 *
 * @example
 * ```ts
 * import { initRuntime } from "../gpu/runtime.ts";
 * import { zeros } from "../tensor.ts";
 * import { Rng } from "../util/rng.ts";
 *
 * await initRuntime({ log: false });
 * const conv = new Conv3d({
 *   inChannels: 5,
 *   outChannels: 16,
 *   kernel: 7,
 *   stride: 2,
 *   padding: "same",
 *   rng: new Rng(0),
 * });
 * const y = conv.forward(zeros([1, 5, 10, 32, 32])); // [1, 16, 5, 16, 16]
 * ```
 */
export class Conv3d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: Triple;
  readonly stride: Triple;
  readonly padding: Conv3dPadding;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(config: Conv3dConfig) {
    super();
    this.inChannels = positiveInteger(
      "Conv3d",
      "inChannels",
      config.inChannels,
    );
    this.outChannels = positiveInteger(
      "Conv3d",
      "outChannels",
      config.outChannels,
    );
    this.kernel = toTriple("Conv3d", "kernel", config.kernel);
    this.stride = toTriple("Conv3d", "stride", config.stride ?? 1);
    this.padding = config.padding ?? 0;
    const shape = [this.outChannels, this.inChannels, ...this.kernel];
    this.weight = this.parameter("weight", defaultWeight(shape, config.rng));
    this.bias = (config.bias ?? true)
      ? this.parameter("bias", defaultBias(shape, config.rng))
      : null;
  }

  forward(x: Tensor): Tensor {
    return conv3d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
    });
  }
}
