/**
 * CA-I3D: the Inception-v1 I3D trunk with Coordinate Attention after every
 * Mixed block, and the embedding head of MPFNet's encoders (global average
 * pool, dropout, linear to the embedding width, L2 normalisation).
 */
import { globalAvgPool3d, l2Normalize, maxPool3d } from "../ops/mod.ts";
import { Dropout } from "../nn/dropout.ts";
import { Inception3d } from "../nn/inception.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import { Unit3d } from "../nn/unit3d.ts";
import type { Tensor } from "../tensor.ts";
import { Rng } from "../util/rng.ts";
import type { ModelConfig } from "./config.ts";

export interface EncoderOutput {
  /** Last feature map of the trunk, [N, C, T', H', W']. */
  features: Tensor;
  /** Linear projection before normalisation, [N, E]. */
  projection: Tensor;
  /** L2-normalised embedding, [N, E]. */
  embedding: Tensor;
}

type TrunkLayer =
  | { kind: "unit"; name: string; module: Unit3d }
  | {
    kind: "maxpool";
    name: string;
    kernel: [number, number, number];
    stride: [number, number, number];
  }
  | { kind: "mixed"; name: string; module: Inception3d };

export class CaI3d extends Module {
  readonly config: ModelConfig;
  readonly featureChannels: number;
  readonly layers: TrunkLayer[] = [];
  readonly dropout: Dropout;
  readonly fc: Linear;

  constructor(config: ModelConfig, seed: number) {
    super();
    this.config = config;
    const rng = new Rng(seed);
    let channels = config.inputChannels;
    for (const layer of config.layers) {
      if (layer.type === "unit") {
        const module = this.child(
          layer.name,
          new Unit3d({
            inChannels: channels,
            outChannels: layer.out,
            kernel: layer.kernel,
            stride: layer.stride,
            padding: "same",
            bnEps: config.bnEps,
            bnMomentum: config.bnMomentum,
            rng,
          }),
        );
        this.layers.push({ kind: "unit", name: layer.name, module });
        channels = layer.out;
      } else if (layer.type === "maxpool") {
        this.layers.push({
          kind: "maxpool",
          name: layer.name,
          kernel: layer.kernel,
          stride: layer.stride,
        });
      } else {
        const module = this.child(
          layer.name,
          new Inception3d({
            inChannels: channels,
            branches: layer.branches,
            attention: true,
            caReduction: config.caReduction,
            caMinChannels: config.caMinChannels,
            bnEps: config.bnEps,
            bnMomentum: config.bnMomentum,
            rng,
          }),
        );
        this.layers.push({ kind: "mixed", name: layer.name, module });
        channels = module.outChannels;
      }
    }
    this.featureChannels = channels;
    this.dropout = this.child(
      "dropout",
      new Dropout({ p: config.dropout, rng: rng.fork() }),
    );
    this.fc = this.child(
      "fc",
      new Linear({ inFeatures: channels, outFeatures: config.embedding, rng }),
    );
  }

  /** Runs the trunk only: [N, C_in, T, H, W] -> last feature map. */
  trunk(x: Tensor, keepGates = false): Tensor {
    const expected = [
      this.config.inputChannels,
      this.config.frames,
      this.config.size,
      this.config.size,
    ];
    if (x.rank !== 5 || x.shape.slice(1).some((d, i) => d !== expected[i])) {
      throw new Error(
        `CA-I3D expects input [N, ${
          expected.join(", ")
        }], got ${x.describe()}; ` +
          "check the preset's input size against the preprocessed data",
      );
    }
    let y = x;
    for (const layer of this.layers) {
      const input = y;
      if (layer.kind === "maxpool") {
        y = maxPool3d(input, {
          kernel: layer.kernel,
          stride: layer.stride,
          padding: "same",
        });
      } else if (layer.kind === "unit") {
        y = this.scoped(layer.name, () => layer.module.forward(input));
      } else {
        y = this.scoped(
          layer.name,
          () => layer.module.forward(input, keepGates),
        );
      }
    }
    return y;
  }

  /** Embeds from a trunk feature map. */
  head(features: Tensor): Omit<EncoderOutput, "features"> {
    const pooled = globalAvgPool3d(features);
    const dropped = this.scoped("dropout", () => this.dropout.forward(pooled));
    const projection = this.scoped("fc", () => this.fc.forward(dropped));
    const embedding = l2Normalize(projection);
    return { projection, embedding };
  }

  forward(x: Tensor): EncoderOutput {
    const features = this.trunk(x);
    return { features, ...this.head(features) };
  }
}
