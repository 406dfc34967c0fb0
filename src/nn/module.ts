/**
 * Base class of network modules: named parameters and buffers, child
 * modules, train/eval mode, and gradient hooks for per-layer inspection.
 */
import { requiresGrad, withModule } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";

/** Called with the module path, the parameter name and its gradient. */
export type GradHook = (
  modulePath: string,
  parameter: string,
  grad: Tensor,
) => void;

export abstract class Module {
  training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Registers a trainable tensor (kept out of scopes, requires a gradient). */
  protected parameter(name: string, t: Tensor): Tensor {
    t.keep();
    requiresGrad(t);
    t.name = name;
    this.#parameters.set(name, t);
    return t;
  }

  /** Registers a non-trainable state tensor, such as batch-norm running statistics. */
  protected buffer(name: string, t: Tensor): Tensor {
    t.keep();
    t.name = name;
    this.#buffers.set(name, t);
    return t;
  }

  protected child<M extends Module>(name: string, module: M): M {
    this.#children.set(name, module);
    return module;
  }

  /** Runs `fn` with this module's name on the module path (for hooks and NaN reports). */
  protected scoped<T>(name: string, fn: () => T): T {
    return withModule(name, fn);
  }

  children(): Map<string, Module> {
    return this.#children;
  }

  /** Parameters by dotted path, e.g. "mixed3b.branch1.conv.weight". */
  namedParameters(prefix = ""): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, t] of this.#parameters) out.set(prefix + name, t);
    for (const [name, child] of this.#children) {
      for (const [path, t] of child.namedParameters(`${prefix}${name}.`)) {
        out.set(path, t);
      }
    }
    return out;
  }

  /** Non-trainable state by dotted path. */
  namedBuffers(prefix = ""): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, t] of this.#buffers) out.set(prefix + name, t);
    for (const [name, child] of this.#children) {
      for (const [path, t] of child.namedBuffers(`${prefix}${name}.`)) {
        out.set(path, t);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return [...this.namedParameters().values()];
  }

  /** Parameters and buffers, the contents of a checkpoint. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  train(mode = true): this {
    this.training = mode;
    for (const child of this.#children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Calls `hook` with every parameter gradient of this module and its
   * children once backward has accumulated it. Returns a function that
   * removes the hooks.
   */
  registerGradHook(hook: GradHook): () => void {
    const removers: (() => void)[] = [];
    for (const [path, t] of this.namedParameters()) {
      const dot = path.lastIndexOf(".");
      const modulePath = dot < 0 ? "" : path.slice(0, dot);
      const parameter = dot < 0 ? path : path.slice(dot + 1);
      const fn = (grad: Tensor) => hook(modulePath, parameter, grad);
      t.gradHooks.push(fn);
      removers.push(() => {
        const i = t.gradHooks.indexOf(fn);
        if (i >= 0) t.gradHooks.splice(i, 1);
      });
    }
    return () => removers.forEach((remove) => remove());
  }

  /** Sets every parameter's gradient to null, disposing it. */
  zeroGrad(): void {
    for (const t of this.parameters()) {
      t.grad?.dispose();
      t.grad = null;
    }
  }

  /** Frees every parameter, buffer and gradient of this module tree. */
  dispose(): void {
    for (const t of this.stateDict().values()) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}
