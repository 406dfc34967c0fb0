/**
 * Small datasets in the official SMIC, CASME II and SAMM layouts, written
 * into temporary folders for the loader tests.
 */

import { join } from "node:path";
import { encodeBmp, encodeJpeg } from "../../datasets/images.ts";
import { type Cell, writeSheet } from "../../datasets/sheets.ts";

/** Side of the fixture frames in pixels. */
export const fixtureSize = 8;

/** Creates a temporary folder; remove it with `Deno.remove(dir, {recursive:
 * true})`. */
export function makeTempDir(prefix: string): Promise<string> {
  return Deno.makeTempDir({ prefix: `mpfnet-${prefix}-` });
}

/** Returns a gradient image that differs per frame number. */
export function fixtureImage(frame: number, channels: 1 | 3) {
  const data = new Uint8Array(fixtureSize * fixtureSize * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + frame * 3) % 256;
  return { width: fixtureSize, height: fixtureSize, channels, data };
}

export async function writeFrames(
  folder: string,
  frames: readonly number[],
  name: (frame: number) => string,
  format: "bmp" | "jpeg-rgb" | "jpeg-gray",
): Promise<void> {
  await Deno.mkdir(folder, { recursive: true });
  for (const frame of frames) {
    const bytes = format === "bmp"
      ? encodeBmp(fixtureImage(frame, 3))
      : await encodeJpeg(fixtureImage(frame, format === "jpeg-gray" ? 1 : 3));
    await Deno.writeFile(join(folder, name(frame)), bytes);
  }
}

/** Returns the integers from `first` to `last`, both included. */
export function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

export interface SmicFixtureClip {
  subject: string;
  emotion: string;
  clip: string;
  frames: number[];
}

/** Writes SMIC-HS clips in the cropped (reg_image060976.bmp) or raw
 * (image060976.bmp) layout. */
export async function writeSmic(
  root: string,
  clips: readonly SmicFixtureClip[],
  layout: "cropped" | "raw" = "cropped",
): Promise<void> {
  const top = layout === "cropped" ? "SMIC_all_cropped" : "SMIC_all_raw";
  const prefix = layout === "cropped" ? "reg_image" : "image";
  for (const clip of clips) {
    const folder = join(
      root,
      top,
      "HS",
      clip.subject,
      "micro",
      clip.emotion,
      clip.clip,
    );
    await writeFrames(
      folder,
      clip.frames,
      (frame) => `${prefix}${String(frame).padStart(6, "0")}.bmp`,
      "bmp",
    );
  }
}

/** The standard SMIC fixture: two subjects, three classes, one non-micro
 * clip that the loader must not read. */
export async function writeStandardSmic(root: string): Promise<void> {
  await writeSmic(root, [
    {
      subject: "s1",
      emotion: "negative",
      clip: "s1_ne_01",
      frames: range(60976, 60981),
    },
    {
      subject: "s1",
      emotion: "positive",
      clip: "s1_po_01",
      frames: range(1200, 1204),
    },
    {
      subject: "s2",
      emotion: "surprise",
      clip: "s2_sur_01",
      frames: range(998, 1003),
    },
    {
      subject: "s2",
      emotion: "negative",
      clip: "s2_ne_01",
      frames: range(50, 53),
    },
  ]);
  const nonMicro = join(
    root,
    "SMIC_all_cropped",
    "HS",
    "s1",
    "non_micro",
    "s1_no_01",
  );
  await writeFrames(
    nonMicro,
    range(1, 3),
    (frame) => `reg_image${String(frame).padStart(6, "0")}.bmp`,
    "bmp",
  );
}

export interface CodedClip {
  subject: number;
  filename: string;
  onset: number;
  apex: Cell;
  offset: number;
  actionUnits: string;
  emotion: string;
  /** Frames in the folder; default onset to offset. */
  frames?: number[];
}

/** The standard CASME II clips: one non-numeric apex ("/"), clips with
 * frames before the onset and after the offset, and a clip whose frames
 * cross a power of ten (img9, img10) to check numeric ordering. */
export const casme2Clips: readonly CodedClip[] = [
  {
    subject: 1,
    filename: "EP02_01f",
    onset: 46,
    apex: 59,
    offset: 86,
    actionUnits: "12",
    emotion: "happiness",
    frames: range(44, 88),
  },
  {
    subject: 1,
    filename: "EP03_02",
    onset: 5,
    apex: 9,
    offset: 14,
    actionUnits: "4+9",
    emotion: "disgust",
  },
  {
    subject: 2,
    filename: "EP09_04",
    onset: 100,
    apex: "/",
    offset: 120,
    actionUnits: "14",
    emotion: "repression",
  },
  {
    subject: 2,
    filename: "EP13_01",
    onset: 30,
    apex: 38,
    offset: 50,
    actionUnits: "1+2",
    emotion: "surprise",
  },
  {
    subject: 11,
    filename: "EP15_03f",
    onset: 200,
    apex: 210,
    offset: 222,
    actionUnits: "R4",
    emotion: "others",
  },
  {
    subject: 11,
    filename: "EP18_01",
    onset: 70,
    apex: 75,
    offset: 90,
    actionUnits: "15",
    emotion: "sadness",
  },
];

