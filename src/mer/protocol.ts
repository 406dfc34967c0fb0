/**
 * The leave-one-subject-out protocol of a run: for each fold, PLTN, PLSM
 * and fusion, then predictions for the held-out subject. Each finished
 * stage leaves a checkpoint and each finished fold its predictions in the
 * run folder, so a killed run resumes from the last finished stage of the
 * last finished fold. Every stage starts from seeds derived from the run
 * seed, the fold and the stage, so a resumed run ends with the same
 * metrics as an uninterrupted one.
 */
import { join } from "node:path";
import {
  loadStateInto,
  saveSafetensors,
  writeAtomically,
} from "../io/safetensors.ts";
import { runtime } from "../gpu/runtime.ts";
import type { Preset } from "./config.ts";
import { channelStats, type ClipSet } from "./data.ts";
import { MpfNet, type Variant } from "./mpfnet.ts";
import type { Fold } from "./sampling.ts";
import {
  type EpochRecord,
  type GradientRecord,
  predictFold,
  type Prediction,
  trainFusion,
  trainPlsm,
  trainPltn,
} from "./stages.ts";

export interface ProtocolOptions {
  preset: Preset;
  variant: Variant;
  gamma: number;
  noPrior: "pltn" | "plsm" | "both" | undefined;
  seed: number;
  epochScale: number;
  runDir: string;
  /** Record per-layer gradient statistics every N steps (0: off). */
  recordGradients?: number;
  /** Whether the clips come from the generated synthetic stand-in. */
  synthetic?: boolean;
  log: (line: string) => void;
  progress?: (label: string, done: number, total: number) => void;
}

export interface FoldResult {
  fold: number;
  subject: string;
  predictions: Prediction[];
  history: EpochRecord[];
  seconds: Record<string, number>;
  /** Whether the fold was trained on the synthetic stand-in (absent in older runs). */
  synthetic?: boolean;
}

