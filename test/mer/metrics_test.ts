import assert from "node:assert/strict";
import { computeMetrics, metricsFromConfusion } from "../../src/mer/metrics.ts";

const near = (actual: number, expected: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) < 5e-4,
    `${what}: ${actual}, expected ${expected}`,
  );

Deno.test("metrics of the MPFNet-C SMIC confusion matrix", () => {
  // Rows negative, positive, surprise, as published for MPFNet-C on SMIC.
  const m = metricsFromConfusion([[58, 6, 6], [6, 40, 5], [4, 4, 35]]);
  near(m.accuracy, 0.811, "accuracy");
  near(m.weightedF1, 0.811, "weighted F1");
  near(m.uf1, 0.806, "UF1");
  near(m.uar, 0.809, "UAR");
});

Deno.test("metrics of the MPFNet-C composite matrix", () => {
  const m = metricsFromConfusion([[219, 23, 8], [15, 88, 6], [8, 4, 71]]);
  near(m.uf1, 0.840, "UF1");
  near(m.uar, 0.846, "UAR");
  near(m.accuracy, 0.855, "accuracy");
});

Deno.test("confusion matrix from labels", () => {
  const m = computeMetrics([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3);
  assert.deepEqual(m.confusion, [[1, 1, 0], [0, 1, 0], [1, 0, 2]]);
  assert.equal(m.count, 6);
  near(m.accuracy, 4 / 6, "accuracy");
  near(m.perClass[1].f1, 2 / 3, "F1 of class 1");
});

Deno.test("a class without support counts as zero", () => {
  const m = computeMetrics([0, 0], [0, 0], 2);
  assert.equal(m.accuracy, 1);
  assert.equal(m.uar, 0.5);
  assert.equal(m.uf1, 0.5);
});

Deno.test("labels outside the class range are rejected", () => {
  assert.throws(
    () => computeMetrics([0, 3], [0, 1], 3),
    /label 3 at index 1 is outside 0..2/,
  );
  assert.throws(
    () => computeMetrics([0], [0, 1], 3),
    /1 labels but 2 predictions/,
  );
});
