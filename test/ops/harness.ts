/**
 * The generic operator checks, run for every registered operator:
 * finite differences on the float64 CPU reference, the WebGPU kernels
 * against that reference, and the stored PyTorch values.
 */
import { backwardMany, requiresGrad } from "../../src/autograd.ts";
import { readAll, scope, type Tensor, tensor } from "../../src/tensor.ts";
import {
  type CpuTensor,
  randomTensor,
  toF32,
} from "../../src/ops/cpu_tensor.ts";
import {
  type AnyOpDefinition,
  ELEMENTWISE_TOLERANCE,
  type OpCase,
  type Tolerance,
} from "../../src/ops/registry.ts";
import { Rng } from "../../src/util/rng.ts";
import { assertClose } from "../helpers.ts";

const FD_TOLERANCE: Tolerance = { atol: 1e-6, rtol: 1e-5 };
/** Elements probed per input by the finite-difference check. */
const FD_SAMPLES = 48;

function isDifferentiable(
  op: AnyOpDefinition,
  index: number,
  input: CpuTensor | null,
): boolean {
  if (!input || input.dtype === "i32") return false;
  return op.inputs[index]?.differentiable !== false;
}

function weightedSum(outputs: CpuTensor[], weights: CpuTensor[]): number {
  let total = 0;
  outputs.forEach((out, k) => {
    for (let i = 0; i < out.data.length; i++) {
      total += out.data[i] * weights[k].data[i];
    }
  });
  return total;
}

/** Checks the CPU reference gradient against central differences of its forward. */
export function checkFiniteDifferences(
  op: AnyOpDefinition,
  c: OpCase<unknown>,
  seed: number,
): void {
  if (!op.cpu.backward) {
    throw new Error(`${op.name} has no CPU reference gradient`);
  }
  const rng = new Rng(seed);
  const outputs = op.cpu.forward(c.inputs, c.attrs);
  const weights = outputs.map((o) => randomTensor(rng, o.shape));
  const analytic = op.cpu.backward(c.inputs, c.attrs, weights);
  const h = c.step ?? 1e-6;
  c.inputs.forEach((input, index) => {
    if (!input || !isDifferentiable(op, index, input)) return;
    const grad = analytic[index];
    if (!grad) {
      throw new Error(
        `${op.name}: CPU backward gave no gradient for input ${index}`,
      );
    }
    const probes = input.data.length <= FD_SAMPLES
      ? [...input.data.keys()]
      : Array.from({ length: FD_SAMPLES }, () => rng.int(input.data.length));
    const numeric: number[] = [];
    const expected: number[] = [];
    for (const j of probes) {
      const original = input.data[j];
      input.data[j] = original + h;
      const plus = weightedSum(op.cpu.forward(c.inputs, c.attrs), weights);
      input.data[j] = original - h;
      const minus = weightedSum(op.cpu.forward(c.inputs, c.attrs), weights);
      input.data[j] = original;
      numeric.push((plus - minus) / (2 * h));
      expected.push(grad.data[j]);
    }
    assertClose(
      expected,
      numeric,
      FD_TOLERANCE,
      `${op.name} (${c.label}) d/d${op.inputs[index].name}`,
    );
  });
}

function upload(
  input: CpuTensor | null,
  differentiable: boolean,
): Tensor | null {
  if (!input) return null;
  const t = tensor(
    input.data,
    input.shape,
    input.dtype === "i32" ? "i32" : "f32",
  );
  if (differentiable) requiresGrad(t);
  return t;
}

export interface GpuResult {
  outputs: Float32Array[];
  gradInputs: (Float32Array | null)[];
}

/** Runs an operator on WebGPU with given output gradients and reads everything back. */
export async function runOnGpu(
  op: AnyOpDefinition,
  inputs: (CpuTensor | null)[],
  attrs: unknown,
  gradOutputs: CpuTensor[] | null,
): Promise<GpuResult> {
  let outputCount = 0;
  let gradIndex: number[] = [];
  const tensors = scope(() => {
    const gpuInputs = inputs.map((x, i) =>
      upload(x, gradOutputs !== null && isDifferentiable(op, i, x))
    );
    const result = op.gpu(gpuInputs, attrs);
    const outputs = Array.isArray(result) ? result : [result];
    outputCount = outputs.length;
    const grads: Tensor[] = [];
    gradIndex = [];
    if (gradOutputs) {
      const seeds = gradOutputs.map((g) => tensor(g.data, g.shape));
      backwardMany(outputs, seeds);
      gpuInputs.forEach((x, i) => {
        if (x?.grad) {
          grads.push(x.grad);
          gradIndex.push(i);
        }
      });
    }
    return [...outputs, ...grads];
  });
  const values = await readAll(tensors);
  for (const t of tensors) t.dispose();
  const gradInputs: (Float32Array | null)[] = inputs.map(() => null);
  gradIndex.forEach((inputIndex, k) => {
    gradInputs[inputIndex] = values[outputCount + k] as Float32Array;
  });
  return {
    outputs: values.slice(0, outputCount) as Float32Array[],
    gradInputs,
  };
}

/** Runs the WebGPU kernels and the CPU reference on the same f32 inputs and compares. */
export async function checkGpuAgainstCpu(
  op: AnyOpDefinition,
  c: OpCase<unknown>,
  seed: number,
): Promise<void> {
  const rng = new Rng(seed);
  const inputs = c.inputs.map((x) => (x && x.dtype !== "i32" ? toF32(x) : x));
  const expectedOutputs = op.cpu.forward(inputs, c.attrs);
  const hasGradient = op.cpu.backward !== undefined && !op.noGradient;
  const gradOutputs = hasGradient
    ? expectedOutputs.map((o) => toF32(randomTensor(rng, o.shape)))
    : null;
  const result = await runOnGpu(op, inputs, c.attrs, gradOutputs);
  const tolerance = op.tolerance ?? ELEMENTWISE_TOLERANCE;
  if (result.outputs.length !== expectedOutputs.length) {
    throw new Error(
      `${op.name}: ${result.outputs.length} outputs, expected ${expectedOutputs.length}`,
    );
  }
  expectedOutputs.forEach((expected, k) => {
    assertClose(
      result.outputs[k],
      expected.data,
      tolerance,
      `${op.name} (${c.label}) output ${k}`,
    );
  });
  if (!gradOutputs) return;
  const expectedGrads = op.cpu.backward!(inputs, c.attrs, gradOutputs);
  inputs.forEach((x, i) => {
    if (!isDifferentiable(op, i, x)) return;
    const actual = result.gradInputs[i];
    const expected = expectedGrads[i];
    if (!actual || !expected) {
      throw new Error(
        `${op.name} (${c.label}): no gradient for input ${op.inputs[i].name}`,
      );
    }
    assertClose(
      actual,
      expected.data,
      tolerance,
      `${op.name} (${c.label}) d/d${op.inputs[i].name}`,
    );
  });
}
