/**
 * Pooling and resizing of NCDHW volumes: maxPool3d (with TensorFlow-style
 * SAME padding), avgPool3d, globalAvgPool3d and upsampleTrilinear3d. Every
 * backward is a gather over the outputs that read each input element, so no
 * kernel needs float atomics and the gradients are deterministic.
 */
import { isGradEnabled, record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, type Shape, Tensor } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import maxForwardSource from "../../shaders/ops/pool_max_forward.wgsl" with {
  type: "text",
};
import maxBackwardSource from "../../shaders/ops/pool_max_backward.wgsl" with {
  type: "text",
};
import avgForwardSource from "../../shaders/ops/pool_avg_forward.wgsl" with {
  type: "text",
};
import avgBackwardSource from "../../shaders/ops/pool_avg_backward.wgsl" with {
  type: "text",
};
import globalAvgForwardSource from "../../shaders/ops/pool_global_avg_forward.wgsl" with {
  type: "text",
};
import globalAvgBackwardSource from "../../shaders/ops/pool_global_avg_backward.wgsl" with {
  type: "text",
};
import upsampleForwardSource from "../../shaders/ops/upsample_trilinear_forward.wgsl" with {
  type: "text",
};
import upsampleBackwardSource from "../../shaders/ops/upsample_trilinear_backward.wgsl" with {
  type: "text",
};
import { type CpuTensor, cpuTensor, randomTensor } from "./cpu_tensor.ts";
import {
  ACCUMULATING_TOLERANCE,
  defineOp,
  ELEMENTWISE_TOLERANCE,
} from "./registry.ts";

/** Sizes along D, H and W. */
type Triple = [number, number, number];

export interface MaxPool3dOptions {
  /** Window size: one number for D, H and W, or [d, h, w]. */
  kernel: number | Triple;
  /** Step between windows (default: the kernel). */
  stride?: number | Triple;
  /**
   * Padding on each side (default 0), at most half the kernel on every axis
   * as in PyTorch. "same" selects TensorFlow's SAME padding: out =
   * ceil(in / stride) with a total padding of
   * max((out - 1) * stride + kernel - in, 0), floor(total / 2) of it before
   * and the rest after. Padded positions never win the maximum.
   */
  padding?: number | Triple | "same";
}

export interface AvgPool3dOptions {
  /** Window size: one number for D, H and W, or [d, h, w]. */
  kernel: number | Triple;
  /** Step between windows (default: the kernel). */
  stride?: number | Triple;
  /** Zero padding on each side (default 0), at most half the kernel. */
  padding?: number | Triple;
  /**
   * Whether padded positions count in the divisor (default true, as in
   * PyTorch's avg_pool3d).
   */
  countIncludePad?: boolean;
}

export interface UpsampleTrilinear3dOptions {
  /** Output size [D, H, W]. */
  size: Triple;
  /**
   * Whether the corner samples of input and output align (default false),
   * with the meaning of PyTorch's F.interpolate(align_corners=...).
   */
  alignCorners?: boolean;
}

// ---- shape rules ----

/** Window geometry of a pooling operator along D, H and W. */
export interface PoolWindow {
  kernel: Triple;
  stride: Triple;
  padBefore: Triple;
  padAfter: Triple;
  inSize: Triple;
  outSize: Triple;
}

function toTriple(
  op: string,
  name: string,
  value: unknown,
  min: number,
): Triple {
  const values = typeof value === "number" ? [value, value, value] : value;
  const valid = Array.isArray(values) && values.length === 3 &&
    values.every((v) => Number.isInteger(v) && v >= min);
  if (!valid) {
    throw new Error(
      `${op}: ${name} must be an integer >= ${min} or [d, h, w] of such ` +
        `integers, got ${JSON.stringify(value)}`,
    );
  }
  return [values[0], values[1], values[2]];
}

function checkVolumeShape(op: string, shape: Shape): void {
  if (shape.length !== 5) {
    throw new Error(
      `${op} expects a 5D NCDHW input, got shape ${formatShape(shape)}`,
    );
  }
  if (shape.slice(2).some((d) => d === 0)) {
    throw new Error(
      `${op}: input ${formatShape(shape)} has an empty spatial dimension`,
    );
  }
}

function checkInput(op: string, x: Tensor): void {
  if (!(x instanceof Tensor)) {
    throw new Error(`${op} expects a Tensor, got ${String(x)}`);
  }
  if (x.dtype !== "f32") {
    throw new Error(`${op} expects an f32 tensor, got ${x.describe()}`);
  }
  checkVolumeShape(op, x.shape);
}

