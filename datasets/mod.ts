/**
 * Micro-expression datasets in their official layouts: loaders for SMIC,
 * CASME II, SAMM and the MEGC2019 composite, their class maps, image
 * decoding and encoding, and the synthetic dataset generator.
 *
 * @example Load CASME II in five classes
 * ```ts ignore
 * import { loadDataset, summarizeClips } from "./mod.ts";
 *
 * const result = await loadDataset("casme2", "data/CASME2", { classes: 5 });
 * console.log(summarizeClips(result.clips), result.skipped);
 * ```
 *
 * @module
 */

import { loadCasme2 } from "./casme2.ts";
import { loadMegc2019, type Megc2019Options } from "./megc2019.ts";
import { loadSamm } from "./samm.ts";
import { loadSmic } from "./smic.ts";
import { DatasetError, type LoadOptions, type LoadResult } from "./types.ts";

export * from "./types.ts";
export * from "./class_maps.ts";
export {
  decodeImage,
  decodeImageBytes,
  encodeBmp,
  encodeJpeg,
  encodePng,
} from "./images.ts";
export type { DecodedImage } from "./images.ts";
export { loadSmic, type SmicOptions, smicVariants } from "./smic.ts";
export { type Casme2Options, loadCasme2 } from "./casme2.ts";
export { loadSamm, type SammOptions } from "./samm.ts";
export {
  loadMegc2019,
  type Megc2019Options,
  type Megc2019Result,
  type Megc2019Roots,
} from "./megc2019.ts";
export { synthesize, type SynthesizeOptions } from "./synth/mod.ts";

/** Names accepted by loadDataset. */
export const loadableDatasets = ["smic", "casme2", "samm", "megc2019"] as const;
export type LoadableDataset = typeof loadableDatasets[number];

/** Options of loadDataset: the common ones, and for CASME II and SAMM the
 * coding sheet and frame folder when they are not found by search. */
export type DatasetLoadOptions = LoadOptions & {
  sheet?: string;
  framesDir?: string;
};

/** Loads any of the datasets from its folder. */
export function loadDataset(
  dataset: LoadableDataset,
  root: string,
  options: DatasetLoadOptions = {},
): Promise<LoadResult> {
  const { sheet, framesDir, ...common } = options;
  if (
    (sheet !== undefined || framesDir !== undefined) &&
    (dataset === "smic" || dataset === "megc2019")
  ) {
    throw new DatasetError(
      `sheet (--sheet) and framesDir (--frames) apply to casme2 and samm, ` +
        `not to ${dataset}`,
    );
  }
  switch (dataset) {
    case "smic":
      return loadSmic(root, common);
    case "casme2":
      return loadCasme2(root, { ...common, sheet, framesDir });
    case "samm":
      return loadSamm(root, { ...common, sheet, framesDir });
    case "megc2019":
      return loadMegc2019(root, common as Megc2019Options);
  }
}
