/**
 * Benchmark cases of whole training steps: one Inception block with
 * Coordinate Attention, a compact CA-I3D step, and an MPFNet-C episode.
 * Each `run` is one forward, backward and SGD update, synced at the end.
 */
import { backward } from "../src/autograd.ts";
import { runtime } from "../src/gpu/runtime.ts";
import { parsePreset } from "../src/mer/config.ts";
import { CaI3d } from "../src/mer/ca_i3d.ts";
import { MpfNet } from "../src/mer/mpfnet.ts";
import { Inception3d } from "../src/nn/inception.ts";
import type { Module } from "../src/nn/module.ts";
import {
  mean,
  mul,
  softmaxCrossEntropy,
  split,
  tripletMarginLoss,
} from "../src/ops/mod.ts";
import { SGD } from "../src/optim/mod.ts";
import { scope, type Tensor, tensor } from "../src/tensor.ts";
import { Rng } from "../src/util/rng.ts";
import type { BenchCase } from "./run.ts";

function compactModel() {
  const text = Deno.readTextFileSync(
    new URL("../experiments/presets/compact.json", import.meta.url),
  );
  return parsePreset(text, "experiments/presets/compact.json").model;
}

function randomInput(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return tensor(data, shape).keep();
}

interface StepState<M extends Module> {
  model: M;
  x: Tensor;
  optimizer: SGD;
}

function sgd(model: Module): SGD {
  return new SGD(model.parameters(), {
    lr: 0.01,
    momentum: 0.9,
    weightDecay: 5e-4,
  });
}

function teardown(state: StepState<Module>): void {
  state.optimizer.zeroGrad();
  state.model.dispose();
  state.x.dispose();
}

async function step(
  state: StepState<Module>,
  loss: () => Tensor,
): Promise<void> {
  scope(() => {
    backward(loss());
    state.optimizer.step();
    state.optimizer.zeroGrad();
  });
  await runtime().sync();
}

export const modelCases: BenchCase[] = [
  {
    // Mixed_3c of the compact preset on a batch of 24 at 5 x 4 x 4.
    name: "inception_ca_step",
    setup: (): StepState<Inception3d> => {
      const model = new Inception3d({
        inChannels: 32,
        branches: [16, 16, 24, 4, 12, 8],
        attention: true,
        rng: new Rng(1),
      });
      return {
        model,
        x: randomInput([24, 32, 5, 4, 4], 2),
        optimizer: sgd(model),
      };
    },
    run: (s: StepState<Inception3d>) =>
      step(s, () => mean(s.model.forward(s.x))),
    teardown,
  },
  {
    // The compact CA-I3D on a PLTN batch: 24 clips of 5 x 10 x 32 x 32.
    name: "ca_i3d_compact_triplet_step",
    setup: (): StepState<CaI3d> => {
      const config = compactModel();
      const model = new CaI3d(config, 1);
      const x = randomInput([
        24,
        config.inputChannels,
        config.frames,
        config.size,
        config.size,
      ], 3);
      return { model, x, optimizer: sgd(model) };
    },
    run: (s: StepState<CaI3d>) => {
      const labels = Array.from({ length: 24 }, (_, i) => Math.floor(i / 8));
      return step(
        s,
        () =>
          tripletMarginLoss(s.model.forward(s.x).embedding, labels, {
            squared: true,
          }),
      );
    },
    teardown,
  },
  {
    // A 3-way 5-shot episode with one query per class through MPFNet-C.
    name: "mpfnet_c_episode",
    setup: (): StepState<MpfNet> => {
      const config = compactModel();
      const model = new MpfNet("c", config, 1);
      const x = randomInput([
        18,
        config.inputChannels,
        config.frames,
        config.size,
        config.size,
      ], 4);
      return { model, x, optimizer: sgd(model) };
    },
    run: (s: StepState<MpfNet>) =>
      step(s, () => {
        const supportLabels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2];
        const [support, queries] = split(s.model.embed(s.x)[0], [15, 3], 0);
        const prototypes = s.model.prototypes([support], supportLabels, 3);
        const scores = s.model.scores([queries], prototypes);
        return softmaxCrossEntropy(mul(scores, 10), [0, 1, 2]);
      }),
    teardown,
  },
];