/**
 * Resolves and checks the window options of a pooling operator on an input
 * of `shape` (NCDHW). Output sizes follow PyTorch without ceil mode,
 * floor((in + before + after - kernel) / stride) + 1, or ceil(in / stride)
 * for SAME padding, which only `op` "maxPool3d" accepts.
 */
export function poolWindow(
  op: string,
  shape: Shape,
  options: MaxPool3dOptions | AvgPool3dOptions,
): PoolWindow {
  checkVolumeShape(op, shape);
  if (!options) {
    throw new Error(`${op}: options are missing. Pass at least { kernel }`);
  }
  const inSize: Triple = [shape[2], shape[3], shape[4]];
  const kernel = toTriple(op, "kernel", options.kernel, 1);
  const stride = toTriple(op, "stride", options.stride ?? kernel, 1);
  let padBefore: Triple;
  let padAfter: Triple;
  if (options.padding === "same") {
    if (op !== "maxPool3d") {
      throw new Error(
        `${op}: padding "same" is supported by maxPool3d only, so pass a number or [d, h, w]`,
      );
    }
    const total = inSize.map((size, a) => {
      const out = Math.ceil(size / stride[a]);
      return Math.max((out - 1) * stride[a] + kernel[a] - size, 0);
    });
    padBefore = total.map((t) => Math.floor(t / 2)) as Triple;
    padAfter = total.map((t) => t - Math.floor(t / 2)) as Triple;
  } else {
    padBefore = toTriple(op, "padding", options.padding ?? 0, 0);
    padAfter = padBefore;
    if (padBefore.some((p, a) => p > Math.floor(kernel[a] / 2))) {
      throw new Error(
        `${op}: padding [${padBefore}] must be at most half of kernel [${kernel}] on ` +
          "every axis (the rule of PyTorch), so that every window covers an input element",
      );
    }
  }
  const padded = inSize.map((size, a) => size + padBefore[a] + padAfter[a]);
  if (padded.some((size, a) => size < kernel[a])) {
    throw new Error(
      `${op}: kernel [${kernel}] is larger than the padded input [${padded}] ` +
        `(input ${formatShape(shape)}, padding [${padBefore}] before and ` +
        `[${padAfter}] after). Use a smaller kernel or more padding`,
    );
  }
  const outSize = padded.map((size, a) =>
    Math.floor((size - kernel[a]) / stride[a]) + 1
  ) as Triple;
  return { kernel, stride, padBefore, padAfter, inSize, outSize };
}

function pooledShape(shape: Shape, window: PoolWindow): number[] {
  return [shape[0], shape[1], ...window.outSize];
}

function checkUpsampleOptions(
  shape: Shape,
  options: UpsampleTrilinear3dOptions,
): Triple {
  const op = "upsampleTrilinear3d";
  checkVolumeShape(op, shape);
  if (!options || !Array.isArray(options.size)) {
    throw new Error(
      `${op}: options.size must be the output size [D, H, W], got ` +
        JSON.stringify(options?.size),
    );
  }
  const alignCorners = options.alignCorners;
  if (alignCorners !== undefined && typeof alignCorners !== "boolean") {
    throw new Error(
      `${op}: alignCorners must be a boolean, got ${
        JSON.stringify(alignCorners)
      }`,
    );
  }
  return toTriple(op, "size", options.size, 1);
}

/**
 * Source-coordinate scale of one axis, as PyTorch computes it for
 * F.interpolate with an explicit size.
 */
function upsampleScale(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
): number {
  if (alignCorners) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return inSize / outSize;
}

// ---- WebGPU ----

const WORKGROUP_SIZE = 64;

