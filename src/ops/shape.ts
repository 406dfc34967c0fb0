/**
 * Shape operators: concat and split along any axis, reshape and permute.
 * Every result is a new tensor with its own buffer (no views), so disposing
 * an input never invalidates an output. concat, split and permute copy raw
 * 32-bit words, so they take f32 and i32 tensors; gradients flow through
 * f32 tensors.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import {
  empty,
  formatShape,
  type Shape,
  sizeOf,
  Tensor,
  zeros,
} from "../tensor.ts";
import concatSource from "../../shaders/ops/concat.wgsl" with { type: "text" };
import splitSource from "../../shaders/ops/split.wgsl" with { type: "text" };
import permuteSource from "../../shaders/ops/permute.wgsl" with {
  type: "text",
};
import {
  type CpuTensor,
  cpuTensor,
  randomTensor,
  stridesOf,
  unravel,
} from "./cpu_tensor.ts";
import { defineOp, ELEMENTWISE_TOLERANCE } from "./registry.ts";

const sliceLayout = new UniformLayout([
  ["n", "u32"],
  ["piece_axis", "u32"],
  ["whole_axis", "u32"],
  ["offset", "u32"],
  ["inner", "u32"],
]);
const permuteLayout = new UniformLayout([
  ["n", "u32"],
  ["rank", "u32"],
  ["shape", "array<vec4<u32>,2>"],
  ["x_strides", "array<vec4<u32>,2>"],
]);
const KERNELS = {
  concat: "shaders/ops/concat.wgsl",
  split: "shaders/ops/split.wgsl",
  permute: "shaders/ops/permute.wgsl",
} as const;
const MAX_PERMUTE_RANK = 8;

function checkTensor(value: unknown, name: string): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new Error(`${name} must be a Tensor, got ${String(value)}`);
  }
}

/** Resolves a possibly negative axis of a tensor of `rank` and checks it. */
function normalizeAxis(axis: number, rank: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(
      `${op}: axis ${axis} is out of range for rank ${rank}; use an integer in ` +
        `[${-rank}, ${rank - 1}]`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

function innerSize(shape: Shape, axis: number): number {
  return sizeOf(shape.slice(axis + 1));
}

/**
 * Records one dispatch copying `piece` into (concat.wgsl) or out of
 * (split.wgsl) its slice of `whole` along `axis`, starting at `offset`.
 */
function copySlice(
  direction: "concat" | "split",
  op: string,
  piece: Tensor,
  whole: Tensor,
  axis: number,
  offset: number,
): void {
  if (piece.size === 0) return;
  const source = direction === "concat" ? concatSource : splitSource;
  runtime().dispatch({
    op,
    kernel: { file: KERNELS[direction], source },
    uniforms: sliceLayout.pack({
      n: piece.size,
      piece_axis: piece.shape[axis],
      whole_axis: whole.shape[axis],
      offset,
      inner: innerSize(whole.shape, axis),
    }),
    bindings: direction === "concat"
      ? [piece.binding(), whole.binding()]
      : [whole.binding(), piece.binding()],
    workgroups: Math.ceil(piece.size / 256),
    shapes: [
      `piece ${formatShape(piece.shape)}`,
      `whole ${formatShape(whole.shape)}`,
    ].join(", "),
  });
}

// ---- concat and split ----

/** Shape of the concatenation, after checking ranks, dtypes and the other axes. */
function concatShape(
  tensors: readonly Tensor[],
  axis: number,
): { shape: number[]; axis: number } {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw new Error("concat expects a non-empty array of tensors");
  }
  tensors.forEach((t, i) => checkTensor(t, `concat: tensor ${i}`));
  const first = tensors[0];
  if (first.rank === 0) {
    throw new Error(`concat: tensor 0 ${first.describe()} has rank 0`);
  }
  const resolved = normalizeAxis(axis, first.rank, "concat");
  const shape = [...first.shape];
  shape[resolved] = 0;
  tensors.forEach((t, i) => {
    if (t.dtype !== first.dtype) {
      throw new Error(
        `concat: tensor ${i} ${t.describe()} has a different dtype from tensor 0 ${first.describe()}`,
      );
    }
    const matches = t.rank === first.rank &&
      t.shape.every((d: number, k: number) =>
        k === resolved || d === first.shape[k]
      );
    if (!matches) {
      throw new Error(
        `concat: tensor ${i} ${t.describe()} does not match tensor 0 ${first.describe()} ` +
          `outside axis ${axis}; all tensors need the same rank and sizes except along the axis`,
      );
    }
    shape[resolved] += t.shape[resolved];
  });
  return { shape, axis: resolved };
}

/**
 * Concatenates tensors of equal rank along `axis` (negative counts from the
 * end), as torch.cat. All other sizes must match. The Inception block joins
 * its four branches with `concat(branches, 1)`.
 */
export function concat(tensors: Tensor[], axis: number): Tensor {
  const { shape, axis: resolved } = concatShape(tensors, axis);
  const y = empty(shape, tensors[0].dtype, "concat");
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    offsets.push(offset);
    copySlice("concat", "concat.forward", t, y, resolved, offset);
    offset += t.shape[resolved];
  }
  record("concat", [...tensors], [y], ([gy]) =>
    tensors.map((t, i) => {
      if (!t.requiresGrad) return null;
      const g = empty(t.shape, "f32", "concat.grad");
      copySlice("split", "concat.backward", g, gy!, resolved, offsets[i]);
      return g;
    }));
  return y;
}

