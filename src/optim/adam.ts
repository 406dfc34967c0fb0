/**
 * Adam with bias correction and L2 weight decay, or with decoupled weight
 * decay (AdamW), with the update rules of PyTorch 1.13's `torch.optim.Adam`
 * and `torch.optim.AdamW`.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, type Tensor } from "../tensor.ts";
import adamSource from "../../shaders/optim/adam.wgsl" with { type: "text" };
import {
  checkHyperparameter,
  checkNonNegative,
  Optimizer,
  type OptimizerState,
  type StateTensor,
} from "./optimizer.ts";

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** L2 penalty added to the gradient, or with `decoupled` the AdamW decay. */
  weightDecay?: number;
  /** AdamW: p *= 1 - lr * weightDecay before the Adam step, gradient untouched. */
  decoupled?: boolean;
}

const adamLayout = new UniformLayout([
  ["n", "u32"],
  ["first_step", "u32"],
  ["beta1", "f32"],
  ["beta2", "f32"],
  ["one_minus_beta1", "f32"],
  ["one_minus_beta2", "f32"],
  ["eps", "f32"],
  ["weight_decay", "f32"],
  ["decay_factor", "f32"],
  ["step_size", "f32"],
  ["bias_correction2_sqrt", "f32"],
]);

interface AdamSlot {
  step: number;
  expAvg: Tensor | null;
  expAvgSq: Tensor | null;
}

/**
 * Adam as PyTorch 1.13 defines it. At step t of parameter p with gradient
 * g: g += weightDecay * p (Adam) or p *= 1 - lr * weightDecay (AdamW);
 * m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
 * p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
 * Each parameter counts its own steps, so one skipped for lack of a
 * gradient keeps its bias correction where it was.
 *
 * @example
 * ```ts
 * import { backward, requiresGrad } from "../autograd.ts";
 * import { initRuntime } from "../gpu/runtime.ts";
 * import { mul, sum } from "../ops/mod.ts";
 * import { tensor } from "../tensor.ts";
 *
 * await initRuntime({ log: false });
 * const w = requiresGrad(tensor([1, -2], [2]));
 * const optimizer = new Adam([w], { lr: 1e-3, weightDecay: 0.01, decoupled: true });
 * backward(sum(mul(w, w)));
 * optimizer.step();
 * ```
 */