const windowLayout = new UniformLayout([
  ["n", "u32"],
  ["count_include_pad", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["kernel", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<u32>"],
  ["pad_after", "vec4<u32>"],
]);

function packWindow(window: PoolWindow, n: number, countIncludePad: boolean) {
  return windowLayout.pack({
    n,
    count_include_pad: countIncludePad ? 1 : 0,
    in_size: [...window.inSize, 0],
    out_size: [...window.outSize, 0],
    kernel: [...window.kernel, 0],
    stride: [...window.stride, 0],
    pad_before: [...window.padBefore, 0],
    pad_after: [...window.padAfter, 0],
  });
}

/**
 * Max pooling of an NCDHW volume. When x needs a gradient, the forward saves
 * the offset of each window's maximum, and the gradient goes to that element
 * only. On ties the
 * first maximum in scan order (d, then h, then w) wins, as in PyTorch, so
 * the gradient of a window of equal values goes to its first element.
 */
export function maxPool3d(x: Tensor, options: MaxPool3dOptions): Tensor {
  checkInput("maxPool3d", x);
  const window = poolWindow("maxPool3d", x.shape, options);
  const outShape = pooledShape(x.shape, window);
  const y = empty(outShape, "f32", "maxPool3d");

  // The same condition under which record() adds a node, so the indices
  // exist exactly when a backward can run.
  const saveIndices = isGradEnabled() && x.requiresGrad;
  const indices = saveIndices
    ? empty(outShape, "i32", "maxPool3d.indices")
    : null;
  const bindings = [x.binding(), y.binding()];
  if (indices) bindings.push(indices.binding());

  runtime().dispatch({
    op: "maxPool3d.forward",
    kernel: {
      file: "shaders/ops/pool_max_forward.wgsl",
      source: maxForwardSource,
      defines: { SAVE_INDICES: saveIndices },
    },
    uniforms: packWindow(window, y.size, false),
    bindings,
    workgroups: Math.ceil(y.size / WORKGROUP_SIZE),
    shapes: `x ${formatShape(x.shape)}`,
  });

  // The indices belong to the scope that ran the forward, like every tensor
  // a backward reads, and the backward frees them once it has used them.
  record("maxPool3d", [x], [y], ([gy]) => {
    const gx = empty(x.shape, "f32", "maxPool3d.grad");
    runtime().dispatch({
      op: "maxPool3d.backward",
      kernel: {
        file: "shaders/ops/pool_max_backward.wgsl",
        source: maxBackwardSource,
      },
      uniforms: packWindow(window, x.size, false),
      bindings: [indices!.binding(), gy!.binding(), gx.binding()],
      workgroups: Math.ceil(x.size / WORKGROUP_SIZE),
      shapes: `x ${formatShape(x.shape)}`,
    });
    indices!.dispose();
    return [gx];
  });
  if (indices && !y.gradFn) indices.dispose();
  return y;
}

/** Average pooling of an NCDHW volume with PyTorch's divisor rules. */
export function avgPool3d(x: Tensor, options: AvgPool3dOptions): Tensor {
  checkInput("avgPool3d", x);
  const window = poolWindow("avgPool3d", x.shape, options);
  const countIncludePad = options.countIncludePad ?? true;
  if (typeof countIncludePad !== "boolean") {
    throw new Error(
      `avgPool3d: countIncludePad must be a boolean, got ${
        JSON.stringify(countIncludePad)
      }`,
    );
  }
  const y = empty(pooledShape(x.shape, window), "f32", "avgPool3d");
  runtime().dispatch({
    op: "avgPool3d.forward",
    kernel: {
      file: "shaders/ops/pool_avg_forward.wgsl",
      source: avgForwardSource,
    },
    uniforms: packWindow(window, y.size, countIncludePad),
    bindings: [x.binding(), y.binding()],
    workgroups: Math.ceil(y.size / WORKGROUP_SIZE),
    shapes: `x ${formatShape(x.shape)}`,
  });
  record("avgPool3d", [x], [y], ([gy]) => {
    const gx = empty(x.shape, "f32", "avgPool3d.grad");
    runtime().dispatch({
      op: "avgPool3d.backward",
      kernel: {
        file: "shaders/ops/pool_avg_backward.wgsl",
        source: avgBackwardSource,
      },
      uniforms: packWindow(window, x.size, countIncludePad),
      bindings: [gy!.binding(), gx.binding()],
      workgroups: Math.ceil(x.size / WORKGROUP_SIZE),
      shapes: `x ${formatShape(x.shape)}`,
    });
    return [gx];
  });
  return y;
}

const rowSumLayout = new UniformLayout([
  ["n_out", "u32"],
  ["chunks", "u32"],
  ["chunk", "u32"],
  ["count", "u32"],
  ["scale", "f32"],
]);
const rowSumKernel = {
  file: "shaders/ops/pool_global_avg_forward.wgsl",
  source: globalAvgForwardSource,
};

/**
 * Writes scale * (sum of each contiguous row of `count` values of x) to y.
 * Few long rows are summed in two passes (chunk partials, then their sum)
 * so that enough invocations run in parallel.
 */
function dispatchRowSums(
  x: Tensor,
  rows: number,
  count: number,
  scale: number,
  y: Tensor,
): void {
  let chunks = 1;
  if (rows < 512 && count > 2048) {
    chunks = Math.min(Math.ceil(count / 512), Math.ceil(2048 / rows));
  }
  const chunk = Math.ceil(count / chunks);
  const rt = runtime();
  const target = chunks === 1
    ? y
    : empty([rows * chunks], "f32", "globalAvgPool3d.partial");
  rt.dispatch({
    op: "globalAvgPool3d.forward",
    kernel: rowSumKernel,
    uniforms: rowSumLayout.pack({ n_out: rows, chunks, chunk, count, scale }),
    bindings: [x.binding(), target.binding()],
    workgroups: Math.ceil((rows * chunks) / WORKGROUP_SIZE),
    shapes: `x ${formatShape(x.shape)}`,
  });
  if (chunks === 1) return;
  rt.dispatch({
    op: "globalAvgPool3d.partials",
    kernel: rowSumKernel,
    uniforms: rowSumLayout.pack({
      n_out: rows,
      chunks: 1,
      chunk: chunks,
      count: chunks,
      scale: 1,
    }),
    bindings: [target.binding(), y.binding()],
    workgroups: Math.ceil(rows / WORKGROUP_SIZE),
  });
  target.dispose();
}

const globalAvgBackwardLayout = new UniformLayout([
  ["n", "u32"],
  ["count", "u32"],
  ["scale", "f32"],
]);

/**
 * Mean over D, H and W of an NCDHW volume. The output has shape [N, C]
 * (the spatial axes are dropped, as in a classifier head).
 */
export function globalAvgPool3d(x: Tensor): Tensor {
  checkInput("globalAvgPool3d", x);
  const [n, c, d, h, w] = x.shape;
  const count = d * h * w;
  const y = empty([n, c], "f32", "globalAvgPool3d");
  dispatchRowSums(x, n * c, count, 1 / count, y);
  record("globalAvgPool3d", [x], [y], ([gy]) => {
    const gx = empty(x.shape, "f32", "globalAvgPool3d.grad");
    runtime().dispatch({
      op: "globalAvgPool3d.backward",
      kernel: {
        file: "shaders/ops/pool_global_avg_backward.wgsl",
        source: globalAvgBackwardSource,
      },
      uniforms: globalAvgBackwardLayout.pack({
        n: x.size,
        count,
        scale: 1 / count,
      }),
      bindings: [gy!.binding(), gx.binding()],
      workgroups: Math.ceil(x.size / WORKGROUP_SIZE),
      shapes: `x ${formatShape(x.shape)}`,
    });
    return [gx];
  });
  return y;
}

const upsampleLayout = new UniformLayout([
  ["n", "u32"],
  ["align_corners", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["scale", "vec4<f32>"],
]);

/**
 * Trilinear resize of an NCDHW volume to `size` (larger or smaller), with
 * the sampling of PyTorch's F.interpolate(mode="trilinear", size=...).
 */
export function upsampleTrilinear3d(
  x: Tensor,
  options: UpsampleTrilinear3dOptions,
): Tensor {
  checkInput("upsampleTrilinear3d", x);
  const size = checkUpsampleOptions(x.shape, options);
  const alignCorners = options.alignCorners ?? false;
  const inSize = [x.shape[2], x.shape[3], x.shape[4]];
  const scale = inSize.map((s, a) => upsampleScale(s, size[a], alignCorners));
  const uniforms = (n: number) =>
    upsampleLayout.pack({
      n,
      align_corners: alignCorners ? 1 : 0,
      in_size: [...inSize, 0],
      out_size: [...size, 0],
      scale: [...scale, 0],
    });
  const y = empty(
    [x.shape[0], x.shape[1], ...size],
    "f32",
    "upsampleTrilinear3d",
  );
  runtime().dispatch({
    op: "upsampleTrilinear3d.forward",
    kernel: {
      file: "shaders/ops/upsample_trilinear_forward.wgsl",
      source: upsampleForwardSource,
    },
    uniforms: uniforms(y.size),
    bindings: [x.binding(), y.binding()],
    workgroups: Math.ceil(y.size / WORKGROUP_SIZE),
    shapes: `x ${formatShape(x.shape)}, y ${formatShape(y.shape)}`,
  });
  record("upsampleTrilinear3d", [x], [y], ([gy]) => {
    const gx = empty(x.shape, "f32", "upsampleTrilinear3d.grad");
    runtime().dispatch({
      op: "upsampleTrilinear3d.backward",
      kernel: {
        file: "shaders/ops/upsample_trilinear_backward.wgsl",
        source: upsampleBackwardSource,
      },
      uniforms: uniforms(x.size),
      bindings: [gy!.binding(), gx.binding()],
      workgroups: Math.ceil(x.size / WORKGROUP_SIZE),
      shapes: `x ${formatShape(x.shape)}, y ${formatShape(y.shape)}`,
    });
    return [gx];
  });
  return y;
}

// ---- CPU reference (float64) ----

/** Input coordinates of every window along one axis, in scan order. */
interface AxisWindows {
  coords: number[][];
  /** Window extent clipped to the padded input (PyTorch's pool size factor). */
  padded: number[];
}

function axisWindows(window: PoolWindow, axis: number): AxisWindows {
  const size = window.inSize[axis];
  const coords: number[][] = [];
  const padded: number[] = [];
  for (let o = 0; o < window.outSize[axis]; o++) {
    const start = o * window.stride[axis] - window.padBefore[axis];
    const end = Math.min(
      start + window.kernel[axis],
      size + window.padAfter[axis],
    );
    padded.push(end - start);
    const inside: number[] = [];
    for (let i = Math.max(start, 0); i < Math.min(end, size); i++) {
      inside.push(i);
    }
    coords.push(inside);
  }
  return { coords, padded };
}

/** Calls `visit` for every output with the flat input indices of its window. */
function forEachWindow(
  shape: Shape,
  window: PoolWindow,
  visit: (output: number, inputs: number[], paddedSize: number) => void,
): void {
  const [dAxis, hAxis, wAxis] = [0, 1, 2].map((a) => axisWindows(window, a));
  const [inD, inH, inW] = window.inSize;
  const [outD, outH, outW] = window.outSize;
  let output = 0;
  for (let plane = 0; plane < shape[0] * shape[1]; plane++) {
    const base = plane * inD * inH * inW;
    for (let od = 0; od < outD; od++) {
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          const inputs: number[] = [];
          for (const id of dAxis.coords[od]) {
            for (const ih of hAxis.coords[oh]) {
              for (const iw of wAxis.coords[ow]) {
                inputs.push(base + (id * inH + ih) * inW + iw);
              }
            }
          }
          const paddedSize = dAxis.padded[od] * hAxis.padded[oh] *
            wAxis.padded[ow];
          visit(output++, inputs, paddedSize);
        }
      }
    }
  }
}

/** Flat input index of each window's first maximum (a NaN replaces any value, as in PyTorch). */
function cpuArgmax(x: CpuTensor, window: PoolWindow): Int32Array {
  const outSize = x.shape[0] * x.shape[1] *
    window.outSize.reduce((a, b) => a * b, 1);
  const argmax = new Int32Array(outSize);
  forEachWindow(x.shape, window, (output, inputs) => {
    let best = inputs[0];
    for (const i of inputs) {
      if (x.data[i] > x.data[best] || Number.isNaN(x.data[i])) best = i;
    }
    argmax[output] = best;
  });
  return argmax;
}

function cpuMaxPool3d(x: CpuTensor, options: MaxPool3dOptions): CpuTensor {
  const window = poolWindow("maxPool3d", x.shape, options);
  const y = cpuTensor(pooledShape(x.shape, window));
  cpuArgmax(x, window).forEach((i, o) => (y.data[o] = x.data[i]));
  return y;
}

function cpuMaxPool3dBackward(
  x: CpuTensor,
  options: MaxPool3dOptions,
  g: CpuTensor,
): CpuTensor {
  const window = poolWindow("maxPool3d", x.shape, options);
  const gx = cpuTensor(x.shape);
  cpuArgmax(x, window).forEach((i, o) => (gx.data[i] += g.data[o]));
  return gx;
}

function avgDivisor(
  inputs: number[],
  paddedSize: number,
  options: AvgPool3dOptions,
): number {
  return (options.countIncludePad ?? true) ? paddedSize : inputs.length;
}

function cpuAvgPool3d(x: CpuTensor, options: AvgPool3dOptions): CpuTensor {
  const window = poolWindow("avgPool3d", x.shape, options);
  const y = cpuTensor(pooledShape(x.shape, window));
  forEachWindow(x.shape, window, (output, inputs, paddedSize) => {
    let total = 0;
    for (const i of inputs) total += x.data[i];
    y.data[output] = total / avgDivisor(inputs, paddedSize, options);
  });
  return y;
}

function cpuAvgPool3dBackward(
  x: CpuTensor,
  options: AvgPool3dOptions,
  g: CpuTensor,
): CpuTensor {
  const window = poolWindow("avgPool3d", x.shape, options);
  const gx = cpuTensor(x.shape);
  forEachWindow(x.shape, window, (output, inputs, paddedSize) => {
    const share = g.data[output] / avgDivisor(inputs, paddedSize, options);
    for (const i of inputs) gx.data[i] += share;
  });
  return gx;
}

function cpuGlobalAvgPool3d(x: CpuTensor): CpuTensor {
  checkVolumeShape("globalAvgPool3d", x.shape);
  const [n, c, d, h, w] = x.shape;
  const count = d * h * w;
  const y = cpuTensor([n, c]);
  for (let i = 0; i < x.data.length; i++) {
    y.data[Math.floor(i / count)] += x.data[i] / count;
  }
  return y;
}

function cpuGlobalAvgPool3dBackward(x: CpuTensor, g: CpuTensor): CpuTensor {
  const count = x.shape[2] * x.shape[3] * x.shape[4];
  const gx = cpuTensor(x.shape);
  for (let i = 0; i < gx.data.length; i++) {
    gx.data[i] = g.data[Math.floor(i / count)] / count;
  }
  return gx;
}

/** Per output coordinate of one axis: the input coordinates [i0, i1] and their weights. */
interface AxisSamples {
  index: [number, number][];
  weight: [number, number][];
}

function axisSamples(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
): AxisSamples {
  const scale = upsampleScale(inSize, outSize, alignCorners);
  const samples: AxisSamples = { index: [], weight: [] };
  for (let o = 0; o < outSize; o++) {
    const source = alignCorners
      ? scale * o
      : Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(source), inSize - 1);
    const w1 = Math.min(Math.max(source - i0, 0), 1);
    samples.index.push([i0, Math.min(i0 + 1, inSize - 1)]);
    samples.weight.push([1 - w1, w1]);
  }
  return samples;
}

