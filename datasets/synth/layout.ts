/**
 * Writes synthetic clips and coding sheets in the official layouts:
 *
 *     SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/reg_image060976.bmp
 *     Cropped/sub01/EP02_01f/reg_img46.jpg + CASME2-coding-20140508.xlsx
 *     SAMM/006/006_1_2/006_05562.jpg + SAMM_Micro_FACS_Codes_v2.xlsx
 *
 * with the sheet quirks of the real files: CASME II has two unnamed
 * columns and a few non-numeric ApexFrame cells ("/"), SAMM has 13
 * preamble rows above its header row.
 *
 * @module
 */

import { join } from "node:path";
import { encodeBmp, encodeJpeg } from "../images.ts";
import { type Cell, writeSheet as writeXlsx } from "../sheets.ts";
import { formatActionUnits } from "./action_units.ts";
import { type FaceGeometry, randomFace, renderBaseFace } from "./face.ts";
import type { ClipPlan, SynthSpec } from "./plan.ts";
import { deriveSeed, Random } from "./random.ts";
import { planMotion, prepareClip, renderFrame } from "./render.ts";

export interface SubjectFace {
  face: FaceGeometry;
  base: Float32Array;
}

/** Draws and renders the face of every subject. */
export function renderFaces(
  spec: SynthSpec,
  seed: number,
  size: number,
): Map<string, SubjectFace> {
  const faces = new Map<string, SubjectFace>();
  for (const subject of spec.subjects) {
    const face = randomFace(deriveSeed(seed, spec.dataset, subject, "face"));
    const base = renderBaseFace(face, size, spec.grayscale ? 1 : 3);
    faces.set(subject, { face, base });
  }
  return faces;
}

/** Returns the folder of a clip's frames. */
export function clipFolder(
  spec: SynthSpec,
  outDir: string,
  plan: ClipPlan,
): string {
  switch (spec.dataset) {
    case "smic":
      return join(
        outDir,
        "SMIC_all_cropped",
        "HS",
        plan.subject,
        "micro",
        plan.emotion,
        plan.clip,
      );
    case "casme2":
      return join(outDir, "Cropped", plan.subject, plan.clip);
    case "samm":
      return join(outDir, "SAMM", plan.subject, plan.clip);
  }
}

/** Returns the file name of frame `frame` of a clip. */
export function frameName(
  spec: SynthSpec,
  plan: ClipPlan,
  frame: number,
): string {
  switch (spec.dataset) {
    case "smic":
      return `reg_image${String(frame).padStart(6, "0")}.bmp`;
    case "casme2":
      return `reg_img${frame}.jpg`;
    case "samm":
      return `${plan.subject}_${String(frame).padStart(5, "0")}.jpg`;
  }
}

/** Quality of the JPEG frames: high, so that sub-pixel motion survives. */
const jpegQuality = 92;

/**
 * Renders and writes the frames of every clip. Returns the number of
 * frames written.
 */
export async function writeClips(
  spec: SynthSpec,
  plans: readonly ClipPlan[],
  faces: Map<string, SubjectFace>,
  outDir: string,
  size: number,
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  const channels: 1 | 3 = spec.grayscale ? 1 : 3;
  let frames = 0;
  for (let k = 0; k < plans.length; k++) {
    const plan = plans[k];
    const { face, base } = faces.get(plan.subject)!;
    const motion = planMotion(plan, spec.fps, size / 128);
    const clip = prepareClip(base, face, motion, size, channels, plan.seed);
    const folder = clipFolder(spec, outDir, plan);
    await Deno.mkdir(folder, { recursive: true });
    const writes: Promise<void>[] = [];
    for (let frame = plan.firstFrame; frame <= plan.lastFrame; frame++) {
      const data = renderFrame(clip, frame - plan.firstFrame);
      const image = { width: size, height: size, channels, data };
      const bytes = spec.dataset === "smic"
        ? encodeBmp(image)
        : await encodeJpeg(image, jpegQuality);
      writes.push(
        Deno.writeFile(join(folder, frameName(spec, plan, frame)), bytes),
      );
      frames++;
    }
    await Promise.all(writes);
    onProgress?.(k + 1, plans.length);
  }
  return frames;
}

/** SAMM's objective classes (grouped by action units, not by emotion);
 * the stand-in assigns them by emotion. */
const sammObjectiveClasses: Record<string, number> = {
  Happiness: 1,
  Surprise: 2,
  Anger: 3,
  Contempt: 4,
  Disgust: 5,
  Fear: 6,
  Sadness: 6,
  Other: 7,
};

/** Writes the coding sheet of a CASME II or SAMM stand-in. */
export async function writeSheet(
  spec: SynthSpec,
  plans: readonly ClipPlan[],
  outDir: string,
  seed: number,
): Promise<void> {
  const random = new Random(seed);
  const actionUnits = (plan: ClipPlan) =>
    formatActionUnits(planMotion(plan, spec.fps, 1).units);
  if (spec.dataset === "casme2") {
    // A few ApexFrame cells contain "/" instead of a frame number, as in the
    // published sheet.
    const broken = new Set(
      random.shuffle(plans.map((_, index) => index)).slice(0, 6),
    );
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
    plans.forEach((plan, index) => {
      rows.push([
        Number.parseInt(plan.subject.slice(3), 10),
        plan.clip,
        null,
        plan.onset,
        broken.has(index) ? "/" : plan.apex,
        plan.offset,
        null,
        actionUnits(plan),
        plan.emotion,
      ]);
    });
    await writeXlsx(
      join(outDir, "CASME2-coding-20140508.xlsx"),
      "Sheet1",
      rows,
    );
    return;
  }
  if (spec.dataset === "samm") {
    const preamble: Cell[][] = [
      ["SAMM micro-movement FACS codes (synthetic stand-in)"],
      [],
      ["Frame numbers are absolute indices of the recording at 200 fps."],
      ["Duration is the number of frames from onset to offset."],
      [],
      ["Type: Micro - 1/2 for micro-movements."],
      ["Action Units: FACS codes, R/L for one side."],
      [],
      ["Estimated Emotion: as judged from the action units and the stimulus."],
      ["Objective Classes: groups of action units."],
      [],
      ["This file contains rendered faces, not recordings of people."],
      [],
    ];
    const rows: Cell[][] = [...preamble, [
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
    ]];
    for (const plan of plans) {
      rows.push([
        plan.subject,
        plan.clip,
        Number.parseInt(plan.clip.split("_")[1], 10),
        plan.onset,
        plan.apex,
        plan.offset,
        plan.offset - plan.onset + 1,
        "Micro - 1/2",
        actionUnits(plan),
        plan.emotion,
        sammObjectiveClasses[plan.emotion] ?? 7,
        null,
      ]);
    }
    await writeXlsx(
      join(outDir, "SAMM_Micro_FACS_Codes_v2.xlsx"),
      "Sheet1",
      rows,
    );
  }
}
