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

/** The folder layout each loader reads, for error messages. */
const EXPECTED_LAYOUT: Record<LoadableDataset, string> = {
  smic: "SMIC_all_cropped/HS/s1/micro/negative/<clip>/<frames>; " +
    "SMIC_all_raw/ may take the place of SMIC_all_cropped/, or HS/ may be " +
    "at the top",
  casme2: "Cropped/sub01/EP02_01f/<frames> and the CASME II coding sheet " +
    "(.xlsx)",
  samm: "<subject, e.g. 006>/006_1_2/<frames> and the SAMM coding sheet " +
    "(.xlsx)",
  megc2019: "the SMIC, CASME II and SAMM folders side by side, each in its " +
    "own layout",
};

/**
 * Loads any of the datasets from its folder. A folder in which no clip is
 * found raises a DatasetError that lists the loader's warnings.
 */
export async function loadDataset(
  dataset: LoadableDataset,
  root: string,
  options: DatasetLoadOptions = {},
): Promise<LoadResult> {
  const result = await loadAnyDataset(dataset, root, options);
  if (result.clips.length === 0) {
    const reasons = [
      ...result.warnings,
      ...result.skipped.map((s) => `skipped ${s.clip}: ${s.reason}`),
    ].map((reason) => reason.replace(/\.$/, ""));
    throw new DatasetError(
      `No ${dataset} clips found in ${root}` +
        (reasons.length > 0 ? `: ${reasons.slice(0, 5).join("; ")}` : "") +
        (reasons.length > 5 ? ` (and ${reasons.length - 5} more)` : "") +
        `. Expected ${EXPECTED_LAYOUT[dataset]}`,
    );
  }
  return result;
}

function loadAnyDataset(
  dataset: LoadableDataset,
  root: string,
  options: DatasetLoadOptions,
): Promise<LoadResult> {
  const { sheet, framesDir, ...common } = options;
  if (
    (sheet !== undefined || framesDir !== undefined) &&
    (dataset === "smic" || dataset === "megc2019")
  ) {
    const extraOptions = [
      ...(sheet !== undefined ? ["sheet (--sheet)"] : []),
      ...(framesDir !== undefined ? ["framesDir (--frames)"] : []),
    ];
    throw new DatasetError(
      `${extraOptions.join(" and ")} ${
        extraOptions.length > 1 ? "apply" : "applies"
      } ` +
        `to casme2 and samm, not to ${dataset}; leave ` +
        `${extraOptions.length > 1 ? "them" : "it"} out`,
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
