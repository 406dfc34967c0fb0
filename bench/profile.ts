/**
 * GPU time per operator of one model workload, from timestamp queries
 * (each dispatch in its own compute pass, so the total is higher than in a
 * normal run):
 *
 *   tools/deno run -A bench/profile.ts step [--batch 24] [--preset compact]
 *   tools/deno run -A bench/profile.ts episode [--variant c|p]
 *
 * `step` is a CA-I3D triplet training step (forward, backward, SGD);
 * `episode` a 3-way 5-shot episode with one query per class through
 * MPFNet-P or -C. Four iterations run; the first compiles the pipelines.
 */
import { exitOnErrors, parseCommandLine, UsageError } from "../src/util/cli.ts";
import { backward } from "../src/autograd.ts";
import { initRuntime } from "../src/gpu/runtime.ts";
import { CaI3d } from "../src/mer/ca_i3d.ts";
import { MpfNet } from "../src/mer/mpfnet.ts";
import {
  mul,
  softmaxCrossEntropy,
  split,
  tripletMarginLoss,
} from "../src/ops/mod.ts";
import { SGD } from "../src/optim/mod.ts";
import { scope, type Tensor, tensor } from "../src/tensor.ts";
import { Rng } from "../src/util/rng.ts";
import { loadPreset } from "../experiments/train.ts";

const USAGE = "Usage: tools/deno run -A bench/profile.ts [step|episode] " +
  "[--batch N] [--preset compact|paper] [--variant c|p] [--iterations N]";
exitOnErrors();
const { values, positionals } = parseCommandLine({
  args: Deno.args,
  allowPositionals: true,
  options: {
    batch: { type: "string", default: "24" },
    preset: { type: "string", default: "compact" },
    variant: { type: "string", default: "c" },
    iterations: { type: "string", default: "4" },
  },
}, USAGE);
const workload = positionals[0] ?? "step";
if (workload !== "step" && workload !== "episode") {
  throw new UsageError(
    `Unknown workload '${workload}'; use step or episode\n\n${USAGE}`,
  );
}
for (const flag of ["batch", "iterations"] as const) {
  const n = Number(values[flag]);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(
      `--${flag} must be a positive integer, got '${values[flag]}'\n\n${USAGE}`,
    );
  }
}
const rt = await initRuntime({ profile: true });
const config = loadPreset(values.preset!).model;
const rng = new Rng(1);
const batch = workload === "episode" ? 18 : Number(values.batch);
const shape = [
  batch,
  config.inputChannels,
  config.frames,
  config.size,
  config.size,
];
const data = Float32Array.from(
  { length: shape.reduce((a, b) => a * b, 1) },
  () => rng.normal(),
);

let lossOf: (x: Tensor) => Tensor;
let parameters: Tensor[];
if (workload === "step") {
  const model = new CaI3d(config, 1);
  const labels = Array.from({ length: batch }, (_, i) => i % 3);
  lossOf = (x) =>
    tripletMarginLoss(model.forward(x).embedding, labels, { squared: true });
  parameters = model.parameters();
} else {
  const model = new MpfNet(values.variant === "p" ? "p" : "c", config, 1);
  const supportLabels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2];
  lossOf = (x) => {
    const parts = model.embed(x).map((e) => split(e, [15, 3], 0));
    const prototypes = model.prototypes(
      parts.map((p) => p[0]),
      supportLabels,
      3,
    );
    const scores = model.scores(parts.map((p) => p[1]), prototypes);
    return softmaxCrossEntropy(mul(scores, 10), [0, 1, 2]);
  };
  parameters = model.parameters();
}
const optimizer = new SGD(parameters, { lr: 0.01, momentum: 0.9 });

for (let i = 0; i < Number(values.iterations); i++) {
  const start = performance.now();
  const before = rt.stats().dispatches;
  scope(() => {
    backward(lossOf(tensor(data, shape)));
    optimizer.step();
    optimizer.zeroGrad();
  });
  await rt.sync();
  console.log(
    `${workload} ${i}: ${(performance.now() - start).toFixed(0)} ms wall ` +
      `(profiled), ${rt.stats().dispatches - before} dispatches`,
  );
}
const report = await rt.profileReport();
const total = report.reduce((sum, r) => sum + r.ms, 0);
console.log(`\nGPU time over all iterations: ${total.toFixed(0)} ms`);
console.log(
  "operator".padEnd(42) + "ms".padStart(9) + "calls".padStart(8) +
    "share".padStart(8),
);
for (const r of report.slice(0, 25)) {
  console.log(
    r.op.padEnd(42) + r.ms.toFixed(1).padStart(9) +
      String(r.count).padStart(8) +
      `${((100 * r.ms) / total).toFixed(1)}%`.padStart(8),
  );
}
