/**
 * Fidelity of whole training steps against PyTorch. The reference
 * test/fixtures/torch_model.py implements the networks independently in
 * PyTorch 1.13 (float64), for PLSM, PLTN, MPFNet-P and MPFNet-C on a shrunk
 * CA-I3D. For each it stores the weights before the step, the input, the
 * loss, every parameter gradient, the state after one SGD update (momentum
 * 0.9, weight decay 5e-4) and intermediate activations, and for PLSM a
 * second step. These tests load the same weights by name, run the same
 * steps with our operators and optimizer, and compare.
 *
 * Tolerances: the loss within 1e-4 relative; gradients, parameters and
 * BatchNorm running statistics within 1e-3 relative L2 error
 * ||a - e|| / ||e||. The change made by the step is also checked against
 * its own size, ||a - e|| <= 1e-3 ||e - before|| + 1e-6 ||e||, because a
 * small update barely moves the parameters' relative error. The floor
 * 1e-6 ||e|| is about 16 times the float32 rounding (2^-24) of the stored
 * values.
 */
import assert from "node:assert/strict";
import { backward, noGrad } from "../../src/autograd.ts";
import {
  type HostTensor,
  loadSafetensors,
  loadStateInto,
} from "../../src/io/safetensors.ts";
import { CaI3d } from "../../src/mer/ca_i3d.ts";
import { type ModelConfig, modelSchema } from "../../src/mer/config.ts";
import { MpfNet } from "../../src/mer/mpfnet.ts";
import { PlsmNet } from "../../src/mer/stages.ts";
import type { Module } from "../../src/nn/module.ts";
import {
  add,
  concat,
  maxPool3d,
  mul,
  softmaxCrossEntropy,
  split,
  tripletMarginLoss,
  upsampleTrilinear3d,
} from "../../src/ops/mod.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { readAll, scope, type Tensor, tensor } from "../../src/tensor.ts";
import { gpuTest } from "../helpers.ts";
import { tinyPreset } from "./tiny_preset.ts";

const FIXTURES = new URL("../fixtures/torch_model/", import.meta.url);
const REGENERATE =
  "regenerate with /usr/bin/python3 test/fixtures/torch_model.py";

const LOSS_RTOL = 1e-4;
const RELATIVE_L2 = 1e-3;
/** Floor of the update check, as a fraction of the state tensor's norm. */
const STATE_FLOOR = 1e-6;
/** Norm below which an expected gradient counts as zero, checked absolutely. */
const ZERO_NORM = 1e-6;

interface Fixture {
  name: string;
  statePath: string;
  before: Map<string, HostTensor>;
  expected: Map<string, HostTensor>;
  metadata: Record<string, string>;
  config: ModelConfig;
  /** Training steps stored in the fixture. */
  steps: number;
}

async function loadFixture(name: string): Promise<Fixture> {
  const statePath = new URL(`${name}_state.safetensors`, FIXTURES).pathname;
  const stepPath = new URL(`${name}_step.safetensors`, FIXTURES).pathname;
  const state = await loadSafetensors(statePath);
  const step = await loadSafetensors(stepPath);
  const config = modelSchema.parse(JSON.parse(step.metadata.config));
  const steps = Number(step.metadata.steps);
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(
      `Fixture ${name}_step.safetensors has steps '${step.metadata.steps}' ` +
        `in its metadata, expected a positive integer; ${REGENERATE}`,
    );
  }
  return {
    name,
    statePath,
    before: state.tensors,
    expected: step.tensors,
    metadata: step.metadata,
    config,
    steps,
  };
}

function expectedTensor(fixture: Fixture, key: string): HostTensor {
  const t = fixture.expected.get(key);
  if (!t) {
    throw new Error(
      `Fixture ${fixture.name}_step.safetensors has no tensor '${key}'; ${REGENERATE}`,
    );
  }
  return t;
}

function upload(t: HostTensor): Tensor {
  return tensor(t.data, t.shape, t.dtype);
}

function norm(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i] * values[i];
  return Math.sqrt(total);
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += (a[i] - b[i]) ** 2;
  return Math.sqrt(total);
}

/**
 * Returns a line naming the value and its relative L2 error
 * ||a - e|| / ||e|| when that exceeds `rtol`, else null.
 */
