/**
 * The loader shared by CASME II and SAMM: a coding sheet (one row per clip
 * with subject, clip folder, onset, apex and offset frame, action units and
 * emotion) next to a folder tree subject/clip/frames.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { z } from "zod";
import {
  type ClassCount,
  classMap,
  emotions,
  mapEmotion,
  normalizeEmotion,
} from "./class_maps.ts";
import {
  checkFrameFiles,
  formatFrameList,
  type FrameListing,
  listFrames,
  mapConcurrent,
  missingFrames,
} from "./frames.ts";
import {
  findFramesRoot,
  folderConcurrency,
  listDirectories,
  parseOptions,
  requireDirectory,
  resolveClassCount,
  searchTree,
  sortRecords,
  validateRecord,
} from "./loader_common.ts";
import { Problems } from "./problems.ts";
import {
  type Cell,
  findHeaderRow,
  normalizeHeaderName,
  readWorkbook,
} from "./sheets.ts";
import {
  type ApexSource,
  type ClipRecord,
  DatasetError,
  type ExcludedClip,
  type ImageCheckMode,
  loadOptionsSchema,
  type LoadResult,
  middleFrame,
} from "./types.ts";

/** Dataset-specific settings of the coding-sheet loader. */
export interface CodedSheetSpec {
  dataset: "casme2" | "samm";
  /** Name for messages: "CASME II". */
  title: string;
  fps: number;
  /** File name of the coding sheet. */
  sheetPattern: RegExp;
  /** Example sheet name for messages. */
  sheetExample: string;
  /** Folders that may contain the subject folders, most preferred first. */
  framesFolderNames: readonly string[];
  /** Name of a subject folder; the first capture group is its number. */
  subjectFolderPattern: RegExp;
  /** Subject folder name for a subject number: "sub01", "006". */
  subjectFolder(subjectNumber: number): string;
  /** Header names of the columns the loader reads. */
  columns: {
    subject: string;
    filename: string;
    onset: string;
    apex: string;
    offset: string;
    emotion: string;
    actionUnits: string;
  };
  /** Frame file names of a clip; the first capture group is the number. */
  framePattern(subjectFolder: string): RegExp;
  /** Example frame name for messages. */
  frameExample: string;
  /** Returns why a clip folder name does not fit its subject, or null. */
  checkClipName?(subjectFolder: string, clip: string): string | null;
}

export const codedSheetOptionsSchema = loadOptionsSchema.extend({
  /** Path of the coding sheet; searched for under the root by default. */
  sheet: z.string().min(1).optional(),
  /** Folder that contains the subject folders; searched for by default. */
  framesDir: z.string().min(1).optional(),
});
export type CodedSheetOptions = z.input<typeof codedSheetOptionsSchema>;

/** A frame number cell: a whole number, possibly stored as text. */
const frameCellSchema = z.union([
  z.number(),
  z.string().trim().regex(/^\d+(?:\.0+)?$/).transform(Number),
]).pipe(z.number().int().nonnegative());

/** One data row of a coding sheet, before its values are cross-checked. */
const sheetRowSchema = z.object({
  subject: z.union([
    z.number().int().nonnegative(),
    z.string().trim().regex(/^(?:sub|s)?\d+$/i),
  ]).transform((value) =>
    Number.parseInt(String(value).replace(/\D/g, ""), 10)
  ),
  filename: z.union([z.string(), z.number()]).transform(String)
    .pipe(z.string().trim().min(1).regex(/^[^\\/]+$/)),
  onset: frameCellSchema,
  offset: frameCellSchema,
  apex: z.union([z.number(), z.string(), z.boolean(), z.null()]),
  emotion: z.union([z.string(), z.number()]).transform(String)
    .pipe(z.string().trim().min(1)),
  actionUnits: z.union([z.string(), z.number(), z.boolean(), z.null()])
    .transform((value) =>
      value === null ? undefined : String(value).trim() || undefined
    ),
});
type SheetRow = z.output<typeof sheetRowSchema>;

