/**
 * The Inception module of I3D (Carreira and Zisserman 2017) with Coordinate
 * Attention appended: four branches (1x1x1; 1x1x1 then 3x3x3; 1x1x1 then
 * 3x3x3; 3x3x3 max pool with stride 1 then 1x1x1), concatenated on the
 * channel axis, then CA.
 */
import { concat, maxPool3d } from "../ops/mod.ts";
import type { Tensor } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import { CoordinateAttention3d } from "./coordinate_attention.ts";
import { Module } from "./module.ts";
import { Unit3d } from "./unit3d.ts";

export interface Inception3dConfig {
  inChannels: number;
  /** [b0, b1 reduce, b1, b2 reduce, b2, b3 pool projection] output channels. */
  branches: readonly [number, number, number, number, number, number];
  attention: boolean;
  caReduction?: number;
  caMinChannels?: number;
  bnEps?: number;
  bnMomentum?: number;
  rng: Rng;
}

export class Inception3d extends Module {
  readonly outChannels: number;
  readonly b0: Unit3d;
  readonly b1a: Unit3d;
  readonly b1b: Unit3d;
  readonly b2a: Unit3d;
  readonly b2b: Unit3d;
  readonly b3b: Unit3d;
  readonly ca: CoordinateAttention3d | null;

  constructor(config: Inception3dConfig) {
    super();
    const [c0, c1r, c1, c2r, c2, c3] = config.branches;
    const { inChannels, rng } = config;
    const unit = (name: string, inC: number, outC: number, kernel: number) =>
      this.child(
        name,
        new Unit3d({
          inChannels: inC,
          outChannels: outC,
          kernel,
          padding: "same",
          bnEps: config.bnEps,
          bnMomentum: config.bnMomentum,
          rng,
        }),
      );
    this.b0 = unit("b0", inChannels, c0, 1);
    this.b1a = unit("b1a", inChannels, c1r, 1);
    this.b1b = unit("b1b", c1r, c1, 3);
    this.b2a = unit("b2a", inChannels, c2r, 1);
    this.b2b = unit("b2b", c2r, c2, 3);
    this.b3b = unit("b3b", inChannels, c3, 1);
    this.outChannels = c0 + c1 + c2 + c3;
    this.ca = config.attention
      ? this.child(
        "ca",
        new CoordinateAttention3d({
          channels: this.outChannels,
          reduction: config.caReduction,
          minChannels: config.caMinChannels,
          bnEps: config.bnEps,
          bnMomentum: config.bnMomentum,
          rng,
        }),
      )
      : null;
  }

  forward(x: Tensor, keepGates = false): Tensor {
    const run = (name: string, unit: Unit3d, input: Tensor) =>
      this.scoped(name, () => unit.forward(input));
    const y0 = run("b0", this.b0, x);
    const y1 = run("b1b", this.b1b, run("b1a", this.b1a, x));
    const y2 = run("b2b", this.b2b, run("b2a", this.b2a, x));
    const pooled = maxPool3d(x, { kernel: 3, stride: 1, padding: "same" });
    const y3 = run("b3b", this.b3b, pooled);
    const joined = concat([y0, y1, y2, y3], 1);
    const ca = this.ca;
    return ca ? this.scoped("ca", () => ca.forward(joined, keepGates)) : joined;
  }
}
