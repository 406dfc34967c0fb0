/**
 * Reverse-mode autograd: operators record a node on the tape when any input
 * requires a gradient; `backward()` walks the nodes in reverse topological
 * order and accumulates gradients into parents. Only leaf tensors keep
 * `.grad`; intermediate gradients are freed as soon as they are consumed.
 */
import { runtime } from "./gpu/runtime.ts";
import { UniformLayout } from "./gpu/uniforms.ts";
import { empty, formatShape, ones, type Tensor } from "./tensor.ts";
import accumulateSource from "../shaders/ops/accumulate.wgsl" with {
  type: "text",
};
import checkFiniteSource from "../shaders/ops/check_finite.wgsl" with {
  type: "text",
};

/** Computes the gradients of a node's inputs from those of its outputs. */
export type BackwardFn = (gradOutputs: (Tensor | null)[]) => (Tensor | null)[];

export interface Node {
  op: string;
  /** Module path active when the node was recorded, e.g. "gfe.mixed3b.ca". */
  module: string;
  inputs: (Tensor | null)[];
  outputs: Tensor[];
  backward: BackwardFn | null;
}

let gradEnabled = true;
const moduleStack: string[] = [];

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording operators on the tape. */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Runs `fn` with `name` pushed on the module path (for hooks and errors). */
export function withModule<T>(name: string, fn: () => T): T {
  moduleStack.push(name);
  try {
    return fn();
  } finally {
    moduleStack.pop();
  }
}

export function currentModulePath(): string {
  return moduleStack.join(".");
}

/** Marks a tensor as a leaf that needs a gradient. */
export function requiresGrad(t: Tensor, value = true): Tensor {
  if (t.gradFn) {
    throw new Error(
      `requiresGrad() applies to leaf tensors; ${t.describe()} has a producer`,
    );
  }
  if (value && t.dtype !== "f32") {
    throw new Error(
      `Only f32 tensors can require gradients, got ${t.describe()}`,
    );
  }
  t.requiresGrad = value;
  return t;
}

/** Copies `t` into a tensor without a graph: same values, no producer, no grad. */
export function detach(t: Tensor): Tensor {
  const copy = empty(t.shape, t.dtype);
  runtime().copy(t.buffer, copy.buffer, t.bytes);
  return copy;
}

/**
 * Records an operator application. Called by every differentiable operator
 * after its forward kernels are dispatched; `backward` runs with recording
 * disabled and must return one gradient (or null) per input.
 */
export function record(
  op: string,
  inputs: (Tensor | null)[],
  outputs: Tensor[],
  backward: BackwardFn,
): void {
  if (nanCheck.enabled) {
    for (const out of outputs) {
      nanCheck.check(out, `${op} forward`, currentModulePath());
    }
  }
  if (!gradEnabled) return;
  if (!inputs.some((t) => t !== null && t.requiresGrad)) return;
  const node: Node = {
    op,
    module: currentModulePath(),
    inputs,
    outputs,
    backward,
  };
  outputs.forEach((out, index) => {
    out.requiresGrad = true;
    out.gradFn = node;
    out.outputIndex = index;
  });
}

const accumulateLayout = new UniformLayout([["n", "u32"]]);

/** Adds `source` into `target` in place (both f32 with equal size). */
export function accumulateInto(target: Tensor, source: Tensor): void {
  if (target.size !== source.size) {
    throw new Error(
      `Cannot accumulate a gradient of ${source.describe()} into ${target.describe()}`,
    );
  }
  runtime().dispatch({
    op: "autograd.accumulate",
    kernel: { file: "shaders/ops/accumulate.wgsl", source: accumulateSource },
    uniforms: accumulateLayout.pack({ n: target.size }),
    bindings: [target.binding(), source.binding()],
    workgroups: Math.ceil(target.size / 256),
  });
}

function topologicalOrder(roots: Node[]): Node[] {
  const order: Node[] = [];
  const visited = new Set<Node>();
  for (const root of roots) {
    if (visited.has(root)) continue;
    visited.add(root);
    visitFrom(root, visited, order);
  }
  return order;
}