/**
 * Calls `visit` for every output and each of its eight (input, weight)
 * samples. At the border two samples may name the same input.
 */
function forEachSample(
  shape: Shape,
  options: UpsampleTrilinear3dOptions,
  visit: (output: number, input: number, weight: number) => void,
): void {
  const size = checkUpsampleOptions(shape, options);
  const [inD, inH, inW] = [shape[2], shape[3], shape[4]];
  const align = options.alignCorners ?? false;
  const d = axisSamples(inD, size[0], align);
  const h = axisSamples(inH, size[1], align);
  const w = axisSamples(inW, size[2], align);
  let output = 0;
  for (let plane = 0; plane < shape[0] * shape[1]; plane++) {
    const base = plane * inD * inH * inW;
    for (let od = 0; od < size[0]; od++) {
      for (let oh = 0; oh < size[1]; oh++) {
        for (let ow = 0; ow < size[2]; ow++) {
          for (let a = 0; a < 2; a++) {
            for (let b = 0; b < 2; b++) {
              const row = base + (d.index[od][a] * inH + h.index[oh][b]) * inW;
              const rowWeight = d.weight[od][a] * h.weight[oh][b];
              for (let c = 0; c < 2; c++) {
                visit(
                  output,
                  row + w.index[ow][c],
                  rowWeight * w.weight[ow][c],
                );
              }
            }
          }
          output++;
        }
      }
    }
  }
}

