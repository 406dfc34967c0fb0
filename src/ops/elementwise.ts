/**
 * Elementwise operators: the activations relu, relu6, hardSwish and sigmoid,
 * and add, sub, mul and div with NumPy broadcasting. Gradients of broadcast
 * operands are summed back to the operand's shape.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, type Shape, Tensor, tensor } from "../tensor.ts";
import unaryForwardSource from "../../shaders/ops/unary_forward.wgsl" with {
  type: "text",
};
import unaryBackwardSource from "../../shaders/ops/unary_backward.wgsl" with {
  type: "text",
};
import binarySource from "../../shaders/ops/broadcast_binary.wgsl" with {
  type: "text",
};
import binaryBackwardSource from "../../shaders/ops/broadcast_binary_backward.wgsl" with {
  type: "text",
};
import {
  broadcastShapes,
  type CpuTensor,
  cpuTensor,
  mapTensor,
  randomTensor,
  stridesOf,
  sumToShape as cpuSumToShape,
  unravel,
} from "./cpu_tensor.ts";
import { defineOp, ELEMENTWISE_TOLERANCE } from "./registry.ts";
import { sumToShape } from "./reduce.ts";

// ---- activations ----

const flatLayout = new UniformLayout([["n", "u32"]]);

const ACTIVATIONS = {
  relu: 0,
  relu6: 1,
  hardSwish: 2,
  sigmoid: 3,
} as const;
type Activation = keyof typeof ACTIVATIONS;

function checkF32(x: Tensor, op: string): void {
  if (!(x instanceof Tensor)) {
    throw new Error(`${op} expects a Tensor, got ${String(x)}`);
  }
  if (x.dtype !== "f32") {
    throw new Error(`${op} expects an f32 tensor, got ${x.describe()}`);
  }
}

function activation(name: Activation, x: Tensor): Tensor {
  checkF32(x, name);
  const code = ACTIVATIONS[name];
  const y = empty(x.shape, "f32", name);
  const rt = runtime();
  rt.dispatch({
    op: `${name}.forward`,
    kernel: {
      file: "shaders/ops/unary_forward.wgsl",
      source: unaryForwardSource,
      constants: { OP: code },
    },
    uniforms: flatLayout.pack({ n: x.size }),
    bindings: [x.binding(), y.binding()],
    workgroups: Math.ceil(x.size / 256),
  });
  record(name, [x], [y], ([gy]) => {
    const saved = name === "sigmoid" ? y : x;
    const gx = empty(x.shape, "f32", `${name}.grad`);
    runtime().dispatch({
      op: `${name}.backward`,
      kernel: {
        file: "shaders/ops/unary_backward.wgsl",
        source: unaryBackwardSource,
        constants: { OP: code },
      },
      uniforms: flatLayout.pack({ n: x.size }),
      bindings: [saved.binding(), gy!.binding(), gx.binding()],
      workgroups: Math.ceil(x.size / 256),
    });
    return [gx];
  });
  return y;
}

export const relu = (x: Tensor): Tensor => activation("relu", x);
export const relu6 = (x: Tensor): Tensor => activation("relu6", x);
/** x * relu6(x + 3) / 6 (Howard et al. 2019). */
export const hardSwish = (x: Tensor): Tensor => activation("hardSwish", x);
export const sigmoid = (x: Tensor): Tensor => activation("sigmoid", x);

// ---- broadcasting binary operators ----

const binaryLayout = new UniformLayout([
  ["n", "u32"],
  ["rank", "u32"],
  ["shape", "array<vec4<u32>,2>"],
  ["a_strides", "array<vec4<u32>,2>"],
  ["b_strides", "array<vec4<u32>,2>"],
]);

const BINARY = { add: 0, sub: 1, mul: 2, div: 3 } as const;
type Binary = keyof typeof BINARY;

