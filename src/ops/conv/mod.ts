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
import { record } from "../../autograd.ts";
import { runtime } from "../../gpu/runtime.ts";
import { empty, Tensor } from "../../tensor.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "../registry.ts";
import { sumToShape } from "../reduce.ts";
import { CASES, type Conv3dAttrs, randomCase } from "./cases.ts";
import { cpuConv3d, cpuConv3dBackward } from "./cpu.ts";
import {
  directForward,
  directWeightGradient,
  gatherInputGradient,
  pointwiseForward,
} from "./direct.ts";
import {
  type Conv3dGeometry,
  conv3dGeometry,
  type Conv3dOptions,
} from "./geometry.ts";
import {
  forwardPass,
  gemm,
  gemmInputGradient,
  gemmWeightGradient,
} from "./gemm.ts";
import { conv3dLimits } from "./limits.ts";
import { type Conv3dPlan, conv3dPlan } from "./plan.ts";
import { directRows, rowsWeightGradient } from "./rows.ts";

export {
  conv3dFlops,
  type Conv3dGeometry,
  conv3dGeometry,
  conv3dMultiplyAdds,
  type Conv3dOptions,
  conv3dOutputShape,
  type Conv3dPadding,
} from "./geometry.ts";
export { type Conv3dKernels, conv3dLimits } from "./limits.ts";
export { type Conv3dPlan, conv3dPlan } from "./plan.ts";
export { cpuConv3d, cpuConv3dBackward } from "./cpu.ts";
export { type Conv3dAttrs, conv3dCases } from "./cases.ts";

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
