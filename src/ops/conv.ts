/** Re-exports the 3D convolution operator from conv/mod.ts, which registers conv3d. */
export * from "./conv/mod.ts";
