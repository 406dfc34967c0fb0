/**
 * The framework's public API as one module object, `mpfnet`, for notebook
 * cells. Cells call the same TypeScript core and the same WGSL text as the
 * Deno programs, because the page bundle imports these modules directly.
 *
 * @module
 */
import * as autograd from "../src/autograd.ts";
import * as runtime from "../src/gpu/runtime.ts";
import * as tensor from "../src/tensor.ts";
import * as ops from "../src/ops/mod.ts";
import * as nn from "../src/nn/mod.ts";
import { CoordinateAttention3d } from "../src/nn/coordinate_attention.ts";
import { Inception3d } from "../src/nn/inception.ts";
import * as optim from "../src/optim/mod.ts";
import * as vision from "../src/vision/mod.ts";
import { CaI3d } from "../src/mer/ca_i3d.ts";
import * as config from "../src/mer/config.ts";
import { Rng } from "../src/util/rng.ts";
import { coordinateAttentionStep } from "./checks.ts";
import compactPreset from "../experiments/presets/compact.json" with {
  type: "json",
};

export const mpfnet = {
  ...runtime,
  ...tensor,
  ...autograd,
  ...ops,
  nn: { ...nn, CoordinateAttention3d, Inception3d },
  optim,
  vision,
  mer: { CaI3d, ...config },
  Rng,
  presets: { compact: compactPreset },
  checks: { coordinateAttentionStep },
};

export type Mpfnet = typeof mpfnet;
