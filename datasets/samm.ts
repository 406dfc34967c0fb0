/**
 * Loader for SAMM in its official layout: grayscale frames in
 * `SAMM/006/006_1_2/006_05562.jpg` (subject / {subject}_{inducement}_{clip}
 * / {subject}_{5-digit frame}.jpg; the cropped `SAMM_CROP` variant keeps
 * the names) and the coding sheet `SAMM_Micro_FACS_Codes_*.xlsx`, whose
 * header row (Subject, Filename, Inducement Code, Onset Frame, Apex Frame,
 * Offset Frame, ..., Action Units, Estimated Emotion) follows preamble
 * rows. The header row is searched for, not assumed. Recorded at 200 fps.
 *
 * @module
 */

import {
  type CodedSheetOptions,
  type CodedSheetSpec,
  loadCodedSheetDataset,
} from "./coded_sheet.ts";
import type { LoadResult } from "./types.ts";

export type SammOptions = CodedSheetOptions;

export const sammSpec: CodedSheetSpec = {
  dataset: "samm",
  title: "SAMM",
  fps: 200,
  sheetPattern: /^SAMM_Micro_FACS_Codes.*\.xlsx$/i,
  sheetExample: "SAMM_Micro_FACS_Codes_v2.xlsx",
  framesFolderNames: ["SAMM_CROP", "SAMM"],
  subjectFolderPattern: /^(\d+)$/,
  subjectFolder: (subjectNumber) => String(subjectNumber).padStart(3, "0"),
  columns: {
    subject: "Subject",
    filename: "Filename",
    onset: "Onset Frame",
    apex: "Apex Frame",
    offset: "Offset Frame",
    emotion: "Estimated Emotion",
    actionUnits: "Action Units",
  },
  framePattern: (subjectFolder) =>
    new RegExp(`^${subjectFolder}_(\\d+)\\.(?:jpe?g|png|bmp)$`, "i"),
  frameExample: "006_05562.jpg",
  checkClipName: (subjectFolder, clip) =>
    clip.startsWith(`${subjectFolder}_`)
      ? null
      : `Clip folder ${clip} does not start with its subject ${subjectFolder}_`,
};

/**
 * Loads SAMM clips from `root`, the folder that contains the coding sheet and
 * the subject folders (directly or inside `SAMM` or `SAMM_CROP`).
 */
export function loadSamm(
  root: string,
  options: SammOptions = {},
): Promise<LoadResult> {
  return loadCodedSheetDataset(sammSpec, root, options);
}
