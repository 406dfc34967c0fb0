/**
 * Wall time of one PLSM training step of a preset's model (forward,
 * cross-entropy, backward, AdamW), without profiling:
 *
 *   tools/deno run -A bench/step.ts [--batch 24] [--steps 16] [--preset compact]
 *
 * The first 2 steps compile the pipelines and are not counted. Run it with
 * LP_NUM_THREADS=N in the environment to compare llvmpipe thread counts.
 */
import { backward } from "../src/autograd.ts";
import { initRuntime } from "../src/gpu/runtime.ts";
import { PlsmNet } from "../src/mer/stages.ts";
import { softmaxCrossEntropy } from "../src/ops/mod.ts";
import { Adam } from "../src/optim/mod.ts";
import { scope, tensor } from "../src/tensor.ts";
import { exitOnErrors, parseCommandLine, UsageError } from "../src/util/cli.ts";
import { Rng } from "../src/util/rng.ts";
import { loadPreset } from "../experiments/train.ts";

const USAGE = "Usage: tools/deno run -A bench/step.ts [--batch N] " +
  "[--steps N] [--preset compact|paper] [--json]";
exitOnErrors();
const { values } = parseCommandLine({
  args: Deno.args,
  options: {
    batch: { type: "string", default: "24" },
    steps: { type: "string", default: "16" },
    preset: { type: "string", default: "compact" },
    json: { type: "boolean" },
  },
}, USAGE);
const batch = Number(values.batch);
const steps = Number(values.steps);
if (!Number.isInteger(batch) || batch < 2) {
  throw new UsageError(
    `--batch must be an integer >= 2, got '${values.batch}'\n\n${USAGE}`,
  );
}
if (!Number.isInteger(steps) || steps < 3) {
  throw new UsageError(
    `--steps must be an integer >= 3, got '${values.steps}'\n\n${USAGE}`,
  );
}

const rt = await initRuntime({ log: !values.json });
const preset = loadPreset(values.preset!);
const m = preset.model;
const shape = [batch, m.inputChannels, m.frames, m.size, m.size];
const rng = new Rng(1);
const data = Float32Array.from(
  { length: shape.reduce((a, b) => a * b, 1) },
  () => rng.normal(),
);
const labels = Array.from({ length: batch }, (_, i) => i % 3);
const model = new PlsmNet(preset, 3, 3);
const optimizer = new Adam(model.parameters(), {
  lr: 1e-3,
  weightDecay: 5e-4,
  decoupled: true,
});

const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  scope(() => {
    backward(softmaxCrossEntropy(model.forward(tensor(data, shape)), labels));
    optimizer.step();
    optimizer.zeroGrad();
  });
  await rt.sync();
  if (i >= 2) times.push(performance.now() - start);
}
const mean = times.reduce((a, b) => a + b, 0) / times.length;
const result = {
  name: `plsm_step_${preset.name}_batch${batch}`,
  ms: Number(mean.toFixed(1)),
  steps: times.length,
  llvmpipeThreads: rt.adapter.llvmpipeThreads,
  adapter: rt.adapter.description,
};
console.log(values.json ? JSON.stringify(result) : result);
