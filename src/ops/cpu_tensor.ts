/**
 * Float64 host tensors for the CPU reference implementations. They are only
 * used to check the WebGPU kernels, so clarity wins over speed.
 */
import type { Rng } from "../util/rng.ts";

export interface CpuTensor {
  shape: number[];
  data: Float64Array;
  /** "i32" for index tensors such as class labels. */
  dtype?: "f32" | "i32";
}

export function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function cpuTensor(
  shape: readonly number[],
  data?: ArrayLike<number>,
): CpuTensor {
  const size = sizeOfShape(shape);
  const values = data ? Float64Array.from(data) : new Float64Array(size);
  if (values.length !== size) {
    throw new Error(
      `CPU tensor data of length ${values.length} does not match [${shape}]`,
    );
  }
  return { shape: [...shape], data: values };
}

export function cpuLabels(data: readonly number[]): CpuTensor {
  return { shape: [data.length], data: Float64Array.from(data), dtype: "i32" };
}

export function randomTensor(
  rng: Rng,
  shape: readonly number[],
  low = -1,
  high = 1,
): CpuTensor {
  const t = cpuTensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.uniform(low, high);
  return t;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) {
    strides[d] = strides[d + 1] * shape[d + 1];
  }
  return strides;
}

/** Multi-index of a flat offset. */
export function unravel(offset: number, shape: readonly number[]): number[] {
  const index = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = offset % shape[d];
    offset = Math.floor(offset / shape[d]);
  }
  return index;
}

export function mapTensor(
  t: CpuTensor,
  fn: (x: number, i: number) => number,
): CpuTensor {
  const out = cpuTensor(t.shape);
  for (let i = 0; i < t.data.length; i++) out.data[i] = fn(t.data[i], i);
  return out;
}

/** Rounds every value to float32, the precision of the GPU kernels. */
export function toF32(t: CpuTensor): CpuTensor {
  return {
    ...t,
    shape: [...t.shape],
    data: Float64Array.from(Float32Array.from(t.data)),
  };
}

/** Shape of broadcasting `a` and `b` (NumPy rules). */
export function broadcastShapes(
  a: readonly number[],
  b: readonly number[],
): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`Shapes [${a}] and [${b}] cannot be broadcast together`);
    }
    out.push(Math.max(da, db));
  }
  return out;
}

/** Sums a tensor of a broadcast shape back down to `shape`. */
export function sumToShape(t: CpuTensor, shape: readonly number[]): CpuTensor {
  const out = cpuTensor(shape);
  const offsetRank = t.shape.length - shape.length;
  const outStrides = stridesOf(shape);
  for (let i = 0; i < t.data.length; i++) {
    const index = unravel(i, t.shape);
    let o = 0;
    for (let d = 0; d < shape.length; d++) {
      const k = shape[d] === 1 ? 0 : index[d + offsetRank];
      o += k * outStrides[d];
    }
    out.data[o] += t.data[i];
  }
  return out;
}