function cpuUpsampleTrilinear3d(
  x: CpuTensor,
  options: UpsampleTrilinear3dOptions,
): CpuTensor {
  const size = checkUpsampleOptions(x.shape, options);
  const y = cpuTensor([x.shape[0], x.shape[1], ...size]);
  forEachSample(
    x.shape,
    options,
    (o, i, weight) => (y.data[o] += weight * x.data[i]),
  );
  return y;
}

function cpuUpsampleTrilinear3dBackward(
  x: CpuTensor,
  options: UpsampleTrilinear3dOptions,
  g: CpuTensor,
): CpuTensor {
  const gx = cpuTensor(x.shape);
  forEachSample(
    x.shape,
    options,
    (o, i, weight) => (gx.data[i] += weight * g.data[o]),
  );
  return gx;
}

// ---- registry ----

/** Values drawn from a few levels, so that most windows contain ties. */
function repeatedValues(rng: Rng, shape: number[]): CpuTensor {
  const levels = [-1, 0, 0.25, 1];
  const t = cpuTensor(shape);
  for (let i = 0; i < t.data.length; i++) {
    t.data[i] = levels[rng.int(levels.length)];
  }
  return t;
}

function constant(shape: number[], value: number): CpuTensor {
  const t = cpuTensor(shape);
  t.data.fill(value);
  return t;
}

