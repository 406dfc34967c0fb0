/**
 * Matrix product and the fully connected layer: `matmul(a, b)` and
 * `linear(x, weight, bias)` = x W^T + b with PyTorch's weight layout
 * [out, in]. Forward and gradients all run through one register-blocked
 * kernel (shaders/ops/matmul.wgsl) with transpose switches; the bias
 * gradient is a two-pass row sum.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, Tensor } from "../tensor.ts";
import matmulSource from "../../shaders/ops/matmul.wgsl" with { type: "text" };
import { type CpuTensor, cpuTensor, randomTensor } from "./cpu_tensor.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "./registry.ts";
import { sumToShape } from "./reduce.ts";

const matmulLayout = new UniformLayout([
  ["m", "u32"],
  ["n", "u32"],
  ["k", "u32"],
  ["blocks_n", "u32"],
]);

/** Operands of one product C = op(A) op(B) (+ bias). */
interface Gemm {
  op: string;
  a: Tensor;
  b: Tensor;
  /** A is stored [K, M] and used transposed. */
  transA: boolean;
  /** B is stored [N, K] and used transposed. */
  transB: boolean;
  bias?: Tensor | null;
  m: number;
  n: number;
  k: number;
}

/** Records C = op(A) op(B) (+ bias) into a new [M, N] tensor. */
export function gemm(spec: Gemm): Tensor {
  const { m, n, k, transA, transB } = spec;
  const out = empty([m, n], "f32", spec.op);
  const bindings = [spec.a.binding(), spec.b.binding(), out.binding()];
  if (spec.bias) bindings.push(spec.bias.binding());
  const blocksN = Math.ceil(n / 4);
  runtime().dispatch({
    op: spec.op,
    kernel: {
      file: "shaders/ops/matmul.wgsl",
      source: matmulSource,
      defines: {
        TRANS_A: transA,
        TRANS_B: transB,
        // The contiguous axis of A is M when transposed and K otherwise; that
        // of B is K when transposed and N otherwise.
        A_VEC4: (transA ? m : k) % 4 === 0,
        B_VEC4: (transB ? k : n) % 4 === 0,
        BIAS: Boolean(spec.bias),
      },
    },
    uniforms: matmulLayout.pack({ m, n, k, blocks_n: blocksN }),
    bindings,
    workgroups: Math.ceil((Math.ceil(m / 4) * blocksN) / 64),
    shapes: `A ${formatShape(spec.a.shape)}, B ${formatShape(spec.b.shape)}`,
  });
  return out;
}

function checkMatrix(x: Tensor, op: string, what: string): void {
  if (!(x instanceof Tensor)) {
    throw new Error(`${op}: ${what} must be a Tensor, got ${String(x)}`);
  }
  if (x.dtype !== "f32" || x.rank !== 2) {
    throw new Error(
      `${op}: ${what} must be an f32 matrix (rank 2), got ${x.describe()}`,
    );
  }
}

/** Matrix product of a [M, K] and b [K, N], giving [M, N]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkMatrix(a, "matmul", "a");
  checkMatrix(b, "matmul", "b");
  const [m, k] = a.shape;
  const n = b.shape[1];
  if (b.shape[0] !== k) {
    throw new Error(
      `matmul: inner dimensions differ, a ${formatShape(a.shape)} and ` +
        `b ${formatShape(b.shape)}; b must have ${k} rows`,
    );
  }
  const y = gemm({ op: "matmul", a, b, transA: false, transB: false, m, n, k });
  record("matmul", [a, b], [y], ([gy]) => {
    const g = gy!;
    // dA = g B^T ([M, N] x [N, K]) and dB = A^T g ([K, M] x [M, N]).
    const ga = a.requiresGrad
      ? gemm({
        op: "matmul.backward_a",
        a: g,
        b,
        transA: false,
        transB: true,
        m,
        n: k,
        k: n,
      })
      : null;
    const gb = b.requiresGrad
      ? gemm({
        op: "matmul.backward_b",
        a,
        b: g,
        transA: true,
        transB: false,
        m: k,
        n,
        k: m,
      })
      : null;
    return [ga, gb];
  });
  return y;
}

/**
 * Fully connected layer y = x W^T + b, as torch.nn.functional.linear:
 * x [N, in], weight [out, in], bias [out] or null; returns [N, out].
 */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
): Tensor {
  checkMatrix(x, "linear", "x");
  checkMatrix(weight, "linear", "weight");
  const [rows, inFeatures] = x.shape;
  const outFeatures = weight.shape[0];
  if (weight.shape[1] !== inFeatures) {
    throw new Error(
      `linear: weight ${formatShape(weight.shape)} does not match input ` +
        `${formatShape(x.shape)}; weight must be [out, ${inFeatures}]`,
    );
  }
  if (bias !== null) {
    if (!(bias instanceof Tensor) || bias.dtype !== "f32") {
      throw new Error(`linear: bias must be an f32 Tensor or null`);
    }
    if (bias.rank !== 1 || bias.shape[0] !== outFeatures) {
      throw new Error(
        `linear: bias ${bias.describe()} must have shape [${outFeatures}]`,
      );
    }
  }
  const y = gemm({
    op: "linear",
    a: x,
    b: weight,
    transA: false,
    transB: true,
    bias,
    m: rows,
    n: outFeatures,
    k: inFeatures,
  });
  record("linear", [x, weight, bias], [y], ([gy]) => {
    const g = gy!;
    // dx = g W ([N, out] x [out, in]); dW = g^T x ([out, N] x [N, in]).
    const gx = x.requiresGrad
      ? gemm({
        op: "linear.backward_input",
        a: g,
        b: weight,
        transA: false,
        transB: false,
        m: rows,
        n: inFeatures,
        k: outFeatures,
      })
      : null;
    const gw = weight.requiresGrad
      ? gemm({
        op: "linear.backward_weight",
        a: g,
        b: x,
        transA: true,
        transB: false,
        m: outFeatures,
        n: inFeatures,
        k: rows,
      })
      : null;
    const gb = bias?.requiresGrad ? sumToShape(g, [outFeatures]) : null;
    return [gx, gw, gb];
  });
  return y;
}

