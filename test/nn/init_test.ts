/**
 * Parameter initialisation: fan-in and bounds against PyTorch 1.13
 * (test/fixtures/torch_init.py), moments of large draws against the
 * analytic ones, and reproducibility from the seed.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  calculateGain,
  defaultBias,
  defaultBiasBound,
  defaultWeight,
  fanInAndFanOut,
  kaimingUniform,
  kaimingUniformBound,
  normal,
  normalValues,
  uniformValues,
} from "../../src/nn/init.ts";
import { readAll } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import { gpuTest } from "../helpers.ts";

const FIXTURE = new URL("../fixtures/torch_init/init.json", import.meta.url);
const bounds = z.object({
  bounds: z.array(z.object({
    shape: z.array(z.number().int()),
    fanIn: z.number(),
    fanOut: z.number(),
    weightBound: z.number(),
    biasBound: z.number(),
    torchMaxAbs: z.number(),
  })),
}).parse(JSON.parse(Deno.readTextFileSync(FIXTURE))).bounds;

function moments(
  values: ArrayLike<number>,
): { mean: number; variance: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += (values[i] - mean) ** 2;
  return { mean, variance: squares / values.length };
}

function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    max = Math.max(max, Math.abs(values[i]));
  }
  return max;
}

Deno.test("fan-in and fan-out match PyTorch", () => {
  assert.ok(bounds.length >= 5, "the fixture lost shapes");
  for (const b of bounds) {
    const { fanIn, fanOut } = fanInAndFanOut(b.shape);
    assert.equal(fanIn, b.fanIn, `fan-in of [${b.shape}]`);
    assert.equal(fanOut, b.fanOut, `fan-out of [${b.shape}]`);
  }
  assert.throws(() => fanInAndFanOut([7]), /at least 2 dimensions, got \[7\]/);
});

Deno.test("default bounds match PyTorch", () => {
  for (const b of bounds) {
    const weightBound = kaimingUniformBound(b.shape, { a: Math.sqrt(5) });
    assert.equal(weightBound, b.weightBound, `weight bound of [${b.shape}]`);
    assert.equal(
      defaultBiasBound(b.shape),
      b.biasBound,
      `bias bound of [${b.shape}]`,
    );
    // PyTorch's own draws stay inside the bound.
    assert.ok(
      b.torchMaxAbs <= b.weightBound,
      `PyTorch's draw for [${b.shape}]`,
    );
  }
});

Deno.test("calculateGain matches torch.nn.init", () => {
  assert.equal(calculateGain("relu"), Math.SQRT2);
  assert.equal(calculateGain("tanh"), 5 / 3);
  assert.equal(calculateGain("conv3d"), 1);
  assert.equal(calculateGain("selu"), 0.75);
  assert.equal(calculateGain("leaky_relu"), Math.sqrt(2 / (1 + 0.01 ** 2)));
  assert.equal(calculateGain("leaky_relu", 0), Math.SQRT2);
  assert.equal(
    kaimingUniformBound([4, 6], { nonlinearity: "relu" }),
    Math.sqrt(3) * (Math.SQRT2 / Math.sqrt(6)),
  );
  assert.equal(
    kaimingUniformBound([4, 6, 2], { mode: "fan_out", a: 0 }),
    Math.sqrt(3) * (Math.SQRT2 / Math.sqrt(8)),
  );
});

Deno.test("uniform draws have the analytic moments", () => {
  const bound = 0.125;
  const n = 200_000;
  const values = uniformValues(n, new Rng(1), -bound, bound);
  const { mean, variance } = moments(values);
  const expectedVariance = bound ** 2 / 3;
  // Four standard errors of the mean.
  assert.ok(
    Math.abs(mean) < 4 * Math.sqrt(expectedVariance / n),
    `mean ${mean}`,
  );
  assert.ok(
    Math.abs(variance / expectedVariance - 1) < 0.02,
    `variance ${variance}, expected ${expectedVariance}`,
  );
  assert.ok(maxAbs(values) <= bound, "a draw lies outside the bound");
  assert.ok(maxAbs(values) > 0.999 * bound, "the draws do not reach the bound");
});

Deno.test("normal draws have the analytic moments", () => {
  const n = 200_000;
  const values = normalValues(n, new Rng(2), 0.5, 2);
  const { mean, variance } = moments(values);
  assert.ok(Math.abs(mean - 0.5) < 4 * Math.sqrt(4 / n), `mean ${mean}`);
  assert.ok(
    Math.abs(variance / 4 - 1) < 0.02,
    `variance ${variance}, expected 4`,
  );
});

gpuTest("default weights are reproducible from the seed", async () => {
  const shape = [16, 4, 3, 3, 3];
  const bound = kaimingUniformBound(shape, { a: Math.sqrt(5) });
  const a = defaultWeight(shape, new Rng(42));
  const b = defaultWeight(shape, new Rng(42));
  const c = defaultWeight(shape, new Rng(43));
  const bias = defaultBias(shape, new Rng(42));
  const [va, vb, vc, vbias] = await readAll([a, b, c, bias]);
  assert.deepEqual(va, vb, "the same seed gave different weights");
  assert.notDeepEqual(va, vc, "different seeds gave the same weights");
  assert.deepEqual(va, uniformValues(a.size, new Rng(42), -bound, bound));
  assert.ok(maxAbs(va) <= bound, "a weight lies outside the bound");
  assert.equal(vbias.length, 16);
  assert.ok(
    maxAbs(vbias) <= defaultBiasBound(shape),
    "a bias lies outside the bound",
  );
  for (const t of [a, b, c, bias]) t.dispose();
});

gpuTest("init tensors have the requested shapes", async () => {
  const w = kaimingUniform([8, 3], new Rng(0), { nonlinearity: "relu" });
  const empty = kaimingUniform([0, 3], new Rng(0));
  const n = normal([2, 5], new Rng(0), 1, 0);
  assert.deepEqual(w.shape, [8, 3]);
  assert.equal(empty.size, 0);
  const [vn] = await readAll([n]);
  assert.deepEqual([...vn], new Array(10).fill(1), "std 0 gives the mean");
  for (const t of [w, empty, n]) t.dispose();
});
