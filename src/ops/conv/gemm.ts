/** GEMM kernels of conv3d: unfold, weight matrix, implicit GEMM, weight gradient. */
import { accumulateInto } from "../../autograd.ts";
import { runtime } from "../../gpu/runtime.ts";
import { UniformLayout } from "../../gpu/uniforms.ts";
import { empty, formatShape, Tensor } from "../../tensor.ts";
import forwardSource from "../../../shaders/ops/conv3d_forward.wgsl" with {
  type: "text",
};
import unfoldSource from "../../../shaders/ops/conv3d_unfold.wgsl" with {
  type: "text",
};
import weightMatrixSource from "../../../shaders/ops/conv3d_weight_matrix.wgsl" with {
  type: "text",
};
import weightGradSource from "../../../shaders/ops/conv3d_backward_weight.wgsl" with {
  type: "text",
};
import { type Conv3dGeometry, type Triple, vec4 } from "./geometry.ts";
import { conv3dLimits } from "./limits.ts";
import { sumPartials } from "./partials.ts";

/** Output channels per invocation of the GEMM kernels, and the multiple M is padded to. */
export const GEMM_ROWS = 16;
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

export function forwardPass(g: Conv3dGeometry): GemmPass {
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
export function weightMatrix(
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
export function gemm(
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
export function gemmInputGradient(
  gy: Tensor,
  w: Tensor,
  g: Conv3dGeometry,
): Tensor {
  const pass = inputGradientPass(g);
  return gemm("conv3d.backward_input", gy, w, null, pass, true);
}

/**
 * Computes the weight gradient, in batch slices when the unfolded input of
 * the whole batch exceeds one storage binding.
 */
export function gemmWeightGradient(
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
