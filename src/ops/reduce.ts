/**
 * Sum and mean over any set of axes, and the sum of a broadcast gradient
 * back to an operand's shape. Large reductions to few outputs run in two
 * passes (partial sums per chunk, then a sum of the partials).
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import {
  empty,
  formatShape,
  type Shape,
  type Tensor,
  tensor,
} from "../tensor.ts";
import reduceSource from "../../shaders/ops/reduce_sum.wgsl" with {
  type: "text",
};
import {
  type CpuTensor,
  cpuTensor,
  randomTensor,
  stridesOf,
  unravel,
} from "./cpu_tensor.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "./registry.ts";
import { coalesceDims, expandTo } from "./elementwise.ts";

const reduceLayout = new UniformLayout([
  ["n_out", "u32"],
  ["chunks", "u32"],
  ["chunk", "u32"],
  ["count", "u32"],
  ["out_rank", "u32"],
  ["red_rank", "u32"],
  ["scale", "f32"],
  ["out_shape", "array<vec4<u32>,2>"],
  ["out_strides", "array<vec4<u32>,2>"],
  ["red_shape", "array<vec4<u32>,2>"],
  ["red_strides", "array<vec4<u32>,2>"],
]);
const reduceKernel = {
  file: "shaders/ops/reduce_sum.wgsl",
  source: reduceSource,
};

interface Dims {
  shape: number[];
  strides: number[];
}

function dispatchReduce(
  op: string,
  x: Tensor,
  out: Dims,
  reduced: Dims,
  scale: number,
  result: Tensor,
): void {
  const nOut = out.shape.reduce((a, b) => a * b, 1);
  const count = reduced.shape.reduce((a, b) => a * b, 1);

  // Long sums are split into chunks only when there are few outputs. With
  // 512 outputs or more one pass has enough invocations, as for the
  // Coordinate Attention means of x [16, 32, 5, 4, 4] (2560 sums of 16).
  let chunks = 1;
  if (nOut < 512 && count > 2048) {
    chunks = Math.min(Math.ceil(count / 512), Math.ceil(2048 / nOut));
  }
  const chunk = Math.ceil(count / chunks);

  const outDims = coalesceDims(out.shape, [out.strides]);
  const reducedDims = coalesceDims(reduced.shape, [reduced.strides]);
  if (outDims.shape.length > 8 || reducedDims.shape.length > 8) {
    throw new Error(
      `${op} supports rank 8 at most (after merging contiguous dimensions), ` +
        `got ${formatShape(x.shape)}`,
    );
  }

  const rt = runtime();
  const target = chunks === 1
    ? result
    : empty([nOut * chunks], "f32", `${op}.partial`);
  rt.dispatch({
    op,
    kernel: reduceKernel,
    uniforms: reduceLayout.pack({
      n_out: nOut,
      chunks,
      chunk,
      count,
      out_rank: outDims.shape.length,
      red_rank: reducedDims.shape.length,
      scale,
      out_shape: outDims.shape,
      out_strides: outDims.strides[0],
      red_shape: reducedDims.shape,
      red_strides: reducedDims.strides[0],
    }),
    bindings: [x.binding(), target.binding()],
    workgroups: Math.ceil((nOut * chunks) / 64),
    shapes: `x ${formatShape(x.shape)}`,
  });

  if (chunks > 1) {
    rt.dispatch({
      op: `${op}.partials`,
      kernel: reduceKernel,
      uniforms: reduceLayout.pack({
        n_out: nOut,
        chunks: 1,
        chunk: chunks,
        count: chunks,
        out_rank: 1,
        red_rank: 1,
        scale: 1,
        out_shape: [nOut],
        out_strides: [chunks],
        red_shape: [chunks],
        red_strides: [1],
      }),
      bindings: [target.binding(), result.binding()],
      workgroups: Math.ceil(nOut / 64),
    });
    target.dispose();
  }
}

/** Normalises axes (negative counts from the end) and checks them. */
export function normalizeAxes(
  axes: readonly number[] | undefined,
  rank: number,
): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const result = axes.map((a) => (a < 0 ? a + rank : a));
  for (const [i, a] of result.entries()) {
    if (!Number.isInteger(a) || a < 0 || a >= rank) {
      throw new Error(
        `Axis ${axes[i]} is out of range for a tensor of rank ${rank}`,
      );
    }
  }
  if (new Set(result).size !== result.length) {
    throw new Error(`Axes [${axes}] name an axis twice`);
  }
  return result.sort((a, b) => a - b);
}

function reducedShape(
  shape: Shape,
  axes: number[],
  keepDims: boolean,
): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

function reduceAxes(
  op: string,
  x: Tensor,
  axes: number[],
  scale: number,
  outShape: number[],
): Tensor {
  const strides = stridesOf(x.shape);
  const out: Dims = { shape: [], strides: [] };
  const reduced: Dims = { shape: [], strides: [] };
  x.shape.forEach((d, i) => {
    const dims = axes.includes(i) ? reduced : out;
    dims.shape.push(d);
    dims.strides.push(strides[i]);
  });
  const result = empty(outShape, "f32", op);
  dispatchReduce(op, x, out, reduced, scale, result);
  return result;
}