function checkSizes(
  x: Tensor,
  sizes: readonly number[],
  axis: number,
  resolved: number,
): void {
  if (!Array.isArray(sizes) || sizes.length === 0) {
    throw new Error(
      `split expects a non-empty array of sizes, got ${JSON.stringify(sizes)}`,
    );
  }
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 0) {
      throw new Error(
        `split: sizes [${sizes}] contain ${size}, which is not a non-negative integer`,
      );
    }
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[resolved]) {
    throw new Error(
      `split: sizes [${sizes}] sum to ${total}, but axis ${axis} of x ` +
        `${formatShape(x.shape)} has length ${x.shape[resolved]}`,
    );
  }
}

/**
 * Splits x along `axis` into pieces of the given sizes, which must sum to
 * the axis length, as torch.split with a list of sizes. Returns new tensors.
 */
export function split(x: Tensor, sizes: number[], axis: number): Tensor[] {
  checkTensor(x, "split: x");
  if (x.rank === 0) throw new Error(`split: x ${x.describe()} has rank 0`);
  const resolved = normalizeAxis(axis, x.rank, "split");
  checkSizes(x, sizes, axis, resolved);
  const offsets: number[] = [];
  let offset = 0;
  const pieces = sizes.map((size) => {
    const shape = [...x.shape];
    shape[resolved] = size;
    const piece = empty(shape, x.dtype, "split");
    offsets.push(offset);
    copySlice("split", "split.forward", piece, x, resolved, offset);
    offset += size;
    return piece;
  });
  record("split", [x], pieces, (gradPieces) => {
    // Slices whose output received no gradient stay zero.
    const complete = gradPieces.every((g) => g !== null);
    const gx = complete
      ? empty(x.shape, "f32", "split.grad")
      : zeros(x.shape, "f32", "split.grad");
    gradPieces.forEach((g, i) => {
      if (g) copySlice("concat", "split.backward", g, gx, resolved, offsets[i]);
    });
    return [gx];
  });
  return pieces;
}

// ---- reshape ----

/** Resolves one -1 entry and checks that the element count is unchanged. */
function resolveShape(x: Tensor, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) {
    throw new Error(
      `reshape expects a shape array, got ${JSON.stringify(shape)}`,
    );
  }
  const target = `${formatShape(x.shape)} (${x.size} elements)`;
  const free = shape.filter((d) => d === -1).length;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < -1) {
      throw new Error(
        `reshape: shape [${shape}] has an invalid size ${d}; sizes are integers >= 0, or one -1`,
      );
    }
  }
  if (free > 1) {
    throw new Error(`reshape: shape [${shape}] has more than one -1`);
  }
  const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  if (free === 1) {
    if (known === 0 || x.size % known !== 0) {
      throw new Error(
        `reshape: cannot infer the -1 of [${shape}] for x ${target}`,
      );
    }
    return shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (known !== x.size) {
    throw new Error(
      `reshape: cannot reshape x ${target} to ` +
        `${formatShape(shape)} (${known} elements); ` +
        "the element count must not change",
    );
  }
  return [...shape];
}

