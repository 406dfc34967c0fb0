/** Limits of conv3d, and the kernel family that tests can force on every pass. */

/**
 * Kernel family for every pass, or null to choose per pass by size: "gemm"
 * the unfolded implicit GEMM, "rows" the row kernels where the shapes allow
 * them and the direct kernels elsewhere, "direct" the direct kernels.
 */
export type Conv3dKernels = "gemm" | "rows" | "direct";

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
