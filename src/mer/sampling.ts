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

/** One fold per subject; subjects sorted so fold K is the same on every machine. */
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
 * Magnification factors per class for the sample-balanced PLSM set:
 * m_c = min(10, ceil(base * n_max / n_c)) factors spread evenly over 1..10,
 * so rarer classes get more amplified copies.
 */
export function balancedFactors(
  classCounts: readonly number[],
  base: number,
): number[][] {
  const nMax = Math.max(...classCounts);
  return classCounts.map((n) => {
    if (n === 0) return [];
    const m = Math.min(10, Math.ceil((base * nMax) / n));
    if (m === 1) return [5];
    return Array.from(
      { length: m },
      (_, k) => Math.round(1 + (k * 9) / (m - 1)),
    );
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
 * An N-way K-shot episode with `queries` queries per class. A class with
 * fewer than K + queries samples reuses samples in its support (never a
 * query in its own support).
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
  if (available.length < ways) {
    throw new Error(
      `A ${ways}-way episode needs ${ways} classes with at least 2 samples; ` +
        `the training set has ${available.length}`,
    );
  }
  const classes = rng.shuffle(available.sort((a, b) => a - b)).slice(0, ways)
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