function relativeFailure(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = RELATIVE_L2,
): string | null {
  if (actual.length !== expected.length) {
    return `${what}: ${actual.length} values, expected ${expected.length}`;
  }
  const expectedNorm = norm(expected);
  if (expectedNorm < ZERO_NORM) {
    const actualNorm = norm(actual);
    return actualNorm <= ZERO_NORM ? null : (
      `${what}: expected zero (norm ${expectedNorm.toExponential(2)}), ` +
      `got norm ${actualNorm.toExponential(3)}`
    );
  }
  const error = distance(actual, expected) / expectedNorm;
  return error <= rtol ? null : (
    `${what}: relative L2 error ${error.toExponential(3)} > ${rtol} ` +
    `(expected norm ${expectedNorm.toExponential(3)})`
  );
}

/** Builds the loss of one step from the batch, as the training stage does. */
type StepBody = (x: Tensor, labels: number[]) => Tensor;

interface StepResult {
  loss: number;
  gradients: Map<string, Float32Array | null>;
  after: Map<string, Float32Array>;
}

/**
 * Loads the fixture's weights into `model` by name (strict), then runs as
 * many steps as the fixture has on its batch with one optimizer: forward,
 * backward, read every gradient, one SGD update, read the state dict.
 */
async function runSteps(
  fixture: Fixture,
  model: Module,
  body: StepBody,
): Promise<StepResult[]> {
  await loadStateInto(model, fixture.statePath);
  model.train();
  const sgd = JSON.parse(fixture.metadata.sgd);
  const parameters = model.namedParameters();
  const names = [...parameters.keys()];
  const optimizer = new SGD([...parameters.values()], {
    lr: sgd.lr,
    momentum: sgd.momentum,
    weightDecay: sgd.weightDecay,
  });
  const labels = Array.from(expectedTensor(fixture, "labels").data);
  const x = upload(expectedTensor(fixture, "input"));
  const results: StepResult[] = [];
  for (let k = 0; k < fixture.steps; k++) {
    const loss = scope(() => {
      const l = body(x, labels);
      backward(l);
      return l;
    });
    const withGradient = names.filter((n) => parameters.get(n)!.grad !== null);
    const read = await readAll([
      loss,
      ...withGradient.map((n) => parameters.get(n)!.grad!),
    ]);
    const gradients = new Map<string, Float32Array | null>(
      names.map((n) => [n, null]),
    );
    withGradient.forEach((n, i) => {
      gradients.set(n, read[i + 1] as Float32Array);
    });

    optimizer.step();
    optimizer.zeroGrad();
    const state = model.stateDict();
    const values = await readAll([...state.values()]);
    const after = new Map(
      [...state.keys()].map((n, i) => [n, values[i] as Float32Array]),
    );
    loss.dispose();
    results.push({ loss: read[0][0], gradients, after });
  }
  x.dispose();
  optimizer.dispose();
  return results;
}

/**
 * Checks step `k` (from 1) against the fixture, one assert per kind of
 * value: loss, gradients, state after the update, and the update itself.
 */
function checkStep(fixture: Fixture, result: StepResult, k: number): void {
  const suffix = k === 1 ? "" : String(k);
  const step = `${fixture.name} step ${k}`;
  const expectedLoss = Number(fixture.metadata[`loss${suffix}`]);
  const lossError = Math.abs(result.loss - expectedLoss) /
    Math.abs(expectedLoss);
  assert.ok(
    lossError <= LOSS_RTOL,
    `${step} loss ${result.loss}, expected ${expectedLoss} ` +
      `(relative error ${lossError.toExponential(3)} > ${LOSS_RTOL})`,
  );

  const gradientFailures: string[] = [];
  for (const [name, actual] of result.gradients) {
    const expected = fixture.expected.get(`grad${suffix}.${name}`);
    if (!expected && actual) {
      gradientFailures.push(
        `${name}: has a gradient, but PyTorch gives none`,
      );
    } else if (expected && !actual) {
      gradientFailures.push(`${name}: no gradient, but PyTorch gives one`);
    } else if (expected && actual) {
      const failure = relativeFailure(name, actual, expected.data);
      if (failure) gradientFailures.push(failure);
    }
  }
  assert.deepEqual(
    gradientFailures,
    [],
    `${step} gradients differ from PyTorch:\n  ${
      gradientFailures.join("\n  ")
    }`,
  );

  const stateFailures: string[] = [];
  const updateFailures: string[] = [];
  for (const name of fixture.before.keys()) {
    const actual = result.after.get(name);
    const expected = expectedTensor(fixture, `after${suffix}.${name}`).data;
    const before = k === 1
      ? fixture.before.get(name)!.data
      : expectedTensor(fixture, `after${k === 2 ? "" : k - 1}.${name}`).data;
    if (!actual) {
      stateFailures.push(`${name}: missing from the model's state dict`);
      continue;
    }
    const failure = relativeFailure(name, actual, expected);
    if (failure) stateFailures.push(failure);
    const change = distance(expected, before);
    const error = distance(actual, expected);
    const bound = RELATIVE_L2 * change + STATE_FLOOR * norm(expected);
    if (error > bound) {
      updateFailures.push(
        `${name}: error ${error.toExponential(3)} against a step of ` +
          `${change.toExponential(3)} (bound ${bound.toExponential(3)})`,
      );
    }
  }
  assert.deepEqual(
    stateFailures,
    [],
    `${step} parameters or running statistics after the update differ ` +
      `from PyTorch:\n  ${stateFailures.join("\n  ")}`,
  );
  assert.deepEqual(
    updateFailures,
    [],
    `${step} updates differ from PyTorch's:\n  ${updateFailures.join("\n  ")}`,
  );
}

