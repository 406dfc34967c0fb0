/**
 * Measures how much of the expression each SMIC apex rule keeps, on the
 * synthetic SMIC set, whose generator records the true apex of every clip:
 * `tools/deno run -A bench/apex.ts [--candidates N] [--json]`.
 *
 * For every clip it picks the apex as the middle frame and as the TV-L1
 * estimate among N frames of the central half, with and without matching
 * each candidate's brightness to the onset. It reports the expression's
 * activation at the chosen frame (1 at the true apex, 0 at onset and
 * offset) and the distance to the true apex in frames.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { synthesize } from "../datasets/mod.ts";
import { loadSmic } from "../datasets/smic.ts";
import { planClips, synthSpecs } from "../datasets/synth/plan.ts";
import { middleFrame } from "../datasets/types.ts";
import { decodeImage } from "../datasets/images.ts";
import { noGrad } from "../src/autograd.ts";
import { initRuntime } from "../src/gpu/runtime.ts";
import { permute } from "../src/ops/mod.ts";
import { scope, type Tensor, tensor } from "../src/tensor.ts";
import { estimateApexIndex, MOTION_TVL1, resize } from "../src/vision/mod.ts";
import { loadPreset } from "../experiments/train.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    candidates: { type: "string", default: "6" },
    json: { type: "boolean" },
  },
});
const count = Number(values.candidates);
if (!Number.isInteger(count) || count < 2) {
  throw new Error(
    `Invalid --candidates ${values.candidates}: give a whole number of at least 2`,
  );
}
await initRuntime({ log: !values.json });
const preset = loadPreset("compact");
const size = preset.preprocess.size;
const tvl1 = {
  nscales: preset.preprocess.tvl1.scales,
  warps: preset.preprocess.tvl1.warps,
  innerIterations: preset.preprocess.tvl1.innerIterations,
};
const seed = 1;
const dir = await Deno.makeTempDir({ prefix: "mpfnet-apex-" });

/** Returns the generator's raised-cosine activation at `frame`, 1 at the apex. */
function activation(
  frame: number,
  plan: { onset: number; apex: number; offset: number },
): number {
  const { onset, apex, offset } = plan;
  if (frame <= apex) {
    return apex === onset
      ? 1
      : 0.5 - 0.5 * Math.cos(Math.PI * (frame - onset) / (apex - onset));
  }
  return 0.5 + 0.5 * Math.cos(Math.PI * (frame - apex) / (offset - apex));
}

async function workFrame(path: string): Promise<Tensor> {
  const image = await decodeImage(path);
  return noGrad(() =>
    scope(() =>
      resize(
        permute(
          tensor(image.data, [image.height, image.width, image.channels]),
          [2, 0, 1],
        ),
        { height: size, width: size, mode: "area" },
      )
    )
  );
}

const rules = ["middle", "estimate", "estimateUnmatched"] as const;
const scores = Object.fromEntries(
  rules.map((r) => [r, { activation: [] as number[], error: [] as number[] }]),
);
try {
  await synthesize("smic", join(dir, "smic"), { seed, size: 128 });
  const { clips } = await loadSmic(join(dir, "smic"), {});
  const plans = planClips(synthSpecs.smic, seed);
  for (const clip of clips) {
    const plan = plans.find((p) =>
      p.subject === clip.subject && p.clip === clip.clip
    );
    if (!plan) {
      throw new Error(
        `Generator plan not found for ${clip.subject}/${clip.clip}`,
      );
    }
    const onsetIndex = clip.frameNumbers.indexOf(clip.onset);
    const span = clip.frameNumbers.indexOf(clip.offset) - onsetIndex;
    const first = onsetIndex + Math.max(1, Math.round(0.25 * span));
    const last = onsetIndex + Math.max(1, Math.round(0.75 * span));
    const n = Math.min(count, last - first + 1);
    const step = (last - first) / Math.max(n - 1, 1);
    const candidates = [
      ...new Set(
        Array.from({ length: n }, (_, k) => first + Math.round(k * step)),
      ),
    ];
    const onset = await workFrame(clip.framePaths[onsetIndex]);
    const frames = await Promise.all(
      candidates.map((i) => workFrame(clip.framePaths[i])),
    );
    const chosen: Record<(typeof rules)[number], number> = {
      middle: middleFrame(clip),
      estimate: 0,
      estimateUnmatched: 0,
    };
    for (const rule of ["estimate", "estimateUnmatched"] as const) {
      const { index } = await estimateApexIndex(
        onset,
        frames,
        { ...tvl1, ...MOTION_TVL1 },
        true,
        rule === "estimate",
      );
      chosen[rule] = clip.frameNumbers[candidates[index]];
    }
    onset.dispose();
    frames.forEach((f) => f.dispose());
    for (const rule of rules) {
      scores[rule].activation.push(activation(chosen[rule], plan));
      scores[rule].error.push(Math.abs(chosen[rule] - plan.apex));
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const quantile = (v: number[], q: number) =>
  [...v].sort((a, b) => a - b)[Math.floor(q * (v.length - 1))];
for (const rule of rules) {
  const { activation: a, error: e } = scores[rule];
  const result = {
    name: `apex_${rule}`,
    clips: a.length,
    meanActivation: Number(mean(a).toFixed(3)),
    activationQ10: Number(quantile(a, 0.1).toFixed(3)),
    meanFrameError: Number(mean(e).toFixed(2)),
  };
  console.log(values.json ? JSON.stringify(result) : result);
}
