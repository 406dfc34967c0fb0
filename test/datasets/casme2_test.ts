import assert from "node:assert/strict";
import { join } from "node:path";
import { loadCasme2 } from "../../datasets/casme2.ts";
import { DatasetError, summarizeClips } from "../../datasets/types.ts";
import {
  casme2Clips,
  casme2SheetName,
  type CodedClip,
  collectWarnings,
  makeTempDir,
  range,
  writeCasme2,
  writeFrames,
} from "./fixtures.ts";

async function withCasme2(
  prepare: (root: string) => Promise<void>,
  check: (root: string) => Promise<void>,
): Promise<void> {
  const root = await makeTempDir("casme2");
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
  return casme2Clips.map((clip, i) =>
    i === index ? { ...clip, ...change } : clip
  );
}

const quiet = { onWarning: () => {} };

Deno.test("casme2 loads sheet and frames", async () => {
  await withCasme2((root) => writeCasme2(root), async (root) => {
    const { warnings, onWarning } = collectWarnings();
    const result = await loadCasme2(root, { onWarning });
    assert.equal(result.classes, 5);
    assert.deepEqual(summarizeClips(result.clips), {
      subjects: 3,
      clips: 5,
      classes: {
        disgust: 1,
        happiness: 1,
        others: 1,
        repression: 1,
        surprise: 1,
      },
    });
    assert.deepEqual(result.excluded, [
      { clip: "sub11/EP18_01", emotion: "sadness" },
    ]);

    const happy = result.clips.find((clip) => clip.clip === "EP02_01f")!;
    assert.equal(happy.subject, "sub01");
    assert.equal(happy.onset, 46);
    assert.equal(happy.apex, 59);
    assert.equal(happy.offset, 86);
    assert.equal(happy.apexSource, "annotated");
    assert.equal(happy.actionUnits, "12");
    assert.equal(happy.fps, 200);
    // The folder contains two frames before the onset and two after the offset.
    assert.deepEqual(happy.frameNumbers, range(44, 88));
    assert.ok(
      happy.framePaths[0].endsWith(join("sub01", "EP02_01f", "reg_img44.jpg")),
    );
    assert.equal(happy.source.row, 2);
    assert.ok(happy.source.sheet!.endsWith(casme2SheetName));

    // Frames 5..14 cross from one digit to two: numeric order.
    const disgust = result.clips.find((clip) => clip.clip === "EP03_02")!;
    assert.deepEqual(disgust.frameNumbers, range(5, 14));
    assert.ok(disgust.framePaths[5].endsWith("reg_img10.jpg"));

    // Non-numeric apex: repaired to the middle frame with a warning.
    const repaired = result.clips.find((clip) => clip.clip === "EP09_04")!;
    assert.equal(repaired.apex, 110);
    assert.equal(repaired.apexSource, "repaired");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /Apex frame '\/' of sub02\/EP09_04/);
    assert.ok(warnings[0].includes(`${casme2SheetName} row 4`));
    assert.ok(warnings[0].includes("middle frame 110"));
  });
});

Deno.test("casme2 3-class map and exclusions", async () => {
  await withCasme2((root) => writeCasme2(root), async (root) => {
    const result = await loadCasme2(root, { classes: 3, ...quiet });
    assert.deepEqual(summarizeClips(result.clips).classes, {
      negative: 2,
      positive: 1,
      surprise: 1,
    });
    assert.deepEqual(
      result.excluded.map((item) => item.emotion).sort(),
      ["others", "sadness"],
    );
  });
});

Deno.test("casme2 strict rejects a non-numeric apex", async () => {
  await withCasme2((root) => writeCasme2(root), async (root) => {
    await assert.rejects(
      () => loadCasme2(root, { strict: true, ...quiet }),
      isDatasetError("'/'", "sub02/EP09_04", "row 4", "strict"),
    );
    const result = await loadCasme2(root, {
      strict: true,
      skipInvalid: true,
      ...quiet,
    });
    assert.equal(result.clips.length, 4);
    assert.deepEqual(result.skipped.map((item) => item.clip), [
      "sub02/EP09_04",
    ]);
  });
});

Deno.test("casme2 rejects a missing frame", async () => {
  await withCasme2(
    async (root) => {
      await writeCasme2(root);
      await Deno.remove(
        join(root, "Cropped", "sub02", "EP13_01", "reg_img41.jpg"),
      );
    },
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("Missing frame(s) 41", "EP13_01", "row 5"),
      );
      const result = await loadCasme2(root, { skipInvalid: true, ...quiet });
      assert.deepEqual(result.skipped.map((item) => item.clip), [
        "sub02/EP13_01",
      ]);
    },
  );
});

Deno.test("casme2 allows gaps outside onset to offset", async () => {
  await withCasme2(
    async (root) => {
      await writeCasme2(root);
      await Deno.remove(
        join(root, "Cropped", "sub01", "EP02_01f", "reg_img44.jpg"),
      );
    },
    async (root) => {
      const result = await loadCasme2(root, quiet);
      assert.equal(result.skipped.length, 0);
      const clip = result.clips.find((record) => record.clip === "EP02_01f")!;
      assert.equal(clip.frameNumbers[0], 45);
    },
  );
});

Deno.test("casme2 rejects onset after apex", async () => {
  await withCasme2(
    (root) => writeCasme2(root, withClip(3, { apex: 25 })),
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("Onset frame 30", "apex frame 25", "sub02/EP13_01"),
      );
    },
  );
});

