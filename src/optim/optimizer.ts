/**
 * The base of the optimizers: the parameter list, the learning rate,
 * `zeroGrad`, and the export and import of per-parameter state for
 * checkpoints. Subclasses update every parameter with one WGSL dispatch
 * per parameter tensor.
 */
import { runtime } from "../gpu/runtime.ts";
import { empty, formatShape, type Shape, Tensor } from "../tensor.ts";
import type { HostTensor } from "../io/safetensors.ts";

/**
 * Optimizer state in the form a safetensors checkpoint stores it: tensors
 * keyed "<parameter index>.<state name>" (for example "0.momentum_buffer",
 * the names of PyTorch's `optimizer.state_dict()`), and scalars as strings.
 */
export interface OptimizerState {
  /** The optimizer's own buffers, not copies: read them, do not dispose them. */
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** A state tensor to import: a GPU tensor or values read from a file. */
export type StateTensor = Tensor | HostTensor;

export function checkHyperparameter(
  optimizer: string,
  name: string,
  value: number,
  valid: (v: number) => boolean,
  expected: string,
): void {
  if (typeof value !== "number" || !Number.isFinite(value) || !valid(value)) {
    throw new Error(`${optimizer}: ${name} must be ${expected}, got ${value}`);
  }
}

/** Rejects a hyperparameter that is negative, NaN or infinite. */
export function checkNonNegative(
  optimizer: string,
  name: string,
  value: number,
): void {
  checkHyperparameter(
    optimizer,
    name,
    value,
    (v) => v >= 0,
    "a finite number >= 0",
  );
}

export abstract class Optimizer {
  readonly params: readonly Tensor[];
  readonly #name: string;
  #lr: number;

  constructor(name: string, params: Tensor[], lr: number) {
    this.#name = name;
    if (!Array.isArray(params) || params.length === 0) {
      throw new Error(`${name} got no parameters; pass module.parameters()`);
    }
    const seen = new Set<Tensor>();
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) {
        throw new Error(
          `${name}: parameter ${i} is not a Tensor (${String(p)})`,
        );
      }
      if (p.dtype !== "f32") {
        throw new Error(`${name}: parameter ${i} ${p.describe()} is not f32`);
      }
      if (seen.has(p)) {
        throw new Error(
          `${name}: parameter ${i} ${p.describe()} appears twice in the list, ` +
            "so it would be updated twice per step",
        );
      }
      seen.add(p);
    });
    this.params = Object.freeze([...params]);
    this.#lr = this.#checkLr(lr);
  }

  get lr(): number {
    return this.#lr;
  }

  /** Sets the learning rate used by the following steps (for schedules). */
  setLr(lr: number): void {
    this.#lr = this.#checkLr(lr);
  }

  /** Sets every parameter's gradient to null, disposing it. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Updates every parameter that has a gradient, in place on the GPU.
   * Parameters whose gradient is null are skipped and keep their state.
   */
  abstract step(): void;

  /** The state to save in a checkpoint (see `OptimizerState`). */
  abstract get state(): OptimizerState;

  /**
   * Restores state saved from `state` by an optimizer over parameters of
   * the same shapes in the same order. The learning rate is restored from
   * the metadata when present, as PyTorch's `load_state_dict` does.
   */
  abstract loadState(
    tensors: Map<string, StateTensor>,
    metadata: Record<string, string>,
  ): void;

  /** Frees the state buffers; the parameters stay untouched. */
  abstract dispose(): void;

  protected get name(): string {
    return this.#name;
  }

  /** Returns the gradient of parameter `index` (or null) after checking its size. */
  protected gradOf(index: number): Tensor | null {
    const p = this.params[index];
    const g = p.grad;
    if (!g) return null;
    if (g.size !== p.size || g.dtype !== "f32") {
      throw new Error(
        `${this.#name}: gradient ${g.describe()} of parameter ${index} does not ` +
          `match the parameter ${p.describe()}`,
      );
    }
    return g;
  }

  protected restoreLr(metadata: Record<string, string>): void {
    if (metadata.lr === undefined) return;
    const lr = Number(metadata.lr);
    this.#lr = this.#checkLr(lr);
  }

  /** Rejects a saved state tensor whose shape or dtype differs from the parameter's. */
  protected checkStateTensor(
    key: string,
    source: StateTensor,
    shape: Shape,
  ): void {
    const sourceShape = source.shape;
    const sameShape = sourceShape.length === shape.length &&
      sourceShape.every((d, i) => d === shape[i]);
    if (!sameShape) {
      throw new Error(
        `${this.#name} state '${key}' has shape ${
          formatShape(sourceShape)
        } but the ` +
          `parameter has shape ${
            formatShape(shape)
          }; the checkpoint belongs to ` +
          "another model or another parameter order",
      );
    }
    if (source.dtype !== "f32") {
      throw new Error(
        `${this.#name} state '${key}' is ${source.dtype}, expected f32`,
      );
    }
  }

  /**
   * Copies a saved state tensor, checked with `checkStateTensor`, into
   * `target` (allocated here when null) and returns it.
   */
  protected importStateTensor(
    key: string,
    source: StateTensor,
    shape: Shape,
    target: Tensor | null,
  ): Tensor {
    const out = target ?? empty(shape, "f32", `${this.#name}.${key}`).keep();
    if (source instanceof Tensor) {
      runtime().copy(source.buffer, out.buffer, out.bytes);
    } else {
      runtime().upload(out.buffer, source.data as Float32Array<ArrayBuffer>);
    }
    return out;
  }

  /** Parses "<index>.<name>" keys and rejects unknown names and indices. */
  protected parseStateKeys(
    tensors: Map<string, StateTensor>,
    names: readonly string[],
  ): Map<number, Map<string, StateTensor>> {
    const byIndex = new Map<number, Map<string, StateTensor>>();
    for (const [key, value] of tensors) {
      const match = /^(\d+)\.(.+)$/.exec(key);
      const index = match ? Number(match[1]) : -1;
      if (!match || !names.includes(match[2]) || index >= this.params.length) {
        throw new Error(
          `${this.#name} state has an unexpected entry '${key}'; expected ` +
            `"<index>.<name>" with an index below ${this.params.length} and a name ` +
            `in ${names.join(", ")}`,
        );
      }
      const entry = byIndex.get(index) ?? new Map<string, StateTensor>();
      entry.set(match[2], value);
      byIndex.set(index, entry);
    }
    return byIndex;
  }

  #checkLr(lr: number): number {
    checkNonNegative(this.#name, "lr", lr);
    return lr;
  }
}