/**
 * Sums a gradient of a broadcast shape down to `shape`: leading extra axes
 * and axes where `shape` is 1 are summed. Not recorded on the tape.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  const offset = g.rank - shape.length;
  if (offset < 0) {
    throw new Error(
      `Cannot sum ${g.describe()} down to the larger rank ${
        formatShape(shape)
      }`,
    );
  }
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < offset || (shape[i - offset] === 1 && d !== 1)) axes.push(i);
  });
  return reduceAxes("sumToShape", g, axes, 1, [...shape]);
}

export interface ReduceOptions {
  axes?: number[];
  keepDims?: boolean;
}

function reduceOp(
  name: "sum" | "mean",
  x: Tensor,
  options: ReduceOptions,
): Tensor {
  const axes = normalizeAxes(options.axes, x.rank);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  const scale = name === "mean" ? 1 / Math.max(count, 1) : 1;
  const outShape = reducedShape(x.shape, axes, options.keepDims ?? false);
  const y = reduceAxes(name, x, axes, scale, outShape);
  record(name, [x], [y], ([gy]) => {
    const keep = reducedShape(x.shape, axes, true);
    const gyKeep = empty(keep, "f32");
    runtime().copy(gy!.buffer, gyKeep.buffer, gy!.bytes);
    const gx = expandTo(gyKeep, x.shape, scale);
    gyKeep.dispose();
    return [gx];
  });
  return y;
}

/** Sum over `axes` (all axes by default). */
export function sum(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduceOp("sum", x, options);
}

/** Mean over `axes` (all axes by default). */
export function mean(x: Tensor, options: ReduceOptions = {}): Tensor {
  return reduceOp("mean", x, options);
}

/** Uploads a scalar tensor, for broadcasting constants. */
export function scalar(value: number): Tensor {
  return tensor([value], [1]);
}

// ---- CPU reference ----

function cpuReduce(
  x: CpuTensor,
  options: ReduceOptions,
  mean: boolean,
): CpuTensor {
  const axes = normalizeAxes(options.axes, x.shape.length);
  const keep = reducedShape(x.shape, axes, true);
  const out = cpuTensor(keep);
  const outStrides = stridesOf(keep);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  for (let i = 0; i < x.data.length; i++) {
    const index = unravel(i, x.shape);
    let o = 0;
    index.forEach((k, d) => (o += (axes.includes(d) ? 0 : k) * outStrides[d]));
    out.data[o] += x.data[i] / (mean ? count : 1);
  }
  out.shape = reducedShape(x.shape, axes, options.keepDims ?? false);
  return out;
}

function cpuReduceBackward(
  x: CpuTensor,
  options: ReduceOptions,
  g: CpuTensor,
  mean: boolean,
): CpuTensor {
  const axes = normalizeAxes(options.axes, x.shape.length);
  const keep = reducedShape(x.shape, axes, true);
  const keepStrides = stridesOf(keep);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  const gx = cpuTensor(x.shape);
  for (let i = 0; i < gx.data.length; i++) {
    const index = unravel(i, x.shape);
    let o = 0;
    index.forEach((k, d) => (o += (axes.includes(d) ? 0 : k) * keepStrides[d]));
    gx.data[i] = g.data[o] / (mean ? count : 1);
  }
  return gx;
}

for (const name of ["sum", "mean"] as const) {
  const isMean = name === "mean";
  defineOp<ReduceOptions>({
    name,
    family: "reduce",
    inputs: [{ name: "x" }],
    forwardKernels: ["shaders/ops/reduce_sum.wgsl"],
    backwardKernels: ["shaders/ops/broadcast_binary.wgsl"],
    gpu: ([x], attrs) => reduceOp(name, x!, attrs),
    cpu: {
      forward: ([x], attrs) => [cpuReduce(x!, attrs, isMean)],
      backward: ([x], attrs, [g]) => [cpuReduceBackward(x!, attrs, g, isMean)],
    },
    cases: (rng) => [
      { label: "all axes", inputs: [randomTensor(rng, [3, 5])], attrs: {} },
      {
        label: "NCDHW over N,D,H,W keepDims",
        inputs: [randomTensor(rng, [2, 3, 2, 3, 5])],
        attrs: { axes: [0, 2, 3, 4], keepDims: true },
      },
      {
        label: "negative axis",
        inputs: [randomTensor(rng, [4, 7])],
        attrs: { axes: [-1] },
      },
      {
        label: "two-pass reduction",
        inputs: [randomTensor(rng, [3, 3000])],
        attrs: { axes: [1] },
      },
      {
        label: "three reduced axes apart",
        inputs: [randomTensor(rng, [3, 2, 5, 3, 4])],
        attrs: { axes: [0, 2, 4] },
      },
      {
        // 3567 terms in 7 chunks of 510, which end inside rows of 29.
        label: "two-pass, chunks end mid-row",
        inputs: [randomTensor(rng, [3, 41, 2, 29])],
        attrs: { axes: [0, 1, 3] },
      },
    ],
    tolerance: ACCUMULATING_TOLERANCE,
  });
}