export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  readonly #slots: AdamSlot[];

  constructor(params: Tensor[], options: AdamOptions) {
    const decoupled = options?.decoupled ?? false;
    super(decoupled ? "AdamW" : "Adam", params, options?.lr);
    const { betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 } = options;
    const name = this.name;
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new Error(
        `${name}: betas must be a pair [beta1, beta2], got ${String(betas)}`,
      );
    }
    const unit = (v: number) => v >= 0 && v < 1;
    checkHyperparameter(name, "betas[0]", betas[0], unit, "in [0, 1)");
    checkHyperparameter(name, "betas[1]", betas[1], unit, "in [0, 1)");
    checkNonNegative(name, "eps", eps);
    checkNonNegative(name, "weightDecay", weightDecay);

    this.beta1 = betas[0];
    this.beta2 = betas[1];
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.decoupled = decoupled;
    this.#slots = this.params.map(() => ({
      step: 0,
      expAvg: null,
      expAvgSq: null,
    }));
  }

  /** Steps taken by each parameter (its t in the bias correction). */
  get steps(): number[] {
    return this.#slots.map((slot) => slot.step);
  }

  step(): void {
    const rt = runtime();
    this.params.forEach((p, index) => {
      const g = this.gradOf(index);
      if (!g) return;
      const slot = this.#slots[index];
      const firstStep = slot.step === 0;
      slot.expAvg ??= empty(p.shape, "f32", `${this.name}.${index}.exp_avg`)
        .keep();
      slot.expAvgSq ??= empty(
        p.shape,
        "f32",
        `${this.name}.${index}.exp_avg_sq`,
      ).keep();
      slot.step += 1;
      // Host scalars in float64, as PyTorch computes them in Python.
      const t = slot.step;
      const biasCorrection1 = 1 - this.beta1 ** t;
      const biasCorrection2 = 1 - this.beta2 ** t;
      rt.dispatch({
        op: `${this.name}.step`,
        kernel: {
          file: "shaders/optim/adam.wgsl",
          source: adamSource,
          defines: { DECOUPLED: this.decoupled },
        },
        uniforms: adamLayout.pack({
          n: p.size,
          first_step: firstStep ? 1 : 0,
          beta1: this.beta1,
          beta2: this.beta2,
          one_minus_beta1: 1 - this.beta1,
          one_minus_beta2: 1 - this.beta2,
          eps: this.eps,
          weight_decay: this.weightDecay,
          decay_factor: 1 - this.lr * this.weightDecay,
          step_size: this.lr / biasCorrection1,
          bias_correction2_sqrt: Math.sqrt(biasCorrection2),
        }),
        bindings: [
          p.binding(),
          g.binding(),
          slot.expAvg.binding(),
          slot.expAvgSq.binding(),
        ],
        workgroups: Math.ceil(p.size / 256),
        shapes: `parameter ${index} ${p.describe()}`,
      });
    });
  }

  get state(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.#slots.forEach((slot, index) => {
      if (slot.step === 0 || !slot.expAvg || !slot.expAvgSq) return;
      tensors.set(`${index}.exp_avg`, slot.expAvg);
      tensors.set(`${index}.exp_avg_sq`, slot.expAvgSq);
    });
    return {
      tensors,
      metadata: {
        optimizer: this.name,
        lr: String(this.lr),
        steps: JSON.stringify(this.steps),
      },
    };
  }

  loadState(
    tensors: Map<string, StateTensor>,
    metadata: Record<string, string>,
  ): void {
    const name = this.name;
    if (metadata.optimizer !== undefined && metadata.optimizer !== name) {
      throw new Error(
        `${name} cannot load the state of a ${metadata.optimizer} optimizer`,
      );
    }
    const steps = this.#parseSteps(metadata.steps);
    const byIndex = this.parseStateKeys(tensors, ["exp_avg", "exp_avg_sq"]);
    // Everything is checked before anything is overwritten.
    this.params.forEach((p, index) => {
      const entry = byIndex.get(index);
      if (steps[index] === 0) {
        if (entry) {
          throw new Error(
            `${name} state has moments for parameter ${index} but its step count is 0`,
          );
        }
        return;
      }
      for (const key of ["exp_avg", "exp_avg_sq"]) {
        const saved = entry?.get(key);
        if (!saved) {
          throw new Error(
            `${name} state is missing '${index}.${key}' for parameter ${index}, ` +
              `which has taken ${steps[index]} steps`,
          );
        }
        this.checkStateTensor(`${index}.${key}`, saved, p.shape);
      }
    });
    this.params.forEach((p, index) => {
      const slot = this.#slots[index];
      slot.step = steps[index];
      const entry = byIndex.get(index);
      if (!entry) return;
      slot.expAvg = this.importStateTensor(
        `${index}.exp_avg`,
        entry.get("exp_avg")!,
        p.shape,
        slot.expAvg,
      );
      slot.expAvgSq = this.importStateTensor(
        `${index}.exp_avg_sq`,
        entry.get("exp_avg_sq")!,
        p.shape,
        slot.expAvgSq,
      );
    });
    this.restoreLr(metadata);
  }

  dispose(): void {
    for (const slot of this.#slots) {
      slot.expAvg?.dispose();
      slot.expAvgSq?.dispose();
      slot.expAvg = null;
      slot.expAvgSq = null;
      slot.step = 0;
    }
  }

  #parseSteps(text: string | undefined): number[] {
    const count = this.params.length;
    let steps: unknown = undefined;
    try {
      steps = text === undefined ? undefined : JSON.parse(text);
    } catch {
      // Reported below with the value.
    }
    const valid = Array.isArray(steps) && steps.length === count &&
      steps.every((s) => Number.isInteger(s) && s >= 0);
    if (!valid) {
      throw new Error(
        `${this.name} state metadata 'steps' must be a JSON array of ${count} ` +
          `non-negative integers (one per parameter), got ${text}`,
      );
    }
    return steps as number[];
  }
}