/**
 * Reshapes x to `shape`, where one size may be -1 and is then inferred.
 * The element count must not change. The data is copied with a buffer copy
 * (no kernel), so the result owns its buffer and x can be disposed.
 */
export function reshape(x: Tensor, shape: number[]): Tensor {
  checkTensor(x, "reshape: x");
  const resolved = resolveShape(x, shape);
  const y = empty(resolved, x.dtype, "reshape");
  runtime().copy(x.buffer, y.buffer, x.bytes);
  record("reshape", [x], [y], ([gy]) => {
    const gx = empty(x.shape, "f32", "reshape.grad");
    runtime().copy(gy!.buffer, gx.buffer, gy!.bytes);
    return [gx];
  });
  return y;
}

// ---- permute ----

/** Resolves negative dims and checks that they permute 0 .. rank - 1. */
function resolveDims(x: Tensor, dims: readonly number[]): number[] {
  if (!Array.isArray(dims)) {
    throw new Error(
      `permute expects an array of dims, got ${JSON.stringify(dims)}`,
    );
  }
  const rank = x.rank;
  const resolved = dims.map((
    d,
  ) => (Number.isInteger(d) && d < 0 ? d + rank : d));
  const valid = dims.length === rank &&
    resolved.every((d) => Number.isInteger(d) && d >= 0 && d < rank) &&
    new Set(resolved).size === rank;
  if (!valid) {
    throw new Error(
      `permute: dims [${dims}] are not a permutation of the ${rank} axes ` +
        `of x ${formatShape(x.shape)}; name each axis in ` +
        `[${-rank}, ${rank - 1}] once`,
    );
  }
  if (rank > MAX_PERMUTE_RANK) {
    throw new Error(
      `permute supports rank ${MAX_PERMUTE_RANK} at most, ` +
        `got x ${formatShape(x.shape)}`,
    );
  }
  return resolved;
}

/** Dispatches y = x.permute(dims) for already checked dims. */
function permuteKernel(op: string, x: Tensor, dims: number[]): Tensor {
  const shape = dims.map((d) => x.shape[d]);
  const strides = stridesOf(x.shape);
  const y = empty(shape, x.dtype, op);
  runtime().dispatch({
    op,
    kernel: { file: KERNELS.permute, source: permuteSource },
    uniforms: permuteLayout.pack({
      n: x.size,
      rank: x.rank,
      shape,
      x_strides: dims.map((d) => strides[d]),
    }),
    bindings: [x.binding(), y.binding()],
    workgroups: Math.ceil(x.size / 256),
    shapes: `x ${formatShape(x.shape)}`,
  });
  return y;
}

/**
 * Reorders the axes of x: output axis k is input axis dims[k] (negative
 * dims count from the end), as torch.permute. The result is a new
 * contiguous tensor.
 */
export function permute(x: Tensor, dims: number[]): Tensor {
  checkTensor(x, "permute: x");
  const resolved = resolveDims(x, dims);
  const y = permuteKernel("permute.forward", x, resolved);
  const inverse = new Array<number>(resolved.length);
  resolved.forEach((d, k) => (inverse[d] = k));
  record(
    "permute",
    [x],
    [y],
    ([gy]) => [permuteKernel("permute.backward", gy!, inverse)],
  );
  return y;
}

// ---- CPU reference ----

/** Copies piece into (concat) or out of (split) its slice of whole, in float64. */
function cpuCopySlice(
  direction: "concat" | "split",
  piece: CpuTensor,
  whole: CpuTensor,
  axis: number,
  offset: number,
): void {
  const inner = sizeOf(whole.shape.slice(axis + 1));
  const slab = piece.shape[axis] * inner;
  for (let i = 0; i < piece.data.length; i++) {
    const o = Math.floor(i / slab);
    const at = (o * whole.shape[axis] + offset) * inner + (i % slab);
    if (direction === "concat") whole.data[at] = piece.data[i];
    else piece.data[i] = whole.data[at];
  }
}

