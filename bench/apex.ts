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
import { exitOnErrors, parseCommandLine, UsageError } from "../src/util/cli.ts";
import { synthesize } from "../datasets/mod.ts";
import { loadSmic } from "../datasets/smic.ts";
import { planClips, synthSpecs } from "../datasets/synth/plan.ts";
import { middleFrame } from "../datasets/types.ts";
import { initRuntime } from "../src/gpu/runtime.ts";
import { estimateApexIndex, MOTION_TVL1 } from "../src/vision/mod.ts";
import { loadPreset } from "../experiments/train.ts";
import { preprocessorFor } from "../experiments/pipeline.ts";
import { apexCandidateFrames } from "../datasets/preprocess.ts";

const USAGE =
  "Usage: tools/deno run -A bench/apex.ts [--candidates N] [--json]";
exitOnErrors();
const { values } = parseCommandLine({
  args: Deno.args,
  options: {
    candidates: { type: "string", default: "6" },
    json: { type: "boolean" },
  },
}, USAGE);
const count = Number(values.candidates);
if (!Number.isInteger(count) || count < 2) {
  throw new UsageError(
    `Invalid --candidates ${values.candidates}: give a whole number of at least 2`,
  );
}
await initRuntime({ log: !values.json });
const preset = loadPreset("compact");
// Frames are loaded and resized as preprocessing loads them.
const preprocessor = preprocessorFor("smic", preset);
const tvl1 = preprocessor.settings.tvl1;
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
    const candidates = apexCandidateFrames(clip, onsetIndex, count);
    const onset = await preprocessor.workFrame(clip.framePaths[onsetIndex]);
    const frames = await Promise.all(
      candidates.map((i) => preprocessor.workFrame(clip.framePaths[i])),
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
