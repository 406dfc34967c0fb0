/**
 * Coordinate Attention (Hou et al., CVPR 2021) lifted to 3D: descriptors
 * pooled along T (mean over H, W), H (mean over T, W) and W (mean over
 * T, H), concatenated along one axis, a shared 1x1x1 convolution with
 * batch norm and h-swish, then three 1x1x1 convolutions with sigmoid gates
 * that multiply the input along T, H and W. No residual add, as in the
 * 2D original.
 */
import {
  concat,
  gate3d,
  hardSwish,
  mean,
  reshape,
  sigmoid,
  split,
} from "../ops/mod.ts";
import type { Tensor } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import { BatchNorm3d } from "./batch_norm.ts";
import { Conv3d } from "./conv.ts";
import { Module } from "./module.ts";

export interface CoordinateAttention3dConfig {
  channels: number;
  /** r: the hidden width is max(minChannels, channels / r). Default 32. */
  reduction?: number;
  /** Default 8. */
  minChannels?: number;
  bnEps?: number;
  bnMomentum?: number;
  rng: Rng;
}

export class CoordinateAttention3d extends Module {
  readonly hidden: number;
  readonly conv1: Conv3d;
  readonly bn1: BatchNorm3d;
  readonly convT: Conv3d;
  readonly convH: Conv3d;
  readonly convW: Conv3d;
  /** Gates of the last forward call, [N, C, T|H|W], for inspection. */
  lastGates: { t: Tensor; h: Tensor; w: Tensor } | null = null;

  constructor(config: CoordinateAttention3dConfig) {
    super();
    const { channels, rng } = config;
    this.hidden = Math.max(
      config.minChannels ?? 8,
      Math.floor(channels / (config.reduction ?? 32)),
    );
    const pointwise = (inChannels: number, outChannels: number) =>
      new Conv3d({ inChannels, outChannels, kernel: 1, rng });
    this.conv1 = this.child("conv1", pointwise(channels, this.hidden));
    this.bn1 = this.child(
      "bn1",
      new BatchNorm3d({
        channels: this.hidden,
        eps: config.bnEps,
        momentum: config.bnMomentum,
      }),
    );
    this.convT = this.child("convT", pointwise(this.hidden, channels));
    this.convH = this.child("convH", pointwise(this.hidden, channels));
    this.convW = this.child("convW", pointwise(this.hidden, channels));
  }

  forward(x: Tensor, keepGates = false): Tensor {
    if (x.rank !== 5) {
      throw new Error(
        `CoordinateAttention3d expects [N, C, T, H, W], got ${x.describe()}`,
      );
    }
    const [n, c, t, h, w] = x.shape;
    // Descriptors laid out along the depth axis: [N, C, T + H + W, 1, 1].
    const alongT = reshape(mean(x, { axes: [3, 4] }), [n, c, t, 1, 1]);
    const alongH = reshape(mean(x, { axes: [2, 4] }), [n, c, h, 1, 1]);
    const alongW = reshape(mean(x, { axes: [2, 3] }), [n, c, w, 1, 1]);
    const joined = concat([alongT, alongH, alongW], 2);
    const shared = this.scoped(
      "bn1",
      () =>
        hardSwish(
          this.bn1.forward(
            this.scoped("conv1", () => this.conv1.forward(joined)),
          ),
        ),
    );
    const [sharedT, sharedH, sharedW] = split(shared, [t, h, w], 2);
    const gateT = sigmoid(
      this.scoped("convT", () => this.convT.forward(sharedT)),
    );
    const gateH = sigmoid(
      this.scoped("convH", () => this.convH.forward(sharedH)),
    );
    const gateW = sigmoid(
      this.scoped("convW", () => this.convW.forward(sharedW)),
    );
    if (keepGates) {
      this.lastGates?.t.dispose();
      this.lastGates?.h.dispose();
      this.lastGates?.w.dispose();
      this.lastGates = {
        t: reshape(gateT, [n, c, t]).keep(),
        h: reshape(gateH, [n, c, h]).keep(),
        w: reshape(gateW, [n, c, w]).keep(),
      };
    }

    return gate3d(
      x,
      reshape(gateT, [n, c, t]),
      reshape(gateH, [n, c, h]),
      reshape(gateW, [n, c, w]),
    );
  }
}
