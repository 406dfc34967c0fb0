import assert from "node:assert/strict";
import {
  classLabels,
  classMap,
  mapEmotion,
  normalizeEmotion,
} from "../../datasets/class_maps.ts";
import { middleFrame } from "../../datasets/types.ts";

/** Clips per emotion of the published datasets. */
const casme2Counts: Record<string, number> = {
  others: 99,
  disgust: 63,
  happiness: 32,
  repression: 27,
  surprise: 25,
  sadness: 7,
  fear: 2,
};
const sammCounts: Record<string, number> = {
  anger: 57,
  other: 26,
  happiness: 26,
  surprise: 15,
  contempt: 12,
  disgust: 9,
  fear: 8,
  sadness: 6,
};

function countClasses(
  dataset: "casme2" | "samm",
  counts: Record<string, number>,
  classes: 3 | 5,
): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [emotion, count] of Object.entries(counts)) {
    const label = mapEmotion(dataset, emotion, classes);
    if (label !== null) result[label] = (result[label] ?? 0) + count;
  }
  return result;
}

Deno.test("casme2 5-class map keeps 246 clips", () => {
  const counts = countClasses("casme2", casme2Counts, 5);
  assert.deepEqual(counts, {
    others: 99,
    disgust: 63,
    happiness: 32,
    repression: 27,
    surprise: 25,
  });
  assert.equal(Object.values(counts).reduce((a, b) => a + b), 246);
});

Deno.test("casme2 3-class map merges disgust and repression", () => {
  assert.deepEqual(countClasses("casme2", casme2Counts, 3), {
    negative: 90,
    positive: 32,
    surprise: 25,
  });
  assert.equal(mapEmotion("casme2", "others", 3), null);
  assert.equal(mapEmotion("casme2", "fear", 3), null);
  assert.equal(mapEmotion("casme2", "sadness", 3), null);
});

Deno.test("samm 5-class map keeps 136 clips", () => {
  const counts = countClasses("samm", sammCounts, 5);
  assert.deepEqual(counts, {
    anger: 57,
    other: 26,
    happiness: 26,
    surprise: 15,
    contempt: 12,
  });
  assert.equal(Object.values(counts).reduce((a, b) => a + b), 136);
});

Deno.test("samm 3-class map gives 92, 26, 15", () => {
  assert.deepEqual(countClasses("samm", sammCounts, 3), {
    negative: 92,
    positive: 26,
    surprise: 15,
  });
  assert.equal(mapEmotion("samm", "other", 3), null);
});

Deno.test("emotion names are normalized", () => {
  assert.equal(normalizeEmotion("samm", " Anger "), "anger");
  assert.equal(normalizeEmotion("samm", "Others"), "other");
  assert.equal(normalizeEmotion("casme2", "Other"), "others");
  assert.equal(normalizeEmotion("casme2", "HAPPINESS"), "happiness");
  assert.equal(normalizeEmotion("casme2", "joy"), null);
  assert.equal(normalizeEmotion("smic", "non_micro"), null);
});

Deno.test("smic has no 5-class map", () => {
  assert.throws(() => classMap("smic", 5), /use 3 classes/);
  assert.deepEqual(classLabels("smic", 3), [
    "negative",
    "positive",
    "surprise",
  ]);
});

Deno.test("middleFrame rounds down", () => {
  assert.equal(middleFrame({ onset: 10, offset: 20 }), 15);
  assert.equal(middleFrame({ onset: 10, offset: 21 }), 15);
});
