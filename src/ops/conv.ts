/**
 * 3D convolution (cross-correlation, as in PyTorch's conv3d) on NCDHW
 * volumes with any kernel size, stride and zero padding, including
 * TensorFlow-style SAME padding with the extra element on the after side.
 *
 * Every pass is a register-blocked implicit GEMM that reads its input from
 * an unfolded copy (zero padding, stride along W and kW taps laid out so
 * that the kernels read 4 output positions per vec4 load without bounds
 * checks):
 * - forward: M = Cout, N = batch * output positions, K = Cin * kD * kH * kW;
 * - input gradient: the same kernel, run as a stride-1 correlation of the
 *   output gradient (spread by the stride and padded by kernel - 1 -
 *   padBefore) with the flipped, transposed weight;
 * - weight gradient: M = Cout, N = Cin * kD * kH * kW, reduced over batch *
 *   output positions in chunks, then a second pass adds the chunks;
 * - bias gradient: a sum of the output gradient over N, D, H and W.
 */
import { accumulateInto, record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, type Shape, Tensor } from "../tensor.ts";
import forwardSource from "../../shaders/ops/conv3d_forward.wgsl" with {
  type: "text",
};
import unfoldSource from "../../shaders/ops/conv3d_unfold.wgsl" with {
  type: "text",
};
import weightMatrixSource from "../../shaders/ops/conv3d_weight_matrix.wgsl" with {
  type: "text",
};
import weightGradSource from "../../shaders/ops/conv3d_backward_weight.wgsl" with {
  type: "text",
};
import sumPartialsSource from "../../shaders/ops/conv3d_sum_partials.wgsl" with {
  type: "text",
};
import { type CpuTensor, cpuTensor, randomTensor } from "./cpu_tensor.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "./registry.ts";
import { sumToShape } from "./reduce.ts";
import type { Rng } from "../util/rng.ts";

type Triple = [number, number, number];

/**
 * Padding of the D, H and W axes: one size for all sides, one size per axis
 * (both sides), "same" (TensorFlow's SAME: output size ceil(in / stride),
 * pad_total = max((ceil(in / stride) - 1) * stride + k - in, 0), with
 * floor(pad_total / 2) before and the rest after), or [before, after] per axis.
 */
export type Conv3dPadding =
  | number
  | Triple
  | "same"
  | [[number, number], [number, number], [number, number]];

export interface Conv3dOptions {
  /** Stride per axis D, H, W, or one for all (default 1). */
  stride?: number | Triple;
  /** Zero padding (default 0). */
  padding?: Conv3dPadding;
}

/** Sizes of one convolution, per spatial axis in the order D, H, W. */
export interface Conv3dGeometry {
  batch: number;
  cIn: number;
  cOut: number;
  input: Triple;
  kernel: Triple;
  stride: Triple;
  padBefore: Triple;
  padAfter: Triple;
  output: Triple;
}

const AXES = ["D", "H", "W"] as const;

function isCount(value: unknown, minimum: number): value is number {
  return typeof value === "number" && Number.isInteger(value) &&
    value >= minimum;
}

function resolveStride(stride: Conv3dOptions["stride"]): Triple {
  const value = stride ?? 1;
  const triple = typeof value === "number" ? [value, value, value] : value;
  if (
    !Array.isArray(triple) || triple.length !== 3 ||
    !triple.every((s) => isCount(s, 1))
  ) {
    throw new Error(
      `conv3d: stride must be a positive integer or three of them [sD, sH, sW], ` +
        `got ${JSON.stringify(stride)}`,
    );
  }
  return [triple[0], triple[1], triple[2]];
}

