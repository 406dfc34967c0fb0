/** Direct kernels of conv3d, which read x, w and the output gradient as they are. */
import { runtime } from "../../gpu/runtime.ts";
import { UniformLayout } from "../../gpu/uniforms.ts";
import { empty, formatShape, type Tensor } from "../../tensor.ts";
import directForwardSource from "../../../shaders/ops/conv3d_direct_forward.wgsl" with {
  type: "text",
};
import directInputSource from "../../../shaders/ops/conv3d_direct_input.wgsl" with {
  type: "text",
};
import directWeightSource from "../../../shaders/ops/conv3d_direct_weight.wgsl" with {
  type: "text",
};
import directPointwiseSource from "../../../shaders/ops/conv3d_direct_pointwise.wgsl" with {
  type: "text",
};
import { type Conv3dGeometry, type Triple, vec4 } from "./geometry.ts";
import { sumPartials } from "./partials.ts";

/** Channels of the target computed by one invocation of the direct kernels. */
export const DIRECT_CHANNELS = 8;
/** Channel count up to which the direct kernels compute 4 channels per invocation, not 8. */
const DIRECT_NARROW_CHANNELS = 4;

/**
 * The direct weight gradients split their reduction into chunks until this
 * many invocations run, keeping at least DIRECT_WEIGHT_MIN_GROUPS groups of 4
 * positions (or one sample for the row kernel) per chunk.
 */
export const DIRECT_WEIGHT_MIN_INVOCATIONS = 1024;
const DIRECT_WEIGHT_MIN_GROUPS = 64;

/**
 * Returns whether the forward pass is a pointwise convolution (1x1x1, stride
 * 1, no padding) that the pointwise kernel reads as vec4: Cin and the
 * positions per sample are multiples of 4.
 */
export function pointwiseApplies(g: Conv3dGeometry): boolean {
  const ones = (t: Triple) => t.every((v) => v === 1);
  const zeros = (t: Triple) => t.every((v) => v === 0);
  const positions = g.input[0] * g.input[1] * g.input[2];
  return ones(g.kernel) && ones(g.stride) && zeros(g.padBefore) &&
    zeros(g.padAfter) && g.cIn % 4 === 0 && positions % 4 === 0;
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
export function directForward(
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
export function pointwiseForward(
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
export function gatherInputGradient(
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
export function directWeightGradient(
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
