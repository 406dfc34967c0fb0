/** Every operator of the framework; importing this module registers them. */
export * from "./elementwise.ts";
export * from "./reduce.ts";
export { getOp, listOps } from "./registry.ts";