function resolvePadding(
  padding: Conv3dPadding | undefined,
  input: Triple,
  kernel: Triple,
  stride: Triple,
): [Triple, Triple] {
  const value = padding ?? 0;
  const invalid = () =>
    new Error(
      `conv3d: padding must be a non-negative integer, three of them, ` +
        `"same", or [[before, after], [before, after], [before, after]], ` +
        `got ${JSON.stringify(padding)}`,
    );

  if (value === "same") {
    const before = [0, 0, 0] as Triple;
    const after = [0, 0, 0] as Triple;
    for (let a = 0; a < 3; a++) {
      const out = Math.ceil(input[a] / stride[a]);
      const total = Math.max((out - 1) * stride[a] + kernel[a] - input[a], 0);
      before[a] = Math.floor(total / 2);
      after[a] = total - before[a];
    }
    return [before, after];
  }

  if (typeof value === "number") {
    if (!isCount(value, 0)) throw invalid();
    return [[value, value, value], [value, value, value]];
  }

  if (!Array.isArray(value) || value.length !== 3) throw invalid();
  if (value.every((p) => isCount(p, 0))) {
    const p = value as Triple;
    return [[p[0], p[1], p[2]], [p[0], p[1], p[2]]];
  }

  const pairs = value as unknown[];
  const isPair = (p: unknown): p is [number, number] =>
    Array.isArray(p) && p.length === 2 && isCount(p[0], 0) && isCount(p[1], 0);
  if (!pairs.every(isPair)) throw invalid();
  const pairList = pairs as [number, number][];
  return [
    [pairList[0][0], pairList[1][0], pairList[2][0]],
    [pairList[0][1], pairList[1][1], pairList[2][1]],
  ];
}

/**
 * Checks the shapes of a convolution and resolves its padding and output
 * size. Throws an error naming the shapes when ranks or channels disagree
 * or the kernel does not fit the padded input.
 */
export function conv3dGeometry(
  xShape: Shape,
  weightShape: Shape,
  biasShape: Shape | null,
  options: Conv3dOptions = {},
): Conv3dGeometry {
  const xText = formatShape(xShape);
  const weightText = formatShape(weightShape);
  if (xShape.length !== 5) {
    throw new Error(
      `conv3d: x must have rank 5 [N, Cin, D, H, W], got ${xText}`,
    );
  }
  if (weightShape.length !== 5) {
    throw new Error(
      `conv3d: weight must have rank 5 [Cout, Cin, kD, kH, kW], ` +
        `got ${weightText}`,
    );
  }

  const [batch, cIn, ...spatial] = xShape;
  const [cOut, weightCIn, ...kernelSize] = weightShape;
  if (cIn !== weightCIn) {
    throw new Error(
      `conv3d: x ${xText} has ${cIn} input channels but weight ` +
        `${weightText} expects ${weightCIn}`,
    );
  }
  if (biasShape && (biasShape.length !== 1 || biasShape[0] !== cOut)) {
    throw new Error(
      `conv3d: bias must have shape [${cOut}] for weight ${weightText}, ` +
        `got ${formatShape(biasShape)}`,
    );
  }
  if ([batch, cIn, cOut, ...spatial, ...kernelSize].some((d) => d === 0)) {
    throw new Error(
      `conv3d: empty dimension in x ${xText} or weight ${weightText}`,
    );
  }

  const input = spatial as Triple;
  const kernel = kernelSize as Triple;
  const stride = resolveStride(options.stride);
  const [padBefore, padAfter] = resolvePadding(
    options.padding,
    input,
    kernel,
    stride,
  );

  const output = [0, 0, 0] as Triple;
  for (let a = 0; a < 3; a++) {
    const padded = input[a] + padBefore[a] + padAfter[a];
    if (kernel[a] > padded) {
      throw new Error(
        `conv3d: kernel size ${kernel[a]} along ${AXES[a]} exceeds the ` +
          `padded input size ${padded} (x ${xText}, weight ${weightText}, ` +
          `padding ${padBefore[a]} + ${padAfter[a]})`,
      );
    }
    output[a] = Math.floor((padded - kernel[a]) / stride[a]) + 1;
  }
  return {
    batch,
    cIn,
    cOut,
    input,
    kernel,
    stride,
    padBefore,
    padAfter,
    output,
  };
}

/** Returns the output shape [N, Cout, Do, Ho, Wo] of conv3d for these shapes. */
export function conv3dOutputShape(
  xShape: Shape,
  weightShape: Shape,
  options: Conv3dOptions = {},
): number[] {
  const g = conv3dGeometry(xShape, weightShape, null, options);
  return [g.batch, g.cOut, ...g.output];
}

/**
 * Counts the FLOPs of the forward pass, 2 per multiply-add. The input
 * gradient and the weight gradient each take as many.
 */
