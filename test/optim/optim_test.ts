/**
 * SGD, Adam and AdamW against PyTorch 1.13 (test/fixtures/torch_optim.py):
 * parameters after each of three steps, a parameter without a gradient at
 * one step, learning-rate changes, and state saved to a safetensors file
 * and restored into a fresh optimizer.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { Adam, type AdamOptions } from "../../src/optim/adam.ts";
import type { Optimizer } from "../../src/optim/optimizer.ts";
import { SGD, type SgdOptions } from "../../src/optim/sgd.ts";
import { loadSafetensors, saveSafetensors } from "../../src/io/safetensors.ts";
import { readAll, type Tensor, tensor } from "../../src/tensor.ts";
import { assertClose, gpuTest } from "../helpers.ts";

const storedTensor = z.object({
  shape: z.array(z.number().int().nonnegative()),
  data: z.array(z.number()),
});
type StoredTensor = z.infer<typeof storedTensor>;

const fixtureSchema = z.object({
  torch: z.string(),
  initial: z.array(storedTensor),
  grads: z.array(z.array(storedTensor.nullable())),
  optimizers: z.array(z.object({
    label: z.string(),
    optimizer: z.enum(["SGD", "Adam"]),
    options: z.record(z.string(), z.unknown()),
    lrs: z.array(z.number()),
    params: z.array(z.array(storedTensor)),
  })),
});

const FIXTURE = new URL("../fixtures/torch_optim/optim.json", import.meta.url);
const fixture = fixtureSchema.parse(JSON.parse(Deno.readTextFileSync(FIXTURE)));
type OptimizerCase = (typeof fixture.optimizers)[number];

/** f32 arithmetic in a different operation order (fused multiply-add) moves results by a few ulps. */
const TOLERANCE = { atol: 1e-7, rtol: 1e-6 };

function upload(t: StoredTensor): Tensor {
  return tensor(t.data, t.shape);
}

function makeOptimizer(c: OptimizerCase, params: Tensor[]): Optimizer {
  return c.optimizer === "SGD"
    ? new SGD(params, c.options as unknown as SgdOptions)
    : new Adam(params, c.options as unknown as AdamOptions);
}

/** Sets the gradients of step k from the fixture (null where PyTorch had none). */
function setGrads(params: Tensor[], k: number): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    const g = fixture.grads[k][i];
    p.grad = g ? upload(g) : null;
  });
}

async function checkStep(
  c: OptimizerCase,
  params: Tensor[],
  k: number,
  what: string,
) {
  const values = await readAll(params);
  values.forEach((actual, i) => {
    const expected = c.params[k][i].data;
    assertClose(
      actual,
      expected,
      TOLERANCE,
      `${what}, step ${k + 1}, parameter ${i}`,
    );
  });
}

function disposeAll(params: Tensor[], optimizer: Optimizer): void {
  optimizer.zeroGrad();
  optimizer.dispose();
  for (const p of params) p.dispose();
}

gpuTest("optimizers match PyTorch over three steps", async () => {
  assert.ok(fixture.optimizers.length >= 9, "the fixture lost optimizer cases");
  for (const c of fixture.optimizers) {
    const params = fixture.initial.map(upload);
    const optimizer = makeOptimizer(c, params);
    for (let k = 0; k < c.lrs.length; k++) {
      optimizer.setLr(c.lrs[k]);
      setGrads(params, k);
      optimizer.step();
      await checkStep(c, params, k, `${c.optimizer} (${c.label})`);
    }
    disposeAll(params, optimizer);
  }
});

gpuTest("optimizer skips parameters without gradient", async () => {
  // Parameter 1 has no gradient at step 2: PyTorch leaves it and its state
  // alone, so the values after steps 1 and 2 agree.
  assert.equal(fixture.grads[1][1], null);
  for (const c of fixture.optimizers) {
    assert.deepEqual(
      c.params[1][1].data,
      c.params[0][1].data,
      `${c.label}: fixture`,
    );
  }
  const adamCase = fixture.optimizers.find((c) => c.optimizer === "Adam")!;
  const params = fixture.initial.map(upload);
  const adam = new Adam(params, adamCase.options as unknown as AdamOptions);
  for (let k = 0; k < 3; k++) {
    setGrads(params, k);
    adam.step();
  }
  assert.deepEqual(adam.steps, [3, 2, 3, 3]);
  await checkStep(adamCase, params, 2, "Adam after a skipped step");
  disposeAll(params, adam);
});

