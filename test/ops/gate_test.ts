/**
 * Targeted tests of gate3d: agreement with the three broadcast
 * multiplications it replaces in Coordinate Attention, gradients only for
 * the inputs that require them, and input errors.
 */
import assert from "node:assert/strict";
import { backward, requiresGrad } from "../../src/autograd.ts";
import { gate3d, mul, reshape } from "../../src/ops/mod.ts";
import { readAll, scope, type Tensor, tensor } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import { assertClose, gpuTest } from "../helpers.ts";

function randomValues(rng: Rng, size: number, low = -1, high = 1) {
  return Float32Array.from({ length: size }, () => rng.uniform(low, high));
}

function random(rng: Rng, shape: number[], low = -1, high = 1): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(randomValues(rng, size, low, high), shape);
}

const [N, C, T, H, W] = [2, 5, 3, 4, 6];

/** Runs `gating` on fresh leaves and reads y and the four input gradients. */
async function runGating(
  values: Float32Array[],
  gy: Tensor,
  gating: (x: Tensor, gateT: Tensor, gateH: Tensor, gateW: Tensor) => Tensor,
): Promise<Float32Array[]> {
  const shapes = [[N, C, T, H, W], [N, C, T], [N, C, H], [N, C, W]];
  const leaves = values.map((v, k) => requiresGrad(tensor(v, shapes[k])));
  const outputs = scope(() => {
    const [x, gateT, gateH, gateW] = leaves;
    const y = gating(x, gateT, gateH, gateW);
    backward(y, gy);
    return [y, ...leaves.map((t) => t.grad!)];
  });
  const result = await readAll(outputs);
  for (const t of [...outputs, ...leaves]) t.dispose();
  return result as Float32Array[];
}

gpuTest("gate3d matches three broadcast muls", async () => {
  const rng = new Rng(7);
  const values = [
    randomValues(rng, N * C * T * H * W),
    randomValues(rng, N * C * T, 0, 1),
    randomValues(rng, N * C * H, 0, 1),
    randomValues(rng, N * C * W, 0, 1),
  ];
  const gy = random(rng, [N, C, T, H, W]);
  const fused = await runGating(values, gy, gate3d);
  const chained = await runGating(values, gy, (x, gateT, gateH, gateW) => {
    const gated = mul(x, reshape(gateT, [N, C, T, 1, 1]));
    const gatedH = mul(gated, reshape(gateH, [N, C, 1, H, 1]));
    return mul(gatedH, reshape(gateW, [N, C, 1, 1, W]));
  });
  gy.dispose();

  const names = ["y", "d/dx", "d/dgateT", "d/dgateH", "d/dgateW"];
  names.forEach((name, k) => {
    assertClose(
      fused[k],
      chained[k],
      { atol: 1e-6, rtol: 1e-5 },
      `gate3d ${name} against the mul chain`,
    );
  });
});

gpuTest("gate3d gradient only where required", async () => {
  const rng = new Rng(8);
  const x = random(rng, [N, C, T, H, W]);
  const gateT = random(rng, [N, C, T]);
  const gateH = requiresGrad(random(rng, [N, C, H]));
  const gateW = random(rng, [N, C, W]);
  const y = gate3d(x, gateT, gateH, gateW);
  backward(y, random(rng, [N, C, T, H, W]));
  assert.equal(x.grad, null);
  assert.equal(gateT.grad, null);
  assert.equal(gateW.grad, null);
  assert.ok(gateH.grad, "gateH has no gradient");
  assert.deepEqual(gateH.grad.shape, [N, C, H]);
  const [values] = await readAll([gateH.grad]);
  assert.ok(values.some((v) => v !== 0), "gateH gradient is all zeros");
  for (const t of [x, gateT, gateH, gateW, y]) t.dispose();
});

gpuTest("gate3d input errors", () => {
  const x = tensor(new Float32Array(N * C * T * H * W), [N, C, T, H, W]);
  const gate = (length: number) =>
    tensor(new Float32Array(N * C * length), [N, C, length]);
  const [gateT, gateH, gateW] = [gate(T), gate(H), gate(W)];
  assert.throws(
    () => gate3d(x, gateT, gateW, gateW),
    /gateH must have shape \[N, C, H\] = \[2,5,4\]/,
  );
  assert.throws(
    () => gate3d(x, reshape(gateT, [N, C, T, 1, 1]), gateH, gateW),
    /gateT must have shape \[N, C, T\] = \[2,5,3\]/,
  );
  assert.throws(
    () => gate3d(reshape(x, [N, C, T, H * W]), gateT, gateH, gateW),
    /x must be \[N, C, T, H, W\]/,
  );
  const labels = tensor(new Int32Array(N * C * W), [N, C, W], "i32");
  assert.throws(
    () => gate3d(x, gateT, gateH, labels),
    /gateW must be an f32 tensor/,
  );
  for (const t of [x, gateT, gateH, gateW, labels]) t.dispose();
});