function present(inputs: (CpuTensor | null)[]): CpuTensor[] {
  return inputs.filter((t): t is CpuTensor => t !== null);
}

/** Float64 reference of concat. */
export function cpuConcat(tensors: CpuTensor[], axis: number): CpuTensor {
  const resolved = axis < 0 ? axis + tensors[0].shape.length : axis;
  const shape = [...tensors[0].shape];
  shape[resolved] = tensors.reduce((a, t) => a + t.shape[resolved], 0);
  const y = cpuTensor(shape);
  let offset = 0;
  for (const t of tensors) {
    cpuCopySlice("concat", t, y, resolved, offset);
    offset += t.shape[resolved];
  }
  return y;
}

/** Float64 reference of split. */
export function cpuSplit(
  x: CpuTensor,
  sizes: number[],
  axis: number,
): CpuTensor[] {
  const resolved = axis < 0 ? axis + x.shape.length : axis;
  let offset = 0;
  return sizes.map((size) => {
    const shape = [...x.shape];
    shape[resolved] = size;
    const piece = cpuTensor(shape);
    cpuCopySlice("split", piece, x, resolved, offset);
    offset += size;
    return piece;
  });
}

/** Float64 reference of permute. */
export function cpuPermute(x: CpuTensor, dims: number[]): CpuTensor {
  const rank = x.shape.length;
  const resolved = dims.map((d) => (d < 0 ? d + rank : d));
  const shape = resolved.map((d) => x.shape[d]);
  const strides = stridesOf(x.shape);
  const y = cpuTensor(shape);
  for (let i = 0; i < y.data.length; i++) {
    const index = unravel(i, shape);
    let source = 0;
    index.forEach((k, d) => (source += k * strides[resolved[d]]));
    y.data[i] = x.data[source];
  }
  return y;
}

function inversePermutation(dims: number[]): number[] {
  const rank = dims.length;
  const inverse = new Array<number>(rank);
  dims.forEach((d, k) => (inverse[d < 0 ? d + rank : d] = k));
  return inverse;
}

// ---- registry ----

interface AxisAttrs {
  axis: number;
}

interface SplitAttrs {
  sizes: number[];
  axis: number;
}

defineOp<AxisAttrs>({
  name: "concat",
  family: "shape",
  // Cases pass two to four tensors; unused trailing inputs are absent.
  inputs: [{ name: "a" }, { name: "b" }, { name: "c", optional: true }, {
    name: "d",
    optional: true,
  }],
  forwardKernels: [KERNELS.concat],
  backwardKernels: [KERNELS.split],
  gpu: (inputs, { axis }) =>
    concat(inputs.filter((t): t is Tensor => t !== null), axis),
  cpu: {
    forward: (inputs, { axis }) => [cpuConcat(present(inputs), axis)],
    backward: (inputs, { axis }, [gy]) => {
      const tensors = present(inputs);
      const resolved = axis < 0 ? axis + gy.shape.length : axis;
      return cpuSplit(gy, tensors.map((t) => t.shape[resolved]), resolved);
    },
  },
  cases: (rng) => [
    {
      label: "four Inception branches on channels",
      inputs: [
        randomTensor(rng, [1, 2, 2, 3, 3]),
        randomTensor(rng, [1, 3, 2, 3, 3]),
        randomTensor(rng, [1, 1, 2, 3, 3]),
        randomTensor(rng, [1, 5, 2, 3, 3]),
      ],
      attrs: { axis: 1 },
    },
    {
      label: "axis 0",
      inputs: [randomTensor(rng, [2, 3, 4]), randomTensor(rng, [1, 3, 4])],
      attrs: { axis: 0 },
    },
    {
      label: "last axis, negative",
      inputs: [
        randomTensor(rng, [3, 2, 5]),
        randomTensor(rng, [3, 2, 1]),
        randomTensor(rng, [3, 2, 7]),
      ],
      attrs: { axis: -1 },
    },
    {
      label: "batch 2 on channels",
      inputs: [
        randomTensor(rng, [2, 3, 1, 2, 3]),
        randomTensor(rng, [2, 2, 1, 2, 3]),
      ],
      attrs: { axis: -4 },
    },
  ],
  tolerance: ELEMENTWISE_TOLERANCE,
});

