import assert from "node:assert/strict";
import { channelStats } from "../../src/mer/data.ts";
import { MpfNet } from "../../src/mer/mpfnet.ts";
import { losoFolds } from "../../src/mer/sampling.ts";
import {
  plsmItems,
  predictFold,
  trainFusion,
  trainPlsm,
  trainPltn,
} from "../../src/mer/stages.ts";
import { gpuTest } from "../helpers.ts";
import { syntheticClipSet, tinyPreset } from "./tiny_preset.ts";

gpuTest("the three stages train and predict a fold", async (rt) => {
  const preset = tinyPreset();
  const set = syntheticClipSet(preset, 3, 3, 7);
  const fold = losoFolds(set.subjects)[0];
  const stats = channelStats(set, fold.train);
  const ctx = { preset, set, train: fold.train, stats, seed: 1, epochScale: 1 };

  const pltn = await trainPltn(ctx);
  assert.equal(pltn.history.length, 2);
  assert.ok(pltn.history.every((r) => Number.isFinite(r.loss)));

  const plsm = await trainPlsm(ctx);
  assert.equal(plsm.history.length, 2);
  assert.ok(plsm.history[1].accuracy! >= 0);
  assert.ok(plsm.history[1].accuracy! <= 1);

  for (const variant of ["p", "c"] as const) {
    const model = new MpfNet(variant, preset.model, 3);
    const history = await trainFusion(ctx, model);
    assert.equal(history.length, 1);
    assert.ok(Number.isFinite(history[0].loss));
    const predictions = await predictFold(
      model,
      set,
      fold.train,
      fold.test,
      stats,
      10,
    );
    assert.equal(predictions.length, fold.test.length);
    for (const p of predictions) {
      assert.ok(
        Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-6,
      );
      assert.equal(p.label, set.labels[p.index]);
    }
    model.dispose();
  }
  pltn.model.dispose();
  plsm.model.dispose();
  await rt.sync();
});

Deno.test("PLSM items balance the classes", () => {
  const preset = tinyPreset();
  const set = syntheticClipSet(preset, 1, 1, 1);
  set.labels.splice(0, 3, 0, 0, 1);
  const items = plsmItems(set, [0, 1, 2], 3);
  const perClass = [0, 0];
  for (const [i] of items) perClass[set.labels[i]]++;
  // Class 0 has 2 clips with 3 factors each, class 1 one clip with 6.
  assert.deepEqual(perClass, [6, 6]);
});