/** Strides of `shape` aligned to the broadcast shape `out` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, out: Shape): number[] {
  const strides = stridesOf(shape);
  const offset = out.length - shape.length;
  return out.map((_, d) => {
    const k = d - offset;
    return k < 0 || shape[k] === 1 ? 0 : strides[k];
  });
}

/** A shape with the strides of several operands over it. */
export interface StridedDims {
  shape: number[];
  /** One stride list per operand, each as long as `shape`. */
  strides: number[][];
}

/**
 * Drops dimensions of size 1 and merges each dimension into the one before
 * it where every operand's outer stride equals its inner stride times the
 * inner size, so that kernels unravel fewer dimensions. The row-major order
 * of the index space is unchanged. The result has rank 1 at least: a scalar
 * index space becomes shape [1] with strides 0.
 */
export function coalesceDims(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): StridedDims {
  const merged: StridedDims = { shape: [], strides: strides.map(() => []) };
  shape.forEach((size, d) => {
    if (size === 1) return;
    const last = merged.shape.length - 1;
    const contiguous = last >= 0 &&
      strides.every((s, k) => merged.strides[k][last] === s[d] * size);
    if (contiguous) {
      merged.shape[last] *= size;
      strides.forEach((s, k) => (merged.strides[k][last] = s[d]));
    } else {
      merged.shape.push(size);
      strides.forEach((s, k) => merged.strides[k].push(s[d]));
    }
  });
  if (merged.shape.length === 0) {
    merged.shape.push(1);
    merged.strides.forEach((s) => s.push(0));
  }
  return merged;
}

function binaryUniforms(
  a: Shape,
  b: Shape,
  out: Shape,
): Uint8Array<ArrayBuffer> {
  const dims = coalesceDims(out, [
    broadcastStrides(a, out),
    broadcastStrides(b, out),
  ]);
  if (dims.shape.length > 8) {
    throw new Error(
      `Broadcasting supports rank 8 at most (after merging contiguous ` +
        `dimensions), got ${formatShape(out)}`,
    );
  }
  return binaryLayout.pack({
    n: out.reduce((x, y) => x * y, 1),
    rank: dims.shape.length,
    shape: dims.shape,
    a_strides: dims.strides[0],
    b_strides: dims.strides[1],
  });
}

function toTensor(value: Tensor | number): Tensor {
  return value instanceof Tensor ? value : tensor([value], [1]);
}

function binary(
  name: Binary,
  aIn: Tensor | number,
  bIn: Tensor | number,
): Tensor {
  const a = toTensor(aIn);
  const b = toTensor(bIn);
  checkF32(a, name);
  checkF32(b, name);
  let shape: number[];
  try {
    shape = broadcastShapes(a.shape, b.shape);
  } catch {
    throw new Error(
      `${name}: shapes ${formatShape(a.shape)} and ${
        formatShape(b.shape)
      } cannot be broadcast`,
    );
  }
  const y = empty(shape, "f32", name);
  const uniforms = binaryUniforms(a.shape, b.shape, shape);
  runtime().dispatch({
    op: `${name}.forward`,
    kernel: {
      file: "shaders/ops/broadcast_binary.wgsl",
      source: binarySource,
      constants: { OP: BINARY[name] },
    },
    uniforms,
    bindings: [a.binding(), b.binding(), y.binding()],
    workgroups: Math.ceil(y.size / 256),
    shapes: `a ${formatShape(a.shape)}, b ${formatShape(b.shape)}`,
  });
  record(name, [a, b], [y], ([gy]) => {
    const side = (index: 0 | 1, operand: Tensor): Tensor | null => {
      if (!operand.requiresGrad) return null;
      const full = empty(shape, "f32", `${name}.grad`);
      runtime().dispatch({
        op: `${name}.backward`,
        kernel: {
          file: "shaders/ops/broadcast_binary_backward.wgsl",
          source: binaryBackwardSource,
          constants: { OP: BINARY[name], SIDE: index },
        },
        uniforms,
        bindings: [a.binding(), b.binding(), gy!.binding(), full.binding()],
        workgroups: Math.ceil(full.size / 256),
      });
      if (operand.size === full.size) return full;
      const reduced = sumToShape(full, operand.shape);
      full.dispose();
      return reduced;
    };
    return [side(0, a), side(1, b)];
  });
  return y;
}