defineOp<MaxPool3dOptions>({
  name: "maxPool3d",
  family: "pool",
  inputs: [{ name: "x" }],
  forwardKernels: ["shaders/ops/pool_max_forward.wgsl"],
  backwardKernels: ["shaders/ops/pool_max_backward.wgsl"],
  gpu: ([x], attrs) => maxPool3d(x!, attrs),
  cpu: {
    forward: ([x], attrs) => [cpuMaxPool3d(x!, attrs)],
    backward: ([x], attrs, [g]) => [cpuMaxPool3dBackward(x!, attrs, g)],
  },
  cases: (rng) => [
    {
      label: "kernel 1x3x3 stride 1x2x2",
      inputs: [randomTensor(rng, [2, 3, 3, 9, 8])],
      attrs: { kernel: [1, 3, 3], stride: [1, 2, 2] },
    },
    {
      label: "kernel 3 stride 2 padding 1",
      inputs: [randomTensor(rng, [1, 2, 7, 6, 7])],
      attrs: { kernel: 3, stride: 2, padding: 1 },
    },
    {
      label: "kernel 2 stride 2 odd sizes",
      inputs: [randomTensor(rng, [2, 5, 5, 7, 9])],
      attrs: { kernel: 2, stride: 2 },
    },
    {
      label: "kernel 3 stride 1 same",
      inputs: [randomTensor(rng, [1, 3, 4, 6, 5])],
      attrs: { kernel: 3, stride: 1, padding: "same" },
    },
    {
      label: "kernel 1x3x3 stride 1x2x2 same, asymmetric",
      inputs: [randomTensor(rng, [1, 2, 3, 8, 7])],
      attrs: { kernel: [1, 3, 3], stride: [1, 2, 2], padding: "same" },
    },
    {
      label: "kernel 2 stride 2 same, odd sizes",
      inputs: [randomTensor(rng, [1, 3, 3, 5, 6])],
      attrs: { kernel: 2, stride: 2, padding: "same" },
    },
    {
      label: "constant input, ties",
      inputs: [constant([1, 2, 4, 5, 5], 0.5)],
      attrs: { kernel: 3, stride: 1, padding: "same" },
      finiteDifferences: false,
    },
    {
      label: "repeated values, ties",
      inputs: [repeatedValues(rng, [2, 3, 4, 7, 6])],
      attrs: { kernel: [2, 3, 3], stride: [1, 2, 2], padding: 1 },
      finiteDifferences: false,
    },
    {
      // 4.2 M outputs: 65,600 workgroups of 64 invocations, forward and
      // backward.
      label: "dispatch above 65535 workgroups",
      inputs: [randomTensor(rng, [1, 1, 1, 2048, 2051])],
      attrs: { kernel: [1, 1, 2], stride: 1 },
      finiteDifferences: false,
    },
  ],
  tolerance: ELEMENTWISE_TOLERANCE,
});

