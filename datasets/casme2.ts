/**
 * Loader for CASME II in its official layout: frames in
 * `Cropped/sub01/EP02_01f/reg_img46.jpg` (or the raw
 * `CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`), where the frame number
 * is the absolute video frame index (not zero-padded, not starting at 1),
 * and the coding sheet `CASME2-coding-*.xlsx` with the columns Subject,
 * Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units and Estimated
 * Emotion (two unnamed columns are ignored). Recorded at 200 fps.
 *
 * Some ApexFrame cells of the published sheet are not numbers; such apexes
 * are replaced by the middle frame with a warning, or rejected under
 * `strict`.
 *
 * @module
 */

import {
  type CodedSheetOptions,
  type CodedSheetSpec,
  loadCodedSheetDataset,
} from "./coded_sheet.ts";
import type { LoadResult } from "./types.ts";

export type Casme2Options = CodedSheetOptions;

export const casme2Spec: CodedSheetSpec = {
  dataset: "casme2",
  title: "CASME II",
  fps: 200,
  sheetPattern: /^CASME2-coding.*\.xlsx$/i,
  sheetExample: "CASME2-coding-20140508.xlsx",
  framesFolderNames: ["Cropped", "CASME2_RAW_selected", "CASME2_RAW"],
  subjectFolderPattern: /^sub(\d+)$/i,
  subjectFolder: (subjectNumber) =>
    `sub${String(subjectNumber).padStart(2, "0")}`,
  columns: {
    subject: "Subject",
    filename: "Filename",
    onset: "OnsetFrame",
    apex: "ApexFrame",
    offset: "OffsetFrame",
    emotion: "Estimated Emotion",
    actionUnits: "Action Units",
  },
  framePattern: () => /^(?:reg_)?img(\d+)\.(?:jpe?g|png|bmp)$/i,
  frameExample: "reg_img46.jpg or img46.jpg",
};

/**
 * Loads CASME II clips from `root`, the folder that contains the coding sheet
 * and the `Cropped` (or `CASME2_RAW_selected`) folder.
 */
export function loadCasme2(
  root: string,
  options: Casme2Options = {},
): Promise<LoadResult> {
  return loadCodedSheetDataset(casme2Spec, root, options);
}