export const add = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary("add", a, b);
export const sub = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary("sub", a, b);
export const mul = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary("mul", a, b);
export const div = (a: Tensor | number, b: Tensor | number): Tensor =>
  binary("div", a, b);

/**
 * Broadcasts `x` to `shape`, times `scale`, without recording a node (used by
 * backward passes).
 */
export function expandTo(x: Tensor, shape: Shape, scale = 1): Tensor {
  const s = tensor([scale], [1]);
  const y = empty(shape, "f32", "expand");
  runtime().dispatch({
    op: "expand",
    kernel: {
      file: "shaders/ops/broadcast_binary.wgsl",
      source: binarySource,
      constants: { OP: BINARY.mul },
    },
    uniforms: binaryUniforms(x.shape, [1], shape),
    bindings: [x.binding(), s.binding(), y.binding()],
    workgroups: Math.ceil(y.size / 256),
  });
  s.dispose();
  return y;
}

// ---- CPU reference and registry ----

function cpuActivation(name: Activation, v: number): number {
  switch (name) {
    case "relu":
      return Math.max(v, 0);
    case "relu6":
      return Math.min(Math.max(v, 0), 6);
    case "hardSwish":
      return (v * Math.min(Math.max(v + 3, 0), 6)) / 6;
    case "sigmoid":
      return 1 / (1 + Math.exp(-v));
  }
}

function cpuActivationDerivative(name: Activation, v: number): number {
  switch (name) {
    case "relu":
      return v > 0 ? 1 : 0;
    case "relu6":
      return v > 0 && v < 6 ? 1 : 0;
    case "hardSwish":
      if (v < -3) return 0;
      if (v <= 3) return v / 3 + 0.5;
      return 1;
    case "sigmoid": {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 - s);
    }
  }
}

/** Random values kept at least `gap` away from the given kinks. */
function awayFromKinks(
  rng: import("../util/rng.ts").Rng,
  shape: number[],
  kinks: number[],
  low: number,
  high: number,
): CpuTensor {
  const t = randomTensor(rng, shape, low, high);
  for (let i = 0; i < t.data.length; i++) {
    for (const k of kinks) {
      if (Math.abs(t.data[i] - k) < 0.05) t.data[i] = k + 0.1;
    }
  }
  return t;
}

const KINKS: Record<Activation, number[]> = {
  relu: [0],
  relu6: [0, 6],
  hardSwish: [-3, 3],
  sigmoid: [],
};

for (const name of Object.keys(ACTIVATIONS) as Activation[]) {
  defineOp<Record<string, never>>({
    name,
    family: "elementwise",
    inputs: [{ name: "x" }],
    forwardKernels: ["shaders/ops/unary_forward.wgsl"],
    backwardKernels: ["shaders/ops/unary_backward.wgsl"],
    gpu: ([x]) => activation(name, x!),
    cpu: {
      forward: ([x]) => [mapTensor(x!, (v) => cpuActivation(name, v))],
      backward: ([x], _attrs, [g]) => [
        mapTensor(x!, (v, i) => g.data[i] * cpuActivationDerivative(name, v)),
      ],
    },
    cases: (rng) => [
      {
        label: "odd size",
        inputs: [awayFromKinks(rng, [3, 7, 5], KINKS[name], -8, 8)],
        attrs: {},
      },
      {
        label: "dispatch above 65535 workgroups",
        inputs: [awayFromKinks(rng, [65536 * 256 + 17], KINKS[name], -8, 8)],
        attrs: {},
        // 16.7 M elements: the GPU check runs, the float64 finite
        // difference would take minutes.
        finiteDifferences: false,
      },
    ],
    tolerance: ELEMENTWISE_TOLERANCE,
  });
}

