/**
 * Targeted checks of the losses and of the label handling that they share
 * with classPrototypes, beyond the generic operator tests. Host labels are
 * validated before any kernel runs, and invalid GPU labels give NaN instead
 * of finite values. The CPU references reject invalid labels, and the
 * operators keep no buffers alive beyond their outputs.
 */
import assert from "node:assert/strict";
import { backward, requiresGrad } from "../../src/autograd.ts";
import { runtime } from "../../src/gpu/runtime.ts";
import { cpuLabels, cpuTensor } from "../../src/ops/cpu_tensor.ts";
import { softmaxCrossEntropy, tripletMarginLoss } from "../../src/ops/loss.ts";
import { classPrototypes, cosineSimilarity } from "../../src/ops/metric.ts";
import { getOp } from "../../src/ops/registry.ts";
import { readAll, scope, type Tensor, tensor } from "../../src/tensor.ts";
import { gpuTest } from "../helpers.ts";

const LOGITS = [0.5, -1, 2, 1, 0, -0.5, 3, 1, 0, -2, 0.25, 0.75];

gpuTest("softmaxCrossEntropy rejects host labels out of range", () => {
  scope(() => {
    const logits = tensor(LOGITS, [4, 3]);
    const before = runtime().stats().dispatches;
    assert.throws(
      () => softmaxCrossEntropy(logits, [0, 3, 1, 2]),
      /softmaxCrossEntropy: label 3 at index 1 is invalid; each label must be a class index in \[0, 3\)/,
    );
    assert.throws(
      () => softmaxCrossEntropy(logits, [0, 1.5, 1, 2]),
      /label 1\.5 at index 1 is invalid/,
    );
    assert.throws(
      () => softmaxCrossEntropy(logits, [0, 1, 2]),
      /got 3 labels for 4 samples/,
    );
    assert.equal(runtime().stats().dispatches, before);
  });
});

Deno.test("softmaxCrossEntropy CPU reference rejects invalid labels", () => {
  const op = getOp("softmaxCrossEntropy");
  const logits = cpuTensor([4, 3], LOGITS);
  assert.throws(
    () => op.cpu.forward([logits, cpuLabels([0, 1, -1, 2])], {}),
    /label -1 at index 2 is invalid/,
  );
});

