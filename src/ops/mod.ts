/** Every operator of the framework; importing this module registers them. */
export * from "./conv.ts";
export * from "./elementwise.ts";
export * from "./gate.ts";
export * from "./reduce.ts";
export * from "./pool.ts";
export * from "./linear.ts";
export * from "./metric.ts";
export * from "./loss.ts";
export * from "./norm.ts";
export * from "./dropout.ts";
export * from "./shape.ts";
export { getOp, listOps } from "./registry.ts";
