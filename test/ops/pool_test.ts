/**
 * Targeted checks of the pooling family beyond the generic operator tests:
 * shape rules of SAME padding, input validation messages, tie and NaN
 * handling, and the lifetime of the saved max-pool indices.
 */
import assert from "node:assert/strict";
import { backward, noGrad, requiresGrad } from "../../src/autograd.ts";
import { runtime } from "../../src/gpu/runtime.ts";
import {
  avgPool3d,
  globalAvgPool3d,
  maxPool3d,
  poolWindow,
  upsampleTrilinear3d,
} from "../../src/ops/pool.ts";
import { readAll, scope, tensor, zeros } from "../../src/tensor.ts";
import { gpuTest } from "../helpers.ts";

Deno.test("maxPool3d same padding shapes of I3D", () => {
  const stem = poolWindow("maxPool3d", [1, 64, 32, 112, 112], {
    kernel: [1, 3, 3],
    stride: [1, 2, 2],
    padding: "same",
  });
  assert.deepEqual(stem.outSize, [32, 56, 56]);
  assert.deepEqual(stem.padBefore, [0, 0, 0]);
  assert.deepEqual(stem.padAfter, [0, 1, 1]);

  const branch = poolWindow("maxPool3d", [1, 192, 16, 28, 28], {
    kernel: 3,
    stride: 1,
    padding: "same",
  });
  assert.deepEqual(branch.outSize, [16, 28, 28]);
  assert.deepEqual(branch.padBefore, [1, 1, 1]);
  assert.deepEqual(branch.padAfter, [1, 1, 1]);

  const reduction = poolWindow("maxPool3d", [1, 480, 16, 28, 28], {
    kernel: 3,
    stride: 2,
    padding: "same",
  });
  assert.deepEqual(reduction.outSize, [8, 14, 14]);
  assert.deepEqual(reduction.padBefore, [0, 0, 0]);
  assert.deepEqual(reduction.padAfter, [1, 1, 1]);

  const odd = poolWindow("maxPool3d", [1, 1, 5, 7, 6], {
    kernel: 2,
    stride: 2,
    padding: "same",
  });
  assert.deepEqual(odd.outSize, [3, 4, 3]);
  assert.deepEqual(odd.padBefore, [0, 0, 0]);
  assert.deepEqual(odd.padAfter, [1, 1, 0]);
});

Deno.test("pooling rejects invalid options", () => {
  assert.throws(
    () => poolWindow("maxPool3d", [1, 2, 8, 8], { kernel: 2 }),
    /maxPool3d expects a 5D NCDHW input, got shape \[1,2,8,8\]/,
  );
  assert.throws(
    () => poolWindow("maxPool3d", [1, 1, 2, 8, 8], { kernel: 3 }),
    /kernel \[3,3,3\] is larger than the padded input \[2,8,8\]/,
  );
  assert.throws(
    () => poolWindow("avgPool3d", [1, 1, 4, 4, 4], { kernel: 3, padding: 2 }),
    /padding \[2,2,2\] must be at most half of kernel \[3,3,3\]/,
  );
  assert.throws(
    () =>
      poolWindow("avgPool3d", [1, 1, 4, 4, 4], {
        kernel: 2,
        padding: "same" as never,
      }),
    /padding "same" is supported by maxPool3d only/,
  );
  assert.throws(
    () => poolWindow("maxPool3d", [1, 1, 4, 4, 4], { kernel: [2, 2] as never }),
    /kernel must be an integer >= 1 or \[d, h, w\]/,
  );
  assert.throws(
    () => poolWindow("maxPool3d", [1, 1, 4, 4, 4], { kernel: 2, stride: 0 }),
    /stride must be an integer >= 1/,
  );
  assert.throws(
    () => poolWindow("maxPool3d", [1, 1, 0, 4, 4], { kernel: 1 }),
    /has an empty spatial dimension/,
  );
});

