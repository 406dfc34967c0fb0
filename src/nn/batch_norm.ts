/** The BatchNorm3d module: batch normalisation with running statistics. */
import { batchNorm3d } from "../ops/norm.ts";
import { full, type Tensor, zeros } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import { positiveInteger } from "./conv.ts";
import { Module } from "./module.ts";

export interface BatchNorm3dConfig {
  channels: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /**
   * Weight of the batch statistics in the running update, PyTorch's
   * convention: running = (1 - momentum) * running + momentum * batch
   * (default 0.1).
   */
  momentum?: number;
  /**
   * Accepted so that every layer takes the same config shape; batch norm
   * draws nothing, because its initialisation is constant.
   */
  rng?: Rng;
}

/**
 * Batch normalisation over the channels of NCDHW (or [N, C]) input, as
 * torch.nn.BatchNorm3d: weight 1, bias 0, running_mean 0, running_var 1.
 * In training mode it normalises with the batch statistics and updates the
 * running statistics in place; in evaluation mode it uses the running
 * statistics. Parameter and buffer names are PyTorch's, so state dicts
 * converted from PyTorch load by name; PyTorch's num_batches_tracked
 * buffer is left out because with a fixed momentum it affects nothing
 * (load such files with `{ strict: false }`).
 */
export class BatchNorm3d extends Module {
  readonly channels: number;
  readonly eps: number;
  /** Weight of the batch statistics in the running update (PyTorch convention). */
  momentum: number;
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(config: BatchNorm3dConfig) {
    super();
    this.channels = positiveInteger("BatchNorm3d", "channels", config.channels);
    this.eps = config.eps ?? 1e-5;
    this.momentum = config.momentum ?? 0.1;
    if (!(this.eps > 0) || !Number.isFinite(this.eps)) {
      throw new Error(
        `BatchNorm3d: eps must be a positive number, got ${this.eps}`,
      );
    }
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(
        `BatchNorm3d: momentum must be in [0, 1], got ${this.momentum}`,
      );
    }
    const c = [this.channels];
    this.weight = this.parameter("weight", full(c, 1));
    this.bias = this.parameter("bias", zeros(c));
    this.runningMean = this.buffer("running_mean", zeros(c));
    this.runningVar = this.buffer("running_var", full(c, 1));
  }

  forward(x: Tensor): Tensor {
    return batchNorm3d(
      x,
      this.weight,
      this.bias,
      this.runningMean,
      this.runningVar,
      {
        training: this.training,
        momentum: this.momentum,
        eps: this.eps,
      },
    );
  }
}