const cellExpectations: Record<keyof SheetRow, string> = {
  subject: "a subject number",
  filename: "a clip folder name",
  onset: "a frame number (a whole number, 0 or more)",
  offset: "a frame number (a whole number, 0 or more)",
  apex: "a frame number",
  emotion: "an emotion name",
  actionUnits: "a list of action units",
};

interface ParsedRow extends SheetRow {
  /** 1-based sheet row. */
  rowNumber: number;
  subjectFolder: string;
  /** "sub01/EP02_01f". */
  id: string;
}

interface ClipFolder {
  subjectFolder: string;
  clip: string;
  path: string;
}

/** Loads a CASME II or SAMM style dataset; see loadCasme2 and loadSamm. */
export async function loadCodedSheetDataset(
  spec: CodedSheetSpec,
  root: string,
  options: CodedSheetOptions,
): Promise<LoadResult> {
  const resolved = parseOptions(codedSheetOptionsSchema, options, spec.title);
  const classes = resolveClassCount(spec.dataset, resolved);
  try {
    classMap(spec.dataset, classes);
  } catch (error) {
    throw new DatasetError((error as Error).message);
  }
  const problems = new Problems(
    resolved.skipInvalid,
    resolved.onWarning ?? console.warn,
  );

  await requireDirectory(root, `${spec.title} folder`);
  const sheetPath = resolved.sheet ?? await findSheet(spec, root);
  const framesRoot = resolved.framesDir ??
    await findFramesRoot(
      root,
      spec.framesFolderNames,
      spec.subjectFolderPattern,
    );
  if (framesRoot === null) {
    throw new DatasetError(
      `No ${spec.title} subject folders found under ${root}; expected ` +
        `${spec.framesFolderNames[0]}/${spec.subjectFolder(1)}/.../` +
        `${spec.frameExample} (or pass framesDir, --frames)`,
    );
  }

  const { rows, claimed } = await parseSheet(spec, sheetPath, problems);
  const uniqueRows = rejectDuplicateRows(rows, sheetPath, problems, claimed);
  const { folders, duplicates } = await listClipFolders(
    spec,
    framesRoot,
    problems,
  );
  // Rows of duplicate folders were rejected with the folders.
  const { matched, unmatched } = matchRowsToFolders(
    uniqueRows.filter((row) => !duplicates.has(row.id.toLowerCase())),
    claimed,
    folders,
    sheetPath,
    framesRoot,
    problems,
  );

  const built = await mapConcurrent(
    matched,
    folderConcurrency,
    ({ row, folder }) =>
      buildRecord(spec, row, folder, sheetPath, {
        strict: resolved.strict,
        checkImages: resolved.checkImages,
        classes,
      }),
  );
  const clips: ClipRecord[] = [];
  const excluded: ExcludedClip[] = [];
  for (let i = 0; i < matched.length; i++) {
    const result = built[i];
    if ("problem" in result) {
      problems.reject(matched[i].row.id, result.problem);
      continue;
    }
    for (const warning of result.warnings) problems.warn(warning);
    if (result.record === null) {
      excluded.push({ clip: matched[i].row.id, emotion: result.emotion });
    } else {
      clips.push(result.record);
    }
  }
  // Reported after the rows, so that errors come in sheet order first.
  for (const folder of unmatched) {
    problems.reject(
      `${folder.subjectFolder}/${folder.clip}`,
      `Clip folder ${folder.path} has no row in ${sheetPath}`,
    );
  }

  return {
    dataset: spec.dataset,
    root,
    classes,
    clips: sortRecords(clips),
    skipped: problems.skipped,
    excluded,
    warnings: problems.warnings,
  };
}

