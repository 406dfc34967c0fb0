import assert from "node:assert/strict";
import {
  balancedFactors,
  FACTOR_ORDER,
  losoFolds,
  pkBatches,
  sampleEpisode,
} from "../../src/mer/sampling.ts";
import { Rng } from "../../src/util/rng.ts";

Deno.test("LOSO folds hold out one subject each", () => {
  const subjects = ["s2", "s10", "s1", "s2", "s10", "s2"];
  const folds = losoFolds(subjects);
  assert.deepEqual(folds.map((f) => f.subject), ["s1", "s2", "s10"]);
  assert.deepEqual(folds[1].test, [0, 3, 5]);
  assert.deepEqual(folds[1].train, [1, 2, 4]);
  for (const f of folds) {
    assert.equal(f.train.length + f.test.length, subjects.length);
    assert.ok(f.train.every((i) => subjects[i] !== f.subject));
  }
});

Deno.test("P x K batches have P classes of K samples", () => {
  const labels = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2];
  const items = [...labels.keys()];
  const batches = pkBatches(labels, items, 3, 4, new Rng(1));
  for (const batch of batches) {
    assert.equal(batch.length, 12);
    const counts = [0, 0, 0];
    batch.forEach((i) => counts[labels[i]]++);
    assert.deepEqual(counts, [4, 4, 4]);
  }
  assert.throws(
    () => pkBatches([0, 0], [0, 1], 3, 2, new Rng(1)),
    /at least 2 classes/,
  );
});

Deno.test("balanced factors favour rare classes", () => {
  // SMIC-HS class counts: negative 70, positive 51, surprise 43.
  const factors = balancedFactors([70, 51, 43], 3);
  assert.deepEqual(factors.map((f) => f.length), [3, 5, 5]);
  assert.deepEqual(factors[0], [4, 5, 6]);
  assert.deepEqual(factors[1], [3, 4, 5, 6, 7]);
  for (const f of factors) assert.ok(f.every((a) => a >= 1 && a <= 10));
  // Amplitude must not hint at the class: every class's copies average
  // close to the main input's alpha 5, whatever their number.
  for (let m = 1; m <= 10; m++) {
    const few = FACTOR_ORDER.slice(0, m);
    const mean = few.reduce((a, b) => a + b, 0) / few.length;
    assert.ok(Math.abs(mean - 5) <= 0.5, `${m} factors average ${mean}`);
  }
  assert.deepEqual(balancedFactors([10, 1], 3)[1].length, 10);
});

Deno.test("episodes keep queries out of the support", () => {
  const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2];
  const items = [...labels.keys()];
  const rng = new Rng(3);
  for (let trial = 0; trial < 20; trial++) {
    const e = sampleEpisode(labels, items, 3, 5, 1, rng);
    assert.equal(e.support.length, 15);
    assert.equal(e.query.length, 3);
    for (const q of e.query) assert.ok(!e.support.includes(q));
    e.support.forEach((s, k) =>
      assert.equal(labels[s], e.classes[e.supportLabels[k]])
    );
    e.query.forEach((s, k) =>
      assert.equal(labels[s], e.classes[e.queryLabels[k]])
    );
  }
});

Deno.test("episodes shrink to the classes available", () => {
  const labels = [0, 0, 1, 1, 2];
  const e = sampleEpisode(labels, [0, 1, 2, 3, 4], 3, 2, 1, new Rng(1));
  assert.deepEqual(e.classes, [0, 1]);
  assert.throws(
    () => sampleEpisode([0, 0, 1], [0, 1, 2], 3, 2, 1, new Rng(1)),
    /2 classes/,
  );
});
