/**
 * Glue between the dataset loaders, the GPU preprocessing and the MPFNet
 * protocol: resolves the dataset folder (generating the synthetic stand-in
 * when none exists), loads the records and preprocesses every clip into a
 * ClipSet.
 */
import { join } from "node:path";
import {
  type LoadableDataset,
  loadDataset,
  synthesize,
} from "../datasets/mod.ts";
import { Preprocessor } from "../datasets/preprocess.ts";
import type { ClipRecord, LoadResult } from "../datasets/types.ts";
import type { Preset } from "../src/mer/config.ts";
import type { ClipSet } from "../src/mer/data.ts";
import { balancedFactors } from "../src/mer/sampling.ts";
import type { RunLog } from "../src/util/log.ts";

export interface DataLocation {
  root: string;
  synthetic: boolean;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The dataset folder: `--data DIR` when given (it must exist), else
 * data/<dataset>, generated synthetically on first use.
 */
export async function locateData(
  dataset: LoadableDataset,
  data: string | undefined,
  log: RunLog,
): Promise<DataLocation> {
  if (data !== undefined) {
    if (!(await isDirectory(data))) {
      throw new Error(
        `Dataset folder ${data} (--data) does not exist; point --data at the ${dataset} ` +
          "root in its official layout, or leave --data out to use the synthetic stand-in",
      );
    }
    return {
      root: data,
      synthetic: await isDirectory(data) &&
        (await exists(join(data, "SYNTHETIC.txt"))),
    };
  }
  const root = join("data", dataset);
  if (!(await exists(join(root, "SYNTHETIC.txt")))) {
    if (await isDirectory(root)) {
      return { root, synthetic: false };
    }
    log.line(
      `data: no ${dataset} dataset in ${root}; generating the synthetic stand-in there`,
    );
    const summary = await synthesize(dataset, root, {
      seed: 1,
      size: 128,
      onProgress: (done, total) => log.progress("synthesizing", done, total),
    });
    log.line(
      `data: wrote ${summary.clips} synthetic clips of ${summary.subjects} subjects in ${
        summary.seconds.toFixed(1)
      } s`,
    );
  }
  log.line(
    `data: SYNTHETIC ${dataset} in ${root} (rendered faces, not the real dataset); ` +
      `pass --data DIR to train on the real ${dataset}`,
  );
  return { root, synthetic: true };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Alphas each clip needs: the main input's and every PLSM factor any fold may use. */
export function alphasPerClip(
  labels: number[],
  subjects: string[],
  classes: number,
  preset: Preset,
): number[][] {
  const perClass = Array.from(
    { length: classes },
    () => new Set<number>([preset.preprocess.alpha]),
  );
  const ids = [...new Set(subjects)];
  for (const held of ids) {
    const counts = new Array(classes).fill(0);
    labels.forEach((l, i) => {
      if (subjects[i] !== held) counts[l]++;
    });
    balancedFactors(counts, preset.plsm.factorsBase).forEach((factors, c) => {
      for (const f of factors) perClass[c].add(f);
    });
  }
  return labels.map((l) => [...perClass[l]].sort((a, b) => a - b));
}

/**
 * Picks, for the smoke mode, the `count` subjects with the fewest clips such
 * that every LOSO fold's training set has at least 2 clips of every class,
 * so that each fold can form episodes. When no small set qualifies, it
 * returns the largest subjects.
 */
export function smallSubjectSet(
  records: ClipRecord[],
  count: number,
): string[] {
  const bySubject = new Map<string, ClipRecord[]>();
  for (const r of records) {
    bySubject.set(r.subject, [...(bySubject.get(r.subject) ?? []), r]);
  }
  const labels = new Set(records.map((r) => r.label));
  const ids = [...bySubject.keys()].sort((a, b) =>
    bySubject.get(a)!.length - bySubject.get(b)!.length || a.localeCompare(b)
  );
  const candidates = ids.slice(0, 10);
  let best: string[] | null = null;
  let bestSize = Infinity;
  const visit = (start: number, chosen: string[]) => {
    if (chosen.length === count) {
      const clips = chosen.flatMap((s) => bySubject.get(s)!);
      const covered = chosen.every((held) =>
        [...labels].every((l) =>
          clips.filter((r) => r.subject !== held && r.label === l).length >= 2
        )
      );
      if (covered && clips.length < bestSize) {
        best = [...chosen];
        bestSize = clips.length;
      }
      return;
    }
    for (let i = start; i < candidates.length; i++) {
      visit(i + 1, [...chosen, candidates[i]]);
    }
  };
  visit(0, []);
  return best ?? ids.slice(-count);
}

/** Creates the preset's preprocessor, caching under .cache/preprocess/<dataset>. */
export function preprocessorFor(
  dataset: LoadableDataset,
  preset: Preset,
): Preprocessor {
  const p = preset.preprocess;
  return new Preprocessor(
    {
      workSize: p.size,
      inputSize: preset.model.size,
      frames: p.frames,
      roundFlow: p.roundFlow,
      tvl1: {
        nscales: p.tvl1.scales,
        warps: p.tvl1.warps,
        innerIterations: p.tvl1.innerIterations,
      },
      apexCandidates: p.apexCandidates,
    },
    join(".cache", "preprocess", dataset),
  );
}

export interface PreparedData {
  set: ClipSet;
  records: ClipRecord[];
  load: LoadResult;
  seconds: number;
  apexSources: Record<string, number>;
}

/** Loads and preprocesses a dataset into a ClipSet (features cached on disk). */
export async function prepareData(
  dataset: LoadableDataset,
  root: string,
  preset: Preset,
  options: {
    classes: 3 | 5;
    strict: boolean;
    features: "flow" | "diff" | "both";
    subjects?: number;
    skipInvalid?: boolean;
    sheet?: string;
    /**
     * Called with the subject of every clip once the dataset is loaded and
     * before preprocessing starts, to reject options that do not fit it.
     */
    checkSubjects?: (subjects: string[]) => void;
  },
  log: RunLog,
): Promise<PreparedData> {
  const started = performance.now();
  const load = await loadDataset(dataset, root, {
    classes: options.classes,
    strict: options.strict,
    skipInvalid: options.skipInvalid ?? false,
    ...(options.sheet ? { sheet: options.sheet } : {}),
  });
  for (const warning of load.warnings) log.line(`warning: ${warning}`);
  for (const skip of load.skipped) {
    log.line(`skipped: ${skip.clip}: ${skip.reason}`);
  }
  let records = load.clips;
  if (options.subjects !== undefined) {
    const keep = smallSubjectSet(records, options.subjects);
    records = records.filter((r) => keep.includes(r.subject));
  }
  const classNames = [...new Set(load.clips.map((r) => r.label))].sort();
  const labels = records.map((r) => classNames.indexOf(r.label));
  const subjects = records.map((r) => r.subject);
  options.checkSubjects?.(subjects);
  log.line(
    `preprocess: start, ${records.length} clips of ${
      new Set(subjects).size
    } subjects, ` +
      `classes ${classNames.join(", ")}`,
  );
  const p = preset.preprocess;
  const preprocessor = preprocessorFor(dataset, preset);
  const alphas = alphasPerClip(labels, subjects, classNames.length, preset);
  const features = new Map<string, Float32Array>();
  const apexSources: Record<string, number> = {};
  let cached = 0;
  let total = 0;
  for (const [i, record] of records.entries()) {
    const result = await preprocessor.clip(record, alphas[i]);
    for (const [alpha, data] of result.byAlpha) {
      features.set(`${i}:${alpha}`, data);
    }
    apexSources[result.apexSource] = (apexSources[result.apexSource] ?? 0) + 1;
    cached += result.fromCache;
    total += alphas[i].length;
    log.progress("preprocess", i + 1, records.length);
  }
  const seconds = (performance.now() - started) / 1000;
  log.line(
    `preprocess: end, ${total} feature tensors (${cached} from the cache), apex ` +
      `${JSON.stringify(apexSources)}, ${seconds.toFixed(1)} s`,
  );
  const size = preset.model.size;
  const steps = p.frames - 1;
  const channelSelect = options.features === "flow"
    ? [0, 1]
    : options.features === "diff"
    ? [2, 3, 4]
    : [0, 1, 2, 3, 4];
  const plane = steps * size * size;
  const select = (data: Float32Array): Float32Array => {
    if (channelSelect.length === 5) return data;
    const out = new Float32Array(channelSelect.length * plane);
    channelSelect.forEach((c, k) =>
      out.set(data.subarray(c * plane, (c + 1) * plane), k * plane)
    );
    return out;
  };
  const get = (i: number, alpha: number): Float32Array => {
    const data = features.get(`${i}:${alpha}`);
    if (!data) {
      throw new Error(
        `No features for clip ${records[i].clip} at alpha ${alpha}`,
      );
    }
    return select(data);
  };
  const set: ClipSet = {
    labels,
    subjects,
    ids: records.map((r) => `${r.subject}/${r.clip}`),
    classNames,
    inputShape: [channelSelect.length, steps, size, size],
    horizontalFlowChannel: channelSelect.includes(0)
      ? channelSelect.indexOf(0)
      : null,
    input: (i) => get(i, p.alpha),
    amplified: (i, alpha) => get(i, alpha),
  };
  return { set, records, load, seconds, apexSources };
}
