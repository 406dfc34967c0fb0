import assert from "node:assert/strict";
import { join } from "node:path";
import {
  findHeaderRow,
  normalizeHeaderName,
  readWorkbook,
  writeSheet,
} from "../../datasets/sheets.ts";
import { DatasetError } from "../../datasets/types.ts";
import { makeTempDir } from "./fixtures.ts";

Deno.test("header names ignore case, spaces, underscores", () => {
  assert.equal(normalizeHeaderName("Onset Frame"), "onsetframe");
  assert.equal(normalizeHeaderName("OnsetFrame"), "onsetframe");
  assert.equal(normalizeHeaderName(" onset_frame "), "onsetframe");
  assert.equal(normalizeHeaderName(null), "");
});

Deno.test("sheet round trip keeps values", async () => {
  const dir = await makeTempDir("sheets");
  try {
    const path = join(dir, "codes.xlsx");
    await writeSheet(path, "Sheet1", [
      ["Subject", "Filename", null, "OnsetFrame"],
      [1, "EP02_01f", null, 46],
      [],
      ["  ", "x", true, 2.5],
    ]);
    const [sheet] = await readWorkbook(path);
    assert.equal(sheet.sheet, "Sheet1");
    assert.deepEqual(sheet.rows[0], [
      "Subject",
      "Filename",
      null,
      "OnsetFrame",
    ]);
    assert.deepEqual(sheet.rows[1], [1, "EP02_01f", null, 46]);
    assert.deepEqual(sheet.rows[2], [null, null, null, null]);
    assert.deepEqual(sheet.rows[3], [null, "x", true, 2.5]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("written sheets are byte-identical", async () => {
  const dir = await makeTempDir("sheets");
  try {
    const rows = [["a", 1], ["b", 2]];
    await writeSheet(join(dir, "one.xlsx"), "S", rows);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await writeSheet(join(dir, "two.xlsx"), "S", rows);
    assert.deepEqual(
      await Deno.readFile(join(dir, "one.xlsx")),
      await Deno.readFile(join(dir, "two.xlsx")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findHeaderRow skips preamble rows", async () => {
  const dir = await makeTempDir("sheets");
  try {
    for (const preamble of [0, 4, 13]) {
      const path = join(dir, `codes${preamble}.xlsx`);
      const rows = [
        ...Array.from(
          { length: preamble },
          (_, i) => [`note ${i}`, "Filename"],
        ),
        ["Subject", "Filename", "Onset Frame"],
        [6, "006_1_2", 5562],
      ];
      await writeSheet(path, "Sheet1", rows);
      const location = findHeaderRow(await readWorkbook(path), [
        "Filename",
        "Onset Frame",
      ]);
      assert.equal(location.headerIndex, preamble);
      assert.equal(location.columns.get("onsetframe"), 2);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findHeaderRow names missing columns", async () => {
  const dir = await makeTempDir("sheets");
  try {
    const path = join(dir, "codes.xlsx");
    await writeSheet(path, "Sheet1", [["Subject", "Filename"]]);
    assert.throws(
      () =>
        findHeaderRow([
          { file: path, sheet: "Sheet1", rows: [["Subject", "Filename"]] },
        ], ["Filename", "Onset Frame"]),
      (error: Error) =>
        error instanceof DatasetError &&
        error.message.includes("Onset Frame") &&
        error.message.includes(path),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readWorkbook names an invalid file", async () => {
  const dir = await makeTempDir("sheets");
  try {
    const path = join(dir, "broken.xlsx");
    await Deno.writeTextFile(path, "not a zip archive");
    await assert.rejects(
      () => readWorkbook(path),
      (error: Error) =>
        error instanceof DatasetError && error.message.includes(path),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
