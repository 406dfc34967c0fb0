import assert from "node:assert/strict";
import { backward } from "../../src/autograd.ts";
import {
  GradientRecorder,
  type GradientStats,
} from "../../src/inspect/gradients.ts";
import { Module } from "../../src/nn/module.ts";
import { add, mul, sum } from "../../src/ops/mod.ts";
import { SGD } from "../../src/optim/mod.ts";
import { scope, type Tensor, tensor } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import { gpuTest } from "../helpers.ts";

class Affine extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(weight: Float32Array, shape: number[], bias: Float32Array) {
    super();
    this.weight = this.parameter("weight", tensor(weight, shape));
    this.bias = this.parameter("bias", tensor(bias, [bias.length]));
  }
}

/** A root parameter and a child, so paths have both forms. */
class Toy extends Module {
  readonly scale: Tensor;
  readonly layer: Affine;

  constructor(rng: Rng, weightShape: number[]) {
    super();
    const n = weightShape.reduce((a, b) => a * b, 1);
    this.scale = this.parameter("scale", tensor([0.5], [1]));
    this.layer = this.child(
      "layer",
      new Affine(randomArray(rng, n), weightShape, randomArray(rng, 5)),
    );
  }

  /** sum(weight * x) + sum(bias * b) + scale * s: gradients x, b and s. */
  loss(x: Tensor, b: Tensor, s: Tensor): Tensor {
    return add(
      add(sum(mul(this.layer.weight, x)), sum(mul(this.layer.bias, b))),
      sum(mul(this.scale, s)),
    );
  }
}

