import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { loadCasme2 } from "../../datasets/casme2.ts";
import { decodeImage } from "../../datasets/images.ts";
import { loadSamm } from "../../datasets/samm.ts";
import { findHeaderRow, readWorkbook } from "../../datasets/sheets.ts";
import { loadSmic } from "../../datasets/smic.ts";
import { DatasetError, summarizeClips } from "../../datasets/types.ts";
import { addDisplacementField } from "../../datasets/synth/action_units.ts";
import { randomFace } from "../../datasets/synth/face.ts";
import { synthesize, synthMarkerName } from "../../datasets/synth/mod.ts";
import { planClips, synthSpecs } from "../../datasets/synth/plan.ts";
import { planMotion } from "../../datasets/synth/render.ts";
import { collectWarnings, makeTempDir } from "./fixtures.ts";

/** Image side used in these tests, small so that they run fast. */
const size = 32;

/** Returns a SHA-256 digest of every file's relative path and bytes. */
async function digestTree(root: string): Promise<string> {
  const files: string[] = [];
  async function walk(folder: string) {
    for await (const entry of Deno.readDir(folder)) {
      const path = join(folder, entry.name);
      if (entry.isDirectory) await walk(path);
      else files.push(path);
    }
  }
  await walk(root);
  files.sort();
  const hash = [];
  for (const file of files) {
    const bytes = await Deno.readFile(file);
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    hash.push(relative(root, file), new Uint8Array(digest).join(","));
  }
  const total = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(hash.join("\n")),
  );
  return `${files.length}:${new Uint8Array(total).join(",")}`;
}

