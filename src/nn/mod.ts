/** Network modules and parameter initialisation. */
export { type GradHook, Module } from "./module.ts";
export * as init from "./init.ts";
export { Conv3d, type Conv3dConfig, type Triple } from "./conv.ts";
export { BatchNorm3d, type BatchNorm3dConfig } from "./batch_norm.ts";
export { Linear, type LinearConfig } from "./linear.ts";
export { Dropout, type DropoutConfig } from "./dropout.ts";
export { Unit3d, type Unit3dConfig } from "./unit3d.ts";
