/**
 * Clip records, load options and load results shared by the SMIC, CASME II,
 * SAMM and MEGC2019-CD loaders, each with its zod schema.
 *
 * @module
 */

import { z } from "zod";

/** Datasets whose official layouts the loaders read. */
export const datasetNames = ["smic", "casme2", "samm"] as const;
export type DatasetName = typeof datasetNames[number];

/**
 * Source of a record's apex frame: the coding sheet ("annotated"), the
 * middle frame in place of an invalid sheet cell ("repaired"), or none
 * because the dataset codes no apex (SMIC), in which case the
 * preprocessing estimates it ("estimate-needed").
 */
export const apexSources = [
  "annotated",
  "repaired",
  "estimate-needed",
] as const;
export type ApexSource = typeof apexSources[number];

/** Files a clip record was built from. */
export const clipSourceSchema = z.object({
  /** Folder holding the clip's frames. */
  folder: z.string().min(1),
  /** Coding sheet, for datasets that have one. */
  sheet: z.string().min(1).optional(),
  /** 1-based spreadsheet row of the clip, as a spreadsheet program shows it. */
  row: z.number().int().positive().optional(),
});
export type ClipSource = z.infer<typeof clipSourceSchema>;

const frameNumber = z.number().int().nonnegative();

/** One micro-expression clip, validated after loading. */
export const clipRecordSchema = z.object({
  dataset: z.enum(datasetNames),
  /** Subject id: "s1" (SMIC), "sub01" (CASME II), "006" (SAMM); prefixed
   * with the dataset ("smic/s1") in the MEGC2019-CD composite. */
  subject: z.string().min(1),
  /** Clip id, the name of the clip's folder. */
  clip: z.string().min(1),
  /** Class after the chosen class map. */
  label: z.string().min(1),
  /** Emotion as the dataset codes it, lower case. */
  emotion: z.string().min(1),
  /** Frame rate of the recording, in frames per second. */
  fps: z.number().positive(),
  /** Every frame of the clip's folder, ascending by frame number. */
  framePaths: z.array(z.string().min(1)).min(2),
  /** Frame number of each entry of `framePaths`. */
  frameNumbers: z.array(frameNumber).min(2),
  onset: frameNumber,
  /** Apex frame number, or null when the dataset codes no apex. */
  apex: frameNumber.nullable(),
  apexSource: z.enum(apexSources),
  offset: frameNumber,
  /** FACS action units as the coding sheet writes them, e.g. "4+7". */
  actionUnits: z.string().optional(),
  source: clipSourceSchema,
}).superRefine((record, context) => {
  const { frameNumbers, framePaths, onset, apex, offset } = record;
  if (frameNumbers.length !== framePaths.length) {
    context.addIssue({
      code: "custom",
      message: `frameNumbers has ${frameNumbers.length} entries but ` +
        `framePaths has ${framePaths.length}`,
    });
  }
  for (let i = 1; i < frameNumbers.length; i++) {
    if (frameNumbers[i] <= frameNumbers[i - 1]) {
      context.addIssue({
        code: "custom",
        message: `frameNumbers is not strictly ascending at index ${i}`,
      });
      break;
    }
  }
  if (onset > offset) {
    context.addIssue({
      code: "custom",
      message: `onset ${onset} is after offset ${offset}`,
    });
  }
  if (apex !== null && (apex < onset || apex > offset)) {
    context.addIssue({
      code: "custom",
      message: `apex ${apex} is outside onset ${onset} .. offset ${offset}`,
    });
  }
  if ((apex === null) !== (record.apexSource === "estimate-needed")) {
    context.addIssue({
      code: "custom",
      message: `apex ${apex} does not match apexSource ${record.apexSource}`,
    });
  }
});
export type ClipRecord = z.infer<typeof clipRecordSchema>;

/** A clip left out because its input is invalid (under `skipInvalid`). */
export interface SkippedClip {
  /** "subject/clip", or the folder or sheet row when no clip id exists. */
  clip: string;
  reason: string;
}

/** A valid clip left out because its emotion is not in the class map. */
export interface ExcludedClip {
  clip: string;
  emotion: string;
}

/** Depth of the loaders' checks of frame files. */
export const imageCheckModes = ["header", "decode", "none"] as const;
export type ImageCheckMode = typeof imageCheckModes[number];

/** Options common to all loaders. */
export const loadOptionsSchema = z.object({
  /** Class map: 3 (negative, positive, surprise) or 5 (CASME II, SAMM). */
  classes: z.union([z.literal(3), z.literal(5)]).optional(),
  /** Skip invalid clips and list them in `skipped` instead of throwing. */
  skipInvalid: z.boolean().default(false),
  /** Reject non-numeric apex cells instead of repairing them. */
  strict: z.boolean().default(false),
  /**
   * "header": check each frame's signature, size and truncation;
   * "decode": decode every frame (slow); "none": only list the files.
   */
  checkImages: z.enum(imageCheckModes).default("header"),
  /** Receives each warning; defaults to console.warn. */
  onWarning: z.custom<(message: string) => void>(
    (value) => typeof value === "function",
  ).optional(),
});
export type LoadOptions = z.input<typeof loadOptionsSchema>;
export type ResolvedLoadOptions = z.output<typeof loadOptionsSchema>;

/** Result of a loader. */
export interface LoadResult {
  dataset: DatasetName | "megc2019";
  /** Folder the loader read, as given. */
  root: string;
  classes: 3 | 5;
  clips: ClipRecord[];
  skipped: SkippedClip[];
  excluded: ExcludedClip[];
  warnings: string[];
}

/** Raised for invalid dataset input; the message names the value and fix. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatasetError";
  }
}

/** Clip count per label, subjects and clips of a set of records. */
export interface ClipSummary {
  subjects: number;
  clips: number;
  classes: Record<string, number>;
}

/** Counts subjects, clips and clips per label; labels sorted by name. */
export function summarizeClips(clips: readonly ClipRecord[]): ClipSummary {
  const subjects = new Set(clips.map((clip) => clip.subject));
  const counts = new Map<string, number>();
  for (const clip of clips) {
    counts.set(clip.label, (counts.get(clip.label) ?? 0) + 1);
  }
  const labels = [...counts.keys()].sort();
  const classes: Record<string, number> = {};
  for (const label of labels) classes[label] = counts.get(label)!;
  return { subjects: subjects.size, clips: clips.length, classes };
}

/**
 * Returns the middle frame number between onset and offset, rounded down.
 * This is the usual apex stand-in for SMIC, which codes no apex, and for
 * sheet rows whose apex cell is not a number.
 */
export function middleFrame(
  record: Pick<ClipRecord, "onset" | "offset">,
): number {
  return Math.floor((record.onset + record.offset) / 2);
}