function cpuBinary(name: Binary, a: number, b: number): number {
  switch (name) {
    case "add":
      return a + b;
    case "sub":
      return a - b;
    case "mul":
      return a * b;
    case "div":
      return a / b;
  }
}

function cpuBinaryForward(name: Binary, a: CpuTensor, b: CpuTensor): CpuTensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const out = cpuTensor(shape);
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  for (let i = 0; i < out.data.length; i++) {
    const index = unravel(i, shape);
    let ia = 0;
    let ib = 0;
    index.forEach((k, d) => {
      ia += k * sa[d];
      ib += k * sb[d];
    });
    out.data[i] = cpuBinary(name, a.data[ia], b.data[ib]);
  }
  return out;
}

function cpuBinaryBackward(
  name: Binary,
  a: CpuTensor,
  b: CpuTensor,
  g: CpuTensor,
): CpuTensor[] {
  const shape = g.shape;
  const ga = cpuTensor(shape);
  const gb = cpuTensor(shape);
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  for (let i = 0; i < g.data.length; i++) {
    const index = unravel(i, shape);
    let ia = 0;
    let ib = 0;
    index.forEach((k, d) => {
      ia += k * sa[d];
      ib += k * sb[d];
    });
    const va = a.data[ia];
    const vb = b.data[ib];
    const local = {
      add: [1, 1],
      sub: [1, -1],
      mul: [vb, va],
      div: [1 / vb, -va / (vb * vb)],
    }[name];
    ga.data[i] = g.data[i] * local[0];
    gb.data[i] = g.data[i] * local[1];
  }
  return [cpuSumToShape(ga, a.shape), cpuSumToShape(gb, b.shape)];
}

for (const name of Object.keys(BINARY) as Binary[]) {
  defineOp<Record<string, never>>({
    name,
    family: "elementwise",
    inputs: [{ name: "a" }, { name: "b" }],
    forwardKernels: ["shaders/ops/broadcast_binary.wgsl"],
    backwardKernels: [
      "shaders/ops/broadcast_binary_backward.wgsl",
      "shaders/ops/reduce_sum.wgsl",
    ],
    gpu: ([a, b]) => binary(name, a!, b!),
    cpu: {
      forward: ([a, b]) => [cpuBinaryForward(name, a!, b!)],
      backward: ([a, b], _attrs, [g]) => cpuBinaryBackward(name, a!, b!, g),
    },
    cases: (rng) => {
      const divisor = (shape: number[]) => {
        const t = randomTensor(rng, shape, 0.5, 2);
        for (let i = 0; i < t.data.length; i++) {
          if (rng.next() < 0.5) t.data[i] *= -1;
        }
        return t;
      };
      const right = name === "div"
        ? divisor
        : (s: number[]) => randomTensor(rng, s);
      return [
        {
          label: "same shape",
          inputs: [randomTensor(rng, [2, 3, 5]), right([2, 3, 5])],
          attrs: {},
        },
        {
          label: "per-channel NCDHW",
          inputs: [randomTensor(rng, [2, 3, 2, 3, 5]), right([1, 3, 1, 1, 1])],
          attrs: {},
        },
        {
          label: "both broadcast",
          inputs: [randomTensor(rng, [4, 1]), right([3])],
          attrs: {},
        },
        {
          label: "scalar operand",
          inputs: [randomTensor(rng, [1]), right([5, 7])],
          attrs: {},
        },
        {
          label: "gate along H of NCDHW",
          inputs: [randomTensor(rng, [2, 3, 4, 5, 6]), right([2, 3, 1, 5, 1])],
          attrs: {},
        },
        {
          // No two neighbouring axes merge, so the kernel unravels 6 axes.
          label: "rank 6 alternating broadcast",
          inputs: [
            randomTensor(rng, [2, 3, 4, 5, 3, 2]),
            right([2, 1, 4, 1, 3, 1]),
          ],
          attrs: {},
        },
      ];
    },
    tolerance: ELEMENTWISE_TOLERANCE,
  });
}