/** Runs the fixture's steps on `model`, disposes it, and checks every step. */
async function checkSteps(
  fixture: Fixture,
  model: Module,
  body: StepBody,
): Promise<StepResult[]> {
  const results = await runSteps(fixture, model, body);
  model.dispose();
  results.forEach((result, i) => checkStep(fixture, result, i + 1));
  return results;
}

/** Returns the compact preset with the fixture's model config. */
function presetFor(config: ModelConfig) {
  const preset = tinyPreset();
  preset.model = config;
  return preset;
}

function episodeBody(
  fixture: Fixture,
  model: MpfNet,
): StepBody {
  const supportLabels: number[] = JSON.parse(fixture.metadata.supportLabels);
  const queryLabels: number[] = JSON.parse(fixture.metadata.queryLabels);
  const classes = Number(fixture.metadata.classes);
  const temperature = Number(fixture.metadata.temperature);
  // The step of trainFusion: one forward pass over support and queries.
  return (x) => {
    const parts = model.embed(x).map((embedding) =>
      split(embedding, [supportLabels.length, queryLabels.length], 0)
    );
    const prototypes = model.prototypes(
      parts.map((p) => p[0]),
      supportLabels,
      classes,
    );
    const scores = model.scores(parts.map((p) => p[1]), prototypes);
    return softmaxCrossEntropy(mul(scores, temperature), queryLabels);
  };
}

gpuTest("PLSM steps match PyTorch", async () => {
  const fixture = await loadFixture("plsm");
  const classes = Number(fixture.metadata.classes);
  const model = new PlsmNet(presetFor(fixture.config), classes, 0);
  const results = await checkSteps(
    fixture,
    model,
    (x, labels) => softmaxCrossEntropy(model.forward(x), labels),
  );
  assert.equal(results.length, 2);
});

gpuTest("PLTN step matches PyTorch", async () => {
  const fixture = await loadFixture("pltn");
  assert.equal(fixture.metadata.squared, "true");
  const margin = Number(fixture.metadata.margin);
  const model = new CaI3d(fixture.config, 0);
  await checkSteps(
    fixture,
    model,
    (x, labels) =>
      tripletMarginLoss(model.forward(x).embedding, labels, {
        margin,
        squared: true,
      }),
  );
});

gpuTest("MPFNet-P episode step matches PyTorch", async () => {
  const fixture = await loadFixture("mpfnet_p");
  const gamma = Number(fixture.metadata.gamma);
  const model = new MpfNet("p", fixture.config, 0, gamma);
  await checkSteps(fixture, model, episodeBody(fixture, model));
});

gpuTest("MPFNet-C episode step matches PyTorch", async () => {
  const fixture = await loadFixture("mpfnet_c");
  const model = new MpfNet("c", fixture.config, 0);
  const [result] = await checkSteps(
    fixture,
    model,
    episodeBody(fixture, model),
  );
  assert.ok(
    result.gradients.get("projection.weight"),
    "the projection of MPFNet-C gets a gradient",
  );
});

