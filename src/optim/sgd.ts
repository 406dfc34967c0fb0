/**
 * Stochastic gradient descent with momentum, dampening, Nesterov momentum
 * and L2 weight decay, with the update rule of PyTorch 1.13's `torch.optim.SGD`.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, type Tensor } from "../tensor.ts";
import sgdSource from "../../shaders/optim/sgd.wgsl" with { type: "text" };
import {
  checkHyperparameter,
  checkNonNegative,
  Optimizer,
  type OptimizerState,
  type StateTensor,
} from "./optimizer.ts";

export interface SgdOptions {
  lr: number;
  momentum?: number;
  /** L2 penalty added to the gradient: g + weightDecay * p. */
  weightDecay?: number;
  nesterov?: boolean;
  dampening?: number;
}

const sgdLayout = new UniformLayout([
  ["n", "u32"],
  ["first_step", "u32"],
  ["lr", "f32"],
  ["weight_decay", "f32"],
  ["momentum", "f32"],
  ["one_minus_dampening", "f32"],
]);

/**
 * SGD as PyTorch 1.13 defines it, per parameter p with gradient g:
 * d = g + weightDecay * p; with momentum, buf = d on the first step and
 * buf = momentum * buf + (1 - dampening) * d afterwards, then
 * d = d + momentum * buf (Nesterov) or d = buf; finally p -= lr * d.
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
 * const optimizer = new SGD([w], { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 * backward(sum(mul(w, w)));
 * optimizer.step();
 * optimizer.zeroGrad();
 * ```
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly dampening: number;
  /** Momentum buffers by parameter index; null until the first step with a gradient. */
  readonly #buffers: (Tensor | null)[];

  constructor(params: Tensor[], options: SgdOptions) {
    super("SGD", params, options?.lr);
    const { momentum = 0, weightDecay = 0, nesterov = false, dampening = 0 } =
      options;
    checkNonNegative("SGD", "momentum", momentum);
    checkNonNegative("SGD", "weightDecay", weightDecay);
    checkHyperparameter(
      "SGD",
      "dampening",
      dampening,
      () => true,
      "a finite number",
    );

    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new Error(
        `SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ` +
          `${momentum} and dampening ${dampening}`,
      );
    }

    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
    this.dampening = dampening;
    this.#buffers = this.params.map(() => null);
  }

  step(): void {
    const rt = runtime();
    const useMomentum = this.momentum !== 0;
    this.params.forEach((p, index) => {
      const g = this.gradOf(index);
      if (!g) return;
      const bindings = [p.binding(), g.binding()];
      let firstStep = false;
      if (useMomentum) {
        let buffer = this.#buffers[index];
        if (!buffer) {
          buffer = empty(p.shape, "f32", `SGD.${index}.momentum_buffer`).keep();
          this.#buffers[index] = buffer;
          firstStep = true;
        }
        bindings.push(buffer.binding());
      }
      rt.dispatch({
        op: "SGD.step",
        kernel: {
          file: "shaders/optim/sgd.wgsl",
          source: sgdSource,
          defines: { MOMENTUM: useMomentum, NESTEROV: this.nesterov },
        },
        uniforms: sgdLayout.pack({
          n: p.size,
          first_step: firstStep ? 1 : 0,
          lr: this.lr,
          weight_decay: this.weightDecay,
          momentum: this.momentum,
          one_minus_dampening: 1 - this.dampening,
        }),
        bindings,
        workgroups: Math.ceil(p.size / 256),
        shapes: `parameter ${index} ${p.describe()}`,
      });
    });
  }

  get state(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.#buffers.forEach((buffer, index) => {
      if (buffer) tensors.set(`${index}.momentum_buffer`, buffer);
    });
    return { tensors, metadata: { optimizer: "SGD", lr: String(this.lr) } };
  }

  loadState(
    tensors: Map<string, StateTensor>,
    metadata: Record<string, string>,
  ): void {
    if (metadata.optimizer !== undefined && metadata.optimizer !== "SGD") {
      throw new Error(
        `SGD cannot load the state of a ${metadata.optimizer} optimizer`,
      );
    }
    const byIndex = this.parseStateKeys(tensors, ["momentum_buffer"]);
    // Everything is checked before anything is overwritten.
    for (const [index, entry] of byIndex) {
      const key = `${index}.momentum_buffer`;
      this.checkStateTensor(
        key,
        entry.get("momentum_buffer")!,
        this.params[index].shape,
      );
    }
    this.params.forEach((p, index) => {
      const saved = byIndex.get(index)?.get("momentum_buffer");
      if (!saved) {
        // No buffer means the parameter had no step yet.
        this.#buffers[index]?.dispose();
        this.#buffers[index] = null;
        return;
      }
      const key = `${index}.momentum_buffer`;
      this.#buffers[index] = this.importStateTensor(
        key,
        saved,
        p.shape,
        this.#buffers[index],
      );
    });
    this.restoreLr(metadata);
  }

  dispose(): void {
    this.#buffers.forEach((buffer, index) => {
      buffer?.dispose();
      this.#buffers[index] = null;
    });
  }
}
