import assert from "node:assert/strict";
import { join } from "node:path";
import type { FoldResult } from "../../src/mer/protocol.ts";
import { type RunInfo, writeReport } from "../../src/mer/report.ts";

function fold(
  index: number,
  labels: number[],
  predicted: number[],
): FoldResult {
  return {
    fold: index,
    subject: `s${index + 1}`,
    predictions: labels.map((label, k) => ({
      index: 10 * index + k,
      clip: `s${index + 1}/clip${k}`,
      label,
      predicted: predicted[k],
      probabilities: [0, 1, 2].map((c) => (c === predicted[k] ? 0.8 : 0.1)),
    })),
    history: [
      { stage: "plsm", epoch: 0, loss: 1, accuracy: 0.5, seconds: 1 },
      { stage: "fusion", epoch: 0, loss: 0.9, accuracy: 0.6, seconds: 1 },
    ],
    seconds: { plsm: 1, fusion: 1 },
    synthetic: true,
  };
}

const INFO: RunInfo = {
  dataset: "smic",
  variant: "c",
  preset: "compact",
  classNames: ["negative", "positive", "surprise"],
  totalFolds: 2,
  command: "tools/deno task train smic --smoke --skip-invalid",
  adapter: "test adapter",
  seconds: 75.4,
  preprocessSeconds: 12.2,
  sessions: 2,
  synthetic: true,
  smoke: true,
  skipped: ["s1/clip9: BMP is truncated", "s2/clip7: no frames"],
};

Deno.test("report lists time, smoke mode and skipped clips", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const folds = [fold(0, [0, 1, 2], [0, 1, 1]), fold(1, [0, 2], [0, 2])];
    const metrics = await writeReport(dir, INFO, folds);
    assert.equal(metrics.overall.count, 5);
    assert.equal(metrics.overall.accuracy, 0.8);

    const report = await Deno.readTextFile(join(dir, "report.md"));
    assert.match(report, /data: SYNTHETIC/);
    assert.match(report, /mode: SMOKE run/);
    assert.match(
      report,
      /time: 75 s of wall time summed over 2 sessions of train \(resumes and parallel --fold jobs add up\), including 12 s of preprocessing/,
    );
    assert.match(report, /skipped clips \(--skip-invalid\): 2/);
    assert.match(report, / {2}- s1\/clip9: BMP is truncated/);

    const json = JSON.parse(await Deno.readTextFile(join(dir, "metrics.json")));
    assert.equal(json.sessions, 2);
    assert.deepEqual(json.skipped, INFO.skipped);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report without session records says the time is not recorded", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeReport(
      dir,
      { ...INFO, sessions: 0, seconds: 0, smoke: false, skipped: [] },
      [fold(0, [0, 1], [0, 1])],
    );
    const report = await Deno.readTextFile(join(dir, "report.md"));
    assert.match(report, /time: not recorded/);
    assert.doesNotMatch(report, /mode: SMOKE/);
    assert.doesNotMatch(report, /skipped clips/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