defineOp<AvgPool3dOptions>({
  name: "avgPool3d",
  family: "pool",
  inputs: [{ name: "x" }],
  forwardKernels: ["shaders/ops/pool_avg_forward.wgsl"],
  backwardKernels: ["shaders/ops/pool_avg_backward.wgsl"],
  gpu: ([x], attrs) => avgPool3d(x!, attrs),
  cpu: {
    forward: ([x], attrs) => [cpuAvgPool3d(x!, attrs)],
    backward: ([x], attrs, [g]) => [cpuAvgPool3dBackward(x!, attrs, g)],
  },
  cases: (rng) => [
    {
      label: "kernel 3 stride 1 padding 1",
      inputs: [randomTensor(rng, [2, 3, 4, 5, 6])],
      attrs: { kernel: 3, stride: 1, padding: 1 },
    },
    {
      label: "kernel 3 stride 1 padding 1 without pad count",
      inputs: [randomTensor(rng, [2, 3, 4, 5, 6])],
      attrs: { kernel: 3, stride: 1, padding: 1, countIncludePad: false },
    },
    {
      label: "kernel 2 stride 2 odd sizes",
      inputs: [randomTensor(rng, [1, 5, 5, 7, 9])],
      attrs: { kernel: 2, stride: 2 },
    },
    {
      label: "kernel 1x3x3 stride 1x2x2 padding 0x1x1 without pad count",
      inputs: [randomTensor(rng, [1, 2, 3, 9, 8])],
      attrs: {
        kernel: [1, 3, 3],
        stride: [1, 2, 2],
        padding: [0, 1, 1],
        countIncludePad: false,
      },
    },
    {
      label: "kernel 2x7x7 stride 1 (I3D head)",
      inputs: [randomTensor(rng, [2, 3, 3, 7, 8])],
      attrs: { kernel: [2, 7, 7], stride: 1 },
    },
  ],
  tolerance: ACCUMULATING_TOLERANCE,
});

