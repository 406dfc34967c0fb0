/**
 * Loader for SMIC (HS, VIS, NIR) in its official folder layout:
 *
 *     SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/reg_image060976.bmp
 *     SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image060976.bmp
 *
 * Labels come from the emotion folders (negative, positive, surprise) and
 * the subject from the s{k} folder; `non_micro` clips are not read. SMIC
 * codes no onset, apex or offset: a clip folder spans onset to offset, and
 * the apex is left for the preprocessing to estimate (apex null).
 *
 * @module
 */

import { join } from "node:path";
import { z } from "zod";
import { mapEmotion, normalizeEmotion } from "./class_maps.ts";
import {
  checkFrameFiles,
  formatFrameList,
  listFrames,
  mapConcurrent,
  missingFrames,
} from "./frames.ts";
import {
  folderConcurrency,
  hasSubfolderMatching,
  isDirectory,
  listDirectories,
  parseOptions,
  sortRecords,
  validateRecord,
} from "./loader_common.ts";
import { Problems } from "./problems.ts";
import {
  type ClipRecord,
  DatasetError,
  type ExcludedClip,
  type ImageCheckMode,
  loadOptionsSchema,
  type LoadResult,
} from "./types.ts";

export const smicVariants = ["HS", "VIS", "NIR"] as const;
export type SmicVariant = typeof smicVariants[number];

/** Recording frame rates: the high-speed camera and the two 25 fps ones. */
export const smicFps: Readonly<Record<SmicVariant, number>> = {
  HS: 100,
  VIS: 25,
  NIR: 25,
};

export const smicOptionsSchema = loadOptionsSchema.extend({
  variant: z.enum(smicVariants).default("HS"),
  /** Read `SMIC_all_cropped` or `SMIC_all_raw`; by default cropped when
   * both exist. */
  layout: z.enum(["cropped", "raw"]).optional(),
});
export type SmicOptions = z.input<typeof smicOptionsSchema>;

const subjectPattern = /^s(\d+)$/i;
const framePattern = /^(?:reg_)?image(\d+)\.(?:bmp|jpe?g|png)$/i;
const clipPattern = /^s(\d+)_(ne|po|sur)_\d+$/i;
const clipAbbreviations: Record<string, string> = {
  ne: "negative",
  po: "positive",
  sur: "surprise",
};

interface ClipCandidate {
  subject: string;
  clip: string;
  emotionFolder: string;
  emotion: string;
  folder: string;
}

/**
 * Loads SMIC clips from `root`, which may be the folder holding
 * `SMIC_all_cropped` or `SMIC_all_raw`, one of those, or the variant folder
 * (`HS`) itself.
 */
export async function loadSmic(
  root: string,
  options: SmicOptions = {},
): Promise<LoadResult> {
  const resolved = parseOptions(smicOptionsSchema, options, "SMIC");
  if (resolved.classes === 5) {
    throw new DatasetError(
      "SMIC is coded in 3 classes (negative, positive, surprise) only; " +
        "pass classes 3 (--classes 3)",
    );
  }
  const problems = new Problems(
    resolved.skipInvalid,
    resolved.onWarning ?? console.warn,
  );
  const variantRoot = await findVariantRoot(
    root,
    resolved.variant,
    resolved.layout,
  );

  const candidates = await listClipCandidates(variantRoot, problems);
  const unique = rejectDuplicates(candidates, problems);

  const excluded: ExcludedClip[] = [];
  const built = await mapConcurrent(
    unique,
    folderConcurrency,
    (candidate) =>
      buildRecord(candidate, resolved.variant, resolved.checkImages),
  );
  const clips: ClipRecord[] = [];
  for (let i = 0; i < unique.length; i++) {
    const result = built[i];
    const id = `${unique[i].subject}/${unique[i].clip}`;
    if (typeof result === "string") {
      problems.reject(id, result);
      continue;
    }
    for (const warning of result.warnings) problems.warn(warning);
    clips.push(result.record);
  }
  return {
    dataset: "smic",
    root,
    classes: 3,
    clips: sortRecords(clips),
    skipped: problems.skipped,
    excluded,
    warnings: problems.warnings,
  };
}

/** Finds the folder that contains the s{k} subject folders of `variant`. */
async function findVariantRoot(
  root: string,
  variant: SmicVariant,
  layout: "cropped" | "raw" | undefined,
): Promise<string> {
  const candidates: string[] = [];
  if (layout !== "raw") {
    candidates.push(join(root, "SMIC_all_cropped", variant));
  }
  if (layout !== "cropped") {
    candidates.push(join(root, "SMIC_all_raw", variant));
  }
  candidates.push(join(root, variant), root);
  for (const candidate of candidates) {
    if (await hasSubfolderMatching(candidate, subjectPattern)) {
      return candidate;
    }
  }
  throw new DatasetError(
    `No SMIC-${variant} subject folders (s1, s2, ...) found; looked in ` +
      `${candidates.join(", ")}. Pass the folder that contains ` +
      `SMIC_all_cropped/${variant}/s1/micro/negative/... (or the raw layout)`,
  );
}