/** Iterative depth-first post-order, so deep networks cannot overflow the stack. */
function visitFrom(root: Node, visited: Set<Node>, order: Node[]): void {
  const stack: [Node, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, next] = top;
    if (next < node.inputs.length) {
      top[1]++;
      const parent = node.inputs[next]?.gradFn;
      if (parent && !visited.has(parent)) {
        visited.add(parent);
        stack.push([parent, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
}

/**
 * Computes gradients of `root` with respect to every leaf that requires them,
 * accumulating into `leaf.grad`. `gradOutput` defaults to ones. The graph is
 * freed afterwards; a second backward over it raises an error.
 */
export function backward(root: Tensor, gradOutput?: Tensor): void {
  backwardMany([root], gradOutput ? [gradOutput] : undefined);
}

/**
 * Backward from several roots at once, as for L = sum_k <grads_k, roots_k>.
 * Caller-provided gradients are copied, never modified or disposed.
 */
export function backwardMany(roots: Tensor[], gradOutputs?: Tensor[]): void {
  if (gradOutputs && gradOutputs.length !== roots.length) {
    throw new Error(
      `backward: ${roots.length} roots but ${gradOutputs.length} gradients`,
    );
  }
  const grads = new Map<Tensor, Tensor>();
  const leaves: [Tensor, Tensor][] = [];
  roots.forEach((root, i) => {
    if (!root.requiresGrad) {
      throw new Error(
        `backward() on ${root.describe()}, which does not require a gradient; ` +
          "mark an input with requiresGrad() before running the operators",
      );
    }
    const given = gradOutputs?.[i];
    if (given && given.size !== root.size) {
      throw new Error(
        `Gradient ${given.describe()} does not match ${root.describe()} in backward()`,
      );
    }
    // A copy, because accumulation writes into the seed in place.
    const seed = given ? detach(given) : ones(root.shape);
    if (!root.gradFn) {
      leaves.push([root, seed]);
    } else if (grads.has(root)) {
      throw new Error(`backward: root ${root.describe()} is given twice`);
    } else {
      grads.set(root, seed);
    }
  });
  for (const [leaf, seed] of leaves) accumulateLeaf(leaf, seed);
  const starts = roots.map((r) => r.gradFn).filter((n): n is Node =>
    n !== null
  );
  if (starts.length === 0) return;
  const nodes = topologicalOrder(starts).reverse();
  noGrad(() => {
    for (const node of nodes) runNode(node, grads);
  });
  for (const g of grads.values()) g.dispose();
}

function runNode(node: Node, grads: Map<Tensor, Tensor>): void {
  const gradOutputs = node.outputs.map((o) => grads.get(o) ?? null);
  for (const o of node.outputs) grads.delete(o);
  if (gradOutputs.every((g) => g === null)) return;
  if (!node.backward) {
    throw new Error(
      `The graph through ${node.op} was already freed by an earlier backward()`,
    );
  }
  node.outputs.forEach((o, i) => {
    const g = gradOutputs[i];
    if (g) { for (const hook of o.gradHooks) hook(g); }
  });
  const gradInputs = node.backward(gradOutputs);
  node.backward = null;
  if (gradInputs.length !== node.inputs.length) {
    throw new Error(
      `${node.op} backward returned ${gradInputs.length} gradients for ` +
        `${node.inputs.length} inputs`,
    );
  }
  const used = new Set<Tensor>();
  node.inputs.forEach((input, i) => {
    let g = gradInputs[i];
    if (!g) return;
    if (!input || !input.requiresGrad) {
      if (!gradOutputs.includes(g) && !used.has(g)) g.dispose();
      return;
    }
    if (g.size !== input.size) {
      throw new Error(
        `${node.op} backward gave a gradient of shape ${
          formatShape(g.shape)
        } for ` +
          `input ${i} of shape ${formatShape(input.shape)}`,
      );
    }
    if (gradOutputs.includes(g) || used.has(g)) g = detach(g);
    used.add(g);
    if (nanCheck.enabled) {
      nanCheck.check(g, `${node.op} backward (input ${i})`, node.module);
    }
    if (input.gradFn) {
      const existing = grads.get(input);
      if (existing) {
        accumulateInto(existing, g);
        g.dispose();
      } else {
        grads.set(input, g);
      }
    } else {
      accumulateLeaf(input, g);
    }
  });
  for (const g of gradOutputs) {
    if (g && !used.has(g)) g.dispose();
  }
}

/** Adds `g`, which the caller hands over, to a leaf's gradient. */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad) {
    accumulateInto(leaf.grad, g);
    g.dispose();
  } else {
    leaf.grad = g.keep();
  }
  for (const hook of leaf.gradHooks) hook(leaf.grad);
}

const checkLayout = new UniformLayout([["n", "u32"], ["slot", "u32"]]);
const MAX_CHECK_SLOTS = 1 << 16;

/**
 * NaN/Inf check mode. While enabled, every operator output and every
 * gradient is checked on the GPU into a flag slot. `firstNonFinite()` then
 * reads the flags once and names the first operator whose output was not
 * finite.
 */
export const nanCheck = {
  enabled: false,
  labels: [] as string[],
  flags: null as Tensor | null,

  enable(): void {
    this.enabled = true;
    this.reset();
  },

  disable(): void {
    this.enabled = false;
    this.flags?.dispose();
    this.flags = null;
    this.labels = [];
  },

  reset(): void {
    this.flags?.dispose();
    this.flags = empty([MAX_CHECK_SLOTS], "i32", "nan-check-flags").keep();
    runtime().clear(this.flags.buffer, this.flags.bytes);
    this.labels = [];
  },

  check(t: Tensor, what: string, module: string): void {
    if (!this.flags || t.dtype !== "f32" || t.size === 0) return;
    if (this.labels.length >= MAX_CHECK_SLOTS) return;
    const slot = this.labels.length;
    this.labels.push(module ? `${what} in ${module}` : what);
    runtime().dispatch({
      op: "autograd.check_finite",
      kernel: {
        file: "shaders/ops/check_finite.wgsl",
        source: checkFiniteSource,
      },
      uniforms: checkLayout.pack({ n: t.size, slot }),
      bindings: [t.binding(), this.flags.binding()],
      workgroups: Math.ceil(t.size / 256),
    });
  },

  /** Reads the flags; returns the label of the first non-finite output or null. */
  async firstNonFinite(): Promise<string | null> {
    if (!this.flags) return null;
    const count = this.labels.length;
    if (count === 0) return null;
    const [bytes] = await runtime().read([{
      buffer: this.flags.buffer,
      bytes: count * 4,
    }]);
    const flags = new Uint32Array(bytes);
    const first = flags.findIndex((f) => f !== 0);
    return first < 0 ? null : this.labels[first];
  },
};
