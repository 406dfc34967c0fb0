import assert from "node:assert/strict";
import { join } from "node:path";
import { loadMegc2019 } from "../../datasets/megc2019.ts";
import { DatasetError, summarizeClips } from "../../datasets/types.ts";
import {
  makeTempDir,
  writeCasme2,
  writeSamm,
  writeStandardSmic,
} from "./fixtures.ts";

async function withComposite(
  check: (root: string) => Promise<void>,
): Promise<void> {
  const root = await makeTempDir("megc2019");
  try {
    for (const name of ["SMIC", "CASME2", "SAMM"]) {
      await Deno.mkdir(join(root, name));
    }
    await writeStandardSmic(join(root, "SMIC"));
    await writeCasme2(join(root, "CASME2"));
    await writeSamm(join(root, "SAMM"));
    await check(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const quiet = { onWarning: () => {} };

Deno.test("megc2019 combines three datasets", async () => {
  await withComposite(async (root) => {
    const result = await loadMegc2019(root, quiet);
    assert.equal(result.dataset, "megc2019");
    assert.equal(result.classes, 3);
    // SMIC 4 clips; CASME II 4 (others and sadness dropped, which leaves
    // sub11 without clips); SAMM 5 (other dropped).
    assert.deepEqual(summarizeClips(result.clips), {
      subjects: 2 + 2 + 3,
      clips: 13,
      classes: { negative: 7, positive: 3, surprise: 3 },
    });
    assert.deepEqual(result.sources.smic, {
      subjects: 2,
      clips: 4,
      classes: { negative: 2, positive: 1, surprise: 1 },
      skipped: 0,
      excluded: 0,
    });
    assert.deepEqual(result.sources.casme2.classes, {
      negative: 2,
      positive: 1,
      surprise: 1,
    });
    assert.equal(result.sources.casme2.excluded, 2);
    assert.deepEqual(result.sources.samm.classes, {
      negative: 3,
      positive: 1,
      surprise: 1,
    });
    const subjects = new Set(result.clips.map((clip) => clip.subject));
    assert.ok(subjects.has("smic/s1"));
    assert.ok(subjects.has("casme2/sub01"));
    assert.ok(subjects.has("samm/006"));
    const casme = result.clips.find((clip) => clip.subject === "casme2/sub01")!;
    assert.equal(casme.dataset, "casme2");
  });
});

Deno.test("megc2019 accepts explicit roots and exclusions", async () => {
  await withComposite(async (root) => {
    const result = await loadMegc2019({
      smic: join(root, "SMIC"),
      casme2: join(root, "CASME2"),
      samm: join(root, "SAMM"),
    }, { exclude: ["casme2/sub01/EP03_02"], ...quiet });
    assert.equal(result.clips.length, 12);
    assert.equal(result.sources.casme2.clips, 3);
    assert.equal(result.sources.casme2.excluded, 3);
    assert.ok(
      result.excluded.some((item) => item.clip === "casme2/sub01/EP03_02"),
    );
    await assert.rejects(
      () => loadMegc2019(root, { exclude: ["samm/006/006_9_9"], ...quiet }),
      (error: Error) =>
        error instanceof DatasetError &&
        error.message.includes("samm/006/006_9_9"),
    );
  });
});

Deno.test("megc2019 rejects 5 classes and missing parts", async () => {
  await withComposite(async (root) => {
    await assert.rejects(
      // @ts-expect-error: the composite has no 5-class map.
      () => loadMegc2019(root, { classes: 5 }),
      DatasetError,
    );
    await Deno.remove(join(root, "SAMM"), { recursive: true });
    await assert.rejects(
      () => loadMegc2019(root, quiet),
      (error: Error) =>
        error instanceof DatasetError && error.message.includes("'samm'"),
    );
  });
});

Deno.test("megc2019 prefixes skipped clips", async () => {
  await withComposite(async (root) => {
    await Deno.remove(
      join(root, "CASME2", "Cropped", "sub02", "EP13_01", "reg_img40.jpg"),
    );
    const result = await loadMegc2019(root, { skipInvalid: true, ...quiet });
    assert.deepEqual(result.skipped.map((item) => item.clip), [
      "casme2/sub02/EP13_01",
    ]);
    assert.equal(result.sources.casme2.skipped, 1);
  });
});