async function listClipCandidates(
  variantRoot: string,
  problems: Problems,
): Promise<ClipCandidate[]> {
  const candidates: ClipCandidate[] = [];
  for (const subjectName of await listDirectories(variantRoot)) {
    const subjectMatch = subjectPattern.exec(subjectName);
    const subjectFolder = join(variantRoot, subjectName);
    if (subjectMatch === null) {
      problems.warn(
        `Ignored folder ${subjectFolder}: not a subject folder (s1, s2, ...).`,
      );
      continue;
    }
    const subject = `s${Number.parseInt(subjectMatch[1], 10)}`;
    const children = await listDirectories(subjectFolder);
    const microName = children.find((name) => name.toLowerCase() === "micro");
    for (const name of children) {
      const lower = name.toLowerCase();
      if (lower !== "micro" && lower !== "non_micro") {
        problems.warn(
          `Ignored folder ${join(subjectFolder, name)}: expected micro/ ` +
            "or non_micro/.",
        );
      }
    }
    if (microName === undefined) {
      problems.warn(`Subject folder ${subjectFolder} has no micro/ folder.`);
      continue;
    }
    const microFolder = join(subjectFolder, microName);
    for (const emotionFolder of await listDirectories(microFolder)) {
      const emotion = normalizeEmotion("smic", emotionFolder);
      if (emotion === null) {
        problems.reject(
          `${subject}/${emotionFolder}`,
          `Emotion folder '${emotionFolder}' in ${microFolder} is not ` +
            "negative, positive or surprise",
        );
        continue;
      }
      const emotionPath = join(microFolder, emotionFolder);
      for (const clip of await listDirectories(emotionPath)) {
        candidates.push({
          subject,
          clip,
          emotionFolder,
          emotion,
          folder: join(emotionPath, clip),
        });
      }
    }
  }
  return candidates;
}

/** Rejects every copy of a clip that appears in more than one folder. */
function rejectDuplicates(
  candidates: ClipCandidate[],
  problems: Problems,
): ClipCandidate[] {
  const groups = new Map<string, ClipCandidate[]>();
  for (const candidate of candidates) {
    const key = `${candidate.subject}/${candidate.clip.toLowerCase()}`;
    const group = groups.get(key) ?? [];
    group.push(candidate);
    groups.set(key, group);
  }
  const unique: ClipCandidate[] = [];
  for (const group of groups.values()) {
    if (group.length === 1) {
      unique.push(group[0]);
      continue;
    }
    const folders = group.map((candidate) => candidate.folder).join(" and ");
    problems.reject(
      `${group[0].subject}/${group[0].clip}`,
      `Duplicate clip '${group[0].clip}' of subject ${group[0].subject}: ` +
        `it appears in ${folders}, so its label is ambiguous`,
    );
  }
  return unique;
}

async function buildRecord(
  candidate: ClipCandidate,
  variant: SmicVariant,
  checkImages: ImageCheckMode,
): Promise<{ record: ClipRecord; warnings: string[] } | string> {
  const { folder } = candidate;
  const warnings: string[] = [];
  if (!(await isDirectory(folder))) return `${folder} is not a folder`;
  const listing = await listFrames(folder, framePattern);
  if (typeof listing === "string") return `Duplicate frame number: ${listing}`;
  if (listing.otherNames.length > 0) {
    warnings.push(
      `Ignored files in ${folder} that are not frames ` +
        `(image{number}.bmp): ${listing.otherNames.join(", ")}.`,
    );
  }
  const { numbers, paths } = listing;
  if (numbers.length < 2) {
    return `Clip folder ${folder} has ${numbers.length} frame(s) named ` +
      "image{number}.bmp or reg_image{number}.bmp; a clip needs at least 2";
  }
  const onset = numbers[0];
  const offset = numbers[numbers.length - 1];
  const missing = missingFrames(numbers, onset, offset);
  if (missing.length > 0) {
    return `Missing frame(s) ${formatFrameList(missing)} in ${folder} ` +
      `(the clip spans frames ${onset} to ${offset})`;
  }
  const imageProblem = await checkFrameFiles(paths, checkImages);
  if (imageProblem !== null) return imageProblem;

  const clipMatch = clipPattern.exec(candidate.clip);
  if (clipMatch !== null) {
    const clipSubject = `s${Number.parseInt(clipMatch[1], 10)}`;
    const clipEmotion = clipAbbreviations[clipMatch[2].toLowerCase()];
    if (clipSubject !== candidate.subject) {
      warnings.push(
        `Clip ${candidate.clip} is in the folder of subject ` +
          `${candidate.subject}; its name says ${clipSubject}.`,
      );
    }
    if (clipEmotion !== candidate.emotion) {
      warnings.push(
        `Clip ${candidate.clip} is in ${candidate.emotionFolder}/; its name ` +
          `says ${clipEmotion}. The folder's label is used.`,
      );
    }
  }

  const record = validateRecord({
    dataset: "smic",
    subject: candidate.subject,
    clip: candidate.clip,
    label: mapEmotion("smic", candidate.emotion, 3)!,
    emotion: candidate.emotion,
    fps: smicFps[variant],
    framePaths: paths,
    frameNumbers: numbers,
    onset,
    apex: null,
    apexSource: "estimate-needed",
    offset,
    source: { folder },
  });
  return { record, warnings };
}