const encoder = new TextEncoder();

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeAtomically(
    path,
    encoder.encode(JSON.stringify(value, null, 2) + "\n"),
  );
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new Error(
      `${path} is unreadable (${
        (error as Error).message
      }); delete it to redo that step`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function stageSeed(seed: number, fold: number, stage: number): number {
  return ((seed * 1000003) ^ (fold * 7919) ^ (stage * 104729)) >>> 0;
}

/** Runs (or resumes) one fold and returns its predictions. */
export async function runFold(
  set: ClipSet,
  fold: Fold,
  options: ProtocolOptions,
): Promise<FoldResult> {
  const dir = join(
    options.runDir,
    "folds",
    String(fold.index).padStart(2, "0"),
  );
  await Deno.mkdir(dir, { recursive: true });
  const done = await readJson<FoldResult>(join(dir, "predictions.json"));
  if (done) {
    options.log(
      `fold ${fold.index} (${fold.subject}): finished earlier, predictions loaded`,
    );
    return done;
  }
  const { preset, log } = options;
  const stats = channelStats(set, fold.train);
  const history: EpochRecord[] =
    (await readJson<EpochRecord[]>(join(dir, "history.json"))) ?? [];
  const seconds: Record<string, number> = {};
  const gradientsPath = join(dir, "gradients.json");
  const gradients = (options.recordGradients ?? 0) > 0
    ? {
      every: options.recordGradients!,
      records: (await readJson<GradientRecord[]>(gradientsPath)) ?? [],
    }
    : undefined;
  const base = {
    preset,
    set,
    train: fold.train,
    stats,
    epochScale: options.epochScale,
    gradients,
  };
  const saveGradients = async () => {
    if (gradients) await writeJson(gradientsPath, gradients.records);
  };
  const epochLog = (record: EpochRecord) => {
    log(
      `fold ${fold.index} ${record.stage} epoch ${record.epoch + 1}: loss ${
        record.loss.toFixed(4)
      }` +
        (record.accuracy === null
          ? ""
          : `, accuracy ${record.accuracy.toFixed(3)}`) +
        `, ${record.seconds.toFixed(1)} s`,
    );
  };
  const skip = options.noPrior;

  const pltnPath = join(dir, "pltn.safetensors");
  if (skip !== "pltn" && skip !== "both" && !(await exists(pltnPath))) {
    const start = performance.now();
    log(
      `fold ${fold.index} (${fold.subject}) pltn: start, ${fold.train.length} training clips`,
    );
    const { model, history: h } = await trainPltn({
      ...base,
      seed: stageSeed(options.seed, fold.index, 1),
      onEpoch: epochLog,
      onStep: (d, t) => options.progress?.(`fold ${fold.index} pltn`, d, t),
    });
    await saveSafetensors(pltnPath, model.stateDict(), { stage: "pltn" });
    model.dispose();
    history.push(...h);
    await writeJson(join(dir, "history.json"), history);
    await saveGradients();
    seconds.pltn = (performance.now() - start) / 1000;
    log(
      `fold ${fold.index} pltn: end, loss ${h.at(-1)!.loss.toFixed(4)}, ${
        seconds.pltn.toFixed(1)
      } s`,
    );
  } else if (skip !== "pltn" && skip !== "both") {
    log(`fold ${fold.index} pltn: reused ${pltnPath} from an earlier session`);
  }

  const plsmPath = join(dir, "plsm.safetensors");
  if (skip !== "plsm" && skip !== "both" && !(await exists(plsmPath))) {
    const start = performance.now();
    log(`fold ${fold.index} (${fold.subject}) plsm: start`);
    const { model, history: h } = await trainPlsm({
      ...base,
      seed: stageSeed(options.seed, fold.index, 2),
      onEpoch: epochLog,
      onStep: (d, t) => options.progress?.(`fold ${fold.index} plsm`, d, t),
    });
    await saveSafetensors(plsmPath, model.encoder.stateDict(), {
      stage: "plsm",
    });
    model.dispose();
    history.push(...h);
    await writeJson(join(dir, "history.json"), history);
    await saveGradients();
    seconds.plsm = (performance.now() - start) / 1000;
    const last = h.at(-1)!;
    log(
      `fold ${fold.index} plsm: end, loss ${last.loss.toFixed(4)}, accuracy ` +
        `${last.accuracy?.toFixed(3)}, ${seconds.plsm.toFixed(1)} s`,
    );
  } else if (skip !== "plsm" && skip !== "both") {
    log(`fold ${fold.index} plsm: reused ${plsmPath} from an earlier session`);
  }

  const start = performance.now();
  log(
    `fold ${fold.index} (${fold.subject}) fusion: start, MPFNet-${options.variant.toUpperCase()}`,
  );
  const model = new MpfNet(
    options.variant,
    preset.model,
    stageSeed(options.seed, fold.index, 3),
    options.gamma,
  );
  if (skip !== "pltn" && skip !== "both") {
    await loadStateInto(model.gfe, pltnPath);
  }
  if (skip !== "plsm" && skip !== "both") {
    await loadStateInto(model.afe, plsmPath);
  }
  const h = await trainFusion({
    ...base,
    seed: stageSeed(options.seed, fold.index, 3),
    onEpoch: epochLog,
    onStep: (d, t) => options.progress?.(`fold ${fold.index} fusion`, d, t),
  }, model);
  history.push(...h);
  const predictions = await predictFold(
    model,
    set,
    fold.train,
    fold.test,
    stats,
    preset.fusion.temperature,
  );
  await saveSafetensors(join(dir, "fusion.safetensors"), model.stateDict(), {
    stage: "fusion",
    variant: options.variant,
  });
  model.dispose();
  runtime().flush();
  seconds.fusion = (performance.now() - start) / 1000;
  const correct = predictions.filter((p) => p.predicted === p.label).length;
  log(
    `fold ${fold.index} fusion: end, loss ${
      h.at(-1)!.loss.toFixed(4)
    }, test accuracy ` +
      `${correct}/${predictions.length}, ${seconds.fusion.toFixed(1)} s`,
  );
  const result: FoldResult = {
    fold: fold.index,
    subject: fold.subject,
    predictions,
    history,
    seconds,
    synthetic: options.synthetic ?? false,
  };
  await writeJson(join(dir, "history.json"), history);
  await saveGradients();
  await writeJson(join(dir, "predictions.json"), result);
  return result;
}
