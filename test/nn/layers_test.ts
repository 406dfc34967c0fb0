/**
 * Conv3d, BatchNorm3d, Linear, Dropout and Unit3d: output shapes,
 * parameter names, shapes and counts against PyTorch 1.13
 * (test/fixtures/torch_init.py), gradient hooks and tape module paths,
 * zeroGrad, the train/eval switch of batch norm, and dropout masks.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { backward, nanCheck } from "../../src/autograd.ts";
import { BatchNorm3d } from "../../src/nn/batch_norm.ts";
import { Conv3d } from "../../src/nn/conv.ts";
import { Dropout } from "../../src/nn/dropout.ts";
import { Linear } from "../../src/nn/linear.ts";
import { Module } from "../../src/nn/module.ts";
import { Unit3d } from "../../src/nn/unit3d.ts";
import { readAll, scope, type Tensor, tensor } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import { assertClose, gpuTest } from "../helpers.ts";

const FIXTURE = new URL("../fixtures/torch_init/init.json", import.meta.url);
const layouts = z.object({
  modules: z.array(z.object({
    module: z.enum(["Conv3d", "Linear", "BatchNorm3d", "Unit3d"]),
    config: z.record(z.string(), z.unknown()),
    parameters: z.record(z.string(), z.array(z.number())),
    buffers: z.record(z.string(), z.array(z.number())),
    parameterCount: z.number(),
  })),
}).parse(JSON.parse(Deno.readTextFileSync(FIXTURE))).modules;

function randomInput(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  let size = 1;
  for (const d of shape) size *= d;
  return tensor(Array.from({ length: size }, () => rng.uniform(-1, 1)), shape);
}

function build(
  kind: string,
  config: Record<string, unknown>,
  rng: Rng,
): Module {
  // deno-lint-ignore no-explicit-any
  const c = { ...config, rng } as any;
  switch (kind) {
    case "Conv3d":
      return new Conv3d(c);
    case "Linear":
      return new Linear(c);
    case "BatchNorm3d":
      return new BatchNorm3d(c);
    default:
      return new Unit3d(c);
  }
}

/** A parent module that runs a Unit3d under the name "unit". */
class Parent extends Module {
  readonly unit: Unit3d;

  constructor(rng: Rng) {
    super();
    this.unit = this.child(
      "unit",
      new Unit3d({ inChannels: 3, outChannels: 4, kernel: 3, stride: 2, rng }),
    );
  }

  forward(x: Tensor): Tensor {
    return this.scoped("unit", () => this.unit.forward(x));
  }
}

gpuTest("modules have PyTorch's parameters", () => {
  assert.ok(layouts.length >= 9, "the fixture lost modules");
  for (const layout of layouts) {
    const what = `${layout.module} ${JSON.stringify(layout.config)}`;
    const module = build(layout.module, layout.config, new Rng(0));
    const parameters = Object.fromEntries(
      [...module.namedParameters()].map(([name, t]) => [name, [...t.shape]]),
    );
    assert.deepEqual(parameters, layout.parameters, `${what}: parameters`);
    const count = module.parameters().reduce((total, t) => total + t.size, 0);
    assert.equal(count, layout.parameterCount, `${what}: parameter count`);
    // PyTorch's num_batches_tracked is left out on purpose (see BatchNorm3d).
    const expectedBuffers = Object.fromEntries(
      Object.entries(layout.buffers).filter(([name]) =>
        !name.endsWith("num_batches_tracked")
      ),
    );
    const buffers = Object.fromEntries(
      [...module.namedBuffers()].map(([name, t]) => [name, [...t.shape]]),
    );
    assert.deepEqual(buffers, expectedBuffers, `${what}: buffers`);
    module.dispose();
  }
});

gpuTest("modules produce the expected output shapes", () => {
  const rng = new Rng(3);
  const cases: [Module & { forward(x: Tensor): Tensor }, number[], number[]][] =
    [
      [
        new Conv3d({
          inChannels: 5,
          outChannels: 8,
          kernel: 3,
          stride: 2,
          padding: "same",
          rng,
        }),
        [2, 5, 5, 9, 9],
        [2, 8, 3, 5, 5],
      ],
      [
        new Conv3d({
          inChannels: 3,
          outChannels: 6,
          kernel: [1, 3, 3],
          padding: [0, 1, 1],
          rng,
        }),
        [1, 3, 4, 6, 6],
        [1, 6, 4, 6, 6],
      ],
      [
        new Conv3d({
          inChannels: 2,
          outChannels: 3,
          kernel: 3,
          bias: false,
          rng,
        }),
        [1, 2, 4, 5, 6],
        [1, 3, 2, 3, 4],
      ],
      [new BatchNorm3d({ channels: 3 }), [2, 3, 2, 3, 3], [2, 3, 2, 3, 3]],
      [new Linear({ inFeatures: 16, outFeatures: 3, rng }), [4, 16], [4, 3]],
      [new Dropout({ p: 0.5 }), [2, 7], [2, 7]],
      [
        new Unit3d({
          inChannels: 3,
          outChannels: 8,
          kernel: 7,
          stride: 2,
          rng,
        }),
        [1, 3, 4, 8, 8],
        [1, 8, 2, 4, 4],
      ],
      [
        new Unit3d({
          inChannels: 8,
          outChannels: 5,
          kernel: 1,
          useBatchNorm: false,
          activation: null,
          rng,
        }),
        [1, 8, 1, 2, 2],
        [1, 5, 1, 2, 2],
      ],
    ];
  for (const [module, inputShape, outputShape] of cases) {
    const shape = scope(
      () => [...module.forward(randomInput(inputShape, 1)).shape],
    );
    assert.deepEqual(
      shape,
      outputShape,
      `${module.constructor.name} on [${inputShape}]`,
    );
    module.dispose();
  }
});

