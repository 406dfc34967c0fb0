/** Choice of the kernel family of each conv3d pass. */
import { pointwiseApplies } from "./direct.ts";
import { type Conv3dGeometry, conv3dMultiplyAdds } from "./geometry.ts";
import { GEMM_ROWS } from "./gemm.ts";
import { type Conv3dKernels, conv3dLimits } from "./limits.ts";
import {
  rowsForwardApplies,
  rowsInputGradientApplies,
  rowsWeightGradientApplies,
} from "./rows.ts";

/** Kernels of one convolution, per pass. */
export interface Conv3dPlan {
  forward: "gemm" | "rows" | "pointwise" | "direct";
  inputGradient: "gemm" | "rows" | "gather";
  weightGradient: "gemm" | "rows" | "direct";
}

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
