/**
 * Targeted dropout tests: the kept fraction, the dependence of the mask on
 * the seed, the GPU mask against the CPU hash bit for bit, the gradient
 * mask, the pass-through cases and input errors.
 */
import assert from "node:assert/strict";
import { backward, requiresGrad } from "../../src/autograd.ts";
import { cpuTensor } from "../../src/ops/cpu_tensor.ts";
import { cpuDropout, dropout } from "../../src/ops/dropout.ts";
import { ones, readAll, scope, tensor, zeros } from "../../src/tensor.ts";
import { gpuTest } from "../helpers.ts";

const COUNT = 100_000;

/** Dropout of a tensor of ones, read back: 0 where dropped, 1 / (1 - p) where kept. */
async function maskOf(
  p: number,
  seed: number,
  count = COUNT,
): Promise<Float32Array> {
  const x = ones([count]);
  const y = dropout(x, { p, seed, training: true });
  const [values] = await readAll([y]);
  x.dispose();
  y.dispose();
  return values as Float32Array;
}

function keptFraction(mask: Float32Array): number {
  let kept = 0;
  for (const v of mask) if (v !== 0) kept++;
  return kept / mask.length;
}

gpuTest("dropout kept fraction is 1 - p", async () => {
  for (const p of [0.1, 0.3, 0.5, 0.8]) {
    const mask = await maskOf(p, 42);
    const fraction = keptFraction(mask);
    assert.ok(
      Math.abs(fraction - (1 - p)) < 0.01,
      `p = ${p}: kept fraction ${fraction} is not within 0.01 of ${1 - p}`,
    );
    const scale = Math.fround(1 / (1 - p));
    const other = mask.find((v) => v !== 0 && v !== scale);
    assert.equal(
      other,
      undefined,
      `p = ${p}: a kept value is ${other}, expected ${scale}`,
    );
  }
});

gpuTest("dropout mask depends on the seed", async () => {
  const first = await maskOf(0.5, 1);
  const again = await maskOf(0.5, 1);
  const second = await maskOf(0.5, 2);
  assert.deepEqual(again, first, "the same seed gave a different mask");
  let differing = 0;
  for (let i = 0; i < COUNT; i++) if (first[i] !== second[i]) differing++;
  // Independent masks with p = 0.5 differ in half of the elements.
  assert.ok(
    Math.abs(differing / COUNT - 0.5) < 0.01,
    `seeds 1 and 2 differ in ${differing} of ${COUNT} elements, expected about half`,
  );
});

gpuTest("dropout GPU mask equals the CPU hash", async () => {
  for (const [p, seed] of [[0.3, 7], [0.5, 0xffffffff], [0.9, 0]]) {
    const mask = await maskOf(p, seed);
    const expected = cpuDropout(
      cpuTensor([COUNT], new Float64Array(COUNT).fill(1)),
      {
        p,
        seed,
        training: true,
      },
    );
    const first = mask.findIndex((v, i) => v !== Math.fround(expected.data[i]));
    assert.equal(
      first,
      -1,
      `p = ${p}, seed ${seed}: element ${first} differs from the CPU mask`,
    );
  }
});

gpuTest("dropout gradient uses the forward mask", async () => {
  const options = { p: 0.4, seed: 99, training: true };
  const x = requiresGrad(ones([5000]));
  const y = dropout(x, options);
  backward(y);
  const [forward, gradient] = await readAll([y, x.grad!]);
  assert.deepEqual(gradient, forward);
  for (const t of [x, y, x.grad!]) t.dispose();
});

gpuTest("dropout without effect returns x", () => {
  scope(() => {
    const x = tensor([1, 2, 3], [3]);
    assert.equal(dropout(x, { p: 0.5, seed: 1, training: false }), x);
    assert.equal(dropout(x, { p: 0, seed: 1, training: true }), x);
  });
});

gpuTest("dropout p = 1 zeroes everything", async () => {
  const mask = await maskOf(1, 5, 1000);
  assert.equal(keptFraction(mask), 0);
});

gpuTest("dropout rejects invalid options", () => {
  scope(() => {
    const x = zeros([4]);
    assert.throws(
      () => dropout(x, { p: 1.5, seed: 1, training: true }),
      /p must be a probability in \[0, 1\], got 1.5/,
    );
    assert.throws(
      () => dropout(x, { p: Number.NaN, seed: 1, training: true }),
      /p must be a probability in \[0, 1\], got NaN/,
    );
    assert.throws(
      () => dropout(x, { p: 0.5, seed: -1, training: true }),
      /seed must be an unsigned 32-bit integer, got -1/,
    );
    assert.throws(
      () => dropout(x, { p: 0.5, seed: 2.5, training: true }),
      /seed must be an unsigned 32-bit integer, got 2.5/,
    );
    assert.throws(
      () => dropout(zeros([4], "i32"), { p: 0.5, seed: 1, training: true }),
      /dropout expects an f32 tensor/,
    );
  });
});