gpuTest("gradient hooks name the module paths", async () => {
  const model = new Parent(new Rng(4));
  const seen: string[] = [];
  const gradShapes = new Map<string, number[]>();
  const remove = model.registerGradHook((modulePath, parameter, grad) => {
    seen.push(`${modulePath}/${parameter}`);
    gradShapes.set(`${modulePath}/${parameter}`, [...grad.shape]);
  });
  nanCheck.enable();
  try {
    scope(() => backward(model.forward(randomInput([2, 3, 3, 6, 6], 5))));
    assert.ok(
      nanCheck.labels.includes("conv3d forward in unit.conv3d"),
      nanCheck.labels.join("; "),
    );
    assert.ok(
      nanCheck.labels.includes("batchNorm3d forward in unit.bn"),
      nanCheck.labels.join("; "),
    );
    assert.ok(
      nanCheck.labels.includes("relu forward in unit"),
      nanCheck.labels.join("; "),
    );
    assert.equal(await nanCheck.firstNonFinite(), null);
  } finally {
    nanCheck.disable();
  }
  assert.deepEqual(seen.sort(), [
    "unit.bn/bias",
    "unit.bn/weight",
    "unit.conv3d/weight",
  ]);
  assert.deepEqual(gradShapes.get("unit.conv3d/weight"), [4, 3, 3, 3, 3]);
  assert.deepEqual(gradShapes.get("unit.bn/weight"), [4]);

  // zeroGrad clears every gradient, and removed hooks stay silent.
  assert.ok(model.parameters().every((p) => p.grad !== null));
  model.zeroGrad();
  assert.ok(model.parameters().every((p) => p.grad === null));
  remove();
  seen.length = 0;
  scope(() => backward(model.forward(randomInput([2, 3, 3, 6, 6], 6))));
  assert.deepEqual(seen, []);
  model.zeroGrad();
  model.dispose();
});

gpuTest(
  "batch norm switches between batch and running statistics",
  async () => {
    const channels = 3;
    const bn = new BatchNorm3d({ channels, momentum: 0.1, eps: 1e-5 });
    const x = randomInput([4, channels, 2, 3, 3], 7);
    const [xv] = await readAll([x]);
    const spatial = 2 * 3 * 3;
    const count = 4 * spatial;
    const channelValues = (c: number) => {
      const values: number[] = [];
      for (let n = 0; n < 4; n++) {
        for (let s = 0; s < spatial; s++) {
          values.push(
            xv[(n * channels + c) * spatial + s],
          );
        }
      }
      return values;
    };
    const batchMean = [0, 1, 2].map((c) =>
      channelValues(c).reduce((a, b) => a + b, 0) / count
    );
    const batchVar = [0, 1, 2].map((c) =>
      channelValues(c).reduce((a, v) => a + (v - batchMean[c]) ** 2, 0) / count
    );

    // Training: batch statistics, and the running statistics move by the
    // momentum with the unbiased variance, as in PyTorch.
    assert.equal(bn.training, true);
    const yTrain = scope(() => bn.forward(x));
    const [yt, runningMean, runningVar] = await readAll([
      yTrain,
      bn.runningMean,
      bn.runningVar,
    ]);
    const expectedTrain = Float64Array.from(xv, (v, i) => {
      const c = Math.floor(i / spatial) % channels;
      return (v - batchMean[c]) / Math.sqrt(batchVar[c] + 1e-5);
    });
    assertClose(
      yt,
      expectedTrain,
      { atol: 1e-4, rtol: 1e-3 },
      "training output",
    );
    const unbiased = batchVar.map((v) => (v * count) / (count - 1));
    assertClose(runningMean, batchMean.map((m) => 0.1 * m), {
      atol: 1e-6,
      rtol: 1e-4,
    }, "running_mean");
    assertClose(runningVar, unbiased.map((v) => 0.9 + 0.1 * v), {
      atol: 1e-6,
      rtol: 1e-4,
    }, "running_var");

    // Evaluation: the running statistics, which stay unchanged.
    bn.eval();
    assert.equal(bn.training, false);
    const yEval = scope(() => bn.forward(x));
    const [ye, meanAfter, varAfter] = await readAll([
      yEval,
      bn.runningMean,
      bn.runningVar,
    ]);
    const expectedEval = Float64Array.from(xv, (v, i) => {
      const c = Math.floor(i / spatial) % channels;
      return (v - runningMean[c]) / Math.sqrt(runningVar[c] + 1e-5);
    });
    assertClose(
      ye,
      expectedEval,
      { atol: 1e-5, rtol: 1e-4 },
      "evaluation output",
    );
    assert.deepEqual(meanAfter, runningMean, "evaluation changed running_mean");
    assert.deepEqual(varAfter, runningVar, "evaluation changed running_var");
    bn.train();
    assert.equal(bn.training, true);
    for (const t of [x, yTrain, yEval]) t.dispose();
    bn.dispose();
  },
);