gpuTest("optimizer state survives a checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "optim-state-" });
  try {
    for (const c of fixture.optimizers.filter((c) => c.label !== "plain")) {
      const what = `${c.optimizer} (${c.label}) resumed`;
      const params = fixture.initial.map(upload);
      const first = makeOptimizer(c, params);
      for (let k = 0; k < 2; k++) {
        first.setLr(c.lrs[k]);
        setGrads(params, k);
        first.step();
      }
      const path = `${dir}/state.safetensors`;
      const { tensors, metadata } = first.state;
      await saveSafetensors(path, tensors, metadata);
      disposeAll([], first);

      const loaded = await loadSafetensors(path);
      const second = makeOptimizer(c, params);
      second.loadState(loaded.tensors, loaded.metadata);
      assert.equal(second.lr, c.lrs[1], `${what}: learning rate`);
      second.setLr(c.lrs[2]);
      setGrads(params, 2);
      second.step();
      await checkStep(c, params, 2, what);
      disposeAll(params, second);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("optimizer state names", () => {
  const params = fixture.initial.map(upload);
  const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
  const adam = new Adam(params, { lr: 0.1, decoupled: true });
  setGrads(params, 1);
  sgd.step();
  adam.step();
  assert.deepEqual([...sgd.state.tensors.keys()], [
    "0.momentum_buffer",
    "2.momentum_buffer",
    "3.momentum_buffer",
  ]);
  assert.deepEqual(sgd.state.metadata, { optimizer: "SGD", lr: "0.1" });
  assert.deepEqual([...adam.state.tensors.keys()], [
    "0.exp_avg",
    "0.exp_avg_sq",
    "2.exp_avg",
    "2.exp_avg_sq",
    "3.exp_avg",
    "3.exp_avg_sq",
  ]);
  assert.deepEqual(adam.state.metadata, {
    optimizer: "AdamW",
    lr: "0.1",
    steps: "[1,0,1,1]",
  });
  disposeAll([], sgd);
  disposeAll(params, adam);
});

gpuTest("optimizer rejects mismatched state", () => {
  const params = fixture.initial.map(upload);
  const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
  const wrongShape = {
    dtype: "f32" as const,
    shape: [4, 3],
    data: new Float32Array(12),
  };
  assert.throws(
    () => sgd.loadState(new Map([["0.momentum_buffer", wrongShape]]), {}),
    /'0\.momentum_buffer' has shape \[4,3\] but the parameter has shape \[3,4\]/,
  );
  assert.throws(
    () => sgd.loadState(new Map([["7.momentum_buffer", wrongShape]]), {}),
    /unexpected entry '7\.momentum_buffer'/,
  );
  assert.throws(
    () => sgd.loadState(new Map(), { optimizer: "Adam" }),
    /SGD cannot load the state of a Adam optimizer/,
  );
  const adam = new Adam(params, { lr: 0.1 });
  assert.throws(
    () => adam.loadState(new Map(), { steps: "[1,0,0,0]" }),
    /missing '0\.exp_avg' for parameter 0, which has taken 1 steps/,
  );
  assert.throws(
    () => adam.loadState(new Map(), { steps: "[1,0]" }),
    /'steps' must be a JSON array of 4 non-negative integers/,
  );
  disposeAll([], sgd);
  disposeAll(params, adam);
});

gpuTest("optimizer zeroGrad and setLr", () => {
  const params = fixture.initial.map(upload);
  const sgd = new SGD(params, { lr: 0.1 });
  setGrads(params, 0);
  sgd.zeroGrad();
  assert.ok(params.every((p) => p.grad === null));
  sgd.setLr(0.02);
  assert.equal(sgd.lr, 0.02);
  assert.throws(
    () => sgd.setLr(-1),
    /SGD: lr must be a finite number >= 0, got -1/,
  );
  assert.throws(
    () => sgd.setLr(Number.NaN),
    /SGD: lr must be a finite number >= 0/,
  );
  disposeAll(params, sgd);
});

gpuTest("optimizer rejects invalid options", () => {
  const p = tensor([1, 2], [2]);
  assert.throws(() => new SGD([], { lr: 0.1 }), /SGD got no parameters/);
  assert.throws(
    () => new SGD([p, p], { lr: 0.1 }),
    /appears twice in the list/,
  );
  assert.throws(
    () => new SGD([p], { lr: 0.1, nesterov: true }),
    /Nesterov momentum needs momentum > 0 and dampening 0/,
  );
  assert.throws(
    () => new SGD([p], { lr: 0.1, momentum: -0.5 }),
    /momentum must be/,
  );
  assert.throws(
    () => new Adam([p], { lr: 0.1, betas: [0.9, 1] }),
    /betas\[1\] must be in \[0, 1\)/,
  );
  assert.throws(() => new Adam([p], { lr: 0.1, eps: -1 }), /Adam: eps must be/);
  assert.throws(
    () => new Adam([p], { lr: 0.1, weightDecay: -1, decoupled: true }),
    /AdamW: weightDecay must be/,
  );
  const i = tensor([1, 2], [2], "i32");
  assert.throws(() => new Adam([i], { lr: 0.1 }), /parameter 0 .* is not f32/);
  p.dispose();
  i.dispose();
});

gpuTest("optimizer rejects mismatched gradient", () => {
  const p = tensor([1, 2, 3], [3]);
  const sgd = new SGD([p], { lr: 0.1 });
  p.grad = tensor([1, 2], [2]);
  assert.throws(
    () => sgd.step(),
    /gradient .*\[2\] of parameter 0 does not match/,
  );
  disposeAll([p], sgd);
});

gpuTest("optimizer covers above 65535 workgroups", async () => {
  // 65537 workgroups of 256: the runtime folds the grid into two rows, so
  // the last elements are only updated if the kernel recovers the flat index.
  const size = 65536 * 256 + 300;
  const p = tensor(new Float32Array(size).fill(1), [size]);
  p.grad = tensor(new Float32Array(size).fill(2), [size]);
  const sgd = new SGD([p], { lr: 0.1, momentum: 0.5 });
  sgd.step();
  sgd.step();
  // Step 1: buf = 2, p = 1 - 0.2. Step 2: buf = 0.5 * 2 + 2 = 3, p -= 0.3.
  const expected = Math.fround(
    Math.fround(1 - Math.fround(0.1) * 2) - Math.fround(0.1) * 3,
  );
  const [values] = await readAll([p]);
  const wrong = values.findIndex((v) => Math.abs(v - expected) > 1e-6);
  assert.equal(
    wrong,
    -1,
    `element ${wrong} is ${values[wrong]}, expected ${expected}`,
  );
  disposeAll([p], sgd);
});
