import assert from "node:assert/strict";
import { join } from "node:path";
import { type FoldResult, runFold } from "../../src/mer/protocol.ts";
import { losoFolds } from "../../src/mer/sampling.ts";
import { gpuTest } from "../helpers.ts";
import { syntheticClipSet, tinyPreset } from "./tiny_preset.ts";

const preset = tinyPreset();
const set = syntheticClipSet(preset, 3, 3, 11);
const fold = losoFolds(set.subjects)[1];

function options(runDir: string, progress?: (label: string) => void) {
  return {
    preset,
    variant: "c" as const,
    gamma: 0.7,
    noPrior: undefined,
    seed: 4,
    epochScale: 1,
    runDir,
    log: () => {},
    progress: progress ? (label: string) => progress(label) : undefined,
  };
}

function probabilities(result: FoldResult): number[][] {
  return result.predictions.map((p) => p.probabilities);
}

gpuTest("a killed fold resumes to the same predictions", async () => {
  const root = await Deno.makeTempDir();
  try {
    const straight = await runFold(set, fold, options(join(root, "straight")));

    const killedDir = join(root, "killed");
    await assert.rejects(
      runFold(
        set,
        fold,
        options(killedDir, (label) => {
          if (label.endsWith("plsm")) throw new Error("killed during PLSM");
        }),
      ),
      /killed during PLSM/,
    );
    const files = [...Deno.readDirSync(join(killedDir, "folds", "01"))].map((
      e,
    ) => e.name);
    assert.ok(
      files.includes("pltn.safetensors"),
      "PLTN finished before the kill",
    );
    assert.ok(!files.includes("plsm.safetensors"));

    const resumed = await runFold(set, fold, options(killedDir));
    assert.deepEqual(probabilities(resumed), probabilities(straight));
    assert.deepEqual(
      resumed.history.map((h) => [h.stage, h.epoch, h.loss]),
      straight.history.map((h) => [h.stage, h.epoch, h.loss]),
    );

    const again = await runFold(set, fold, options(killedDir));
    assert.deepEqual(
      probabilities(again),
      probabilities(straight),
      "finished folds load",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
