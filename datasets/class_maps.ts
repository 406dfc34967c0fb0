/**
 * Emotion vocabularies of the datasets and their 5-class and 3-class maps.
 *
 * 5-class: CASME II keeps happiness, surprise, disgust, repression, others
 * (246 of 255 clips); SAMM keeps anger, contempt, happiness, surprise, other
 * (136 of 159 clips). 3-class follows MEGC2019: positive = happiness,
 * negative = disgust + repression (CASME II) or anger + contempt + disgust +
 * fear + sadness (SAMM), surprise = surprise; other emotions are dropped.
 * SMIC is coded in the three classes only.
 *
 * @module
 */

import type { DatasetName } from "./types.ts";

export type ClassCount = 3 | 5;

/** Emotions each dataset codes, lower case, in the dataset's spelling. */
export const emotions: Readonly<Record<DatasetName, readonly string[]>> = {
  smic: ["negative", "positive", "surprise"],
  casme2: [
    "happiness",
    "disgust",
    "repression",
    "surprise",
    "others",
    "sadness",
    "fear",
  ],
  samm: [
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "other",
    "sadness",
    "surprise",
  ],
};

/** Maps from emotion to class; an emotion missing from a map is dropped. */
export const classMaps: Readonly<
  Record<DatasetName, Partial<Record<ClassCount, Record<string, string>>>>
> = {
  smic: {
    3: { negative: "negative", positive: "positive", surprise: "surprise" },
  },
  casme2: {
    5: {
      happiness: "happiness",
      surprise: "surprise",
      disgust: "disgust",
      repression: "repression",
      others: "others",
    },
    3: {
      happiness: "positive",
      disgust: "negative",
      repression: "negative",
      surprise: "surprise",
    },
  },
  samm: {
    5: {
      anger: "anger",
      contempt: "contempt",
      happiness: "happiness",
      surprise: "surprise",
      other: "other",
    },
    3: {
      anger: "negative",
      contempt: "negative",
      disgust: "negative",
      fear: "negative",
      sadness: "negative",
      happiness: "positive",
      surprise: "surprise",
    },
  },
};

/** The class count a loader uses when none is given. */
export const defaultClassCount: Readonly<Record<DatasetName, ClassCount>> = {
  smic: 3,
  casme2: 5,
  samm: 5,
};

/**
 * Returns the dataset's spelling of a raw emotion cell, or null when the
 * dataset does not code that emotion. Case and surrounding spaces are
 * ignored, and "other" and "others" are the same emotion because CASME II
 * writes the one and SAMM the other.
 */
export function normalizeEmotion(
  dataset: DatasetName,
  raw: string,
): string | null {
  const emotion = raw.trim().toLowerCase().replace(/\s+/g, " ");
  const vocabulary = emotions[dataset];
  if (vocabulary.includes(emotion)) return emotion;
  const alias = emotion === "other"
    ? "others"
    : emotion === "others"
    ? "other"
    : null;
  if (alias !== null && vocabulary.includes(alias)) return alias;
  return null;
}

/** Returns the class map, or throws when the dataset has no such map. */
export function classMap(
  dataset: DatasetName,
  classes: ClassCount,
): Readonly<Record<string, string>> {
  const map = classMaps[dataset][classes];
  if (map === undefined) {
    const available = Object.keys(classMaps[dataset]).join(" or ");
    throw new RangeError(
      `${dataset} has no ${classes}-class map; use ${available} classes`,
    );
  }
  return map;
}

/** Returns the class of a normalized emotion, or null when it is dropped. */
export function mapEmotion(
  dataset: DatasetName,
  emotion: string,
  classes: ClassCount,
): string | null {
  return classMap(dataset, classes)[emotion] ?? null;
}

/** Returns the class labels of a map, sorted by name. */
export function classLabels(
  dataset: DatasetName,
  classes: ClassCount,
): string[] {
  return [...new Set(Object.values(classMap(dataset, classes)))].sort();
}