export function conv3dFlops(g: Conv3dGeometry): number {
  const positions = g.batch * g.output[0] * g.output[1] * g.output[2];
  const k = g.cIn * g.kernel[0] * g.kernel[1] * g.kernel[2];
  return 2 * g.cOut * positions * k;
}

// ---- WebGPU kernels ----

/** Output channels per invocation of the GEMM kernels, and the multiple M is padded to. */
const GEMM_ROWS = 16;
/** vec4 blocks of 4 output positions per invocation of the forward GEMM. */
const GEMM_POSITION_BLOCKS = 4;
/** Taps per invocation of the weight-gradient GEMM. */
const WEIGHT_GRAD_TAPS = 16;
const GEMM_WORKGROUP = 64;
/**
 * The weight gradient splits its reduction into chunks of output rows until
 * at least this many invocations run, so that an adapter with thousands of
 * lanes stays busy. Each chunk adds a partial weight gradient to memory.
 */
const WEIGHT_GRAD_MIN_INVOCATIONS = 4096;

const unfoldLayout = new UniformLayout([
  ["total", "u32"],
  ["taps_w", "u32"],
  ["stride_w", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["offset", "vec4<i32>"],
  ["dilation", "vec4<u32>"],
]);

const weightMatrixLayout = new UniformLayout([
  ["total", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
  ["taps", "u32"],
  ["m_padded", "u32"],
]);

const forwardLayout = new UniformLayout([
  ["row_blocks", "u32"],
  ["n_blocks", "u32"],
  ["channels", "u32"],
  ["m", "u32"],
  ["m_blocks", "u32"],
  ["out_size", "vec4<u32>"],
  ["in_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["kernel_size", "vec4<u32>"],
]);

const weightGradLayout = new UniformLayout([
  ["invocations", "u32"],
  ["tap_blocks", "u32"],
  ["co_blocks", "u32"],
  ["rows", "u32"],
  ["rows_per_chunk", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
  ["row_blocks", "u32"],
  ["out_size", "vec4<u32>"],
  ["in_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["kernel_size", "vec4<u32>"],
]);

const sumPartialsLayout = new UniformLayout([
  ["count", "u32"],
  ["chunks", "u32"],
]);

function vec4(t: readonly number[]): number[] {
  return [t[0], t[1], t[2], 0];
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/**
 * One GEMM pass: a valid correlation, at `stride`, of a source volume that
 * is first placed in a zero volume (element i along an axis at
 * offset + i * dilation).
 */
interface GemmPass {
  kernel: Triple;
  /** Output size D, H, W. */
  output: Triple;
  stride: Triple;
  offset: Triple;
  dilation: Triple;
}

function forwardPass(g: Conv3dGeometry): GemmPass {
  return {
    kernel: g.kernel,
    output: g.output,
    stride: g.stride,
    offset: g.padBefore,
    dilation: [1, 1, 1],
  };
}

/**
 * Describes the input gradient as a pass over the output gradient, spread by
 * the stride and padded by kernel - 1 - padBefore.
 */
function inputGradientPass(g: Conv3dGeometry): GemmPass {
  return {
    kernel: g.kernel,
    output: g.input,
    stride: [1, 1, 1],
    offset: [0, 1, 2].map((a) => g.kernel[a] - 1 - g.padBefore[a]) as Triple,
    dilation: g.stride,
  };
}

/** Describes the output gradient with rows zero-padded to a multiple of 4 as a pass. */
function rowPaddingPass(g: Conv3dGeometry): GemmPass {
  return {
    kernel: [1, 1, 1],
    output: g.output,
    stride: [1, 1, 1],
    offset: [0, 0, 0],
    dilation: [1, 1, 1],
  };
}

/**
 * Unfolds the W axis of x [N, C, D, H, W] for a pass into
 * xq [N, C, Dq, Hq, KW, Wq] (see conv3d_unfold.wgsl). Returns x itself when
 * that layout is already x's, as for a 1x1x1 convolution without padding on
 * a width that is a multiple of 4; the caller disposes the result only when
 * it is not x.
 */
function unfold(op: string, x: Tensor, pass: GemmPass): Tensor {
  const [n, c, ...source] = x.shape;
  const depth = (pass.output[0] - 1) * pass.stride[0] + pass.kernel[0];
  const height = (pass.output[1] - 1) * pass.stride[1] + pass.kernel[1];
  const rowWidth = roundUp(pass.output[2], 4);
  const size = [depth, height, rowWidth];
  const identity = pass.kernel[2] === 1 && pass.stride[2] === 1 &&
    [0, 1, 2].every((a) =>
      pass.offset[a] === 0 && pass.dilation[a] === 1 && size[a] === source[a]
    );
  if (identity) return x;
  const xq = empty(
    [n, c, depth, height, pass.kernel[2], rowWidth],
    "f32",
    `${op}.unfolded`,
  );
  runtime().dispatch({
    op,
    kernel: { file: "shaders/ops/conv3d_unfold.wgsl", source: unfoldSource },
    uniforms: unfoldLayout.pack({
      total: xq.size / 4,
      taps_w: pass.kernel[2],
      stride_w: pass.stride[2],
      in_size: vec4(source),
      out_size: vec4(size),
      offset: vec4(pass.offset),
      dilation: vec4(pass.dilation),
    }),
    bindings: [x.binding(), xq.binding()],
    workgroups: Math.ceil(xq.size / 4 / 256),
    shapes: `x ${formatShape(x.shape)}, unfolded ${formatShape(xq.shape)}`,
  });
  return xq;
}

/**
 * Limits of the conv3d kernels. `unfoldedBytes` caps the bytes of one
 * unfolded input, and null means the adapter's maxStorageBufferBindingSize.
 * Larger batches run in slices, and tests lower the cap to exercise them.
 */
export const conv3dLimits = { unfoldedBytes: null as number | null };

/** Returns how many samples a batch slice takes so that its unfolded input fits the cap. */
function batchSlice(op: string, x: Tensor, pass: GemmPass): number {
  const [n, c] = x.shape;
  const depth = (pass.output[0] - 1) * pass.stride[0] + pass.kernel[0];
  const height = (pass.output[1] - 1) * pass.stride[1] + pass.kernel[1];
  const rowWidth = roundUp(pass.output[2], 4);
  const sampleBytes = 4 * c * depth * height * pass.kernel[2] * rowWidth;
  const limit = conv3dLimits.unfoldedBytes ??
    runtime().limits.maxStorageBufferBindingSize;
  if (sampleBytes > limit) {
    throw new Error(
      `${op}: the unfolded input of one sample of x ${formatShape(x.shape)} ` +
        `needs ${sampleBytes} bytes, above the limit of ${limit} bytes per ` +
        `storage binding; use a smaller input size`,
    );
  }
  return Math.min(n, Math.floor(limit / sampleBytes));
}

/** Copies samples [start, start + count) of a batch, or returns t when that is all of it. */
function sliceBatch(t: Tensor, start: number, count: number): Tensor {
  if (start === 0 && count === t.shape[0]) return t;
  const sampleBytes = t.bytes / t.shape[0];
  const slice = empty([count, ...t.shape.slice(1)], "f32", "conv3d.slice");
  runtime().copy(
    t.buffer,
    slice.buffer,
    count * sampleBytes,
    start * sampleBytes,
    0,
  );
  return slice;
}

/**
 * Lays out the weight as a K x M GEMM matrix with M padded to GEMM_ROWS.
 * M is Cout for the forward pass, or Cin (with flipped taps) for the input
 * gradient.
 */
function weightMatrix(op: string, w: Tensor, flip: boolean): Tensor {
  const [cOut, cIn, ...kernel] = w.shape;
  const taps = kernel[0] * kernel[1] * kernel[2];
  const m = flip ? cIn : cOut;
  const k = (flip ? cOut : cIn) * taps;
  const mPadded = roundUp(m, GEMM_ROWS);
  const wt = empty([k, mPadded], "f32", `${op}.weight_matrix`);
  runtime().dispatch({
    op,
    kernel: {
      file: "shaders/ops/conv3d_weight_matrix.wgsl",
      source: weightMatrixSource,
      constants: { FLIP: flip ? 1 : 0 },
    },
    uniforms: weightMatrixLayout.pack({
      total: wt.size,
      c_in: cIn,
      c_out: cOut,
      taps,
      m_padded: mPadded,
    }),
    bindings: [w.binding(), wt.binding()],
    workgroups: Math.ceil(wt.size / 256),
  });
  return wt;
}

/**
 * Runs a pass as the register-blocked implicit GEMM on the whole batch of x:
 * y [N, M, ...output] is the correlation of x with the weight matrix of `w`,
 * plus bias.
 */
function gemmBatch(
  op: string,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  pass: GemmPass,
  flip: boolean,
): Tensor {
  const xq = unfold(`${op}.unfold`, x, pass);
  const wt = weightMatrix(`${op}.weight`, w, flip);
  const [n, channels, depth, height] = xq.shape;
  const m = flip ? w.shape[1] : w.shape[0];
  const y = empty([n, m, ...pass.output], "f32", op);

  const rowBlocks = Math.ceil(pass.output[2] / 4);
  const blocks = n * pass.output[0] * pass.output[1] * rowBlocks;
  const mBlocks = wt.shape[1] / GEMM_ROWS;
  const bindings = [xq.binding(), wt.binding(), y.binding()];
  if (bias) bindings.push(bias.binding());

  runtime().dispatch({
    op,
    kernel: {
      file: "shaders/ops/conv3d_forward.wgsl",
      source: forwardSource,
      defines: { BIAS: bias !== null },
    },
    uniforms: forwardLayout.pack({
      row_blocks: rowBlocks,
      n_blocks: blocks,
      channels,
      m,
      m_blocks: mBlocks,
      out_size: vec4(pass.output),
      in_size: vec4([depth, height, 0]),
      stride: vec4(pass.stride),
      kernel_size: vec4(pass.kernel),
    }),
    bindings,
    workgroups: mBlocks *
      Math.ceil(blocks / (GEMM_POSITION_BLOCKS * GEMM_WORKGROUP)),
    shapes: `x ${formatShape(x.shape)}, weight ${formatShape(w.shape)}`,
  });

  if (xq !== x) xq.dispose();
  wt.dispose();
  return y;
}

/**
 * Runs a pass as the register-blocked implicit GEMM, in batch slices when
 * the unfolded input of the whole batch exceeds one storage binding.
 */
function gemm(
  op: string,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  pass: GemmPass,
  flip: boolean,
): Tensor {
  const n = x.shape[0];
  const slice = batchSlice(op, x, pass);
  if (slice >= n) return gemmBatch(op, x, w, bias, pass, flip);

  const m = flip ? w.shape[1] : w.shape[0];
  const y = empty([n, m, ...pass.output], "f32", op);
  const sampleBytes = y.bytes / n;
  for (let start = 0; start < n; start += slice) {
    const count = Math.min(slice, n - start);
    const xs = sliceBatch(x, start, count);
    const ys = gemmBatch(op, xs, w, bias, pass, flip);
    runtime().copy(ys.buffer, y.buffer, ys.bytes, 0, start * sampleBytes);
    xs.dispose();
    ys.dispose();
  }
  return y;
}

/** Computes the input gradient, the transposed convolution of the output gradient. */
function inputGradient(gy: Tensor, w: Tensor, g: Conv3dGeometry): Tensor {
  const pass = inputGradientPass(g);
  return gemm("conv3d.backward_input", gy, w, null, pass, true);
}

/**
 * Computes the weight gradient, in batch slices when the unfolded input of
 * the whole batch exceeds one storage binding.
 */
function weightGradient(gy: Tensor, x: Tensor, g: Conv3dGeometry): Tensor {
  const op = "conv3d.backward_weight";
  const slice = Math.min(
    batchSlice(op, x, forwardPass(g)),
    batchSlice(op, gy, rowPaddingPass(g)),
  );
  if (slice >= g.batch) return weightGradientBatch(gy, x, g);

  let gw: Tensor | null = null;
  for (let start = 0; start < g.batch; start += slice) {
    const count = Math.min(slice, g.batch - start);
    const xs = sliceBatch(x, start, count);
    const gys = sliceBatch(gy, start, count);
    const part = weightGradientBatch(gys, xs, { ...g, batch: count });
    xs.dispose();
    gys.dispose();
    if (gw) {
      accumulateInto(gw, part);
      part.dispose();
    } else {
      gw = part;
    }
  }
  return gw!;
}

/**
 * Computes the weight gradient of the whole batch as a chunked implicit GEMM
 * into partial sums, then adds the partial sums.
 */
function weightGradientBatch(
  gy: Tensor,
  x: Tensor,
  g: Conv3dGeometry,
): Tensor {
  const rt = runtime();
  const xq = unfold("conv3d.backward_weight.unfold", x, forwardPass(g));
  const gyq = unfold("conv3d.backward_weight.pad", gy, rowPaddingPass(g));

  const taps = g.cIn * g.kernel[0] * g.kernel[1] * g.kernel[2];
  const tapBlocks = Math.ceil(taps / WEIGHT_GRAD_TAPS);
  const coBlocks = Math.ceil(g.cOut / GEMM_ROWS);
  const rows = g.batch * g.output[0] * g.output[1];
  const perChunk = tapBlocks * coBlocks;
  const targetChunks = Math.ceil(WEIGHT_GRAD_MIN_INVOCATIONS / perChunk);
  const rowsPerChunk = Math.ceil(rows / Math.min(rows, targetChunks));
  const chunks = Math.ceil(rows / rowsPerChunk);
  const gw = empty([g.cOut, g.cIn, ...g.kernel], "f32", "conv3d.grad_weight");
  const partial = chunks === 1
    ? gw
    : empty([chunks, gw.size], "f32", "conv3d.grad_weight.partial");
  const invocations = perChunk * chunks;

  rt.dispatch({
    op: "conv3d.backward_weight",
    kernel: {
      file: "shaders/ops/conv3d_backward_weight.wgsl",
      source: weightGradSource,
    },
    uniforms: weightGradLayout.pack({
      invocations,
      tap_blocks: tapBlocks,
      co_blocks: coBlocks,
      rows,
      rows_per_chunk: rowsPerChunk,
      c_in: g.cIn,
      c_out: g.cOut,
      row_blocks: Math.ceil(g.output[2] / 4),
      out_size: vec4(g.output),
      in_size: vec4([xq.shape[2], xq.shape[3], 0]),
      stride: vec4(g.stride),
      kernel_size: vec4(g.kernel),
    }),
    bindings: [xq.binding(), gyq.binding(), partial.binding()],
    workgroups: Math.ceil(invocations / GEMM_WORKGROUP),
    shapes: `x ${formatShape(x.shape)}, grad output ${formatShape(gy.shape)}`,
  });

  if (xq !== x) xq.dispose();
  if (gyq !== gy) gyq.dispose();
  if (partial !== gw) {
    rt.dispatch({
      op: "conv3d.backward_weight.sum",
      kernel: {
        file: "shaders/ops/conv3d_sum_partials.wgsl",
        source: sumPartialsSource,
      },
      uniforms: sumPartialsLayout.pack({ count: gw.size, chunks }),
      bindings: [partial.binding(), gw.binding()],
      workgroups: Math.ceil(gw.size / 256),
    });
    partial.dispose();
  }
  return gw;
}

function biasGradient(gy: Tensor, cOut: number): Tensor {
  const summed = sumToShape(gy, [1, cOut, 1, 1, 1]);
  const gb = empty([cOut], "f32", "conv3d.grad_bias");
  runtime().copy(summed.buffer, gb.buffer, gb.bytes);
  summed.dispose();
  return gb;
}

function checkTensor(value: unknown, name: string): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new Error(`conv3d: ${name} must be a Tensor, got ${String(value)}`);
  }
  if (value.dtype !== "f32") {
    throw new Error(`conv3d: ${name} must be f32, got ${value.describe()}`);
  }
}

/**
 * Convolves x [N, Cin, D, H, W] with weight [Cout, Cin, kD, kH, kW] and adds
 * bias [Cout] (or none), giving [N, Cout, Do, Ho, Wo], with dilation 1 and
 * zero padding. Records the gradients of x, weight and bias.
 */
export function conv3d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  options: Conv3dOptions = {},
): Tensor {
  checkTensor(x, "x");
  checkTensor(weight, "weight");
  if (bias !== null) checkTensor(bias, "bias");
  const g = conv3dGeometry(x.shape, weight.shape, bias?.shape ?? null, options);
  const y = gemm("conv3d.forward", x, weight, bias, forwardPass(g), false);
  record("conv3d", [x, weight, bias], [y], ([gy]) => [
    x.requiresGrad ? inputGradient(gy!, weight, g) : null,
    weight.requiresGrad ? weightGradient(gy!, x, g) : null,
    bias?.requiresGrad ? biasGradient(gy!, g.cOut) : null,
  ]);
  return y;
}

// ---- float64 CPU reference ----

/** Calls fn for every (output element, input element, weight element) triple. */
function forEachTap(
  g: Conv3dGeometry,
  fn: (yIndex: number, xIndex: number, wIndex: number) => void,
): void {
  const [D, H, W] = g.input;
  const [kD, kH, kW] = g.kernel;
  const [oD, oH, oW] = g.output;
  const taps = kD * kH * kW;
  let yIndex = 0;
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.cOut; co++) {
      for (let od = 0; od < oD; od++) {
        for (let oh = 0; oh < oH; oh++) {
          for (let ow = 0; ow < oW; ow++, yIndex++) {
            for (let ci = 0; ci < g.cIn; ci++) {
              for (let kd = 0; kd < kD; kd++) {
                const id = od * g.stride[0] + kd - g.padBefore[0];
                if (id < 0 || id >= D) continue;
                for (let kh = 0; kh < kH; kh++) {
                  const ih = oh * g.stride[1] + kh - g.padBefore[1];
                  if (ih < 0 || ih >= H) continue;
                  for (let kw = 0; kw < kW; kw++) {
                    const iw = ow * g.stride[2] + kw - g.padBefore[2];
                    if (iw < 0 || iw >= W) continue;
                    const xIndex = (((n * g.cIn + ci) * D + id) * H + ih) * W +
                      iw;
                    const wIndex = (co * g.cIn + ci) * taps +
                      (kd * kH + kh) * kW + kw;
                    fn(yIndex, xIndex, wIndex);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

function cpuGeometry(
  inputs: (CpuTensor | null)[],
  attrs: Conv3dOptions,
): Conv3dGeometry {
  const [x, w, b] = inputs;
  return conv3dGeometry(x!.shape, w!.shape, b?.shape ?? null, attrs);
}

export function cpuConv3d(
  inputs: (CpuTensor | null)[],
  attrs: Conv3dOptions,
): CpuTensor {
  const [x, w, b] = inputs;
  const g = cpuGeometry(inputs, attrs);
  const y = cpuTensor([g.batch, g.cOut, ...g.output]);
  forEachTap(g, (yi, xi, wi) => {
    y.data[yi] += x!.data[xi] * w!.data[wi];
  });
  if (b) {
    const positions = g.output[0] * g.output[1] * g.output[2];
    for (let i = 0; i < y.data.length; i++) {
      y.data[i] += b.data[Math.floor(i / positions) % g.cOut];
    }
  }
  return y;
}

export function cpuConv3dBackward(
  inputs: (CpuTensor | null)[],
  attrs: Conv3dOptions,
  gy: CpuTensor,
): (CpuTensor | null)[] {
  const [x, w, b] = inputs;
  const g = cpuGeometry(inputs, attrs);
  const gx = cpuTensor(x!.shape);
  const gw = cpuTensor(w!.shape);
  forEachTap(g, (yi, xi, wi) => {
    gx.data[xi] += gy.data[yi] * w!.data[wi];
    gw.data[wi] += gy.data[yi] * x!.data[xi];
  });
  let gb: CpuTensor | null = null;
  if (b) {
    gb = cpuTensor(b.shape);
    const positions = g.output[0] * g.output[1] * g.output[2];
    for (let i = 0; i < gy.data.length; i++) {
      gb.data[Math.floor(i / positions) % g.cOut] += gy.data[i];
    }
  }
  return [gx, gw, gb];
}

// ---- registry ----

interface ConvCase {
  label: string;
  x: number[];
  weight: number[];
  bias: boolean;
  attrs: Conv3dOptions;
}

const CASES: ConvCase[] = [
  {
    label: "3x3x3 padding 1, odd sizes",
    x: [1, 3, 5, 6, 7],
    weight: [5, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1 },
  },
  {
    label: "batch 2, 5 to 7 channels, no bias",
    x: [2, 5, 4, 5, 3],
    weight: [7, 5, 3, 3, 3],
    bias: false,
    attrs: { padding: 1 },
  },
  {
    label: "stride 2 padding 1",
    x: [1, 3, 7, 8, 9],
    weight: [4, 3, 3, 3, 3],
    bias: true,
    attrs: { stride: 2, padding: 1 },
  },
  {
    label: "1x1x1",
    x: [2, 7, 3, 4, 5],
    weight: [5, 7, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "1x1x1 on rows of 8, read without unfolding",
    x: [1, 4, 2, 3, 8],
    weight: [6, 4, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "1x1x1 padding 1, padding wider than the kernel",
    x: [1, 2, 2, 3, 3],
    weight: [3, 2, 1, 1, 1],
    bias: false,
    attrs: { padding: 1 },
  },
  {
    label: "7x7x7 stride 2 padding 3",
    x: [1, 3, 9, 10, 11],
    weight: [4, 3, 7, 7, 7],
    bias: true,
    attrs: { stride: 2, padding: 3 },
  },
  {
    label: "1x3x3 padding [0, 1, 1]",
    x: [1, 5, 3, 6, 7],
    weight: [3, 5, 1, 3, 3],
    bias: true,
    attrs: { padding: [0, 1, 1] },
  },
  {
    label: "same, stride 2, asymmetric",
    x: [1, 3, 5, 8, 6],
    weight: [4, 3, 3, 3, 3],
    bias: true,
    attrs: { stride: 2, padding: "same" },
  },
  {
    label: "same, even kernel 2x4x2",
    x: [2, 3, 4, 5, 6],
    weight: [5, 3, 2, 4, 2],
    bias: true,
    attrs: { padding: "same" },
  },
  {
    label: "explicit [before, after] padding",
    x: [1, 3, 4, 6, 5],
    weight: [3, 3, 3, 2, 3],
    bias: false,
    attrs: { stride: [1, 2, 1], padding: [[0, 2], [1, 0], [2, 1]] },
  },
  {
    label: "several tiles and chunks",
    x: [2, 3, 6, 9, 10],
    weight: [7, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1 },
  },
  {
    label: "channels above one 16-row block",
    x: [1, 18, 3, 4, 6],
    weight: [20, 18, 3, 3, 3],
    bias: true,
    attrs: { padding: 1 },
  },
];

function randomCase(rng: Rng, c: ConvCase) {
  return {
    label: c.label,
    inputs: [
      randomTensor(rng, c.x),
      randomTensor(rng, c.weight),
      c.bias ? randomTensor(rng, [c.weight[0]]) : null,
    ],
    attrs: c.attrs,
  };
}

defineOp<Conv3dOptions>({
  name: "conv3d",
  family: "conv",
  inputs: [{ name: "x" }, { name: "weight" }, { name: "bias", optional: true }],
  forwardKernels: [
    "shaders/ops/conv3d_unfold.wgsl",
    "shaders/ops/conv3d_weight_matrix.wgsl",
    "shaders/ops/conv3d_forward.wgsl",
  ],
  backwardKernels: [
    "shaders/ops/conv3d_unfold.wgsl",
    "shaders/ops/conv3d_weight_matrix.wgsl",
    "shaders/ops/conv3d_forward.wgsl",
    "shaders/ops/conv3d_backward_weight.wgsl",
    "shaders/ops/conv3d_sum_partials.wgsl",
    "shaders/ops/reduce_sum.wgsl",
    "shaders/ops/accumulate.wgsl",
  ],
  gpu: ([x, w, b], attrs) => conv3d(x!, w!, b, attrs),
  cpu: {
    forward: (inputs, attrs) => [cpuConv3d(inputs, attrs)],
    backward: (inputs, attrs, [gy]) => cpuConv3dBackward(inputs, attrs, gy),
  },
  cases: (rng) => CASES.map((c) => randomCase(rng, c)),
  tolerance: ACCUMULATING_TOLERANCE,
});
