import assert from "node:assert/strict";
import { join } from "node:path";
import { loadSmic } from "../../datasets/smic.ts";
import {
  DatasetError,
  middleFrame,
  summarizeClips,
} from "../../datasets/types.ts";
import {
  collectWarnings,
  makeTempDir,
  range,
  writeFrames,
  writeSmic,
  writeStandardSmic,
} from "./fixtures.ts";

async function withDir(
  prepare: (root: string) => Promise<void>,
  check: (root: string) => Promise<void>,
): Promise<void> {
  const root = await makeTempDir("smic");
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

const clipFolder = (root: string, ...parts: string[]) =>
  join(root, "SMIC_all_cropped", "HS", ...parts);

Deno.test("smic loads the cropped layout", async () => {
  await withDir(writeStandardSmic, async (root) => {
    const { warnings, onWarning } = collectWarnings();
    const result = await loadSmic(root, { onWarning });
    assert.deepEqual(summarizeClips(result.clips), {
      subjects: 2,
      clips: 4,
      classes: { negative: 2, positive: 1, surprise: 1 },
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.skipped, []);
    assert.equal(result.classes, 3);

    const clip = result.clips.find((record) => record.clip === "s1_ne_01")!;
    assert.equal(clip.dataset, "smic");
    assert.equal(clip.subject, "s1");
    assert.equal(clip.label, "negative");
    assert.equal(clip.emotion, "negative");
    assert.equal(clip.fps, 100);
    assert.equal(clip.onset, 60976);
    assert.equal(clip.offset, 60981);
    assert.equal(clip.apex, null);
    assert.equal(clip.apexSource, "estimate-needed");
    assert.deepEqual(clip.frameNumbers, range(60976, 60981));
    assert.ok(clip.framePaths[0].endsWith("reg_image060976.bmp"));
    assert.equal(middleFrame(clip), 60978);
    assert.ok(
      result.clips.every((record) => !record.clip.includes("no")),
      "non_micro clips must not be read",
    );
  });
});

Deno.test("smic loads the raw layout", async () => {
  await withDir(
    (root) =>
      writeSmic(root, [
        {
          subject: "s3",
          emotion: "positive",
          clip: "s3_po_02",
          frames: range(10, 14),
        },
      ], "raw"),
    async (root) => {
      const result = await loadSmic(root, { onWarning: () => {} });
      assert.equal(result.clips.length, 1);
      assert.ok(result.clips[0].framePaths[0].endsWith("image000010.bmp"));
      assert.ok(result.clips[0].framePaths[0].includes("SMIC_all_raw"));
    },
  );
});

Deno.test("smic sorts frames by number, not name", async () => {
  await withDir(
    async (root) => {
      await writeFrames(
        clipFolder(root, "s1", "micro", "surprise", "s1_sur_01"),
        range(98, 102),
        (frame) => `image${frame}.bmp`,
        "bmp",
      );
    },
    async (root) => {
      const [clip] = (await loadSmic(root, { onWarning: () => {} })).clips;
      assert.deepEqual(clip.frameNumbers, [98, 99, 100, 101, 102]);
      assert.ok(clip.framePaths[2].endsWith("image100.bmp"));
      assert.equal(clip.onset, 98);
      assert.equal(clip.offset, 102);
    },
  );
});

Deno.test("smic rejects a missing frame", async () => {
  await withDir(
    async (root) => {
      await writeStandardSmic(root);
      await Deno.remove(
        clipFolder(
          root,
          "s2",
          "micro",
          "surprise",
          "s2_sur_01",
          "reg_image001000.bmp",
        ),
      );
    },
    async (root) => {
      await assert.rejects(
        () => loadSmic(root, { onWarning: () => {} }),
        isDatasetError("1000", "s2_sur_01", "--skip-invalid"),
      );
      const { warnings, onWarning } = collectWarnings();
      const result = await loadSmic(root, { skipInvalid: true, onWarning });
      assert.equal(result.clips.length, 3);
      assert.equal(result.skipped.length, 1);
      assert.equal(result.skipped[0].clip, "s2/s2_sur_01");
      assert.match(result.skipped[0].reason, /Missing frame\(s\) 1000/);
      assert.equal(warnings.length, 1);
    },
  );
});

Deno.test("smic rejects an unknown emotion folder", async () => {
  await withDir(
    async (root) => {
      await writeStandardSmic(root);
      await writeSmic(root, [
        {
          subject: "s2",
          emotion: "happy",
          clip: "s2_ha_01",
          frames: range(1, 3),
        },
      ]);
    },
    async (root) => {
      await assert.rejects(
        () => loadSmic(root, { onWarning: () => {} }),
        isDatasetError("'happy'"),
      );
      const result = await loadSmic(root, {
        skipInvalid: true,
        onWarning: () => {},
      });
      assert.equal(result.clips.length, 4);
      assert.deepEqual(result.skipped.map((item) => item.clip), ["s2/happy"]);
    },
  );
});

Deno.test("smic rejects a duplicate clip", async () => {
  await withDir(
    async (root) => {
      await writeStandardSmic(root);
      await writeSmic(root, [
        {
          subject: "s1",
          emotion: "surprise",
          clip: "s1_ne_01",
          frames: range(1, 3),
        },
      ]);
    },
    async (root) => {
      await assert.rejects(
        () => loadSmic(root, { onWarning: () => {} }),
        isDatasetError("Duplicate clip 's1_ne_01'", "negative", "surprise"),
      );
      const result = await loadSmic(root, {
        skipInvalid: true,
        onWarning: () => {},
      });
      assert.equal(result.clips.length, 3);
      assert.equal(result.skipped.length, 1);
    },
  );
});

Deno.test("smic rejects an unreadable image", async () => {
  await withDir(
    async (root) => {
      await writeStandardSmic(root);
      await Deno.writeTextFile(
        clipFolder(
          root,
          "s1",
          "micro",
          "positive",
          "s1_po_01",
          "reg_image001202.bmp",
        ),
        "broken",
      );
    },
    async (root) => {
      await assert.rejects(
        () => loadSmic(root, { onWarning: () => {} }),
        isDatasetError("reg_image001202.bmp", "unreadable"),
      );
      const result = await loadSmic(root, {
        checkImages: "none",
        onWarning: () => {},
      });
      assert.equal(result.clips.length, 4);
    },
  );
});

Deno.test("smic decode mode reads every frame", async () => {
  await withDir(writeStandardSmic, async (root) => {
    const result = await loadSmic(root, {
      checkImages: "decode",
      onWarning: () => {},
    });
    assert.equal(result.clips.length, 4);
  });
});

Deno.test("smic warns about stray files and names", async () => {
  await withDir(
    async (root) => {
      await writeStandardSmic(root);
      await Deno.writeTextFile(
        clipFolder(root, "s1", "micro", "negative", "s1_ne_01", "notes.txt"),
        "x",
      );
      await writeSmic(root, [
        {
          subject: "s2",
          emotion: "positive",
          clip: "s2_ne_07",
          frames: range(1, 3),
        },
      ]);
    },
    async (root) => {
      const { warnings, onWarning } = collectWarnings();
      const result = await loadSmic(root, { onWarning });
      assert.equal(result.clips.length, 5);
      assert.ok(warnings.some((warning) => warning.includes("notes.txt")));
      assert.ok(warnings.some((warning) => warning.includes("s2_ne_07")));
      const misfiled = result.clips.find((clip) => clip.clip === "s2_ne_07")!;
      assert.equal(misfiled.label, "positive");
    },
  );
});

Deno.test("smic rejects 5 classes and a missing folder", async () => {
  await withDir(writeStandardSmic, async (root) => {
    await assert.rejects(
      () => loadSmic(root, { classes: 5 }),
      isDatasetError("3 classes"),
    );
    await assert.rejects(
      () => loadSmic(join(root, "nowhere")),
      isDatasetError("No SMIC-HS subject folders"),
    );
    await assert.rejects(
      () => loadSmic(root, { variant: "NIR" }),
      isDatasetError("SMIC-NIR"),
    );
  });
});

Deno.test("smic follows symlinked folders and frames", async () => {
  await withDir(async (root) => {
    // The real files live in "store"; the dataset links a subject folder
    // and, inside a real clip folder, one frame; one dangling link is ignored.
    const store = join(root, "store");
    await writeStandardSmic(store);
    const hs = join(root, "data", "SMIC_all_cropped", "HS");
    await Deno.mkdir(hs, { recursive: true });
    await Deno.symlink(
      join(store, "SMIC_all_cropped", "HS", "s1"),
      join(hs, "s1"),
    );
    const clip = join(hs, "s2", "micro", "surprise", "s2_sur_01");
    await Deno.mkdir(clip, { recursive: true });
    const source = join(
      store,
      "SMIC_all_cropped",
      "HS",
      "s2",
      "micro",
      "surprise",
      "s2_sur_01",
    );
    for (
      const name of (await Array.fromAsync(Deno.readDir(source))).map((e) =>
        e.name
      )
    ) {
      await Deno.symlink(join(source, name), join(clip, name));
    }
    await Deno.symlink(join(root, "missing"), join(hs, "s9"));
  }, async (root) => {
    const result = await loadSmic(join(root, "data"), {});
    const ids = result.clips.map((c) => `${c.subject}/${c.clip}`).sort();
    assert.deepEqual(ids, ["s1/s1_ne_01", "s1/s1_po_01", "s2/s2_sur_01"]);
    const linked = result.clips.find((c) => c.clip === "s2_sur_01")!;
    assert.equal(linked.framePaths.length, 6);
  });
});
