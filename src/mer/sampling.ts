/**
 * Sampling for the MPFNet protocol: leave-one-subject-out folds, P x K
 * batches for the triplet prior, the sample-balanced magnification factors
 * of the PLSM prior, and N-way K-shot episodes for the fusion stage.
 */
import type { Rng } from "../util/rng.ts";

export interface Fold {
  /** 0-based fold index, in the order of the sorted subject ids. */
  index: number;
  subject: string;
  train: number[];
  test: number[];
}

/**
 * Builds one fold per subject. Subjects are sorted, so fold K is the same on
 * every machine.
 */
export function losoFolds(subjects: readonly string[]): Fold[] {
  const ids = [...new Set(subjects)].sort((a, b) =>
    a.localeCompare(b, "en", { numeric: true })
  );
  return ids.map((subject, index) => ({
    index,
    subject,
    train: subjects.flatMap((s, i) => (s === subject ? [] : [i])),
    test: subjects.flatMap((s, i) => (s === subject ? [i] : [])),
  }));
}

function indicesByClass(
  labels: readonly number[],
  items: readonly number[],
): Map<number, number[]> {
  const byClass = new Map<number, number[]>();
  for (const i of items) {
    const list = byClass.get(labels[i]) ?? [];
    list.push(i);
    byClass.set(labels[i], list);
  }
  return byClass;
}

/**
 * P x K batches for batch-hard triplet mining: each batch takes `classes`
 * classes with `perClass` samples each (drawn with replacement when a class
 * is smaller), and one epoch has about as many samples as `items`.
 */
export function pkBatches(
  labels: readonly number[],
  items: readonly number[],
  classes: number,
  perClass: number,
  rng: Rng,
): number[][] {
  const byClass = indicesByClass(labels, items);
  const available = [...byClass.keys()].sort((a, b) => a - b);
  const p = Math.min(classes, available.length);
  if (p < 2) {
    throw new Error(
      `Triplet batches need at least 2 classes, the training set has ${available.length}`,
    );
  }
  const count = Math.max(1, Math.round(items.length / (p * perClass)));
  const batches: number[][] = [];
  for (let b = 0; b < count; b++) {
    const chosen = rng.shuffle([...available]).slice(0, p);
    const batch: number[] = [];
    for (const c of chosen) {
      const members = rng.shuffle([...byClass.get(c)!]);
      for (let k = 0; k < perClass; k++) {
        batch.push(members[k % members.length]);
      }
    }
    batches.push(batch);
  }
  return batches;
}

/**
 * Factors 1..10 in the order they are taken: 5, the main input's alpha,
 * first, then outwards on both sides. Every prefix is centred on 5, so
 * classes with different numbers of copies see the same mean amplitude, and
 * amplitude does not hint at the class. With prefixes spread over 1..10
 * (5, 10, 1, 3, ...), a two-copy class averaged 7.5 and a four-copy class
 * 4.75. Prefixes of different lengths share their factors. The m_c of a
 * class varies slightly between LOSO folds, so sharing keeps the number of
 * distinct preprocessed copies small.
 */
export const FACTOR_ORDER = [5, 4, 6, 3, 7, 2, 8, 1, 9, 10] as const;

/**
 * Magnification factors per class for the sample-balanced PLSM set:
 * m_c = min(10, ceil(base * n_max / n_c)) factors from 1..10, so rarer
 * classes get more amplified copies.
 */
export function balancedFactors(
  classCounts: readonly number[],
  base: number,
): number[][] {
  const nMax = Math.max(...classCounts);
  return classCounts.map((n) => {
    if (n === 0) return [];
    const m = Math.min(10, Math.ceil((base * nMax) / n));
    return FACTOR_ORDER.slice(0, m).sort((a, b) => a - b);
  });
}

export interface Episode {
  /** Class ids of the episode, in the order of their episode labels 0..N-1. */
  classes: number[];
  support: number[];
  /** Episode label (0..N-1) of each support item. */
  supportLabels: number[];
  query: number[];
  queryLabels: number[];
}

/**
 * Samples an N-way K-shot episode with `queries` queries per class. A class with
 * fewer than K + queries samples reuses samples in its support (never a
 * query in its own support). When fewer than N classes have 2 samples (a
 * small LOSO training set), the episode uses the classes that do.
 */
export function sampleEpisode(
  labels: readonly number[],
  items: readonly number[],
  ways: number,
  shots: number,
  queries: number,
  rng: Rng,
): Episode {
  const byClass = indicesByClass(labels, items);
  const available = [...byClass.keys()].filter((c) =>
    byClass.get(c)!.length >= 2
  );
  if (available.length < 2) {
    throw new Error(
      "An episode needs 2 classes with at least 2 samples each; the " +
        `training set has ${available.length}`,
    );
  }
  // A small LOSO training set may have fewer usable classes than N.
  const n = Math.min(ways, available.length);
  const classes = rng.shuffle(available.sort((a, b) => a - b)).slice(0, n)
    .sort((a, b) => a - b);
  const episode: Episode = {
    classes,
    support: [],
    supportLabels: [],
    query: [],
    queryLabels: [],
  };
  classes.forEach((c, label) => {
    const members = rng.shuffle([...byClass.get(c)!]);
    const q = Math.min(queries, members.length - 1);
    const queryItems = members.slice(0, q);
    const pool = members.slice(q);
    for (let k = 0; k < shots; k++) {
      episode.support.push(pool[k % pool.length]);
      episode.supportLabels.push(label);
    }
    for (const item of queryItems) {
      episode.query.push(item);
      episode.queryLabels.push(label);
    }
  });
  return episode;
}
