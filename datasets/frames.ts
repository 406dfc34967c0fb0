/**
 * Lists the numbered frames of a clip folder in frame-number order and
 * checks them: gaps in a frame range, duplicate numbers, unreadable files,
 * sizes that change within a clip.
 *
 * @module
 */

import { join } from "node:path";
import { decodeImageBytes, readImageHeader } from "./images.ts";
import { readEntries } from "./loader_common.ts";
import type { ImageCheckMode } from "./types.ts";

export interface FrameListing {
  /** Frame numbers, ascending. */
  numbers: number[];
  /** Path of each frame, in the order of `numbers`. */
  paths: string[];
  /** Names in the folder that are not frames (hidden files excluded). */
  otherNames: string[];
}

/** Files that image tools leave in folders; never reported. */
const ignoredNames = new Set(["thumbs.db", "desktop.ini"]);

/**
 * Lists the frames of `folder` whose names match `pattern`; the pattern's
 * first capture group is the frame number. Frames are sorted by that
 * number, never by name or directory order ("img10" follows "img9").
 * Returns a message instead of a listing when two files have the same
 * frame number ("img7.jpg" and "img007.jpg").
 */
export async function listFrames(
  folder: string,
  pattern: RegExp,
): Promise<FrameListing | string> {
  const frames: { number: number; name: string }[] = [];
  const otherNames: string[] = [];
  for (const entry of await readEntries(folder)) {
    if (entry.name.startsWith(".")) continue;
    if (ignoredNames.has(entry.name.toLowerCase())) continue;
    const match = entry.isFile ? pattern.exec(entry.name) : null;
    if (match === null) {
      otherNames.push(entry.name);
      continue;
    }
    frames.push({ number: Number.parseInt(match[1], 10), name: entry.name });
  }
  frames.sort((a, b) => a.number - b.number || a.name.localeCompare(b.name));
  for (let i = 1; i < frames.length; i++) {
    if (frames[i].number === frames[i - 1].number) {
      return `files ${frames[i - 1].name} and ${frames[i].name} in ` +
        `${folder} both have frame number ${frames[i].number}`;
    }
  }
  otherNames.sort();
  return {
    numbers: frames.map((frame) => frame.number),
    paths: frames.map((frame) => join(folder, frame.name)),
    otherNames,
  };
}

/** Returns the frame numbers from `first` to `last` missing in `numbers`. */
export function missingFrames(
  numbers: readonly number[],
  first: number,
  last: number,
): number[] {
  const present = new Set(numbers);
  const missing: number[] = [];
  for (let frame = first; frame <= last; frame++) {
    if (!present.has(frame)) missing.push(frame);
  }
  return missing;
}

/** Formats frame numbers for a message: "12, 13, 14 and 40 more". */
export function formatFrameList(numbers: readonly number[]): string {
  const shown = numbers.slice(0, 8).join(", ");
  const more = numbers.length - 8;
  return more > 0 ? `${shown} and ${more} more` : shown;
}

/**
 * Checks that every frame can be read (per `mode`) and that all frames of
 * the clip have the same size. Returns a message naming the first bad
 * file, or null when all frames are valid.
 */
export async function checkFrameFiles(
  paths: readonly string[],
  mode: ImageCheckMode,
): Promise<string | null> {
  if (mode === "none") return null;
  let size: string | null = null;
  for (const path of paths) {
    let current: string;
    try {
      if (mode === "decode") {
        const image = decodeImageBytes(await Deno.readFile(path));
        current = `${image.width}x${image.height}`;
      } else {
        const header = await readImageHeader(path);
        current = `${header.width}x${header.height}`;
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return `Image ${path} is unreadable: ${message}`;
    }
    if (size === null) {
      size = current;
    } else if (current !== size) {
      return `Image ${path} is ${current} but the clip's first frame is ` +
        size;
    }
  }
  return null;
}

/** Runs `task` on every item with at most `limit` tasks in flight and
 * returns the results in input order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  }
  const workers = Array.from(
    { length: Math.min(limit, items.length) },
    () => worker(),
  );
  await Promise.all(workers);
  return results;
}