// ---- CPU reference and registry ----

/** op(A) op(B) in float64 with the same layouts as `gemm`. */
function cpuGemm(
  a: CpuTensor,
  b: CpuTensor,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
): CpuTensor {
  const out = cpuTensor([m, n]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let total = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a.data[p * m + i] : a.data[i * k + p];
        const bv = transB ? b.data[j * k + p] : b.data[p * n + j];
        total += av * bv;
      }
      out.data[i * n + j] = total;
    }
  }
  return out;
}

function cpuLinear(
  x: CpuTensor,
  w: CpuTensor,
  bias: CpuTensor | null,
): CpuTensor {
  const [rows, k] = x.shape;
  const n = w.shape[0];
  const y = cpuGemm(x, w, false, true, rows, n, k);
  if (bias) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < n; j++) y.data[i * n + j] += bias.data[j];
    }
  }
  return y;
}

function cpuLinearBackward(
  x: CpuTensor,
  w: CpuTensor,
  bias: CpuTensor | null,
  g: CpuTensor,
): (CpuTensor | null)[] {
  const [rows, k] = x.shape;
  const n = w.shape[0];
  const gx = cpuGemm(g, w, false, false, rows, k, n);
  const gw = cpuGemm(g, x, true, false, n, k, rows);
  let gb: CpuTensor | null = null;
  if (bias) {
    gb = cpuTensor([n]);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < n; j++) gb.data[j] += g.data[i * n + j];
    }
  }
  return [gx, gw, gb];
}

type NoAttrs = Record<string, never>;

defineOp<NoAttrs>({
  name: "matmul",
  family: "linear",
  inputs: [{ name: "a" }, { name: "b" }],
  forwardKernels: ["shaders/ops/matmul.wgsl"],
  backwardKernels: ["shaders/ops/matmul.wgsl"],
  gpu: ([a, b]) => matmul(a!, b!),
  cpu: {
    forward: ([a, b]) => {
      const [m, k] = a!.shape;
      return [cpuGemm(a!, b!, false, false, m, b!.shape[1], k)];
    },
    backward: ([a, b], _attrs, [g]) => {
      const [m, k] = a!.shape;
      const n = b!.shape[1];
      return [
        cpuGemm(g, b!, false, true, m, k, n),
        cpuGemm(a!, g, true, false, k, n, m),
      ];
    },
  },
  cases: (rng) => {
    const pair = (m: number, k: number, n: number) => [
      randomTensor(rng, [m, k]),
      randomTensor(rng, [k, n]),
    ];
    return [
      { label: "odd sizes 5x7x3", inputs: pair(5, 7, 3), attrs: {} },
      { label: "batch 1", inputs: pair(1, 6, 5), attrs: {} },
      { label: "sizes not divisible by 4", inputs: pair(13, 10, 9), attrs: {} },
      // Every dimension divisible by 4: all vec4 load paths, forward and
      // both gradients.
      { label: "aligned 8x12x16", inputs: pair(8, 12, 16), attrs: {} },
      // Only N divisible by 4, then only K: mixed vec4 and scalar paths.
      { label: "mixed alignment 6x5x8", inputs: pair(6, 5, 8), attrs: {} },
      { label: "mixed alignment 7x8x6", inputs: pair(7, 8, 6), attrs: {} },
      {
        label: "larger 96x72x40",
        inputs: pair(96, 72, 40),
        attrs: {},
        finiteDifferences: false,
      },
    ];
  },
  tolerance: ACCUMULATING_TOLERANCE,
});

defineOp<NoAttrs>({
  name: "linear",
  family: "linear",
  inputs: [{ name: "x" }, { name: "weight" }, {
    name: "bias",
    optional: true,
  }],
  forwardKernels: ["shaders/ops/matmul.wgsl"],
  backwardKernels: ["shaders/ops/matmul.wgsl", "shaders/ops/reduce_sum.wgsl"],
  gpu: ([x, w, b]) => linear(x!, w!, b),
  cpu: {
    forward: ([x, w, b]) => [cpuLinear(x!, w!, b)],
    backward: ([x, w, b], _attrs, [g]) => cpuLinearBackward(x!, w!, b, g),
  },
  cases: (rng) => {
    const layer = (rows: number, inF: number, outF: number, bias = true) => [
      randomTensor(rng, [rows, inF]),
      randomTensor(rng, [outF, inF]),
      bias ? randomTensor(rng, [outF]) : null,
    ];
    return [
      { label: "odd sizes 5x7 -> 3", inputs: layer(5, 7, 3), attrs: {} },
      { label: "batch 1", inputs: layer(1, 7, 5), attrs: {} },
      { label: "without bias", inputs: layer(6, 9, 10, false), attrs: {} },
      { label: "aligned 8x16 -> 12", inputs: layer(8, 16, 12), attrs: {} },
      {
        label: "larger 64x832 -> 128",
        inputs: layer(64, 832, 128),
        attrs: {},
        finiteDifferences: false,
      },
    ];
  },
  tolerance: ACCUMULATING_TOLERANCE,
});