function randomArray(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

interface HostStats {
  norm: number;
  mean: number;
  std: number;
  maxAbs: number;
  nan: number;
  inf: number;
}

function hostStats(values: Float32Array): HostStats {
  const finite = [...values].filter(Number.isFinite);
  const mean = finite.reduce((s, v) => s + v, 0) / finite.length;
  return {
    norm: Math.sqrt(finite.reduce((s, v) => s + v * v, 0)),
    mean,
    std: Math.sqrt(
      finite.reduce((s, v) => s + (v - mean) ** 2, 0) / finite.length,
    ),
    maxAbs: finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
    nan: values.filter(Number.isNaN).length,
    inf: values.filter((v) => v === Infinity || v === -Infinity).length,
  };
}

function assertNear(actual: number, expected: number, label: string): void {
  const bound = 1e-5 + 1e-4 * Math.abs(expected);
  assert.ok(
    Math.abs(actual - expected) <= bound,
    `${label}: ${actual}, expected ${expected}`,
  );
}

function assertStats(
  actual: GradientStats,
  expected: HostStats,
  label: string,
): void {
  assertNear(actual.norm, expected.norm, `${label} norm`);
  assertNear(actual.mean, expected.mean, `${label} mean`);
  assertNear(actual.std, expected.std, `${label} std`);
  assertNear(actual.maxAbs, expected.maxAbs, `${label} maxAbs`);
  assert.equal(actual.nan, expected.nan, `${label} nan`);
  assert.equal(actual.inf, expected.inf, `${label} inf`);
}

function byPath(stats: GradientStats[]): Map<string, GradientStats> {
  return new Map(stats.map((s) => [s.path, s]));
}

gpuTest("recorder statistics match host values", async (rt) => {
  const rng = new Rng(3);
  // 3 x 700 elements, so every thread of the workgroup loops several times.
  const model = new Toy(rng, [3, 700]);
  const x = randomArray(rng, 2100);
  const b = randomArray(rng, 5).map((v) => v + 3);
  const recorder = new GradientRecorder(model);
  scope(() => {
    backward(
      model.loss(tensor(x, [3, 700]), tensor(b, [5]), tensor([-2], [1])),
    );
  });
  const syncs = rt.stats().syncs;
  const record = await recorder.read();
  assert.equal(rt.stats().syncs - syncs, 1, "one readback per step");
  assert.equal(record.step, 0);
  const stats = byPath(record.parameters);
  assert.deepEqual([...stats.keys()].sort(), [
    "layer.bias",
    "layer.weight",
    "scale",
  ]);
  const weight = stats.get("layer.weight")!;
  assert.equal(weight.module, "layer");
  assert.equal(weight.parameter, "weight");
  assert.deepEqual(weight.shape, [3, 700]);
  assert.equal(weight.count, 2100);
  assert.equal(weight.updateRatio, null);
  assertStats(weight, hostStats(x), "layer.weight");
  assertStats(stats.get("layer.bias")!, hostStats(b), "layer.bias");
  const scale = stats.get("scale")!;
  assert.equal(scale.module, "");
  assertStats(scale, hostStats(Float32Array.of(-2)), "scale");
  recorder.dispose();
  model.dispose();
});

gpuTest("recorder histograms sum to count", async () => {
  const rng = new Rng(4);
  const model = new Toy(rng, [4, 4]);
  const x = Float32Array.from({ length: 16 }, (_, i) => i);
  const recorder = new GradientRecorder(model, { histogramBins: 16 });
  scope(() => {
    backward(
      model.loss(
        tensor(x, [4, 4]),
        tensor(randomArray(rng, 5), [5]),
        tensor([1], [1]),
      ),
    );
  });
  const stats = byPath((await recorder.read()).parameters);
  for (const s of stats.values()) {
    const total = s.histogram!.counts.reduce((a, c) => a + c, 0);
    assert.equal(total, s.count, `${s.path} histogram total`);
    assert.equal(s.histogram!.counts.length, 16);
  }
  // Values 0..15 over [0, 15] in 16 bins: one value per bin.
  const weight = stats.get("layer.weight")!.histogram!;
  assert.equal(weight.min, 0);
  assert.equal(weight.max, 15);
  assert.deepEqual(weight.counts, new Array(16).fill(1));
  recorder.dispose();
  model.dispose();
});

gpuTest("recorder counts NaN and Inf", async () => {
  const rng = new Rng(5);
  const model = new Toy(rng, [2, 300]);
  const x = randomArray(rng, 600);
  x[7] = NaN;
  x[300] = NaN;
  x[599] = NaN;
  x[11] = Infinity;
  x[401] = -Infinity;
  const recorder = new GradientRecorder(model, { histogramBins: 8 });
  scope(() => {
    backward(
      model.loss(
        tensor(x, [2, 300]),
        tensor(randomArray(rng, 5), [5]),
        tensor([1], [1]),
      ),
    );
  });
  const weight = byPath((await recorder.read()).parameters).get(
    "layer.weight",
  )!;
  assert.equal(weight.nan, 3);
  assert.equal(weight.inf, 2);
  assertStats(weight, hostStats(x), "layer.weight");
  const total = weight.histogram!.counts.reduce((a, c) => a + c, 0);
  assert.equal(total, 595, "histogram counts finite values only");
  recorder.dispose();
  model.dispose();
});

gpuTest("recorder update ratio of plain SGD", async () => {
  const rng = new Rng(6);
  const model = new Toy(rng, [5, 60]);
  const lr = 0.05;
  const optimizer = new SGD(model.parameters(), { lr });
  const recorder = new GradientRecorder(model);
  const x = randomArray(rng, 300);
  const b = randomArray(rng, 5);
  const w = (await model.layer.weight.data()) as Float32Array;
  const bias = (await model.layer.bias.data()) as Float32Array;
  const norm = (v: ArrayLike<number>) =>
    Math.sqrt(Array.from(v).reduce((s, e) => s + e * e, 0));
  for (let step = 0; step < 2; step++) {
    scope(() => {
      backward(
        model.loss(tensor(x, [5, 60]), tensor(b, [5]), tensor([4], [1])),
      );
    });
    recorder.capture();
    recorder.beforeStep();
    optimizer.step();
    recorder.afterStep();
    optimizer.zeroGrad();
    const record = await recorder.read();
    assert.equal(record.step, step);
    const stats = byPath(record.parameters);
    // The gradient is constant, so w before step k is w0 - k * lr * g.
    const before = (w0: Float32Array, g: Float32Array) =>
      w0.map((v, i) => v - step * lr * g[i]);
    assertNear(
      stats.get("layer.weight")!.updateRatio!,
      lr * norm(x) / norm(before(w, x)),
      `step ${step} weight ratio`,
    );
    assertNear(
      stats.get("layer.bias")!.updateRatio!,
      lr * norm(b) / norm(before(bias, b)),
      `step ${step} bias ratio`,
    );
    assertNear(
      stats.get("scale")!.updateRatio!,
      lr * 4 / Math.abs(0.5 - step * lr * 4),
      `step ${step} scale ratio`,
    );
  }
  assert.equal(recorder.history.length, 2);
  recorder.dispose();
  optimizer.dispose();
  model.dispose();
});

gpuTest("recorder filter selects parameters", async () => {
  const rng = new Rng(7);
  const model = new Toy(rng, [2, 2]);
  const recorder = new GradientRecorder(model, { filter: /^layer\.b/ });
  assert.deepEqual(recorder.paths, ["layer.bias"]);
  scope(() => {
    backward(
      model.loss(
        tensor(randomArray(rng, 4), [2, 2]),
        tensor(randomArray(rng, 5), [5]),
        tensor([1], [1]),
      ),
    );
  });
  const record = await recorder.read();
  assert.deepEqual(record.parameters.map((s) => s.path), ["layer.bias"]);
  recorder.dispose();
  model.dispose();
});

gpuTest("recorder dispose removes hooks", async () => {
  const rng = new Rng(8);
  const model = new Toy(rng, [2, 2]);
  const recorder = new GradientRecorder(model);
  assert.equal(model.layer.weight.gradHooks.length, 1);
  recorder.beforeStep();
  recorder.dispose();
  assert.equal(model.layer.weight.gradHooks.length, 0);
  assert.equal(model.scale.gradHooks.length, 0);
  await assert.rejects(() => recorder.read(), /after dispose/);
  model.dispose();
});