defineOp<Record<string, never>>({
  name: "globalAvgPool3d",
  family: "pool",
  inputs: [{ name: "x" }],
  forwardKernels: ["shaders/ops/pool_global_avg_forward.wgsl"],
  backwardKernels: ["shaders/ops/pool_global_avg_backward.wgsl"],
  gpu: ([x]) => globalAvgPool3d(x!),
  cpu: {
    forward: ([x]) => [cpuGlobalAvgPool3d(x!)],
    backward: ([x], _attrs, [g]) => [cpuGlobalAvgPool3dBackward(x!, g)],
  },
  cases: (rng) => [
    {
      label: "odd sizes",
      inputs: [randomTensor(rng, [2, 3, 3, 5, 7])],
      attrs: {},
    },
    {
      label: "unit volume",
      inputs: [randomTensor(rng, [1, 5, 1, 1, 1])],
      attrs: {},
    },
    {
      label: "two-pass reduction",
      inputs: [randomTensor(rng, [1, 2, 4, 32, 33])],
      attrs: {},
    },
  ],
  tolerance: ACCUMULATING_TOLERANCE,
});

defineOp<UpsampleTrilinear3dOptions>({
  name: "upsampleTrilinear3d",
  family: "pool",
  inputs: [{ name: "x" }],
  forwardKernels: ["shaders/ops/upsample_trilinear_forward.wgsl"],
  backwardKernels: ["shaders/ops/upsample_trilinear_backward.wgsl"],
  gpu: ([x], attrs) => upsampleTrilinear3d(x!, attrs),
  cpu: {
    forward: ([x], attrs) => [cpuUpsampleTrilinear3d(x!, attrs)],
    backward: (
      [x],
      attrs,
      [g],
    ) => [cpuUpsampleTrilinear3dBackward(x!, attrs, g)],
  },
  cases: (rng) => [
    {
      label: "double size",
      inputs: [randomTensor(rng, [1, 2, 3, 4, 5])],
      attrs: { size: [6, 8, 10] },
    },
    {
      label: "double size, align corners",
      inputs: [randomTensor(rng, [1, 2, 3, 4, 5])],
      attrs: { size: [6, 8, 10], alignCorners: true },
    },
    {
      label: "non-integer shrink",
      inputs: [randomTensor(rng, [2, 3, 5, 7, 9])],
      attrs: { size: [3, 4, 6] },
    },
    {
      label: "non-integer shrink, align corners",
      inputs: [randomTensor(rng, [2, 3, 5, 7, 9])],
      attrs: { size: [3, 4, 6], alignCorners: true },
    },
    {
      label: "mixed, unit axes, align corners",
      inputs: [randomTensor(rng, [1, 2, 4, 1, 5])],
      attrs: { size: [1, 3, 7], alignCorners: true },
    },
    {
      label: "mixed, unit axes",
      inputs: [randomTensor(rng, [1, 2, 4, 1, 5])],
      attrs: { size: [1, 3, 7] },
    },
    {
      label: "same size",
      inputs: [randomTensor(rng, [1, 1, 3, 4, 5])],
      attrs: { size: [3, 4, 5] },
    },
    {
      // 4.3 M outputs: 66,560 workgroups of 64 invocations in the forward.
      label: "dispatch above 65535 workgroups",
      inputs: [randomTensor(rng, [1, 2, 4, 16, 16])],
      attrs: { size: [8, 512, 520] },
      finiteDifferences: false,
    },
  ],
  tolerance: ACCUMULATING_TOLERANCE,
});