gpuTest("unit3d train and eval propagate to children", () => {
  const unit = new Unit3d({
    inChannels: 2,
    outChannels: 3,
    kernel: 3,
    rng: new Rng(8),
  });
  unit.eval();
  assert.equal(unit.bn!.training, false);
  assert.equal(unit.conv3d.training, false);
  unit.train();
  assert.equal(unit.bn!.training, true);
  assert.equal(unit.bn!.eps, 1e-3);
  assert.equal(unit.bn!.momentum, 0.01);
  assert.equal(unit.conv3d.bias, null);
  assert.equal(unit.conv3d.padding, "same");
  unit.dispose();
});

gpuTest("linear computes x W^T + b", async () => {
  const layer = new Linear({ inFeatures: 5, outFeatures: 3, rng: new Rng(9) });
  const x = randomInput([2, 5], 10);
  const y = layer.forward(x);
  const [xv, w, b, yv] = await readAll([x, layer.weight, layer.bias!, y]);
  const expected: number[] = [];
  for (let n = 0; n < 2; n++) {
    for (let o = 0; o < 3; o++) {
      let total = b[o];
      for (let i = 0; i < 5; i++) total += xv[n * 5 + i] * w[o * 5 + i];
      expected.push(total);
    }
  }
  assertClose(yv, expected, { atol: 1e-6, rtol: 1e-5 }, "linear output");
  for (const t of [x, y]) t.dispose();
  layer.dispose();
});

gpuTest("dropout draws a new reproducible mask per call", async () => {
  const p = 0.25;
  const x = tensor(new Array(4096).fill(1), [4, 1024]);
  const a = new Dropout({ p, seed: 11 });
  const b = new Dropout({ p, seed: 11 });
  const [a1, a2, b1, b2] = await readAll([
    a.forward(x),
    a.forward(x),
    b.forward(x),
    b.forward(x),
  ]);
  assert.deepEqual(a1, b1, "the same seed gave different first masks");
  assert.deepEqual(a2, b2, "the same seed gave different second masks");
  assert.notDeepEqual(a1, a2, "two calls used the same mask");
  const zeros = a1.filter((v) => v === 0).length / a1.length;
  assert.ok(
    Math.abs(zeros - p) < 0.03,
    `dropped fraction ${zeros}, expected ${p}`,
  );
  assert.ok(
    a1.every((v) => v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-6),
    "kept values are not scaled by 1/(1-p)",
  );

  a.eval();
  const [e] = await readAll([a.forward(x)]);
  assert.ok(e.every((v) => v === 1), "evaluation mode changed the input");
  const fromRng = new Dropout({ p, rng: new Rng(5) });
  const again = new Dropout({ p, rng: new Rng(5) });
  const [r1, r2] = await readAll([fromRng.forward(x), again.forward(x)]);
  assert.deepEqual(r1, r2, "the same generator seed gave different masks");
  x.dispose();
});

gpuTest("modules reject invalid configurations", () => {
  const rng = new Rng(0);
  assert.throws(
    () => new Conv3d({ inChannels: 0, outChannels: 2, kernel: 3, rng }),
    /Conv3d: inChannels must be a positive integer, got 0/,
  );
  assert.throws(
    () =>
      new Conv3d({
        inChannels: 1,
        outChannels: 2,
        kernel: [3, 3] as unknown as number,
        rng,
      }),
    /Conv3d: kernel must be a positive integer or three of them/,
  );
  assert.throws(
    () => new Conv3d({ inChannels: 1, outChannels: 2, kernel: [3, 0, 3], rng }),
    /Conv3d: kernel\[1\] must be a positive integer, got 0/,
  );
  assert.throws(
    () => new Linear({ inFeatures: 2.5, outFeatures: 2, rng }),
    /Linear: inFeatures must be a positive integer/,
  );
  assert.throws(
    () => new BatchNorm3d({ channels: 2, momentum: 2 }),
    /BatchNorm3d: momentum must be in \[0, 1\], got 2/,
  );
  assert.throws(
    () => new BatchNorm3d({ channels: 2, eps: 0 }),
    /BatchNorm3d: eps must be a positive number/,
  );
  assert.throws(
    () => new Dropout({ p: 1.5 }),
    /Dropout: p must be in \[0, 1\], got 1.5/,
  );
  assert.throws(
    () =>
      new Unit3d({
        inChannels: 1,
        outChannels: 1,
        kernel: 1,
        activation: "tanh" as "relu",
        rng,
      }),
    /Unit3d: activation must be "relu" or null, got tanh/,
  );
});
