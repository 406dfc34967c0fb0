/**
 * Synthetic micro-expression datasets in the official layouts of SMIC-HS,
 * CASME II and SAMM (images and coding sheets with their quirks), for
 * running the whole pipeline where the real datasets are not available.
 * The same seed and size give byte-identical files.
 *
 * @example Generate a small SMIC-HS stand-in
 * ```ts ignore
 * import { synthesize } from "./mod.ts";
 *
 * const summary = await synthesize("smic", "data/smic-synthetic", {
 *   seed: 1,
 *   size: 64,
 * });
 * console.log(summary.clips, summary.seconds);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { z } from "zod";
import { DatasetError } from "../types.ts";
import { deriveSeed } from "./random.ts";
import { planClips, type SynthDataset, synthSpecs } from "./plan.ts";
import { renderFaces, writeClips, writeSheet } from "./layout.ts";

export { type SynthDataset, synthDatasets } from "./plan.ts";

/** Folder names of the three parts when the MEGC2019 composite is made. */
export const megc2019Folders: Readonly<Record<SynthDataset, string>> = {
  smic: "SMIC",
  casme2: "CASME2",
  samm: "SAMM",
};

export const synthesizeOptionsSchema = z.object({
  /** Seed of every random choice; the same seed gives the same files. */
  seed: z.number().int().nonnegative().max(0xffffffff),
  /** Image side in pixels (square frames). */
  size: z.number().int().min(16).max(1024).default(128),
  /** Replace an earlier synthetic dataset in the output folder. */
  overwrite: z.boolean().default(false),
  /** Receives progress: clips written so far and in total. */
  onProgress: z.custom<(done: number, total: number) => void>(
    (value) => typeof value === "function",
  ).optional(),
});
export type SynthesizeOptions = z.input<typeof synthesizeOptionsSchema>;

export interface SynthesisSummary {
  dataset: SynthDataset | "megc2019";
  outDir: string;
  subjects: number;
  clips: number;
  frames: number;
  /** Clips per emotion as the dataset spells it. */
  emotions: Record<string, number>;
  /** Wall-clock time of the generation, in seconds. */
  seconds: number;
}

/** Name of the file that marks a folder as generated. */
export const synthMarkerName = "SYNTHETIC.txt";

/**
 * Writes a synthetic dataset in the official layout of `dataset` into
 * `outDir`; "megc2019" writes all three into SMIC/, CASME2/ and SAMM/.
 * Rejects a non-empty folder unless it contains an earlier synthetic dataset
 * and `overwrite` is set.
 */
export async function synthesize(
  dataset: SynthDataset | "megc2019",
  outDir: string,
  options: SynthesizeOptions,
): Promise<SynthesisSummary> {
  const parsed = synthesizeOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) =>
      `${issue.path.join(".")}: ${issue.message}`
    ).join("; ");
    throw new DatasetError(`Invalid synthesis options: ${details}`);
  }
  const resolved = parsed.data;
  await prepareOutput(outDir, resolved.overwrite);
  const started = performance.now();

  const parts: SynthDataset[] = dataset === "megc2019"
    ? ["smic", "casme2", "samm"]
    : [dataset];
  const summary: SynthesisSummary = {
    dataset,
    outDir,
    subjects: 0,
    clips: 0,
    frames: 0,
    emotions: {},
    seconds: 0,
  };
  for (const part of parts) {
    const partDir = dataset === "megc2019"
      ? join(outDir, megc2019Folders[part])
      : outDir;
    const written = await synthesizeOne(part, partDir, resolved);
    summary.subjects += written.subjects;
    summary.clips += written.clips;
    summary.frames += written.frames;
    for (const [emotion, count] of Object.entries(written.emotions)) {
      const key = dataset === "megc2019" ? `${part}/${emotion}` : emotion;
      summary.emotions[key] = count;
    }
  }
  await Deno.writeTextFile(
    join(outDir, synthMarkerName),
    `Synthetic ${dataset} dataset written by datasets/synth ` +
      `(seed ${resolved.seed}, ${resolved.size} x ${resolved.size} pixels). ` +
      "It contains rendered faces, not recordings of people.\n",
  );
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

async function synthesizeOne(
  dataset: SynthDataset,
  outDir: string,
  options: z.output<typeof synthesizeOptionsSchema>,
): Promise<Omit<SynthesisSummary, "dataset" | "outDir" | "seconds">> {
  const spec = synthSpecs[dataset];
  const plans = planClips(spec, options.seed);
  const faces = renderFaces(spec, options.seed, options.size);
  const frames = await writeClips(
    spec,
    plans,
    faces,
    outDir,
    options.size,
    options.onProgress,
  );
  if (dataset !== "smic") {
    await writeSheet(spec, plans, outDir, deriveSeed(options.seed, dataset));
  }
  const emotions: Record<string, number> = {};
  for (const plan of plans) {
    emotions[plan.emotion] = (emotions[plan.emotion] ?? 0) + 1;
  }
  return {
    subjects: new Set(plans.map((plan) => plan.subject)).size,
    clips: plans.length,
    frames,
    emotions,
  };
}

async function prepareOutput(outDir: string, overwrite: boolean) {
  let entries: string[] = [];
  try {
    for await (const entry of Deno.readDir(outDir)) entries.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    entries = [];
  }
  if (entries.length > 0) {
    if (!entries.includes(synthMarkerName)) {
      throw new DatasetError(
        `Output folder ${outDir} is not empty and contains no synthetic ` +
          "dataset; choose a new or empty folder",
      );
    }
    if (!overwrite) {
      throw new DatasetError(
        `Output folder ${outDir} already contains a synthetic dataset; pass ` +
          "overwrite (--overwrite) to replace it, or choose another folder",
      );
    }
    const foreign = entries.filter((name) => !GENERATED_ENTRY.test(name));
    if (foreign.length > 0) {
      throw new DatasetError(
        `Output folder ${outDir} contains a synthetic dataset and other ` +
          `files (${foreign.join(", ")}), which --overwrite would delete; ` +
          "move them away or choose another folder",
      );
    }
    for (const name of entries) {
      await Deno.remove(join(outDir, name), { recursive: true });
    }
  }
  await Deno.mkdir(outDir, { recursive: true });
}

/**
 * Top-level names the generator writes: the SMIC, CASME II and SAMM
 * layouts (SAMM subject folders are three digits), their sheets, the
 * MEGC2019 part folders and the marker file. --overwrite removes only these.
 */
const GENERATED_ENTRY =
  /^(SMIC_all_cropped|SMIC_all_raw|Cropped|CASME2_RAW_selected|SMIC|CASME2|SAMM|SYNTHETIC\.txt|\d{3}|[^/]+\.xlsx)$/;
