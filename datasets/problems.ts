/**
 * Collects invalid clips and warnings while a loader runs: an invalid clip
 * raises a DatasetError, or under `skipInvalid` is listed in `skipped`.
 *
 * @module
 */

import { DatasetError, type SkippedClip } from "./types.ts";

/** Suffix of every rejection message, naming the two ways to go on. */
const skipHint = "fix the input or pass skipInvalid (--skip-invalid) to " +
  "skip such clips";

export class Problems {
  readonly skipped: SkippedClip[] = [];
  readonly warnings: string[] = [];

  constructor(
    private readonly skipInvalid: boolean,
    private readonly onWarning: (message: string) => void,
  ) {}

  /**
   * Rejects one clip: throws a DatasetError with `message` and the fix, or
   * under `skipInvalid` records the clip as skipped and logs a warning.
   */
  reject(clip: string, message: string): void {
    if (!this.skipInvalid) {
      throw new DatasetError(`${message}; ${skipHint}.`);
    }
    this.skipped.push({ clip, reason: message });
    this.warn(`Skipped ${clip}: ${message}.`);
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.onWarning(message);
  }
}
