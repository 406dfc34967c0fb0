/**
 * The operator registry: one entry per operator with its WGSL kernels for
 * forward and backward, its float64 CPU reference (forward and gradients),
 * and the test cases that the generic operator tests run. Defining an
 * operator without a backward throws when the module loads, unless the
 * operator declares why it has no gradient.
 */
import type { Tensor } from "../tensor.ts";
import type { CpuTensor } from "./cpu_tensor.ts";
import type { Rng } from "../util/rng.ts";

export interface OpInput {
  name: string;
  /** False for inputs without a gradient, such as class labels. */
  differentiable?: boolean;
  dtype?: "f32" | "i32";
  optional?: boolean;
}

export interface OpCase<A> {
  label: string;
  inputs: (CpuTensor | null)[];
  attrs: A;
  /**
   * False where a finite difference is not a valid check (a kink such as
   * ReLU at 0, a max-pool tie, a batch-hard selection that flips); the
   * analytic gradient is then compared with the stored PyTorch values.
   */
  finiteDifferences?: boolean;
  /** Step of the central difference (default 1e-6). */
  step?: number;
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface OpDefinition<A = Record<string, unknown>> {
  name: string;
  /** Source file family, e.g. "conv" for src/ops/conv.ts. */
  family: string;
  inputs: OpInput[];
  /** WGSL files of the forward kernels. */
  forwardKernels: string[];
  /**
   * WGSL files (or "buffer copy") of the backward; empty only together with
   * `noGradient`.
   */
  backwardKernels: string[];
  /** Reason why the operator has no gradient (for example an optimizer). */
  noGradient?: string;
  /** Runs the operator through the public API, recording autograd. */
  gpu: (inputs: (Tensor | null)[], attrs: A) => Tensor | Tensor[];
  cpu: {
    forward: (inputs: (CpuTensor | null)[], attrs: A) => CpuTensor[];
    backward?: (
      inputs: (CpuTensor | null)[],
      attrs: A,
      gradOutputs: CpuTensor[],
    ) => (CpuTensor | null)[];
  };
  /** Random cases for the finite-difference and GPU-versus-CPU tests. */
  cases: (rng: Rng) => OpCase<A>[];
  /** Tolerance against the CPU reference and PyTorch (default: elementwise). */
  tolerance?: Tolerance;
}

export const ELEMENTWISE_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-5 };
/** Tolerance for conv3d, batch norm, matmul and losses. */
export const ACCUMULATING_TOLERANCE: Tolerance = { atol: 1e-4, rtol: 1e-3 };

/** An operator of any attribute type, as the generic tests handle them. */
// deno-lint-ignore no-explicit-any
export type AnyOpDefinition = OpDefinition<any>;

const registry = new Map<string, AnyOpDefinition>();

export function defineOp<A>(definition: OpDefinition<A>): OpDefinition<A> {
  const { name } = definition;
  if (registry.has(name)) {
    throw new Error(`Operator '${name}' is defined twice`);
  }
  if (definition.backwardKernels.length === 0 && !definition.noGradient) {
    throw new Error(
      `Operator '${name}' has no backward kernels; add them or set noGradient ` +
        "with the reason the operator has no gradient",
    );
  }
  if (!definition.noGradient && !definition.cpu.backward) {
    throw new Error(
      `Operator '${name}' has a backward but no CPU reference gradient`,
    );
  }
  registry.set(name, definition);
  return definition;
}

export function listOps(): AnyOpDefinition[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function getOp(name: string): AnyOpDefinition {
  const op = registry.get(name);
  if (!op) throw new Error(`Unknown operator '${name}'`);
  return op;
}