Deno.test("casme2 rejects apex after offset", async () => {
  await withCasme2(
    (root) => writeCasme2(root, withClip(3, { apex: 60 })),
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("Apex frame 60", "offset frame 50"),
      );
    },
  );
});

Deno.test("casme2 rejects an unknown emotion", async () => {
  await withCasme2(
    (root) => writeCasme2(root, withClip(1, { emotion: "joy" })),
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("'joy'", "sub01/EP03_02", "row 3"),
      );
      const result = await loadCasme2(root, { skipInvalid: true, ...quiet });
      assert.equal(result.skipped[0].clip, "sub01/EP03_02");
    },
  );
});

Deno.test("casme2 rejects a non-numeric onset", async () => {
  await withCasme2(
    (root) =>
      writeCasme2(
        root,
        withClip(2, { onset: "n/a" as unknown as number }),
        casme2Clips,
      ),
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("OnsetFrame 'n/a'", "row 4", "not a frame number"),
      );
      const result = await loadCasme2(root, { skipInvalid: true, ...quiet });
      assert.deepEqual(result.skipped.map((item) => item.clip), [
        "sub02/EP09_04",
      ]);
      assert.equal(result.clips.length, 4);
    },
  );
});

Deno.test("casme2 rejects duplicate rows", async () => {
  await withCasme2(
    (root) => writeCasme2(root, [...casme2Clips, casme2Clips[0]], casme2Clips),
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("Duplicate clip sub01/EP02_01f", "rows 2, 8"),
      );
      const result = await loadCasme2(root, { skipInvalid: true, ...quiet });
      assert.equal(result.clips.length, 4);
    },
  );
});

Deno.test("casme2 rejects a row without a folder", async () => {
  await withCasme2(
    (root) => writeCasme2(root, casme2Clips, casme2Clips.slice(1)),
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("Row 2", "sub01/EP02_01f", "does not exist"),
      );
      const result = await loadCasme2(root, { skipInvalid: true, ...quiet });
      assert.deepEqual(result.skipped.map((item) => item.clip), [
        "sub01/EP02_01f",
      ]);
    },
  );
});

Deno.test("casme2 rejects a folder without a row", async () => {
  await withCasme2(
    async (root) => {
      await writeCasme2(root);
      await writeFrames(
        join(root, "Cropped", "sub05", "EP01_01"),
        range(1, 5),
        (frame) => `reg_img${frame}.jpg`,
        "jpeg-rgb",
      );
    },
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("EP01_01", "has no row", casme2SheetName),
      );
      const result = await loadCasme2(root, { skipInvalid: true, ...quiet });
      assert.equal(result.clips.length, 5);
      assert.deepEqual(result.skipped.map((item) => item.clip), [
        "sub05/EP01_01",
      ]);
    },
  );
});

Deno.test("casme2 rejects an unreadable image", async () => {
  await withCasme2(
    async (root) => {
      await writeCasme2(root);
      const path = join(root, "Cropped", "sub11", "EP15_03f", "reg_img210.jpg");
      const bytes = await Deno.readFile(path);
      await Deno.writeFile(path, bytes.subarray(0, 20));
    },
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("reg_img210.jpg", "unreadable"),
      );
    },
  );
});

Deno.test("casme2 finds the raw layout and a nested sheet", async () => {
  await withCasme2(
    async (root) => {
      const nested = join(root, "CASME2_preprocessed");
      await Deno.mkdir(nested);
      await writeCasme2(nested, casme2Clips, []);
      for (const clip of casme2Clips) {
        const subject = `sub${String(clip.subject).padStart(2, "0")}`;
        await writeFrames(
          join(root, "CASME2_RAW_selected", subject, clip.filename),
          clip.frames ?? range(clip.onset, clip.offset),
          (frame) => `img${frame}.jpg`,
          "jpeg-rgb",
        );
      }
    },
    async (root) => {
      const result = await loadCasme2(root, quiet);
      assert.equal(result.clips.length, 5);
      assert.ok(result.clips[0].framePaths[0].includes("CASME2_RAW_selected"));
    },
  );
});

Deno.test("casme2 reports a missing sheet", async () => {
  await withCasme2(
    (root) => Deno.mkdir(join(root, "Cropped", "sub01"), { recursive: true }),
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("No CASME II coding sheet", "--sheet"),
      );
    },
  );
});

Deno.test("casme2 rejects a duplicate clip folder", async () => {
  await withCasme2(
    async (root) => {
      await writeCasme2(root);
      await writeFrames(
        join(root, "Cropped", "sub1", "EP02_01f"),
        range(46, 86),
        (frame) => `reg_img${frame}.jpg`,
        "jpeg-rgb",
      );
    },
    async (root) => {
      await assert.rejects(
        () => loadCasme2(root, quiet),
        isDatasetError("Duplicate clip folder", join("sub1", "EP02_01f")),
      );
      const result = await loadCasme2(root, { skipInvalid: true, ...quiet });
      assert.deepEqual(result.skipped.map((item) => item.clip), [
        "sub01/EP02_01f",
      ]);
      assert.equal(result.clips.length, 4);
    },
  );
});

Deno.test("casme2 reports a missing root folder", async () => {
  await assert.rejects(
    () => loadCasme2("/nonexistent/casme2", quiet),
    isDatasetError("/nonexistent/casme2", "does not exist"),
  );
});
