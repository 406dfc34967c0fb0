import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeImage } from "../../datasets/images.ts";
import { loadSamm } from "../../datasets/samm.ts";
import { DatasetError, summarizeClips } from "../../datasets/types.ts";
import {
  type CodedClip,
  collectWarnings,
  makeTempDir,
  range,
  sammClips,
  sammSheetName,
  writeFrames,
  writeSamm,
} from "./fixtures.ts";

async function withSamm(
  prepare: (root: string) => Promise<void>,
  check: (root: string) => Promise<void>,
): Promise<void> {
  const root = await makeTempDir("samm");
  try {
    await prepare(root);
    await check(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function isDatasetError(...fragments: string[]) {
  return (error: Error) => {
    assert.ok(error instanceof DatasetError, `not a DatasetError: ${error}`);
    for (const fragment of fragments) {
      assert.ok(
        error.message.includes(fragment),
        `message lacks '${fragment}': ${error.message}`,
      );
    }
    return true;
  };
}

function withClip(index: number, change: Partial<CodedClip>): CodedClip[] {
  return sammClips.map((clip, i) =>
    i === index ? { ...clip, ...change } : clip
  );
}

const quiet = { onWarning: () => {} };

Deno.test("samm finds the header below the preamble", async () => {
  await withSamm((root) => writeSamm(root), async (root) => {
    const { warnings, onWarning } = collectWarnings();
    const result = await loadSamm(root, { onWarning });
    assert.deepEqual(warnings, []);
    assert.equal(result.classes, 5);
    assert.deepEqual(summarizeClips(result.clips), {
      subjects: 3,
      clips: 5,
      classes: { anger: 1, contempt: 1, happiness: 1, other: 1, surprise: 1 },
    });
    assert.deepEqual(result.excluded, [
      { clip: "011/011_2_3", emotion: "disgust" },
    ]);
    const anger = result.clips.find((clip) => clip.clip === "006_1_2")!;
    assert.equal(anger.subject, "006");
    assert.equal(anger.emotion, "anger");
    assert.equal(anger.onset, 5562);
    assert.equal(anger.apex, 5588);
    assert.equal(anger.offset, 5604);
    assert.equal(anger.actionUnits, "4+7");
    assert.equal(anger.apexSource, "annotated");
    // 13 preamble rows and the header: the first clip is on row 15.
    assert.equal(anger.source.row, 15);
    assert.ok(anger.framePaths[0].endsWith(join("006_1_2", "006_05562.jpg")));
    const frame = await decodeImage(anger.framePaths[0]);
    assert.equal(frame.channels, 1);
  });
});

Deno.test("samm header position is not fixed", async () => {
  for (const preambleRows of [0, 5, 20]) {
    await withSamm(
      (root) => writeSamm(root, { preambleRows, subjectAsText: true }),
      async (root) => {
        const result = await loadSamm(root, quiet);
        assert.equal(result.clips.length, 5, `preamble ${preambleRows}`);
        assert.equal(result.clips[0].source.row, preambleRows + 2);
      },
    );
  }
});

Deno.test("samm 3-class map", async () => {
  await withSamm((root) => writeSamm(root), async (root) => {
    const result = await loadSamm(root, { classes: 3, ...quiet });
    assert.deepEqual(summarizeClips(result.clips).classes, {
      negative: 3,
      positive: 1,
      surprise: 1,
    });
    assert.deepEqual(result.excluded.map((item) => item.emotion), ["other"]);
  });
});

Deno.test("samm repairs or rejects a non-numeric apex", async () => {
  await withSamm(
    (root) =>
      writeSamm(root, {
        clips: withClip(2, { apex: "-" }),
        folders: sammClips,
      }),
    async (root) => {
      const { warnings, onWarning } = collectWarnings();
      const result = await loadSamm(root, { onWarning });
      const clip = result.clips.find((record) => record.clip === "007_3_1")!;
      assert.equal(clip.apexSource, "repaired");
      assert.equal(clip.apex, 3009);
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0].includes(`${sammSheetName} row 17`));
      await assert.rejects(
        () => loadSamm(root, { strict: true, ...quiet }),
        isDatasetError("'-'", "007/007_3_1"),
      );
    },
  );
});

Deno.test("samm rejects a missing frame", async () => {
  await withSamm(
    async (root) => {
      await writeSamm(root);
      await Deno.remove(join(root, "SAMM", "007", "007_6_2", "007_04510.jpg"));
    },
    async (root) => {
      await assert.rejects(
        () => loadSamm(root, quiet),
        isDatasetError("Missing frame(s) 4510", "007_6_2"),
      );
      const result = await loadSamm(root, { skipInvalid: true, ...quiet });
      assert.deepEqual(result.skipped.map((item) => item.clip), [
        "007/007_6_2",
      ]);
    },
  );
});

Deno.test("samm rejects onset after apex", async () => {
  await withSamm(
    (root) =>
      writeSamm(root, {
        clips: withClip(0, { apex: 5500 }),
        folders: sammClips,
      }),
    async (root) => {
      await assert.rejects(
        () => loadSamm(root, quiet),
        isDatasetError("Onset frame 5562", "apex frame 5500", "006/006_1_2"),
      );
    },
  );
});

Deno.test("samm rejects an unknown emotion", async () => {
  await withSamm(
    (root) =>
      writeSamm(root, {
        clips: withClip(4, { emotion: "Boredom" }),
        folders: sammClips,
      }),
    async (root) => {
      await assert.rejects(
        () => loadSamm(root, quiet),
        isDatasetError("'Boredom'", "011/011_2_3"),
      );
    },
  );
});

Deno.test("samm rejects duplicates and unmatched folders", async () => {
  await withSamm(
    async (root) => {
      await writeSamm(root, {
        clips: [...sammClips, sammClips[3]],
        folders: sammClips.slice(0, 5),
      });
      await writeFrames(
        join(root, "SAMM", "020", "020_1_1"),
        range(10, 12),
        (frame) => `020_${String(frame).padStart(5, "0")}.jpg`,
        "jpeg-gray",
      );
    },
    async (root) => {
      await assert.rejects(
        () => loadSamm(root, quiet),
        isDatasetError("Duplicate clip 007/007_6_2"),
      );
      const result = await loadSamm(root, { skipInvalid: true, ...quiet });
      const skipped = result.skipped.map((item) => item.clip).sort();
      assert.deepEqual(skipped, ["007/007_6_2", "011/011_4_1", "020/020_1_1"]);
      assert.equal(result.skipped.length, 3);
      assert.equal(result.clips.length, 3);
    },
  );
});

Deno.test("samm rejects a clip of another subject", async () => {
  await withSamm(
    async (root) => {
      const clips = withClip(1, { filename: "007_5_9" });
      await writeSamm(root, { clips, folders: sammClips.slice(2) });
      for (const clip of clips.slice(0, 2)) {
        await writeFrames(
          join(root, "SAMM", "006", clip.filename),
          range(clip.onset, clip.offset),
          (frame) => `006_${String(frame).padStart(5, "0")}.jpg`,
          "jpeg-gray",
        );
      }
    },
    async (root) => {
      await assert.rejects(
        () => loadSamm(root, quiet),
        isDatasetError("007_5_9", "does not start with its subject 006_"),
      );
    },
  );
});
