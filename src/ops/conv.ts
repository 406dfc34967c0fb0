/**
 * 3D convolution (cross-correlation, as in PyTorch's conv3d) on NCDHW
 * volumes with any kernel size, stride and zero padding, including
 * TensorFlow-style SAME padding with the extra element on the after side.
 *
 * Each pass runs one of three kernel families, chosen per pass by
 * `conv3dPlan` from its size and shapes:
 * - GEMM, for large passes with at least 16 output channels (the conv3d
 *   benchmark): a register-blocked implicit GEMM. It reads its input from an
 *   unfolded copy, with zero padding, the stride along W and the kW taps
 *   laid out so that the kernels read 4 output positions per vec4 load
 *   without bounds checks. Forward: M = Cout, N = batch * output positions,
 *   K = Cin * kD * kH * kW. Input gradient: the same kernel, run as a
 *   stride-1 correlation of the output gradient (spread by the stride and
 *   padded by kernel - 1 - padBefore) with the flipped, transposed weight.
 *   Weight gradient: M = Cout, N = Cin * kD * kH * kW, reduced over batch *
 *   output positions in chunks, then a second pass adds the chunks.
 * - row kernels, for mid-sized passes whose rows hold a multiple of 4
 *   elements (the stem of the compact CA-I3D): each invocation loads aligned
 *   vec4 segments of input rows and takes all kW taps from registers. The
 *   input gradient is a gather that visits only the taps of each input
 *   position's stride phase, so a strided convolution does no work on
 *   inserted zeros.
 * - direct kernels, for small passes: one dispatch each that reads x, w and
 *   the output gradient as they are, with no unfolded copy, skipping the
 *   taps on the padding (the input gradient again as a strided gather).
 * The bias gradient is a sum of the output gradient over N, D, H and W.
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
import directForwardSource from "../../shaders/ops/conv3d_direct_forward.wgsl" with {
  type: "text",
};
import directInputSource from "../../shaders/ops/conv3d_direct_input.wgsl" with {
  type: "text",
};
import directWeightSource from "../../shaders/ops/conv3d_direct_weight.wgsl" with {
  type: "text",
};
import directPointwiseSource from "../../shaders/ops/conv3d_direct_pointwise.wgsl" with {
  type: "text",
};
import directWeightRowsSource from "../../shaders/ops/conv3d_direct_weight_rows.wgsl" with {
  type: "text",
};
import directRowsSource from "../../shaders/ops/conv3d_direct_rows.wgsl" with {
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
 * Limits and kernel choice of conv3d. `unfoldedBytes` caps the bytes of one
 * unfolded input of the GEMM, and null means the adapter's
 * maxStorageBufferBindingSize. Larger batches run in slices, and tests lower
 * the cap to exercise them.
 */
export const conv3dLimits = {
  unfoldedBytes: null as number | null,
  /**
   * Kernel family of every pass, read when conv3d records its forward pass,
   * or null to choose per pass by size (see conv3dPlan).
   */
  kernels: null as Conv3dKernels | null,
};

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
function weightMatrix(
  op: string,
  w: Tensor,
  flip: boolean,
  multiple = GEMM_ROWS,
): Tensor {
  const [cOut, cIn, ...kernel] = w.shape;
  const taps = kernel[0] * kernel[1] * kernel[2];
  const m = flip ? cIn : cOut;
  const k = (flip ? cOut : cIn) * taps;
  const mPadded = roundUp(m, multiple);
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
function gemmInputGradient(gy: Tensor, w: Tensor, g: Conv3dGeometry): Tensor {
  const pass = inputGradientPass(g);
  return gemm("conv3d.backward_input", gy, w, null, pass, true);
}

/**
 * Computes the weight gradient, in batch slices when the unfolded input of
 * the whole batch exceeds one storage binding.
 */
function gemmWeightGradient(
  gy: Tensor,
  x: Tensor,
  g: Conv3dGeometry,
): Tensor {
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
    sumPartials(partial, gw, chunks);
    partial.dispose();
  }
  return gw;
}

// ---- direct kernels ----

/** Kernels of one convolution, per pass. */
export interface Conv3dPlan {
  forward: "gemm" | "rows" | "pointwise" | "direct";
  inputGradient: "gemm" | "rows" | "gather";
  weightGradient: "gemm" | "rows" | "direct";
}

/**
 * Kernel family for every pass, or null to choose per pass by size: "gemm"
 * the unfolded implicit GEMM, "rows" the row kernels where the shapes allow
 * them and the direct kernels elsewhere, "direct" the direct kernels.
 */
export type Conv3dKernels = "gemm" | "rows" | "direct";

