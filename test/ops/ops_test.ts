/**
 * Runs the three checks for every registered operator: finite differences
 * on the float64 CPU reference, WebGPU against that reference on random
 * shapes, and WebGPU and the CPU reference against stored PyTorch values.
 */
import "../../src/ops/mod.ts";
import { getOp, listOps, type Tolerance } from "../../src/ops/registry.ts";
import { ELEMENTWISE_TOLERANCE } from "../../src/ops/registry.ts";
import { Rng } from "../../src/util/rng.ts";
import { assertClose, gpuTest } from "../helpers.ts";
import {
  checkFiniteDifferences,
  checkGpuAgainstCpu,
  runOnGpu,
} from "./harness.ts";
import { loadTorchFixtures, toCpu } from "./torch_fixtures.ts";

for (const op of listOps()) {
  const cases = op.cases(new Rng(1234));
  if (op.cpu.backward && !op.noGradient) {
    Deno.test(`${op.name}: CPU gradient matches finite differences`, () => {
      cases.forEach((c, k) => {
        if (c.finiteDifferences === false) return;
        checkFiniteDifferences(op, c, 100 + k);
      });
    });
  }
  gpuTest(`${op.name}: WebGPU matches the CPU reference`, async () => {
    for (const [k, c] of cases.entries()) {
      await checkGpuAgainstCpu(op, c, 200 + k);
    }
  });
}

for (const [file, cases] of loadTorchFixtures()) {
  gpuTest(`torch fixtures ${file}: WebGPU and CPU match PyTorch`, async () => {
    for (const c of cases) {
      const op = getOp(c.op);
      const tolerance: Tolerance = op.tolerance ?? ELEMENTWISE_TOLERANCE;
      const inputs = c.inputs.map((x) => (x ? toCpu(x) : null));
      const gradOutputs = c.gradOutputs?.map(toCpu) ?? null;
      const what = `${c.op} (${c.label})`;

      const cpuOutputs = op.cpu.forward(inputs, c.attrs);
      c.outputs.forEach((expected, k) => {
        assertClose(
          cpuOutputs[k].data,
          expected.data,
          tolerance,
          `${what} CPU output ${k}`,
        );
      });
      const gpu = await runOnGpu(op, inputs, c.attrs, gradOutputs);
      c.outputs.forEach((expected, k) => {
        assertClose(
          gpu.outputs[k],
          expected.data,
          tolerance,
          `${what} WebGPU output ${k}`,
        );
      });
      if (!c.gradInputs || !gradOutputs) continue;
      const cpuGrads = op.cpu.backward!(inputs, c.attrs, gradOutputs);
      c.gradInputs.forEach((expected, i) => {
        if (!expected) return;
        const name = op.inputs[i].name;
        assertClose(
          cpuGrads[i]!.data,
          expected.data,
          tolerance,
          `${what} CPU d/d${name}`,
        );
        const actual = gpu.gradInputs[i];
        if (!actual) {
          throw new Error(`${what}: WebGPU gave no gradient for ${name}`);
        }
        assertClose(
          actual,
          expected.data,
          tolerance,
          `${what} WebGPU d/d${name}`,
        );
      });
    }
  });
}