Deno.test("synthetic smic matches the real counts", async () => {
  const root = await makeTempDir("synth-smic");
  const same = await makeTempDir("synth-smic-same");
  const other = await makeTempDir("synth-smic-other");
  try {
    const summary = await synthesize("smic", root, { seed: 5, size });
    assert.equal(summary.subjects, 16);
    assert.equal(summary.clips, 164);
    assert.deepEqual(summary.emotions, {
      negative: 70,
      positive: 51,
      surprise: 43,
    });

    const { warnings, onWarning } = collectWarnings();
    const result = await loadSmic(root, { onWarning });
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(summarizeClips(result.clips), {
      subjects: 16,
      clips: 164,
      classes: { negative: 70, positive: 51, surprise: 43 },
    });
    const perSubject = new Map<string, number>();
    for (const clip of result.clips) {
      perSubject.set(clip.subject, (perSubject.get(clip.subject) ?? 0) + 1);
      const frames = clip.offset - clip.onset + 1;
      assert.ok(frames >= 11, `${clip.clip}: ${frames} frames`);
      assert.ok(frames <= 30, `${clip.clip}: ${frames} frames`);
      assert.ok(frames / clip.fps < 0.5);
    }
    const counts = [...perSubject.values()];
    assert.ok(
      Math.max(...counts) >= 2 * Math.min(...counts),
      `clips per subject should be uneven: ${counts}`,
    );
    const frame = await decodeImage(result.clips[0].framePaths[0]);
    assert.equal(frame.width, size);
    assert.equal(frame.channels, 3);

    // The same seed gives the same bytes; another seed does not.
    await synthesize("smic", same, { seed: 5, size });
    await synthesize("smic", other, { seed: 6, size });
    const digest = await digestTree(root);
    assert.equal(digest, await digestTree(same));
    assert.notEqual(digest, await digestTree(other));
  } finally {
    for (const dir of [root, same, other]) {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("synthetic casme2 loads with its sheet quirks", async () => {
  const root = await makeTempDir("synth-casme2");
  try {
    const summary = await synthesize("casme2", root, { seed: 3, size });
    assert.equal(summary.subjects, 26);
    assert.equal(summary.clips, 255);

    const { warnings, onWarning } = collectWarnings();
    const result = await loadCasme2(root, { onWarning });
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(summarizeClips(result.clips).classes, {
      disgust: 63,
      happiness: 32,
      others: 99,
      repression: 27,
      surprise: 25,
    });
    assert.equal(result.excluded.length, 9);
    // Six non-numeric apex cells, each repaired with a warning; some of
    // them may fall on clips that the 5-class map drops.
    assert.equal(warnings.length, 6, warnings.join("\n"));
    assert.ok(warnings.every((warning) => warning.includes("'/'")));
    const repaired = result.clips.filter((clip) =>
      clip.apexSource === "repaired"
    );
    assert.ok(repaired.length >= 1);
    assert.ok(repaired.length <= 6);
    assert.ok(
      result.clips.some((clip) => clip.frameNumbers[0] < clip.onset),
      "some folders should contain frames before the onset",
    );

    const threeClass = await loadCasme2(root, {
      classes: 3,
      onWarning: () => {},
    });
    assert.deepEqual(summarizeClips(threeClass.clips).classes, {
      negative: 90,
      positive: 32,
      surprise: 25,
    });
    await assert.rejects(
      () => loadCasme2(root, { strict: true, onWarning: () => {} }),
      DatasetError,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("synthetic samm is grayscale with a preamble", async () => {
  const root = await makeTempDir("synth-samm");
  try {
    const summary = await synthesize("samm", root, { seed: 4, size });
    assert.equal(summary.subjects, 32);
    assert.equal(summary.clips, 159);

    const result = await loadSamm(root, { onWarning: () => {} });
    assert.deepEqual(result.skipped, []);
    assert.equal(result.clips.length, 136);
    assert.equal(result.excluded.length, 23);
    const subjects = new Set(result.clips.map((clip) => clip.subject));
    assert.ok(
      [...subjects].every((subject) =>
        /^0(0[6-9]|[12]\d|3[0-7])$/.test(subject)
      ),
    );
    const frame = await decodeImage(result.clips[0].framePaths[0]);
    assert.equal(frame.channels, 1);

    const sheets = await readWorkbook(
      join(root, "SAMM_Micro_FACS_Codes_v2.xlsx"),
    );
    const header = findHeaderRow(sheets, ["Filename", "Onset Frame"]);
    assert.equal(header.headerIndex, 13);

    const threeClass = await loadSamm(root, {
      classes: 3,
      onWarning: () => {},
    });
    assert.deepEqual(summarizeClips(threeClass.clips).classes, {
      negative: 92,
      positive: 26,
      surprise: 15,
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("synthesize guards the output folder", async () => {
  const root = await makeTempDir("synth-guard");
  try {
    await Deno.writeTextFile(join(root, "keep.txt"), "user data");
    await assert.rejects(
      () => synthesize("smic", root, { seed: 1, size: 16 }),
      (error: Error) =>
        error instanceof DatasetError && error.message.includes("not empty"),
    );
    assert.equal(await Deno.readTextFile(join(root, "keep.txt")), "user data");

    const output = join(root, "synthetic");
    await synthesize("smic", output, { seed: 1, size: 16 });
    await assert.rejects(
      () => synthesize("smic", output, { seed: 1, size: 16 }),
      /overwrite/,
    );
    await synthesize("smic", output, { seed: 2, size: 16, overwrite: true });
    const marker = await Deno.readTextFile(join(output, synthMarkerName));
    assert.match(marker, /seed 2/);
    await assert.rejects(
      () => synthesize("smic", join(root, "x"), { seed: -1 }),
      /seed/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("expression motion is micro and timed", () => {
  const spec = synthSpecs.casme2;
  const plans = planClips(spec, 9);
  for (const plan of plans.slice(0, 40)) {
    const motion = planMotion(plan, spec.fps, 1);
    const onset = plan.onset - plan.firstFrame;
    const apex = plan.apex - plan.firstFrame;
    const offset = plan.offset - plan.firstFrame;
    assert.equal(motion.activation[onset], 0);
    assert.equal(motion.activation[apex], 1);
    assert.equal(motion.activation[offset], 0);
    assert.ok(motion.peakPixels <= 1.0);
    assert.ok((plan.offset - plan.onset) / spec.fps < 0.5);
    // Head drift stays below a pixel per frame.
    for (let i = 1; i < motion.driftX.length; i++) {
      const step = Math.hypot(
        motion.driftX[i] - motion.driftX[i - 1],
        motion.driftY[i] - motion.driftY[i - 1],
      );
      assert.ok(step < 0.3, `drift step ${step}`);
    }
  }
});

Deno.test("AU12 pulls the lip corners up and out", () => {
  const face = randomFace(11);
  const fieldSize = 128;
  const field = new Float32Array(2 * fieldSize * fieldSize);
  addDisplacementField(field, face, [{ unit: 12 }], 1, fieldSize);
  for (const side of [-1, 1]) {
    const x = Math.round(
      (face.centerX + side * face.mouthHalfWidth) * fieldSize,
    );
    const y = Math.round(face.mouthY * fieldSize);
    const index = 2 * (y * fieldSize + x);
    assert.ok(Math.sign(field[index]) === side, "outward");
    assert.ok(field[index + 1] < 0, "upward");
    assert.ok(Math.hypot(field[index], field[index + 1]) <= 1.0001);
  }
  const forehead = 2 * (Math.round(0.2 * fieldSize) * fieldSize + 64);
  assert.equal(field[forehead], 0);
});

Deno.test("overwrite keeps files the generator did not write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await synthesize("smic", dir, { seed: 1, size: 16 });
    await Deno.writeTextFile(join(dir, "notes.txt"), "mine");
    await assert.rejects(
      synthesize("smic", dir, { seed: 2, size: 16, overwrite: true }),
      /other files \(notes\.txt\), which --overwrite would delete/,
    );
    assert.equal(await Deno.readTextFile(join(dir, "notes.txt")), "mine");
    await Deno.remove(join(dir, "notes.txt"));
    await synthesize("smic", dir, { seed: 2, size: 16, overwrite: true });
    assert.ok((await Deno.stat(join(dir, synthMarkerName))).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
