import assert from "node:assert/strict";
import { runScript } from "../helpers.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  casme2SheetName,
  makeTempDir,
  writeCasme2,
  writeStandardSmic,
} from "./fixtures.ts";

const script = fileURLToPath(
  new URL("../../experiments/data.ts", import.meta.url),
);

function runData(...args: string[]) {
  return runScript([script, ...args]);
}

Deno.test("data summary prints json counts", async () => {
  const root = await makeTempDir("cli");
  try {
    await writeCasme2(root);
    const result = await runData("summary", "casme2", root, "--json");
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.subjects, 3);
    assert.equal(summary.clips, 5);
    assert.deepEqual(summary.classes, {
      disgust: 1,
      happiness: 1,
      others: 1,
      repression: 1,
      surprise: 1,
    });
    assert.deepEqual(summary.skipped, []);
    assert.match(result.stderr, /warning: Apex frame '\/'/);

    const three = await runData(
      "summary",
      "casme2",
      root,
      "--json",
      "--classes",
      "3",
    );
    assert.deepEqual(JSON.parse(three.stdout).classes, {
      negative: 2,
      positive: 1,
      surprise: 1,
    });

    const strict = await runData("summary", "casme2", root, "--strict");
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /error: Apex frame '\/' of sub02\/EP09_04/);

    const skipping = await runData(
      "summary",
      "casme2",
      root,
      "--json",
      "--strict",
      "--skip-invalid",
    );
    assert.equal(skipping.code, 0, skipping.stderr);
    const skipped = JSON.parse(skipping.stdout).skipped;
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0].clip, "sub02/EP09_04");
    assert.match(skipped[0].reason, /not a number/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("data summary takes sheet and frames", async () => {
  const root = await makeTempDir("cli");
  try {
    const dataset = join(root, "dataset");
    await Deno.mkdir(dataset);
    await writeCasme2(dataset);
    const sheet = join(root, "codes.xlsx");
    await Deno.rename(join(dataset, casme2SheetName), sheet);
    const frames = join(root, "frames");
    await Deno.rename(join(dataset, "Cropped"), frames);

    const lost = await runData("summary", "casme2", dataset, "--json");
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, /--sheet/);

    const found = await runData(
      "summary",
      "casme2",
      dataset,
      "--json",
      "--sheet",
      sheet,
      "--frames",
      frames,
    );
    assert.equal(found.code, 0, found.stderr);
    assert.equal(JSON.parse(found.stdout).clips, 5);

    const smic = await runData("summary", "smic", dataset, "--sheet", sheet);
    assert.equal(smic.code, 1);
    assert.match(smic.stderr, /sheet \(--sheet\) applies to casme2 and samm/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("data summary rejects bad arguments", async () => {
  const root = await makeTempDir("cli");
  try {
    await writeStandardSmic(root);
    const five = await runData("summary", "smic", root, "--classes", "5");
    assert.equal(five.code, 1);
    assert.match(five.stderr, /SMIC is coded in 3 classes/);

    const four = await runData("summary", "smic", root, "--classes", "4");
    assert.equal(four.code, 2);
    assert.match(four.stderr, /classes/);
    assert.match(four.stderr, /Usage:/);

    const unknown = await runData("summary", "fer2013", root);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /dataset/);

    const missing = await runData("summary", "smic");
    assert.equal(missing.code, 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("data synth writes a loadable set", async () => {
  const root = await makeTempDir("cli");
  try {
    const out = join(root, "smic");
    const result = await runData(
      "synth",
      "smic",
      "--out",
      out,
      "--seed",
      "3",
      "--size",
      "16",
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Wrote synthetic smic: 164 clips, 16 subjects/);
    const summary = await runData("summary", "smic", out, "--json");
    assert.deepEqual(JSON.parse(summary.stdout).classes, {
      negative: 70,
      positive: 51,
      surprise: 43,
    });

    const noSeed = await runData("synth", "smic", "--out", join(root, "x"));
    assert.equal(noSeed.code, 2);
    assert.match(noSeed.stderr, /--seed/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
