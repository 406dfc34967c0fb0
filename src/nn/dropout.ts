/** The Dropout module: a new mask per training call, reproducible from a seed. */
import { dropout } from "../ops/dropout.ts";
import type { Tensor } from "../tensor.ts";
import { Rng } from "../util/rng.ts";
import { Module } from "./module.ts";

export interface DropoutConfig {
  /** Probability of zeroing an element, in [0, 1]. */
  p: number;
  /** Seed of the mask sequence (default 0); ignored when `rng` is given. */
  seed?: number;
  /** Draws the seed of the mask sequence, so a model's masks follow its seed. */
  rng?: Rng;
}

/**
 * Inverted dropout as torch.nn.Dropout: in training mode each element is
 * zeroed with probability p and the rest scaled by 1 / (1 - p) (all
 * zero for p = 1); in
 * evaluation mode the input passes through. Every training call draws a
 * new mask seed from the module's own generator, so two modules built with
 * the same seed produce the same sequence of masks.
 */
export class Dropout extends Module {
  readonly p: number;
  readonly #rng: Rng;

  constructor(config: DropoutConfig) {
    super();
    const p = config.p;
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      throw new Error(`Dropout: p must be in [0, 1], got ${String(p)}`);
    }
    this.p = p;
    this.#rng = config.rng ? config.rng.fork() : new Rng(config.seed ?? 0);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) {
      return dropout(x, { p: this.p, seed: 0, training: false });
    }
    const seed = Math.floor(this.#rng.next() * 4294967296);
    return dropout(x, { p: this.p, seed, training: true });
  }
}
