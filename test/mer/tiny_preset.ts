/** A tiny preset and a synthetic clip set for fast tests of the MPFNet stages. */
import { parsePreset, type Preset } from "../../src/mer/config.ts";
import type { ClipSet } from "../../src/mer/data.ts";
import { Rng } from "../../src/util/rng.ts";

const compact = Deno.readTextFileSync(
  new URL("../../experiments/presets/compact.json", import.meta.url),
);

/** Shrinks the compact preset's graph to 2 Mixed blocks and 8 x 8 inputs. */
export function tinyPreset(): Preset {
  const preset = parsePreset(compact, "compact.json");
  preset.model.size = 8;
  preset.model.frames = 4;
  preset.model.layers = [
    {
      type: "unit",
      name: "conv3d_1a",
      out: 4,
      kernel: [3, 3, 3],
      stride: [1, 2, 2],
    },
    { type: "mixed", name: "mixed_3b", branches: [2, 2, 3, 2, 2, 2] },
    {
      type: "maxpool",
      name: "maxpool3d_4a",
      kernel: [2, 2, 2],
      stride: [2, 2, 2],
    },
    { type: "mixed", name: "mixed_4b", branches: [3, 2, 3, 2, 2, 2] },
  ];
  preset.model.embedding = 8;
  preset.pltn = { ...preset.pltn, epochs: 2, samplesPerClass: 3 };
  preset.plsm = { ...preset.plsm, epochs: 2, batch: 6 };
  preset.fusion = {
    ...preset.fusion,
    epochs: 1,
    episodesPerEpoch: 2,
    shots: 2,
  };
  return preset;
}

/** Clips whose class shifts the mean of one channel, with per-subject offsets. */
export function syntheticClipSet(
  preset: Preset,
  subjects: number,
  perClass: number,
  seed: number,
): ClipSet {
  const rng = new Rng(seed);
  const shape: [number, number, number, number] = [
    preset.model.inputChannels,
    preset.model.frames,
    preset.model.size,
    preset.model.size,
  ];
  const plane = shape.reduce((a, b) => a * b, 1);
  const labels: number[] = [];
  const subjectIds: string[] = [];
  const inputs: Float32Array[] = [];
  for (let s = 0; s < subjects; s++) {
    for (let c = 0; c < 3; c++) {
      for (let k = 0; k < perClass; k++) {
        const x = new Float32Array(plane);
        const offset = rng.normal() * 0.1;
        for (let i = 0; i < plane; i++) {
          x[i] = rng.normal() + offset +
            (Math.floor(i / (plane / shape[0])) === c ? 2 : 0);
        }
        inputs.push(x);
        labels.push(c);
        subjectIds.push(`s${s + 1}`);
      }
    }
  }
  return {
    labels,
    subjects: subjectIds,
    ids: labels.map((_, i) => `clip${i}`),
    classNames: ["negative", "positive", "surprise"],
    inputShape: shape,
    horizontalFlowChannel: 0,
    input: (i) => inputs[i],
    amplified: (i, alpha) => inputs[i].map((v) => v * (1 + 0.02 * alpha)),
  };
}
