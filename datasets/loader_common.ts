/**
 * Helpers shared by the dataset loaders: option parsing, folder search,
 * natural ordering and record validation.
 *
 * @module
 */

import { basename, join } from "node:path";
import { z } from "zod";
import { type ClassCount, defaultClassCount } from "./class_maps.ts";
import {
  type ClipRecord,
  clipRecordSchema,
  DatasetError,
  type DatasetName,
  type ResolvedLoadOptions,
} from "./types.ts";

/** Parses options with `schema`; a bad option raises a DatasetError. */
export function parseOptions<T extends z.ZodType>(
  schema: T,
  options: unknown,
  loader: string,
): z.output<T> {
  const parsed = schema.safeParse(options ?? {});
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) =>
      `${issue.path.join(".") || "options"}: ${issue.message}`
    ).join("; ");
    throw new DatasetError(`Invalid ${loader} options: ${details}`);
  }
  return parsed.data;
}

/** Returns the class count to use: the option, or the dataset default. */
export function resolveClassCount(
  dataset: DatasetName,
  options: ResolvedLoadOptions,
): ClassCount {
  return options.classes ?? defaultClassCount[dataset];
}

/** Compares strings so that embedded numbers sort by value (s2 < s10). */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

/** Sorts records by subject, then clip, in natural order. */
export function sortRecords(records: ClipRecord[]): ClipRecord[] {
  return records.sort((a, b) =>
    naturalCompare(a.subject, b.subject) || naturalCompare(a.clip, b.clip)
  );
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Raises a DatasetError when `path` is not an existing folder. */
export async function requireDirectory(
  path: string,
  what: string,
): Promise<void> {
  if (!(await isDirectory(path))) {
    throw new DatasetError(
      `${what} ${path} does not exist or is not a folder; check the path`,
    );
  }
}

/**
 * Reads the entries of `folder`, with each symbolic link described by its
 * target, so that a linked subject folder or frame counts like a real one.
 * Links whose target is missing are left out.
 */
export async function readEntries(folder: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.isSymlink) {
      entries.push(entry);
      continue;
    }
    try {
      const target = await Deno.stat(join(folder, entry.name));
      entries.push({
        name: entry.name,
        isFile: target.isFile,
        isDirectory: target.isDirectory,
        isSymlink: true,
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return entries;
}

/** Lists the names of the sub-folders of `folder`, in natural order. */
export async function listDirectories(folder: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readEntries(folder)) {
    if (entry.isDirectory && !entry.name.startsWith(".")) {
      names.push(entry.name);
    }
  }
  return names.sort(naturalCompare);
}

/** Lists the names of the files in `folder`, in natural order. */
export async function listFiles(folder: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readEntries(folder)) {
    if (entry.isFile && !entry.name.startsWith(".")) names.push(entry.name);
  }
  return names.sort(naturalCompare);
}

/**
 * Searches `root` and its sub-folders down to `depth` levels, breadth
 * first, and returns every path whose entry passes `accept`.
 */
export async function searchTree(
  root: string,
  depth: number,
  accept: (entry: Deno.DirEntry) => boolean,
): Promise<string[]> {
  const found: string[] = [];
  let level = [root];
  for (let d = 0; d <= depth && level.length > 0; d++) {
    const next: string[] = [];
    for (const folder of level) {
      const entries = await readEntries(folder);
      entries.sort((a, b) => naturalCompare(a.name, b.name));
      for (const entry of entries) {
        if (entry.name.startsWith(".")) continue;
        const path = join(folder, entry.name);
        if (accept(entry)) found.push(path);
        if (entry.isDirectory) next.push(path);
      }
    }
    level = next;
  }
  return found;
}

/** Checks whether `folder` has a sub-folder whose name matches `pattern`. */
export async function hasSubfolderMatching(
  folder: string,
  pattern: RegExp,
): Promise<boolean> {
  if (!(await isDirectory(folder))) return false;
  return (await listDirectories(folder)).some((name) => pattern.test(name));
}

/**
 * Finds the folder that contains the subject folders: the first of
 * `preferredNames` found within two levels below `root` (breadth first),
 * or else `root` itself. Returns null when no candidate contains a folder
 * matching `subjectPattern`.
 */
export async function findFramesRoot(
  root: string,
  preferredNames: readonly string[],
  subjectPattern: RegExp,
): Promise<string | null> {
  const wanted = preferredNames.map((name) => name.toLowerCase());
  const candidates = await searchTree(
    root,
    1,
    (entry) => entry.isDirectory && wanted.includes(entry.name.toLowerCase()),
  );
  candidates.sort((a, b) =>
    wanted.indexOf(basename(a).toLowerCase()) -
    wanted.indexOf(basename(b).toLowerCase())
  );
  for (const candidate of [...candidates, root]) {
    if (await hasSubfolderMatching(candidate, subjectPattern)) {
      return candidate;
    }
  }
  return null;
}

/**
 * Validates a record against the clip schema. A failure here means a
 * loader built an inconsistent record, so it raises a plain Error.
 */
export function validateRecord(record: ClipRecord): ClipRecord {
  const parsed = clipRecordSchema.safeParse(record);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => issue.message)
      .join("; ");
    throw new Error(
      `Internal error: record ${record.subject}/${record.clip} is ` +
        `inconsistent: ${details}`,
    );
  }
  return parsed.data;
}

/** Number of frame folders checked at the same time. */
export const folderConcurrency = 8;