gpuTest("upsampleTrilinear3d rejects invalid size", () => {
  scope(() => {
    const x = zeros([1, 1, 2, 2, 2]);
    assert.throws(
      () => upsampleTrilinear3d(x, { size: [4, 4] as never }),
      /size must be an integer >= 1 or \[d, h, w\]/,
    );
    assert.throws(
      () => upsampleTrilinear3d(x, {} as never),
      /options.size must be the output size \[D, H, W\]/,
    );
    assert.throws(
      () => globalAvgPool3d(zeros([2, 3])),
      /expects a 5D NCDHW input/,
    );
  });
});

gpuTest("maxPool3d tie gradient goes to first maximum", async () => {
  // Every window contains equal values, so the gradient of each window goes
  // to its first element in d, h, w order.
  const x = requiresGrad(tensor(new Array(2 * 2 * 4).fill(3), [1, 1, 2, 2, 4]));
  const y = scope(() => {
    const out = maxPool3d(x, { kernel: 2, stride: 2 });
    backward(out, tensor([10, 20], out.shape));
    return out;
  });
  const [values, grad] = await readAll([y, x.grad!]);
  assert.deepEqual([...values], [3, 3]);
  assert.deepEqual([...grad], [
    10,
    0,
    20,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  for (const t of [x, y]) t.dispose();
});

gpuTest("maxPool3d propagates NaN", async () => {
  const y = scope(() => {
    const x = tensor([1, NaN, 5, 2, 7, 0, -1, 4], [1, 1, 1, 2, 4]);
    return maxPool3d(x, { kernel: [1, 2, 2], stride: [1, 2, 2] });
  });
  const [values] = await readAll([y]);
  assert.ok(
    Number.isNaN(values[0]),
    `first window gave ${values[0]}, expected NaN`,
  );
  assert.equal(values[1], 5);
  y.dispose();
});

gpuTest("maxPool3d frees its saved indices", async () => {
  const rt = runtime();
  const x = requiresGrad(
    tensor(Array.from({ length: 64 }, (_, i) => i % 7), [1, 1, 4, 4, 4]),
  );
  await rt.sync();
  const before = rt.pool.stats().liveBuffers;

  noGrad(() => scope(() => maxPool3d(x, { kernel: 2 }).dispose()));
  assert.equal(
    rt.pool.stats().liveBuffers,
    before,
    "forward under noGrad left buffers",
  );

  const y = maxPool3d(x, { kernel: 2 });
  const seed = tensor(new Array(y.size).fill(1), y.shape);
  backward(y, seed);
  seed.dispose();
  y.dispose();
  x.grad!.dispose();
  x.grad = null;
  await rt.sync();
  assert.equal(
    rt.pool.stats().liveBuffers,
    before,
    "forward and backward left buffers",
  );
  x.dispose();
});

gpuTest("pooling backward is deterministic", async () => {
  const values = Array.from(
    { length: 2 * 3 * 5 * 6 * 7 },
    (_, i) => Math.sin(i * 0.37),
  );
  const gradients = async (op: "max" | "avg" | "upsample") => {
    const x = requiresGrad(tensor(values, [2, 3, 5, 6, 7]));
    scope(() => {
      const y = op === "max"
        ? maxPool3d(x, { kernel: 3, stride: 1, padding: "same" })
        : op === "avg"
        ? avgPool3d(x, { kernel: 3, stride: 1, padding: 1 })
        : upsampleTrilinear3d(x, { size: [9, 13, 11] });
      backward(
        y,
        tensor(Array.from({ length: y.size }, (_, i) => Math.cos(i)), y.shape),
      );
    });
    const [grad] = await readAll([x.grad!]);
    x.grad!.dispose();
    x.dispose();
    return grad;
  };
  for (const op of ["max", "avg", "upsample"] as const) {
    const first = await gradients(op);
    const second = await gradients(op);
    assert.deepEqual(second, first, `${op}: two backward runs differ`);
  }
});