export const casme2SheetName = "CASME2-coding-20140508.xlsx";

/** Writes CASME II: `Cropped/sub01/EP02_01f/reg_img46.jpg` and the coding
 * sheet with its two unnamed columns. `folders` overrides which clip
 * folders are written (default: one per row). */
export async function writeCasme2(
  root: string,
  clips: readonly CodedClip[] = casme2Clips,
  folders: readonly CodedClip[] = clips,
): Promise<void> {
  const rows: Cell[][] = [[
    "Subject",
    "Filename",
    null,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    null,
    "Action Units",
    "Estimated Emotion",
  ]];
  for (const clip of clips) {
    rows.push([
      clip.subject,
      clip.filename,
      null,
      clip.onset,
      clip.apex,
      clip.offset,
      null,
      clip.actionUnits,
      clip.emotion,
    ]);
  }
  await writeSheet(join(root, casme2SheetName), "Sheet1", rows);
  for (const clip of folders) {
    const subject = `sub${String(clip.subject).padStart(2, "0")}`;
    await writeFrames(
      join(root, "Cropped", subject, clip.filename),
      clip.frames ?? range(clip.onset, clip.offset),
      (frame) => `reg_img${frame}.jpg`,
      "jpeg-rgb",
    );
  }
}

/** The standard SAMM clips (subject numbers 6, 7 and 11). */
export const sammClips: readonly CodedClip[] = [
  {
    subject: 6,
    filename: "006_1_2",
    onset: 5562,
    apex: 5588,
    offset: 5604,
    actionUnits: "4+7",
    emotion: "Anger",
  },
  {
    subject: 6,
    filename: "006_5_9",
    onset: 1200,
    apex: 1210,
    offset: 1222,
    actionUnits: "6+12",
    emotion: "Happiness",
  },
  {
    subject: 7,
    filename: "007_3_1",
    onset: 3000,
    apex: 3008,
    offset: 3019,
    actionUnits: "R14",
    emotion: "Contempt",
  },
  {
    subject: 7,
    filename: "007_6_2",
    onset: 4500,
    apex: 4507,
    offset: 4515,
    actionUnits: "1+2",
    emotion: "Surprise",
  },
  {
    subject: 11,
    filename: "011_2_3",
    onset: 900,
    apex: 905,
    offset: 915,
    actionUnits: "9",
    emotion: "Disgust",
  },
  {
    subject: 11,
    filename: "011_4_1",
    onset: 650,
    apex: 655,
    offset: 668,
    actionUnits: "7",
    emotion: "Other",
  },
];

export const sammSheetName = "SAMM_Micro_FACS_Codes_v2.xlsx";

/** Writes SAMM: `SAMM/006/006_1_2/006_05562.jpg` (grayscale) and the
 * coding sheet with `preambleRows` rows above its header. */
export async function writeSamm(
  root: string,
  options: {
    clips?: readonly CodedClip[];
    folders?: readonly CodedClip[];
    preambleRows?: number;
    subjectAsText?: boolean;
  } = {},
): Promise<void> {
  const clips = options.clips ?? sammClips;
  const folders = options.folders ?? clips;
  const preambleRows = options.preambleRows ?? 13;
  const rows: Cell[][] = [];
  for (let i = 0; i < preambleRows; i++) {
    rows.push(i % 3 === 1 ? [] : [`Preamble line ${i + 1}`, null, "notes"]);
  }
  rows.push([
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Type",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
    "Notes",
  ]);
  for (const clip of clips) {
    rows.push([
      options.subjectAsText
        ? String(clip.subject).padStart(3, "0")
        : clip.subject,
      clip.filename,
      Number(clip.filename.split("_")[1]),
      clip.onset,
      clip.apex,
      clip.offset,
      clip.offset - clip.onset + 1,
      "Micro - 1/2",
      clip.actionUnits,
      clip.emotion,
      1,
      null,
    ]);
  }
  await writeSheet(join(root, sammSheetName), "MICRO_ONLY", rows);
  for (const clip of folders) {
    const subject = String(clip.subject).padStart(3, "0");
    await writeFrames(
      join(root, "SAMM", subject, clip.filename),
      clip.frames ?? range(clip.onset, clip.offset),
      (frame) => `${subject}_${String(frame).padStart(5, "0")}.jpg`,
      "jpeg-gray",
    );
  }
}

/** Collects the warnings a loader emits. */
export function collectWarnings(): {
  warnings: string[];
  onWarning: (message: string) => void;
} {
  const warnings: string[] = [];
  return { warnings, onWarning: (message) => warnings.push(message) };
}
