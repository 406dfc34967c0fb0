/** The Linear module: a fully connected layer with PyTorch 1.13's default initialisation. */
import { linear } from "../ops/linear.ts";
import type { Tensor } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import { positiveInteger } from "./conv.ts";
import { defaultBias, defaultWeight } from "./init.ts";
import { Module } from "./module.ts";

export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  /** Adds a learned bias (default true). */
  bias?: boolean;
  /** Draws the initial weight and bias. */
  rng: Rng;
}

/**
 * y = x W^T + b for x [N, in], as torch.nn.Linear: the weight [out, in]
 * from kaiming_uniform_(a = sqrt(5)) and the bias from
 * U(-1/sqrt(in), 1/sqrt(in)).
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(config: LinearConfig) {
    super();
    this.inFeatures = positiveInteger(
      "Linear",
      "inFeatures",
      config.inFeatures,
    );
    this.outFeatures = positiveInteger(
      "Linear",
      "outFeatures",
      config.outFeatures,
    );
    const shape = [this.outFeatures, this.inFeatures];
    this.weight = this.parameter("weight", defaultWeight(shape, config.rng));
    this.bias = (config.bias ?? true)
      ? this.parameter("bias", defaultBias(shape, config.rng))
      : null;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
