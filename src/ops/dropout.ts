/**
 * Inverted dropout with a counter-based mask: element i is kept when
 * hashUniform(seed, i) >= p and then scaled by 1 / (1 - p). The mask is a
 * function of (seed, i) alone, so the backward recomputes it instead of
 * storing it, and the CPU reference reproduces the GPU mask exactly.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, Tensor } from "../tensor.ts";
import { hashUniform } from "../util/rng.ts";
import dropoutSource from "../../shaders/ops/dropout.wgsl" with {
  type: "text",
};
import { type CpuTensor, cpuTensor, randomTensor } from "./cpu_tensor.ts";
import { defineOp, ELEMENTWISE_TOLERANCE } from "./registry.ts";

export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1]. */
  p: number;
  /**
   * Unsigned 32-bit seed of the mask. Pass a new seed at every step (for
   * example the step counter), or every step drops the same elements.
   */
  seed: number;
  /** False returns x itself. */
  training: boolean;
}

const dropoutLayout = new UniformLayout([
  ["n", "u32"],
  ["seed", "u32"],
  ["p", "f32"],
  ["scale", "f32"],
]);
const KERNEL = "shaders/ops/dropout.wgsl";

function checkOptions(options: DropoutOptions): void {
  if (
    options === null || typeof options !== "object" ||
    typeof options.training !== "boolean"
  ) {
    throw new Error(
      "dropout: options.training must be true or false, got " +
        `${JSON.stringify(options?.training)}`,
    );
  }
  const { p, seed } = options;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new Error(`dropout: p must be a probability in [0, 1], got ${p}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(
      `dropout: seed must be an unsigned 32-bit integer, got ${seed}`,
    );
  }
}

/** Returns the scale of kept elements: 1 / (1 - p), or 0 for p = 1. */
function keptScale(p: number): number {
  return p < 1 ? 1 / (1 - p) : 0;
}

/** Applies the mask of (seed, i) and the scale to `source`, without recording. */
function applyMask(
  op: string,
  source: Tensor,
  options: DropoutOptions,
): Tensor {
  const out = empty(source.shape, "f32", op);
  runtime().dispatch({
    op,
    kernel: { file: KERNEL, source: dropoutSource },
    uniforms: dropoutLayout.pack({
      n: source.size,
      seed: options.seed,
      p: options.p,
      scale: keptScale(options.p),
    }),
    bindings: [source.binding(), out.binding()],
    workgroups: Math.ceil(source.size / 256),
    shapes: `x ${formatShape(source.shape)}`,
  });
  return out;
}

/**
 * Inverted dropout. In training mode with p > 0, each element is kept with
 * probability 1 - p and scaled by 1 / (1 - p). Element i is kept when
 * `hashUniform(seed, i) >= p`, in the forward and in the gradient.
 * In evaluation mode, or with p = 0, it returns x itself (no copy, no
 * autograd node), as F.dropout of PyTorch 1.13 does, so disposing the
 * result disposes x.
 *
 * @example
 * ```ts
 * const y = dropout(features, { p: 0.5, seed: step, training: true });
 * ```
 */
export function dropout(x: Tensor, options: DropoutOptions): Tensor {
  if (!(x instanceof Tensor)) {
    throw new Error(`dropout expects a Tensor, got ${String(x)}`);
  }
  if (x.dtype !== "f32") {
    throw new Error(`dropout expects an f32 tensor, got ${x.describe()}`);
  }
  checkOptions(options);
  if (!options.training || options.p === 0) return x;
  const attrs = { p: options.p, seed: options.seed, training: true };
  const y = applyMask("dropout.forward", x, attrs);
  record(
    "dropout",
    [x],
    [y],
    ([gy]) => [applyMask("dropout.backward", gy!, attrs)],
  );
  return y;
}

// ---- CPU reference ----

/** Computes the mask factor of element i: 1 / (1 - p) when kept, else 0. */
function cpuMaskScale(options: DropoutOptions, index: number): number {
  if (!options.training || options.p === 0) return 1;
  // The kernel compares with p rounded to f32, and hashUniform values are exact in f32.
  const kept = hashUniform(options.seed, index) >= Math.fround(options.p);
  return kept ? keptScale(options.p) : 0;
}

/** Float64 reference of dropout, with the exact GPU mask. */
export function cpuDropout(x: CpuTensor, options: DropoutOptions): CpuTensor {
  checkOptions(options);
  const y = cpuTensor(x.shape);
  for (let i = 0; i < x.data.length; i++) {
    y.data[i] = x.data[i] * cpuMaskScale(options, i);
  }
  return y;
}

// ---- registry ----

defineOp<DropoutOptions>({
  name: "dropout",
  family: "dropout",
  inputs: [{ name: "x" }],
  forwardKernels: [KERNEL],
  backwardKernels: [KERNEL],
  gpu: ([x], attrs) => dropout(x!, attrs),
  cpu: {
    forward: ([x], attrs) => [cpuDropout(x!, attrs)],
    backward: (_inputs, attrs, [gy]) => [cpuDropout(gy, attrs)],
  },
  cases: (rng) => [
    {
      label: "training, p = 0.3, odd size",
      inputs: [randomTensor(rng, [3, 7, 5])],
      attrs: { p: 0.3, seed: 7, training: true },
    },
    {
      label: "training, p = 0.5, NCDHW",
      inputs: [randomTensor(rng, [2, 3, 2, 3, 5])],
      attrs: { p: 0.5, seed: 0xfffffffe, training: true },
    },
    {
      label: "training, p = 1 drops everything",
      inputs: [randomTensor(rng, [4, 5])],
      attrs: { p: 1, seed: 3, training: true },
    },
    {
      label: "training, p = 0 returns x",
      inputs: [randomTensor(rng, [4, 5])],
      attrs: { p: 0, seed: 3, training: true },
    },
    {
      label: "evaluation returns x",
      inputs: [randomTensor(rng, [2, 9])],
      attrs: { p: 0.5, seed: 3, training: false },
    },
    {
      label: "dispatch above 65535 workgroups",
      inputs: [randomTensor(rng, [65536 * 256 + 17])],
      attrs: { p: 0.2, seed: 11, training: true },
      // 16.7 M elements: the GPU check runs, the float64 finite difference
      // would take minutes.
      finiteDifferences: false,
    },
  ],
  tolerance: ELEMENTWISE_TOLERANCE,
});