/**
 * A pass runs as the GEMM when its M (Cout, or Cin for the input gradient)
 * fills at least one 16-row block and it has at least this many
 * multiply-adds on the input (taps on the padding not counted). The unfold
 * and weight-matrix copies then cost little: on the conv3d benchmark shape
 * (518 M) the GEMM ran the forward pass about 20% and the weight gradient
 * about 75% faster than the row kernels (llvmpipe on 2 cores). Every
 * convolution of the compact CA-I3D at batch 24 except its stem (313 M, 8
 * output channels) has fewer than 30 M.
 */
const GEMM_MIN_MULTIPLY_ADDS = 1 << 26;
/**
 * Below this many multiply-adds a pass runs the direct kernels, one
 * dispatch each that reads w as it is. Above it the row kernels run,
 * because their vec4 loads pay for the extra dispatch that copies the
 * weight into a matrix (forward pass and input gradient).
 */
const ROWS_MIN_MULTIPLY_ADDS = 1 << 21;
/** Channels of the target computed by one invocation of the direct kernels. */
const DIRECT_CHANNELS = 8;
/** Channel count up to which the direct kernels compute 4 channels per invocation, not 8. */
const DIRECT_NARROW_CHANNELS = 4;
/** Floats of the source segment that one row-kernel invocation keeps in registers. */
const ROWS_SEGMENT = 64;
/** Floats of the x segment of the weight-gradient row kernel. */
const WEIGHT_ROWS_SEGMENT = 16;
/** Taps along W of the weight-gradient row kernel (two vec4 per channel). */
const WEIGHT_ROWS_MAX_TAPS = 8;
/**
 * The direct weight gradients split their reduction into chunks until this
 * many invocations run, keeping at least DIRECT_WEIGHT_MIN_GROUPS groups of 4
 * positions (or one sample for the row kernel) per chunk.
 */
const DIRECT_WEIGHT_MIN_INVOCATIONS = 1024;
const DIRECT_WEIGHT_MIN_GROUPS = 64;

/** Counts the taps inside the unpadded input, summed over the outputs of one axis. */
function validTaps(g: Conv3dGeometry, axis: number): number {
  let count = 0;
  for (let o = 0; o < g.output[axis]; o++) {
    const start = o * g.stride[axis] - g.padBefore[axis];
    const low = Math.max(0, -start);
    const high = Math.min(g.kernel[axis], g.input[axis] - start);
    count += Math.max(0, high - low);
  }
  return count;
}

/**
 * Counts the multiply-adds of one pass on the input, without the taps on
 * the padding. Each of the three passes has as many.
 */
export function conv3dMultiplyAdds(g: Conv3dGeometry): number {
  const taps = validTaps(g, 0) * validTaps(g, 1) * validTaps(g, 2);
  return g.batch * g.cOut * g.cIn * taps;
}