defineOp<SplitAttrs>({
  name: "split",
  family: "shape",
  inputs: [{ name: "x" }],
  forwardKernels: [KERNELS.split],
  backwardKernels: [KERNELS.concat],
  gpu: ([x], { sizes, axis }) => split(x!, sizes, axis),
  cpu: {
    forward: ([x], { sizes, axis }) => cpuSplit(x!, sizes, axis),
    backward: (
      [x],
      { axis },
      gradPieces,
    ) => [cpuConcat(gradPieces, axis < 0 ? axis + x!.shape.length : axis)],
  },
  cases: (rng) => [
    {
      label: "channels into three",
      inputs: [randomTensor(rng, [2, 6, 2, 3, 3])],
      attrs: { sizes: [2, 3, 1], axis: 1 },
    },
    {
      label: "last axis, negative",
      inputs: [randomTensor(rng, [3, 4, 7])],
      attrs: { sizes: [5, 2], axis: -1 },
    },
    {
      label: "axis 0 with an empty piece",
      inputs: [randomTensor(rng, [5, 3])],
      attrs: { sizes: [2, 0, 3], axis: 0 },
    },
  ],
  tolerance: ELEMENTWISE_TOLERANCE,
});

defineOp<{ shape: number[] }>({
  name: "reshape",
  family: "shape",
  inputs: [{ name: "x" }],
  forwardKernels: ["buffer copy"],
  backwardKernels: ["buffer copy"],
  gpu: ([x], { shape }) => reshape(x!, shape),
  cpu: {
    forward: ([x], { shape }) => {
      const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
      return [
        cpuTensor(
          shape.map((d) => (d === -1 ? x!.data.length / known : d)),
          x!.data,
        ),
      ];
    },
    backward: ([x], _attrs, [gy]) => [cpuTensor(x!.shape, gy.data)],
  },
  cases: (rng) => [
    {
      label: "inferred size",
      inputs: [randomTensor(rng, [2, 3, 4])],
      attrs: { shape: [4, -1] },
    },
    {
      label: "rank 1 to rank 3",
      inputs: [randomTensor(rng, [6])],
      attrs: { shape: [1, 2, 3] },
    },
    {
      label: "flatten NCDHW features",
      inputs: [randomTensor(rng, [2, 3, 1, 2, 5])],
      attrs: { shape: [2, -1] },
    },
  ],
  tolerance: ELEMENTWISE_TOLERANCE,
});

defineOp<{ dims: number[] }>({
  name: "permute",
  family: "shape",
  inputs: [{ name: "x" }],
  forwardKernels: [KERNELS.permute],
  backwardKernels: [KERNELS.permute],
  gpu: ([x], { dims }) => permute(x!, dims),
  cpu: {
    forward: ([x], { dims }) => [cpuPermute(x!, dims)],
    backward: (
      _inputs,
      { dims },
      [gy],
    ) => [cpuPermute(gy, inversePermutation(dims))],
  },
  cases: (rng) => [
    {
      label: "rank 3 rotation",
      inputs: [randomTensor(rng, [2, 3, 4])],
      attrs: { dims: [2, 0, 1] },
    },
    {
      label: "NCDHW to NDCHW",
      inputs: [randomTensor(rng, [2, 3, 4, 3, 5])],
      attrs: { dims: [0, 2, 1, 3, 4] },
    },
    {
      label: "negative dims",
      inputs: [randomTensor(rng, [3, 5, 2])],
      attrs: { dims: [-1, 0, -2] },
    },
    {
      label: "rank 8 reversal",
      inputs: [randomTensor(rng, [2, 1, 3, 2, 1, 2, 3, 2])],
      attrs: { dims: [7, 6, 5, 4, 3, 2, 1, 0] },
    },
  ],
  tolerance: ELEMENTWISE_TOLERANCE,
});