/** Finds the coding sheet under `root` (two levels) or beside it. */
async function findSheet(spec: CodedSheetSpec, root: string): Promise<string> {
  const accept = (entry: Deno.DirEntry) =>
    entry.isFile && spec.sheetPattern.test(entry.name);
  let found = await searchTree(root, 1, accept);
  if (found.length === 0) found = await searchTree(dirname(root), 0, accept);
  if (found.length === 1) return found[0];
  if (found.length === 0) {
    throw new DatasetError(
      `No ${spec.title} coding sheet (${spec.sheetExample}) found in ` +
        `${root} or the folder above it; pass its path as sheet (--sheet)`,
    );
  }
  throw new DatasetError(
    `Several ${spec.title} coding sheets found: ${found.join(", ")}; ` +
      "pass the one to use as sheet (--sheet)",
  );
}

function describeCell(value: Cell): string {
  return value === null ? "(empty)" : `'${String(value)}'`;
}

async function parseSheet(
  spec: CodedSheetSpec,
  sheetPath: string,
  problems: Problems,
): Promise<{ rows: ParsedRow[]; claimed: Set<string> }> {
  const { columns } = spec;
  const required = [
    columns.subject,
    columns.filename,
    columns.onset,
    columns.apex,
    columns.offset,
    columns.emotion,
  ];
  const location = findHeaderRow(await readWorkbook(sheetPath), required);
  const column = (name: string) =>
    location.columns.get(normalizeHeaderName(name)) ?? -1;
  const indices = {
    subject: column(columns.subject),
    filename: column(columns.filename),
    onset: column(columns.onset),
    apex: column(columns.apex),
    offset: column(columns.offset),
    emotion: column(columns.emotion),
    actionUnits: column(columns.actionUnits),
  };
  const headerNames: Record<keyof typeof indices, string> = {
    ...columns,
  };

  const parsed: ParsedRow[] = [];
  /** Lower-case ids of clips whose rows were rejected. */
  const claimed = new Set<string>();
  const { rows } = location.sheet;
  for (let index = location.headerIndex + 1; index < rows.length; index++) {
    const cells = rows[index];
    const rowNumber = index + 1;
    if (cells.every((cell) => cell === null)) continue;
    const raw: Record<keyof typeof indices, Cell> = {
      subject: cells[indices.subject] ?? null,
      filename: cells[indices.filename] ?? null,
      onset: cells[indices.onset] ?? null,
      apex: cells[indices.apex] ?? null,
      offset: cells[indices.offset] ?? null,
      emotion: cells[indices.emotion] ?? null,
      actionUnits: indices.actionUnits < 0
        ? null
        : cells[indices.actionUnits] ?? null,
    };
    const where = `${sheetPath} row ${rowNumber}`;
    if (raw.subject === null && raw.filename === null) {
      problems.warn(
        `Ignored ${where}: it has no ${columns.subject} and no ` +
          `${columns.filename}.`,
      );
      continue;
    }
    const result = sheetRowSchema.safeParse(raw);
    if (!result.success) {
      const key = result.error.issues[0].path[0] as keyof typeof indices;
      // Name the clip when its subject and folder are valid, and keep its
      // folder from being reported again as a folder without a row.
      const identity = sheetRowSchema.pick({ subject: true, filename: true })
        .safeParse(raw);
      let clip = where;
      if (identity.success) {
        clip = `${spec.subjectFolder(identity.data.subject)}/` +
          identity.data.filename;
        claimed.add(clip.toLowerCase());
      }
      problems.reject(
        clip,
        `${headerNames[key]} ${describeCell(raw[key])} in ${where} is not ` +
          cellExpectations[key],
      );
      continue;
    }
    const subjectFolder = spec.subjectFolder(result.data.subject);
    parsed.push({
      ...result.data,
      rowNumber,
      subjectFolder,
      id: `${subjectFolder}/${result.data.filename}`,
    });
  }
  return { rows: parsed, claimed };
}