/**
 * Runs an encoder layer by layer in training mode and returns, with its
 * output, the tensors to compare with the fixture's activations under
 * `prefix`: every layer's output, and the concatenated branches and the
 * Coordinate Attention gates of every Mixed block.
 */
function traceEncoder(
  encoder: CaI3d,
  x: Tensor,
  prefix: string,
): { traced: Map<string, Tensor>; features: Tensor } {
  const traced = new Map<string, Tensor>();
  let y = x;
  for (const layer of encoder.layers) {
    const input = y;
    if (layer.kind === "maxpool") {
      y = maxPool3d(input, {
        kernel: layer.kernel,
        stride: layer.stride,
        padding: "same",
      });
    } else if (layer.kind === "unit") {
      y = layer.module.forward(input);
    } else {
      const block = layer.module;
      // The branches again, to tell the Inception part from the attention.
      traced.set(
        `${prefix}${layer.name}.joined`,
        concat([
          block.b0.forward(input),
          block.b1b.forward(block.b1a.forward(input)),
          block.b2b.forward(block.b2a.forward(input)),
          block.b3b.forward(
            maxPool3d(input, { kernel: 3, stride: 1, padding: "same" }),
          ),
        ], 1),
      );
      y = block.forward(input, true);
      const gates = block.ca!.lastGates!;
      traced.set(`${prefix}${layer.name}.ca.gateT`, gates.t);
      traced.set(`${prefix}${layer.name}.ca.gateH`, gates.h);
      traced.set(`${prefix}${layer.name}.ca.gateW`, gates.w);
    }
    traced.set(`${prefix}${layer.name}`, y);
  }
  return { traced, features: y };
}

async function compareActivations(
  fixture: Fixture,
  traced: Map<string, Tensor>,
): Promise<string[]> {
  const names = [...traced.keys()];
  const values = await readAll(names.map((n) => traced.get(n)!));
  const failures: string[] = [];
  names.forEach((name, i) => {
    const expected = expectedTensor(fixture, `activation.${name}`);
    const failure = relativeFailure(name, values[i], expected.data);
    if (failure) failures.push(failure);
  });
  return failures;
}

gpuTest("CA-I3D activations match PyTorch layer by layer", async () => {
  const fixture = await loadFixture("plsm");
  const classes = Number(fixture.metadata.classes);
  const model = new PlsmNet(presetFor(fixture.config), classes, 0);
  await loadStateInto(model, fixture.statePath);
  model.train();
  const x = upload(expectedTensor(fixture, "input"));
  const traced = noGrad(() =>
    scope(() => {
      const { traced, features } = traceEncoder(model.encoder, x, "");
      const { projection, embedding } = model.encoder.head(features);
      traced.set("projection", projection);
      traced.set("embedding", embedding);
      traced.set("logits", model.classifier.forward(projection));
      return traced;
    })
  );
  const failures = await compareActivations(fixture, traced);
  for (const t of traced.values()) t.dispose();
  x.dispose();
  model.dispose();
  assert.deepEqual(
    failures,
    [],
    `activations differ from PyTorch:\n  ${failures.join("\n  ")}`,
  );
});

gpuTest("MPFNet-C cascade activations match PyTorch", async () => {
  const fixture = await loadFixture("mpfnet_c");
  const model = new MpfNet("c", fixture.config, 0);
  await loadStateInto(model, fixture.statePath);
  model.train();
  const x = upload(expectedTensor(fixture, "input"));
  const [, , t, h, w] = x.shape;
  const traced = noGrad(() =>
    scope(() => {
      const gfe = traceEncoder(model.gfe, x, "gfe.");
      const projected = model.projection!.forward(gfe.features);
      const fused = add(
        x,
        upsampleTrilinear3d(projected, { size: [t, h, w] }),
      );
      const afe = traceEncoder(model.afe, fused, "afe.");
      const { projection, embedding } = model.afe.head(afe.features);
      return new Map([
        ...gfe.traced,
        ["projected", projected],
        ["fused", fused],
        ...afe.traced,
        ["afe.projection", projection],
        ["afe.embedding", embedding],
      ]);
    })
  );
  const failures = await compareActivations(fixture, traced);
  for (const v of traced.values()) v.dispose();
  x.dispose();
  model.dispose();
  assert.deepEqual(
    failures,
    [],
    `activations differ from PyTorch:\n  ${failures.join("\n  ")}`,
  );
});
