/** Optimizers (WGSL updates in place) and learning-rate schedules. */
export {
  Optimizer,
  type OptimizerState,
  type StateTensor,
} from "./optimizer.ts";
export { SGD, type SgdOptions } from "./sgd.ts";
export { Adam, type AdamOptions } from "./adam.ts";
export {
  cosineLr,
  type CosineLrOptions,
  type LrSchedule,
  stepLr,
  type StepLrOptions,
} from "./schedule.ts";