/** Returns a non-negative remainder. */
function modulo(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

/** One dispatch of the row kernel: its W-axis mapping (see conv3d_direct_rows.wgsl). */
interface RowsPhase {
  phase: number;
  step: number;
  count: number;
  scale: number;
  offset: number;
  tap: number;
  tapStep: number;
  taps: number;
  sourceStep: number;
  align: number;
  /** Target positions per invocation along W: 4, 8 or 16. */
  positions: number;
}

/** Returns whether a row-kernel dispatch keeps its source segment within registers. */
function rowsPhaseFits(phase: RowsPhase): boolean {
  return phase.align + (phase.positions - 1) * phase.sourceStep +
      phase.taps <= ROWS_SEGMENT;
}

/**
 * Chooses the most target positions per invocation (16, 8 or 4) that the
 * row fills and that keep the source segment within ROWS_SEGMENT floats.
 */
function withPositions(phase: Omit<RowsPhase, "positions">): RowsPhase {
  for (const positions of [16, 8]) {
    const wider = { ...phase, positions };
    if (phase.count >= positions && rowsPhaseFits(wider)) return wider;
  }
  return { ...phase, positions: 4 };
}

/** Describes the forward pass as one row-kernel dispatch. */
function forwardRowsPhase(g: Conv3dGeometry): RowsPhase {
  return withPositions({
    phase: 0,
    step: 1,
    count: g.output[2],
    scale: g.stride[2],
    offset: -g.padBefore[2],
    tap: 0,
    tapStep: 1,
    taps: g.kernel[2],
    sourceStep: g.stride[2],
    align: modulo(-g.padBefore[2], 4),
  });
}

/**
 * Describes the input gradient as one row-kernel dispatch per W phase: the
 * input positions w = phase + S*c read the output gradient at
 * c + e - m for the taps kw = r + S*m, with r = (phase + P) mod S and
 * e = (phase + P - r) / S. The kernel takes these taps in reverse order
 * u = M - 1 - m so that the source index grows with u, and reads the
 * flipped weight matrix at tap K - 1 - kw.
 */
function inputGradientRowsPhases(g: Conv3dGeometry): RowsPhase[] {
  const s = g.stride[2];
  const k = g.kernel[2];
  const p = g.padBefore[2];
  const phases: RowsPhase[] = [];
  for (let phase = 0; phase < Math.min(s, g.input[2]); phase++) {
    const r = (phase + p) % s;
    const e = (phase + p - r) / s;
    const taps = Math.max(0, Math.ceil((k - r) / s));
    const count = Math.ceil((g.input[2] - phase) / s);
    phases.push(withPositions({
      phase,
      step: s,
      count,
      scale: 1,
      offset: e - taps + 1,
      tap: k - 1 - r - s * (taps - 1),
      tapStep: s,
      taps,
      sourceStep: 1,
      align: modulo(e - taps + 1, 4),
    }));
  }
  return phases;
}

/**
 * Returns whether the forward pass is a pointwise convolution (1x1x1, stride
 * 1, no padding) that the pointwise kernel reads as vec4: Cin and the
 * positions per sample are multiples of 4.
 */
function pointwiseApplies(g: Conv3dGeometry): boolean {
  const ones = (t: Triple) => t.every((v) => v === 1);
  const zeros = (t: Triple) => t.every((v) => v === 0);
  const positions = g.input[0] * g.input[1] * g.input[2];
  return ones(g.kernel) && ones(g.stride) && zeros(g.padBefore) &&
    zeros(g.padAfter) && g.cIn % 4 === 0 && positions % 4 === 0;
}

function rowsForwardApplies(g: Conv3dGeometry): boolean {
  return g.input[2] % 4 === 0 && rowsPhaseFits(forwardRowsPhase(g));
}

function rowsInputGradientApplies(g: Conv3dGeometry): boolean {
  return g.output[2] % 4 === 0 &&
    inputGradientRowsPhases(g).every(rowsPhaseFits);
}

function rowsWeightGradientApplies(g: Conv3dGeometry): boolean {
  const align = modulo(-g.padBefore[2], 4);
  return g.input[2] % 4 === 0 && g.output[2] % 4 === 0 &&
    g.kernel[2] <= WEIGHT_ROWS_MAX_TAPS &&
    align + 3 * g.stride[2] + g.kernel[2] <= WEIGHT_ROWS_SEGMENT;
}

/**
 * Chooses the kernels of each pass. With `kernels` null, large passes with
 * at least 16 output channels run the GEMM (GEMM_MIN_MULTIPLY_ADDS). The
 * input gradient of a strided convolution never does, because its
 * transposed-convolution form multiplies stride^3 times as many zeros. Other
 * forward passes of 1x1x1 convolutions that the pointwise kernel reads as
 * vec4 run it. Passes above ROWS_MIN_MULTIPLY_ADDS whose rows hold a
 * multiple of 4 elements run the row kernels, and the rest the direct
 * kernels.
 */
export function conv3dPlan(
  g: Conv3dGeometry,
  kernels: Conv3dKernels | null = conv3dLimits.kernels,
): Conv3dPlan {
  if (kernels === "gemm") {
    return { forward: "gemm", inputGradient: "gemm", weightGradient: "gemm" };
  }
  const multiplyAdds = conv3dMultiplyAdds(g);
  const large = kernels === null && multiplyAdds >= GEMM_MIN_MULTIPLY_ADDS;
  const rows = kernels === "rows" ||
    (kernels === null && multiplyAdds >= ROWS_MIN_MULTIPLY_ADDS);
  const strided = g.stride.some((s) => s > 1);
  let forward: Conv3dPlan["forward"] = "direct";
  if (large && g.cOut >= GEMM_ROWS) forward = "gemm";
  else if (kernels === null && pointwiseApplies(g)) forward = "pointwise";
  else if (rows && rowsForwardApplies(g)) forward = "rows";
  let inputGradient: Conv3dPlan["inputGradient"] = "gather";
  if (large && g.cIn >= GEMM_ROWS && !strided) inputGradient = "gemm";
  else if (rows && rowsInputGradientApplies(g)) inputGradient = "rows";
  let weightGradient: Conv3dPlan["weightGradient"] = "direct";
  if (large && g.cOut >= GEMM_ROWS) weightGradient = "gemm";
  else if (rows && rowsWeightGradientApplies(g)) weightGradient = "rows";
  return { forward, inputGradient, weightGradient };
}

const directForwardLayout = new UniformLayout([
  ["invocations", "u32"],
  ["position_blocks", "u32"],
  ["co_blocks", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<i32>"],
  ["kernel_size", "vec4<u32>"],
]);

/** Runs the forward pass as the direct kernel: one dispatch that reads w as it is. */
function directForward(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  g: Conv3dGeometry,
): Tensor {
  const y = empty([g.batch, g.cOut, ...g.output], "f32", "conv3d.forward");
  const narrow = g.cOut <= DIRECT_NARROW_CHANNELS;
  const coBlocks = Math.ceil(g.cOut / (narrow ? 4 : DIRECT_CHANNELS));
  const positions = g.output[0] * g.output[1] * g.output[2];
  const positionBlocks = Math.ceil(positions / 4);
  const invocations = g.batch * coBlocks * positionBlocks;
  const bindings = [x.binding(), w.binding(), y.binding()];
  if (bias) bindings.push(bias.binding());
  runtime().dispatch({
    op: "conv3d.forward",
    kernel: {
      file: "shaders/ops/conv3d_direct_forward.wgsl",
      source: directForwardSource,
      defines: { BIAS: bias !== null, NARROW: narrow },
    },
    uniforms: directForwardLayout.pack({
      invocations,
      position_blocks: positionBlocks,
      co_blocks: coBlocks,
      c_in: g.cIn,
      c_out: g.cOut,
      in_size: vec4(g.input),
      out_size: vec4(g.output),
      stride: vec4(g.stride),
      pad_before: vec4(g.padBefore),
      kernel_size: vec4(g.kernel),
    }),
    bindings,
    workgroups: Math.ceil(invocations / 64),
    shapes: `x ${formatShape(x.shape)}, weight ${formatShape(w.shape)}`,
  });
  return y;
}

const pointwiseLayout = new UniformLayout([
  ["invocations", "u32"],
  ["position_blocks", "u32"],
  ["co_blocks", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
]);

/** Runs a pointwise forward pass as one dispatch of vec4 loads. */
function pointwiseForward(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  g: Conv3dGeometry,
): Tensor {
  const y = empty([g.batch, g.cOut, ...g.output], "f32", "conv3d.forward");
  const narrow = g.cOut <= DIRECT_NARROW_CHANNELS;
  const coBlocks = Math.ceil(g.cOut / (narrow ? 4 : DIRECT_CHANNELS));
  const positionBlocks = g.output[0] * g.output[1] * g.output[2] / 4;
  const invocations = g.batch * coBlocks * positionBlocks;
  const bindings = [x.binding(), w.binding(), y.binding()];
  if (bias) bindings.push(bias.binding());
  runtime().dispatch({
    op: "conv3d.forward",
    kernel: {
      file: "shaders/ops/conv3d_direct_pointwise.wgsl",
      source: directPointwiseSource,
      defines: { BIAS: bias !== null, NARROW: narrow },
    },
    uniforms: pointwiseLayout.pack({
      invocations,
      position_blocks: positionBlocks,
      co_blocks: coBlocks,
      c_in: g.cIn,
      c_out: g.cOut,
    }),
    bindings,
    workgroups: Math.ceil(invocations / 64),
    shapes: `x ${formatShape(x.shape)}, weight ${formatShape(w.shape)}`,
  });
  return y;
}

const directRowsLayout = new UniformLayout([
  ["invocations", "u32"],
  ["w_blocks", "u32"],
  ["ct_blocks", "u32"],
  ["c_source", "u32"],
  ["c_target", "u32"],
  ["w_phase", "u32"],
  ["w_step", "u32"],
  ["w_count", "u32"],
  ["w_scale", "i32"],
  ["w_offset", "i32"],
  ["w_tap", "i32"],
  ["w_tap_step", "i32"],
  ["source_size", "vec4<u32>"],
  ["target_size", "vec4<u32>"],
  ["kernel_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<i32>"],
]);

/**
 * Runs the forward pass (gather false) or the input gradient (gather true)
 * as the row kernel: source is x or gy, and the result is y or gx.
 */
function directRows(
  op: string,
  source: Tensor,
  w: Tensor,
  bias: Tensor | null,
  g: Conv3dGeometry,
  gather: boolean,
): Tensor {
  const rt = runtime();
  const cSource = gather ? g.cOut : g.cIn;
  const cTarget = gather ? g.cIn : g.cOut;
  const sourceSize = gather ? g.output : g.input;
  const targetSize = gather ? g.input : g.output;
  const result = empty([g.batch, cTarget, ...targetSize], "f32", op);

  const wt = weightMatrix(`${op}.weight`, w, gather, DIRECT_CHANNELS);
  const ctBlocks = wt.shape[1] / DIRECT_CHANNELS;
  const phases = gather ? inputGradientRowsPhases(g) : [forwardRowsPhase(g)];

  for (const phase of phases) {
    const wBlocks = Math.ceil(phase.count / phase.positions);
    const invocations = g.batch * ctBlocks * targetSize[0] * targetSize[1] *
      wBlocks;
    const bindings = [source.binding(), wt.binding(), result.binding()];
    if (bias) bindings.push(bias.binding());
    rt.dispatch({
      op,
      kernel: {
        file: "shaders/ops/conv3d_direct_rows.wgsl",
        source: directRowsSource,
        defines: {
          BIAS: bias !== null,
          GATHER: gather,
          WIDE: phase.positions >= 8,
          WIDEST: phase.positions === 16,
        },
        constants: {
          TAPS_W: phase.taps,
          STEP_W: phase.sourceStep,
          ALIGN: phase.align,
        },
      },
      uniforms: directRowsLayout.pack({
        invocations,
        w_blocks: wBlocks,
        ct_blocks: ctBlocks,
        c_source: cSource,
        c_target: cTarget,
        w_phase: phase.phase,
        w_step: phase.step,
        w_count: phase.count,
        w_scale: phase.scale,
        w_offset: phase.offset,
        w_tap: phase.tap,
        w_tap_step: phase.tapStep,
        source_size: vec4(sourceSize),
        target_size: vec4(targetSize),
        kernel_size: vec4(g.kernel),
        stride: vec4(g.stride),
        pad_before: vec4(g.padBefore),
      }),
      bindings,
      workgroups: Math.ceil(invocations / 64),
      shapes: `${gather ? "grad output" : "x"} ${formatShape(source.shape)}, ` +
        `weight ${formatShape(w.shape)}`,
    });
  }
  wt.dispose();
  return result;
}

const directInputLayout = new UniformLayout([
  ["invocations", "u32"],
  ["position_blocks", "u32"],
  ["ci_blocks", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<u32>"],
  ["kernel_size", "vec4<u32>"],
  ["grid_size", "vec4<u32>"],
]);

/** Runs the input gradient as the direct gather kernel, one dispatch that reads w as it is. */
function gatherInputGradient(
  gy: Tensor,
  w: Tensor,
  g: Conv3dGeometry,
): Tensor {
  const gx = empty([g.batch, g.cIn, ...g.input], "f32", "conv3d.grad_x");
  const narrow = g.cIn <= DIRECT_NARROW_CHANNELS;
  const ciBlocks = Math.ceil(g.cIn / (narrow ? 4 : DIRECT_CHANNELS));
  const grid = [0, 1, 2].map((a) => Math.ceil(g.input[a] / g.stride[a]));
  const positionBlocks = Math.ceil(grid[0] * grid[1] * grid[2] / 4);
  const phases = g.stride[0] * g.stride[1] * g.stride[2];
  const invocations = g.batch * ciBlocks * phases * positionBlocks;
  runtime().dispatch({
    op: "conv3d.backward_input",
    kernel: {
      file: "shaders/ops/conv3d_direct_input.wgsl",
      source: directInputSource,
      defines: { NARROW: narrow },
    },
    uniforms: directInputLayout.pack({
      invocations,
      position_blocks: positionBlocks,
      ci_blocks: ciBlocks,
      c_in: g.cIn,
      c_out: g.cOut,
      in_size: vec4(g.input),
      out_size: vec4(g.output),
      stride: vec4(g.stride),
      pad_before: vec4(g.padBefore),
      kernel_size: vec4(g.kernel),
      grid_size: vec4(grid),
    }),
    bindings: [gy.binding(), w.binding(), gx.binding()],
    workgroups: Math.ceil(invocations / 64),
    shapes: `grad output ${formatShape(gy.shape)}, weight ${
      formatShape(w.shape)
    }`,
  });
  return gx;
}

/** Adds the partial weight gradients of the chunks into gw (the second pass). */
function sumPartials(partial: Tensor, gw: Tensor, chunks: number): void {
  runtime().dispatch({
    op: "conv3d.backward_weight.sum",
    kernel: {
      file: "shaders/ops/conv3d_sum_partials.wgsl",
      source: sumPartialsSource,
    },
    uniforms: sumPartialsLayout.pack({ count: gw.size, chunks }),
    bindings: [partial.binding(), gw.binding()],
    workgroups: Math.ceil(gw.size / 256),
  });
}

const directWeightLayout = new UniformLayout([
  ["invocations", "u32"],
  ["k_blocks", "u32"],
  ["co_blocks", "u32"],
  ["sample_groups", "u32"],
  ["groups", "u32"],
  ["groups_per_chunk", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<i32>"],
  ["kernel_size", "vec4<u32>"],
]);

/**
 * Runs the weight gradient as the direct kernel, in one dispatch unless the
 * reduction is long enough to split into chunks.
 */
function directWeightGradient(
  gy: Tensor,
  x: Tensor,
  g: Conv3dGeometry,
): Tensor {
  const narrow = g.cOut <= DIRECT_NARROW_CHANNELS;
  const coBlocks = Math.ceil(g.cOut / (narrow ? 4 : DIRECT_CHANNELS));
  const kBlocks = Math.ceil(
    g.cIn * g.kernel[0] * g.kernel[1] * g.kernel[2] / 4,
  );
  const positions = g.output[0] * g.output[1] * g.output[2];
  const sampleGroups = Math.ceil(positions / 4);
  const groups = g.batch * sampleGroups;
  const perChunk = coBlocks * kBlocks;
  const targetChunks = Math.min(
    Math.ceil(DIRECT_WEIGHT_MIN_INVOCATIONS / perChunk),
    Math.floor(groups / DIRECT_WEIGHT_MIN_GROUPS),
  );
  const groupsPerChunk = Math.ceil(groups / Math.max(1, targetChunks));
  const chunks = Math.ceil(groups / groupsPerChunk);

  const gw = empty([g.cOut, g.cIn, ...g.kernel], "f32", "conv3d.grad_weight");
  const partial = chunks === 1
    ? gw
    : empty([chunks, gw.size], "f32", "conv3d.grad_weight.partial");
  const invocations = perChunk * chunks;

  runtime().dispatch({
    op: "conv3d.backward_weight",
    kernel: {
      file: "shaders/ops/conv3d_direct_weight.wgsl",
      source: directWeightSource,
      defines: { NARROW: narrow, GY_VEC4: positions % 4 === 0 },
    },
    uniforms: directWeightLayout.pack({
      invocations,
      k_blocks: kBlocks,
      co_blocks: coBlocks,
      sample_groups: sampleGroups,
      groups,
      groups_per_chunk: groupsPerChunk,
      c_in: g.cIn,
      c_out: g.cOut,
      in_size: vec4(g.input),
      out_size: vec4(g.output),
      stride: vec4(g.stride),
      pad_before: vec4(g.padBefore),
      kernel_size: vec4(g.kernel),
    }),
    bindings: [x.binding(), gy.binding(), partial.binding()],
    workgroups: Math.ceil(invocations / 64),
    shapes: `x ${formatShape(x.shape)}, grad output ${formatShape(gy.shape)}`,
  });
  if (partial !== gw) {
    sumPartials(partial, gw, chunks);
    partial.dispose();
  }
  return gw;
}

const directWeightRowsLayout = new UniformLayout([
  ["invocations", "u32"],
  ["co_blocks", "u32"],
  ["samples_per_chunk", "u32"],
  ["batch", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<i32>"],
  ["kernel_size", "vec4<u32>"],
]);

/**
 * Runs the weight gradient as the row kernel, split into chunks of samples
 * when one invocation per (Cout block, ci, kd, kh) is too few.
 */
function rowsWeightGradient(gy: Tensor, x: Tensor, g: Conv3dGeometry): Tensor {
  const coBlocks = Math.ceil(g.cOut / DIRECT_CHANNELS);
  const perChunk = coBlocks * g.cIn * g.kernel[0] * g.kernel[1];
  const targetChunks = Math.min(
    Math.ceil(DIRECT_WEIGHT_MIN_INVOCATIONS / perChunk),
    g.batch,
  );
  const samplesPerChunk = Math.ceil(g.batch / targetChunks);
  const chunks = Math.ceil(g.batch / samplesPerChunk);
  const gw = empty([g.cOut, g.cIn, ...g.kernel], "f32", "conv3d.grad_weight");
  const partial = chunks === 1
    ? gw
    : empty([chunks, gw.size], "f32", "conv3d.grad_weight.partial");
  const invocations = perChunk * chunks;

  runtime().dispatch({
    op: "conv3d.backward_weight",
    kernel: {
      file: "shaders/ops/conv3d_direct_weight_rows.wgsl",
      source: directWeightRowsSource,
      constants: {
        KW: g.kernel[2],
        SW: g.stride[2],
        ALIGN: modulo(-g.padBefore[2], 4),
      },
    },
    uniforms: directWeightRowsLayout.pack({
      invocations,
      co_blocks: coBlocks,
      samples_per_chunk: samplesPerChunk,
      batch: g.batch,
      c_in: g.cIn,
      c_out: g.cOut,
      in_size: vec4(g.input),
      out_size: vec4(g.output),
      stride: vec4(g.stride),
      pad_before: vec4(g.padBefore),
      kernel_size: vec4(g.kernel),
    }),
    bindings: [x.binding(), gy.binding(), partial.binding()],
    workgroups: Math.ceil(invocations / 64),
    shapes: `x ${formatShape(x.shape)}, grad output ${formatShape(gy.shape)}`,
  });
  if (partial !== gw) {
    sumPartials(partial, gw, chunks);
    partial.dispose();
  }
  return gw;
}

function inputGradient(
  gy: Tensor,
  w: Tensor,
  g: Conv3dGeometry,
  plan: Conv3dPlan,
): Tensor {
  if (plan.inputGradient === "gemm") return gemmInputGradient(gy, w, g);
  if (plan.inputGradient === "rows") {
    return directRows("conv3d.backward_input", gy, w, null, g, true);
  }
  return gatherInputGradient(gy, w, g);
}

function weightGradient(
  gy: Tensor,
  x: Tensor,
  g: Conv3dGeometry,
  plan: Conv3dPlan,
): Tensor {
  if (plan.weightGradient === "gemm") return gemmWeightGradient(gy, x, g);
  if (plan.weightGradient === "rows") return rowsWeightGradient(gy, x, g);
  return directWeightGradient(gy, x, g);
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
  const plan = conv3dPlan(g);
  let y: Tensor;
  if (plan.forward === "gemm") {
    y = gemm("conv3d.forward", x, weight, bias, forwardPass(g), false);
  } else if (plan.forward === "rows") {
    y = directRows("conv3d.forward", x, weight, bias, g, false);
  } else if (plan.forward === "pointwise") {
    y = pointwiseForward(x, weight, bias, g);
  } else {
    y = directForward(x, weight, bias, g);
  }
  record("conv3d", [x, weight, bias], [y], ([gy]) => [
    x.requiresGrad ? inputGradient(gy!, weight, g, plan) : null,
    weight.requiresGrad ? weightGradient(gy!, x, g, plan) : null,
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

/**
 * Attributes of the registered conv3d: the options, and for tests the
 * kernel family that every pass uses (see Conv3dKernels).
 */
export interface Conv3dAttrs extends Conv3dOptions {
  kernels?: Conv3dKernels;
}

interface ConvCase {
  label: string;
  x: number[];
  weight: number[];
  bias: boolean;
  attrs: Conv3dAttrs;
  /** False for cases too large for finite differences on the CPU. */
  finiteDifferences?: boolean;
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
    label: "gemm: 1x1x1 on rows of 8, read without unfolding",
    x: [1, 4, 2, 3, 8],
    weight: [6, 4, 1, 1, 1],
    bias: true,
    attrs: { kernels: "gemm" },
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
  // The cases above run the direct kernels, chosen by size. The ones below
  // cover the other kernels and the shapes of the compact CA-I3D.
  {
    label: "gemm: 3x3x3 padding 1, odd sizes",
    x: [1, 3, 5, 6, 7],
    weight: [5, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1, kernels: "gemm" },
  },
  {
    label: "gemm: stride 2 padding 1",
    x: [1, 3, 7, 8, 9],
    weight: [4, 3, 3, 3, 3],
    bias: true,
    attrs: { stride: 2, padding: 1, kernels: "gemm" },
  },
  {
    label: "gemm: several tiles and chunks",
    x: [2, 3, 6, 9, 10],
    weight: [7, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1, kernels: "gemm" },
  },
  {
    label: "gemm: channels above one 16-row block",
    x: [1, 18, 3, 4, 6],
    weight: [20, 18, 3, 3, 3],
    bias: true,
    attrs: { padding: 1, kernels: "gemm" },
  },
  {
    label: "pointwise on volumes of 12 positions",
    x: [2, 8, 2, 3, 2],
    weight: [9, 8, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "pointwise, 3 output channels, no bias",
    x: [3, 12, 1, 1, 4],
    weight: [3, 12, 1, 1, 1],
    bias: false,
    attrs: {},
  },
  {
    label: "small pointwise, 4 output channels",
    x: [3, 6, 2, 3, 5],
    weight: [3, 6, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "small 3x3x3 same, 3 input channels",
    x: [2, 3, 3, 4, 4],
    weight: [9, 3, 3, 3, 3],
    bias: false,
    attrs: { padding: "same" },
  },
  {
    label: "Coordinate Attention 1x1x1 on [N, C, L, 1, 1]",
    x: [4, 12, 11, 1, 1],
    weight: [5, 12, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "3x3x3 same on [N, C, 2, 1, 1]",
    x: [3, 6, 2, 1, 1],
    weight: [10, 6, 3, 3, 3],
    bias: false,
    attrs: { padding: "same" },
  },
  {
    label: "stride [1, 2, 3], 1x1x1 on skipped inputs",
    x: [1, 5, 3, 5, 7],
    weight: [4, 5, 1, 1, 1],
    bias: false,
    attrs: { stride: [1, 2, 3] },
  },
  {
    label: "stem-like 7x7x7 stride 2 same",
    x: [1, 5, 5, 9, 9],
    weight: [8, 5, 7, 7, 7],
    bias: false,
    attrs: { stride: 2, padding: "same" },
    finiteDifferences: false,
  },
  {
    label: "rows: 3x3x3 same on rows of 8, chunks of samples",
    x: [2, 5, 3, 6, 8],
    weight: [10, 5, 3, 3, 3],
    bias: true,
    attrs: { padding: "same", kernels: "rows" },
  },
  {
    label: "rows: 3x3x3 stride 2 padding 1, phases with 1 and 2 taps",
    x: [1, 3, 5, 7, 8],
    weight: [6, 3, 3, 3, 3],
    bias: false,
    attrs: { stride: 2, padding: 1, kernels: "rows" },
  },
  {
    label: "rows: 1x1x1 on rows of 4, padding wider than the kernel",
    x: [2, 3, 2, 3, 4],
    weight: [5, 3, 1, 1, 1],
    bias: true,
    attrs: { padding: [[0, 0], [1, 0], [1, 3]], kernels: "rows" },
  },
  {
    label: "rows: 1x3x3 same on rows of 16",
    x: [1, 2, 2, 3, 16],
    weight: [3, 2, 1, 3, 3],
    bias: true,
    attrs: { padding: "same", kernels: "rows" },
  },
  {
    label: "rows: stem-like 7x7x7 stride 2 same",
    x: [1, 3, 6, 12, 16],
    weight: [4, 3, 7, 7, 7],
    bias: false,
    attrs: { stride: 2, padding: "same", kernels: "rows" },
    finiteDifferences: false,
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
    finiteDifferences: c.finiteDifferences,
  };
}

/** The registry's cases, for tests that check which kernels they run. */
export const conv3dCases: readonly ConvCase[] = CASES;

/** Runs conv3d with the kernel family that attrs.kernels names, if any. */
function conv3dWithKernels(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  attrs: Conv3dAttrs,
): Tensor {
  const previous = conv3dLimits.kernels;
  conv3dLimits.kernels = attrs.kernels ?? previous;
  try {
    return conv3d(x, weight, bias, attrs);
  } finally {
    conv3dLimits.kernels = previous;
  }
}

defineOp<Conv3dAttrs>({
  name: "conv3d",
  family: "conv",
  inputs: [{ name: "x" }, { name: "weight" }, { name: "bias", optional: true }],
  forwardKernels: [
    "shaders/ops/conv3d_unfold.wgsl",
    "shaders/ops/conv3d_weight_matrix.wgsl",
    "shaders/ops/conv3d_forward.wgsl",
    "shaders/ops/conv3d_direct_forward.wgsl",
    "shaders/ops/conv3d_direct_pointwise.wgsl",
    "shaders/ops/conv3d_direct_rows.wgsl",
  ],
  backwardKernels: [
    "shaders/ops/conv3d_unfold.wgsl",
    "shaders/ops/conv3d_weight_matrix.wgsl",
    "shaders/ops/conv3d_forward.wgsl",
    "shaders/ops/conv3d_backward_weight.wgsl",
    "shaders/ops/conv3d_sum_partials.wgsl",
    "shaders/ops/conv3d_direct_input.wgsl",
    "shaders/ops/conv3d_direct_rows.wgsl",
    "shaders/ops/conv3d_direct_weight.wgsl",
    "shaders/ops/conv3d_direct_weight_rows.wgsl",
    "shaders/ops/reduce_sum.wgsl",
    "shaders/ops/accumulate.wgsl",
  ],
  gpu: ([x, w, b], attrs) => conv3dWithKernels(x!, w!, b, attrs),
  cpu: {
    forward: (inputs, attrs) => [cpuConv3d(inputs, attrs)],
    backward: (inputs, attrs, [gy]) => cpuConv3dBackward(inputs, attrs, gy),
  },
  cases: (rng) => CASES.map((c) => randomCase(rng, c)),
  tolerance: ACCUMULATING_TOLERANCE,
});