function rejectDuplicateRows(
  rows: ParsedRow[],
  sheetPath: string,
  problems: Problems,
  claimed: Set<string>,
): ParsedRow[] {
  const groups = new Map<string, ParsedRow[]>();
  for (const row of rows) {
    const key = row.id.toLowerCase();
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const unique: ParsedRow[] = [];
  for (const group of groups.values()) {
    if (group.length === 1) {
      unique.push(group[0]);
      continue;
    }
    claimed.add(group[0].id.toLowerCase());
    const numbers = group.map((row) => row.rowNumber).join(", ");
    problems.reject(
      group[0].id,
      `Duplicate clip ${group[0].id}: rows ${numbers} of ${sheetPath} ` +
        "all code it",
    );
  }
  return unique;
}

/** Lists subject/clip folders, keyed by canonical "subject/clip" in lower
 * case so that "sub1" and "sub01" folders both match subject 1. */
async function listClipFolders(
  spec: CodedSheetSpec,
  framesRoot: string,
  problems: Problems,
): Promise<{ folders: Map<string, ClipFolder>; duplicates: Set<string> }> {
  const folders = new Map<string, ClipFolder>();
  const duplicates = new Set<string>();
  for (const name of await listDirectories(framesRoot)) {
    const match = spec.subjectFolderPattern.exec(name);
    if (match === null) {
      problems.warn(
        `Ignored folder ${join(framesRoot, name)}: not a ${spec.title} ` +
          `subject folder (${spec.subjectFolder(1)}, ...).`,
      );
      continue;
    }
    const subjectFolder = spec.subjectFolder(Number.parseInt(match[1], 10));
    for (const clip of await listDirectories(join(framesRoot, name))) {
      const key = `${subjectFolder}/${clip}`.toLowerCase();
      const path = join(framesRoot, name, clip);
      const earlier = folders.get(key);
      if (earlier !== undefined) {
        // Both copies are dropped: which one the sheet means is unknown.
        problems.reject(
          `${subjectFolder}/${clip}`,
          `Duplicate clip folder: ${earlier.path} and ${path} are the same ` +
            "clip",
        );
        duplicates.add(key);
        continue;
      }
      folders.set(key, { subjectFolder, clip, path });
    }
  }
  for (const key of duplicates) folders.delete(key);
  return { folders, duplicates };
}

function matchRowsToFolders(
  rows: ParsedRow[],
  claimed: ReadonlySet<string>,
  folders: Map<string, ClipFolder>,
  sheetPath: string,
  framesRoot: string,
  problems: Problems,
): {
  matched: { row: ParsedRow; folder: ClipFolder }[];
  unmatched: ClipFolder[];
} {
  const matched: { row: ParsedRow; folder: ClipFolder }[] = [];
  const used = new Set<string>(claimed);
  for (const row of rows) {
    const key = row.id.toLowerCase();
    used.add(key);
    const folder = folders.get(key);
    if (folder === undefined) {
      problems.reject(
        row.id,
        `Row ${row.rowNumber} of ${sheetPath} codes clip ${row.id} but ` +
          `its folder ${join(framesRoot, row.id)} does not exist`,
      );
      continue;
    }
    matched.push({ row, folder });
  }
  const unmatched = [...folders].filter(([key]) => !used.has(key))
    .map(([, folder]) => folder);
  return { matched, unmatched };
}

type BuildResult =
  | { record: ClipRecord | null; emotion: string; warnings: string[] }
  | { problem: string };

async function buildRecord(
  spec: CodedSheetSpec,
  row: ParsedRow,
  folder: ClipFolder,
  sheetPath: string,
  settings: {
    strict: boolean;
    checkImages: ImageCheckMode;
    classes: ClassCount;
  },
): Promise<BuildResult> {
  const where = `${sheetPath} row ${row.rowNumber}`;
  const warnings: string[] = [];
  const clipProblem = spec.checkClipName?.(folder.subjectFolder, folder.clip);
  if (clipProblem) return { problem: `${clipProblem} (${where})` };

  const emotion = normalizeEmotion(spec.dataset, row.emotion);
  if (emotion === null) {
    return {
      problem: `${spec.columns.emotion} '${row.emotion}' of ${row.id} in ` +
        `${where} is not a ${spec.title} emotion ` +
        `(${emotions[spec.dataset].join(", ")})`,
    };
  }

  const apex = resolveApex(row, where, settings.strict);
  if ("problem" in apex) return apex;
  if (apex.warning !== null) warnings.push(apex.warning);

  const frames = await checkClipFrames(
    spec,
    row,
    folder,
    where,
    settings.checkImages,
  );
  if ("problem" in frames) return frames;
  warnings.push(...frames.warnings);
  const label = mapEmotion(spec.dataset, emotion, settings.classes);
  if (label === null) return { record: null, emotion, warnings };
  const record = validateRecord({
    dataset: spec.dataset,
    subject: folder.subjectFolder,
    clip: folder.clip,
    label,
    emotion,
    fps: spec.fps,
    framePaths: frames.listing.paths,
    frameNumbers: frames.listing.numbers,
    onset: row.onset,
    apex: apex.apex,
    apexSource: apex.apexSource,
    offset: row.offset,
    actionUnits: row.actionUnits,
    source: { folder: folder.path, sheet: sheetPath, row: row.rowNumber },
  });
  return { record, emotion, warnings };
}

/**
 * Checks the onset, apex and offset of a row. A non-numeric apex becomes
 * the middle frame with a warning, or a problem under `strict`.
 */
function resolveApex(
  row: ParsedRow,
  where: string,
  strict: boolean,
):
  | { apex: number; apexSource: ApexSource; warning: string | null }
  | { problem: string } {
  const { onset, offset } = row;
  if (onset >= offset) {
    return {
      problem: `Onset frame ${onset} of ${row.id} in ${where} is not ` +
        `before its offset frame ${offset}`,
    };
  }

  const apexCell = frameCellSchema.safeParse(row.apex);
  if (apexCell.success) {
    const apex = apexCell.data;
    if (onset > apex) {
      return {
        problem: `Onset frame ${onset} of ${row.id} in ${where} is after ` +
          `its apex frame ${apex}`,
      };
    }
    if (apex > offset) {
      return {
        problem: `Apex frame ${apex} of ${row.id} in ${where} is after ` +
          `its offset frame ${offset}`,
      };
    }
    return { apex, apexSource: "annotated", warning: null };
  }

  if (strict) {
    return {
      problem: `Apex frame ${describeCell(row.apex)} of ${row.id} in ` +
        `${where} is not a number (rejected because of strict; without ` +
        "--strict it is replaced by the middle frame)",
    };
  }
  const apex = middleFrame({ onset, offset });
  return {
    apex,
    apexSource: "repaired",
    warning: `Apex frame ${describeCell(row.apex)} of ${row.id} in ` +
      `${where} is not a number; it was replaced by the middle frame ` +
      `${apex} (pass --strict to reject such rows).`,
  };
}

/** Lists a clip's frames and checks that onset to offset is complete and
 * every frame is readable. */
async function checkClipFrames(
  spec: CodedSheetSpec,
  row: ParsedRow,
  folder: ClipFolder,
  where: string,
  checkImages: ImageCheckMode,
): Promise<
  { listing: FrameListing; warnings: string[] } | { problem: string }
> {
  const warnings: string[] = [];
  const listing = await listFrames(
    folder.path,
    spec.framePattern(folder.subjectFolder),
  );
  if (typeof listing === "string") {
    return { problem: `Duplicate frame number: ${listing}` };
  }
  if (listing.otherNames.length > 0) {
    warnings.push(
      `Ignored files in ${folder.path} that are not frames ` +
        `(${spec.frameExample}): ${listing.otherNames.join(", ")}.`,
    );
  }

  const missing = missingFrames(listing.numbers, row.onset, row.offset);
  if (missing.length > 0) {
    return {
      problem: `Missing frame(s) ${formatFrameList(missing)} in ` +
        `${folder.path}: ${where} codes onset ${row.onset} and offset ` +
        `${row.offset}`,
    };
  }
  const imageProblem = await checkFrameFiles(listing.paths, checkImages);
  if (imageProblem !== null) return { problem: imageProblem };
  return { listing, warnings };
}
