/**
 * MPFNet's fusion of the two priors (Ma et al. 2025): a Generic Feature
 * Encoder (GFE, from the triplet prior) and an Advanced Feature Encoder
 * (AFE, from the sample-balanced classification prior) scored against class
 * prototypes by cosine similarity.
 *
 * - MPFNet-P: d = cos_GFE + gamma * cos_AFE per class.
 * - MPFNet-C: the last GFE feature map is projected to the input channels
 *   by a zero-initialised 1x1x1 convolution, trilinearly upsampled to the
 *   input size and added to the input, which then goes through AFE; one
 *   cosine similarity. The zero start leaves AFE exactly at its PLSM state.
 *
 * Logits are temperature * d, followed by softmax cross-entropy.
 */
import {
  add,
  classPrototypes,
  cosineSimilarity,
  mul,
  upsampleTrilinear3d,
} from "../ops/mod.ts";
import { Conv3d } from "../nn/conv.ts";
import { Module } from "../nn/module.ts";
import { runtime } from "../gpu/runtime.ts";
import type { Tensor } from "../tensor.ts";
import { Rng } from "../util/rng.ts";
import { CaI3d } from "./ca_i3d.ts";
import type { ModelConfig } from "./config.ts";

export type Variant = "p" | "c";

export class MpfNet extends Module {
  readonly gfe: CaI3d;
  readonly afe: CaI3d;
  /** MPFNet-C's projection of the GFE feature map to the input channels. */
  readonly projection: Conv3d | null;

  constructor(
    readonly variant: Variant,
    config: ModelConfig,
    seed: number,
    readonly gamma = 0.7,
  ) {
    super();
    this.gfe = this.child("gfe", new CaI3d(config, seed));
    this.afe = this.child("afe", new CaI3d(config, seed + 1));
    if (variant === "c") {
      this.projection = this.child(
        "projection",
        new Conv3d({
          inChannels: this.gfe.featureChannels,
          outChannels: config.inputChannels,
          kernel: 1,
          rng: new Rng(seed + 2),
        }),
      );
      // Zero start: the cascade begins as AFE alone, at its PLSM state.
      for (const p of this.projection.parameters()) {
        runtime().clear(p.buffer, p.bytes);
      }
    } else {
      this.projection = null;
    }
  }

  /**
   * Embeddings used for prototypes and queries: one [N, E] tensor per
   * encoder that scores (GFE and AFE for P, AFE of the cascade for C).
   */
  embed(x: Tensor): Tensor[] {
    if (this.variant === "p") {
      const g = this.scoped("gfe", () => this.gfe.forward(x).embedding);
      const a = this.scoped("afe", () => this.afe.forward(x).embedding);
      return [g, a];
    }
    const features = this.scoped("gfe", () => this.gfe.trunk(x));
    const [, , t, h, w] = x.shape;
    const projected = this.scoped(
      "projection",
      () => this.projection!.forward(features),
    );
    const upsampled = upsampleTrilinear3d(projected, { size: [t, h, w] });
    const fused = add(x, upsampled);
    return [this.scoped("afe", () => this.afe.forward(fused).embedding)];
  }

  /** Per-class prototypes from support embeddings (one per scoring encoder). */
  prototypes(
    support: Tensor[],
    labels: readonly number[],
    classes: number,
  ): Tensor[] {
    return support.map((s) =>
      classPrototypes(s, labels, { numClasses: classes })
    );
  }

  /** Similarity scores [Q, classes]: cos_GFE + gamma cos_AFE, or cos of the cascade. */
  scores(queries: Tensor[], prototypes: Tensor[]): Tensor {
    const sims = queries.map((q, i) => cosineSimilarity(q, prototypes[i]));
    if (sims.length === 1) return sims[0];
    return add(sims[0], mul(sims[1], this.gamma));
  }
}