gpuTest("host and GPU labels give equal results", async () => {
  const labels = [2, 0, 1, 1];
  const forward: Record<string, (x: Tensor, l: number[] | Tensor) => Tensor> = {
    softmaxCrossEntropy: (x, l) => softmaxCrossEntropy(x, l),
    tripletMarginLoss: (x, l) => tripletMarginLoss(x, l, { margin: 2 }),
    classPrototypes: (x, l) => classPrototypes(x, l, { numClasses: 3 }),
  };
  for (const [name, fn] of Object.entries(forward)) {
    // Forward and backward, with the labels given as host numbers or as an
    // i32 tensor; the host path uploads them again for the backward.
    const run = (onGpu: boolean) =>
      scope(() => {
        const x = requiresGrad(tensor(LOGITS, [4, 3]));
        const given = onGpu ? tensor(labels, [4], "i32") : labels;
        const y = fn(x, given);
        const seed = tensor(
          Array.from({ length: y.size }, (_, i) => 1 + i),
          y.shape,
        );
        backward(y, seed);
        return [y, x.grad!];
      });
    const host = run(false);
    const onGpu = run(true);
    const [hostY, hostGrad, gpuY, gpuGrad] = await readAll([...host, ...onGpu]);
    assert.ok(hostY.every(Number.isFinite), `${name} output ${hostY}`);
    assert.ok(hostGrad.some((v) => v !== 0), `${name} gradient is all zero`);
    assert.deepEqual(gpuY, hostY, `${name} output`);
    assert.deepEqual(gpuGrad, hostGrad, `${name} gradient`);
    for (const t of [...host, ...onGpu]) t.dispose();
  }
  const expected = getOp("softmaxCrossEntropy").cpu.forward(
    [cpuTensor([4, 3], LOGITS), cpuLabels(labels)],
    {},
  )[0].data[0];
  const loss = scope(() => softmaxCrossEntropy(tensor(LOGITS, [4, 3]), labels));
  const actual = await loss.item();
  loss.dispose();
  assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} vs ${expected}`);
});

gpuTest("softmaxCrossEntropy GPU label out of range gives NaN", async () => {
  const [loss, grad] = scope(() => {
    const logits = requiresGrad(tensor(LOGITS, [4, 3]));
    const labels = tensor([0, 1, 5, 2], [4], "i32");
    const result = softmaxCrossEntropy(logits, labels, { reduction: "sum" });
    backward(result);
    return [result, logits.grad!];
  });
  const [lossValue, gradValues] = await readAll([loss, grad]);
  assert.ok(Number.isNaN(lossValue[0]), `loss is ${lossValue[0]}`);
  const rows = Array.from(
    { length: 4 },
    (_, r) => Array.from(gradValues.slice(3 * r, 3 * r + 3)),
  );
  assert.ok(rows[2].every(Number.isNaN), `row 2 is ${rows[2]}`);
  for (const r of [0, 1, 3]) {
    assert.ok(rows[r].every(Number.isFinite), `row ${r} is ${rows[r]}`);
  }
  loss.dispose();
  grad.dispose();
});

gpuTest("classPrototypes rejects a class without samples", () => {
  scope(() => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    const before = runtime().stats().dispatches;
    assert.throws(
      () => classPrototypes(x, [0, 2, 2, 0], { numClasses: 3 }),
      /classPrototypes: class 1 has no sample among the 4 labels; a support set must contain at least one sample of every class 0\.\.2/,
    );
    assert.throws(
      () => classPrototypes(x, [0, 1, 3, 2], { numClasses: 3 }),
      /label 3 at index 2 is invalid; each label must be a class index in \[0, 3\)/,
    );
    assert.equal(runtime().stats().dispatches, before);
  });
  const op = getOp("classPrototypes");
  assert.throws(
    () =>
      op.cpu.forward(
        [cpuTensor([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]), cpuLabels([0, 2, 2, 0])],
        { numClasses: 3 },
      ),
    /class 1 has no sample/,
  );
});

gpuTest("classPrototypes GPU labels mark invalid classes NaN", async () => {
  const [missing, invalid] = scope(() => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    return [
      classPrototypes(x, tensor([0, 2, 2, 0], [4], "i32"), { numClasses: 3 }),
      classPrototypes(x, tensor([0, 1, 7, 2], [4], "i32"), { numClasses: 3 }),
    ];
  });
  const [missingValues, invalidValues] = await readAll([missing, invalid]);
  // Class 0 is the mean of rows 0 and 3, class 2 of rows 1 and 2.
  assert.deepEqual(Array.from(missingValues.slice(0, 2)), [4, 5]);
  assert.ok(Array.from(missingValues.slice(2, 4)).every(Number.isNaN));
  assert.deepEqual(Array.from(missingValues.slice(4, 6)), [4, 5]);
  assert.ok(Array.from(invalidValues).every(Number.isNaN), `${invalidValues}`);
  missing.dispose();
  invalid.dispose();
});

gpuTest("tripletMarginLoss rejects non-integer host labels", () => {
  scope(() => {
    const x = tensor([0, 0, 1, 1, 2, 2], [3, 2]);
    assert.throws(
      () => tripletMarginLoss(x, [0, 0.5, 1]),
      /tripletMarginLoss: label 0\.5 at index 1 is invalid; each label must be an i32 integer/,
    );
    assert.throws(
      () => tripletMarginLoss(x, tensor([0, 1, 1], [3], "f32")),
      /labels .* must be an i32 tensor of shape \[3\]/,
    );
  });
});

gpuTest("losses keep no buffers beyond their outputs", async () => {
  // Uploads hold a staging buffer until the next submit, so count after one.
  const live = () => {
    runtime().flush();
    return runtime().pool.stats().liveBuffers;
  };
  const baseline = live();
  scope(() => {
    const logits = requiresGrad(tensor(LOGITS, [4, 3]));
    const embeddings = requiresGrad(tensor(LOGITS, [6, 2]));
    const inputs = live();
    // Host labels: the operators upload them, and free the upload once the
    // forward kernels are recorded.
    softmaxCrossEntropy(logits, [0, 1, 2, 0]);
    assert.equal(live(), inputs + 1);
    tripletMarginLoss(embeddings, [0, 0, 1, 1, 2, 2]);
    assert.equal(live(), inputs + 2);
    classPrototypes(embeddings, [0, 0, 1, 1, 2, 2], { numClasses: 3 });
    assert.equal(live(), inputs + 3);
    cosineSimilarity(embeddings, embeddings);
    assert.equal(live(), inputs + 4);
  });
  await runtime().sync();
  assert.equal(live(), baseline);
});
