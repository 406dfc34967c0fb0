/**
 * The three training stages of MPFNet inside one LOSO fold, and inference
 * with prototypes from all training clips of the fold:
 *
 * 1. PLTN: CA-I3D trained with the batch-hard triplet loss on P x K batches
 *    (the generic prior, GFE).
 * 2. PLSM: CA-I3D with a linear classifier trained with cross-entropy on
 *    the sample-balanced set of motion-amplified copies (the advanced
 *    prior, AFE).
 * 3. Fusion: GFE and AFE fine-tuned together on N-way K-shot episodes
 *    (MPFNet-P or MPFNet-C).
 */
import { backward, noGrad } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { GradientRecorder } from "../inspect/gradients.ts";
import { BatchNorm3d } from "../nn/batch_norm.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import {
  concat,
  mul,
  softmaxCrossEntropy,
  split,
  tripletMarginLoss,
} from "../ops/mod.ts";
import { Adam, cosineLr, type Optimizer, SGD, stepLr } from "../optim/mod.ts";
import { readAll, scope, type Tensor } from "../tensor.ts";
import { Rng } from "../util/rng.ts";
import { CaI3d } from "./ca_i3d.ts";
import type { Preset } from "./config.ts";
import {
  type ChannelStats,
  type ClipSet,
  makeBatch,
  randomMirror,
} from "./data.ts";
import { MpfNet } from "./mpfnet.ts";
import { balancedFactors, pkBatches, sampleEpisode } from "./sampling.ts";

export interface EpochRecord {
  stage: "pltn" | "plsm" | "fusion";
  epoch: number;
  loss: number;
  /** Training accuracy where the stage has one (PLSM, fusion queries). */
  accuracy: number | null;
  seconds: number;
}

export interface StageContext {
  preset: Preset;
  set: ClipSet;
  train: number[];
  stats: ChannelStats;
  seed: number;
  /** Scales every epoch count (the smoke mode uses a tiny fraction). */
  epochScale: number;
  onEpoch?: (record: EpochRecord) => void;
  onStep?: (done: number, total: number) => void;
  /** Records per-layer gradient statistics every `every` steps into `records`. */
  gradients?: { every: number; records: GradientRecord[] };
}

/** Gradient statistics of one recorded training step. */
export interface GradientRecord {
  stage: "pltn" | "plsm" | "fusion";
  step: number;
  layers: { path: string; norm: number; updateRatio: number | null }[];
}

/**
 * Runs the optimiser step of a training step. On recorded steps it also
 * dispatches the gradient recorder's statistics and update-ratio kernels.
 * Call it inside the step's scope, after backward.
 */
function optimizerStep(
  optimizer: Optimizer,
  recorder: GradientRecorder | null,
  record: boolean,
): void {
  if (recorder && record) {
    recorder.capture();
    recorder.beforeStep();
  }
  optimizer.step();
  if (recorder && record) recorder.afterStep();
  optimizer.zeroGrad();
}

/** Reads a recorded step's statistics (one sync) into the context's list. */
async function collectGradients(
  ctx: StageContext,
  recorder: GradientRecorder | null,
  stage: GradientRecord["stage"],
  step: number,
): Promise<void> {
  if (!recorder || !ctx.gradients) return;
  const { parameters } = await recorder.read();
  ctx.gradients.records.push({
    stage,
    step,
    layers: parameters.map((p) => ({
      path: p.path,
      norm: p.norm,
      updateRatio: p.updateRatio,
    })),
  });
}

function recorderFor(
  ctx: StageContext,
  module: Module,
): GradientRecorder | null {
  return ctx.gradients && ctx.gradients.every > 0
    ? new GradientRecorder(module)
    : null;
}

function isRecorded(ctx: StageContext, step: number): boolean {
  return ctx.gradients !== undefined && ctx.gradients.every > 0 &&
    step % ctx.gradients.every === 0;
}

function epochs(count: number, scale: number): number {
  return Math.max(1, Math.round(count * scale));
}

function argmaxRows(values: Float32Array, columns: number): number[] {
  const rows = values.length / columns;
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let c = 1; c < columns; c++) {
      if (values[r * columns + c] > values[r * columns + best]) best = c;
    }
    return best;
  });
}

/** Loss and predictions of the steps of one epoch, read back with one sync. */
async function finishEpoch(
  losses: Tensor[],
  logits: { values: Tensor; labels: number[] }[],
): Promise<{ loss: number; accuracy: number | null }> {
  const values = await readAll([...losses, ...logits.map((l) => l.values)]);
  const loss = losses.length === 0
    ? 0
    : values.slice(0, losses.length).reduce((s, v) => s + v[0], 0) /
      losses.length;
  let correct = 0;
  let total = 0;
  logits.forEach((l, i) => {
    const predicted = argmaxRows(
      values[losses.length + i] as Float32Array,
      l.values.shape[1],
    );
    predicted.forEach((p, k) => {
      total++;
      if (p === l.labels[k]) correct++;
    });
  });
  for (const t of [...losses, ...logits.map((l) => l.values)]) t.dispose();
  return { loss, accuracy: total === 0 ? null : correct / total };
}

function optimizerFor(
  module: Module,
  config: {
    optimizer: "sgd" | "adamw";
    lr: number;
    momentum: number;
    weightDecay: number;
  },
): Optimizer {
  if (config.optimizer === "adamw") {
    return new Adam(module.parameters(), {
      lr: config.lr,
      weightDecay: config.weightDecay,
      decoupled: true,
    });
  }
  return new SGD(module.parameters(), {
    lr: config.lr,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
  });
}

/** Stage 1: the generic prior (PLTN), a CA-I3D trained with the triplet loss. */
export async function trainPltn(
  ctx: StageContext,
): Promise<{ model: CaI3d; history: EpochRecord[] }> {
  const { preset, set, train, stats } = ctx;
  const config = preset.pltn;
  const model = new CaI3d(preset.model, ctx.seed);
  model.train();
  const optimizer = optimizerFor(model, config);
  const recorder = recorderFor(ctx, model);
  const rng = new Rng(ctx.seed + 17);
  const flip = preset.augment.horizontalFlip;
  const history: EpochRecord[] = [];
  const total = epochs(config.epochs, ctx.epochScale);
  for (let epoch = 0; epoch < total; epoch++) {
    const start = performance.now();
    const batches = pkBatches(
      set.labels,
      train,
      config.classesPerBatch,
      config.samplesPerClass,
      rng,
    );
    const losses: Tensor[] = [];
    for (const [b, batch] of batches.entries()) {
      const step = epoch * batches.length + b;
      const record = isRecorded(ctx, step);
      losses.push(scope(() => {
        const x = makeBatch(
          randomMirror(batch.map((i) => set.input(i)), set, flip, rng),
          set.inputShape,
          stats,
        );
        const { embedding } = model.forward(x);
        const loss = tripletMarginLoss(
          embedding,
          batch.map((i) => set.labels[i]),
          {
            margin: config.margin,
            squared: config.squaredDistance,
          },
        );
        backward(loss);
        optimizerStep(optimizer, recorder, record);
        return loss;
      }));
      if (record) await collectGradients(ctx, recorder, "pltn", step);
      ctx.onStep?.(step + 1, total * batches.length);
    }
    const { loss } = await finishEpoch(losses, []);
    const record = {
      stage: "pltn" as const,
      epoch,
      loss,
      accuracy: null,
      seconds: (performance.now() - start) / 1000,
    };
    history.push(record);
    ctx.onEpoch?.(record);
  }
  recorder?.dispose();
  return { model, history };
}

/** CA-I3D with a linear classifier on its projection, the PLSM network. */
export class PlsmNet extends Module {
  readonly encoder: CaI3d;
  readonly classifier: Linear;

  constructor(preset: Preset, classes: number, seed: number) {
    super();
    this.encoder = this.child("encoder", new CaI3d(preset.model, seed));
    this.classifier = this.child(
      "classifier",
      new Linear({
        inFeatures: preset.model.embedding,
        outFeatures: classes,
        rng: new Rng(seed + 5),
      }),
    );
  }

  forward(x: Tensor): Tensor {
    const { projection } = this.scoped(
      "encoder",
      () => this.encoder.forward(x),
    );
    return this.scoped("classifier", () => this.classifier.forward(projection));
  }
}

/** Lists the sample-balanced motion-amplified training items as (clip, alpha) pairs. */
export function plsmItems(
  set: ClipSet,
  train: readonly number[],
  base: number,
): [number, number][] {
  const classes = set.classNames.length;
  const counts = new Array(classes).fill(0);
  for (const i of train) counts[set.labels[i]]++;
  const factors = balancedFactors(counts, base);
  return train.flatMap((i) =>
    factors[set.labels[i]].map((alpha) => [i, alpha] as [number, number])
  );
}

/** Stage 2: the advanced prior (PLSM), cross-entropy on amplified copies. */
export async function trainPlsm(
  ctx: StageContext,
): Promise<{ model: PlsmNet; history: EpochRecord[] }> {
  const { preset, set, train, stats } = ctx;
  const config = preset.plsm;
  const classes = set.classNames.length;
  const model = new PlsmNet(preset, classes, ctx.seed);
  model.train();
  const optimizer = optimizerFor(model, config);
  const recorder = recorderFor(ctx, model);
  const schedule = stepLr(config.lr, {
    stepSize: config.stepSize,
    gamma: config.gamma,
  });
  const rng = new Rng(ctx.seed + 29);
  const flip = preset.augment.horizontalFlip;
  const items = plsmItems(set, train, config.factorsBase);
  const history: EpochRecord[] = [];
  const total = epochs(config.epochs, ctx.epochScale);
  const perEpoch = Math.ceil(items.length / config.batch);
  for (let epoch = 0; epoch < total; epoch++) {
    const start = performance.now();
    optimizer.setLr(schedule(epoch));
    const order = rng.shuffle([...items]);
    const losses: Tensor[] = [];
    const logits: { values: Tensor; labels: number[] }[] = [];
    for (let b = 0; b < perEpoch; b++) {
      const batch = order.slice(b * config.batch, (b + 1) * config.batch);
      if (batch.length < 2) continue;
      const labels = batch.map(([i]) => set.labels[i]);
      const step = epoch * perEpoch + b;
      const recorded = isRecorded(ctx, step);
      const [loss, out] = scope(() => {
        const x = makeBatch(
          randomMirror(
            batch.map(([i, alpha]) => set.amplified(i, alpha)),
            set,
            flip,
            rng,
          ),
          set.inputShape,
          stats,
        );
        const y = model.forward(x);
        const l = softmaxCrossEntropy(y, labels);
        backward(l);
        optimizerStep(optimizer, recorder, recorded);
        return [l, y];
      });
      losses.push(loss);
      logits.push({ values: out, labels });
      if (recorded) await collectGradients(ctx, recorder, "plsm", step);
      ctx.onStep?.(step + 1, total * perEpoch);
    }
    const { loss, accuracy } = await finishEpoch(losses, logits);
    const record = {
      stage: "plsm" as const,
      epoch,
      loss,
      accuracy,
      seconds: (performance.now() - start) / 1000,
    };
    history.push(record);
    ctx.onEpoch?.(record);
  }
  recorder?.dispose();
  return { model, history };
}

/** Stage 3: fine-tunes GFE and AFE together on episodes. */
export async function trainFusion(
  ctx: StageContext,
  model: MpfNet,
): Promise<EpochRecord[]> {
  const { preset, set, train, stats } = ctx;
  const config = preset.fusion;
  const ways = set.classNames.length;
  model.train();
  const optimizer = optimizerFor(model, config);
  const recorder = recorderFor(ctx, model);
  const total = epochs(config.epochs, ctx.epochScale);
  const episodes = Math.max(
    1,
    Math.round(config.episodesPerEpoch * Math.min(1, ctx.epochScale * 4)),
  );
  const schedule = cosineLr(config.lr, { total: total * episodes });
  const rng = new Rng(ctx.seed + 43);
  const flip = preset.augment.horizontalFlip;
  const history: EpochRecord[] = [];
  for (let epoch = 0; epoch < total; epoch++) {
    const start = performance.now();
    const losses: Tensor[] = [];
    const logits: { values: Tensor; labels: number[] }[] = [];
    for (let e = 0; e < episodes; e++) {
      optimizer.setLr(schedule(epoch * episodes + e));
      const episode = sampleEpisode(
        set.labels,
        train,
        ways,
        config.shots,
        config.queriesPerClass,
        rng,
      );
      const items = [...episode.support, ...episode.query];
      const step = epoch * episodes + e;
      const recorded = isRecorded(ctx, step);
      const [loss, out] = scope(() => {
        const x = makeBatch(
          randomMirror(items.map((i) => set.input(i)), set, flip, rng),
          set.inputShape,
          stats,
        );
        const embeddings = model.embed(x);
        const parts = embeddings.map((emb) =>
          split(emb, [episode.support.length, episode.query.length], 0)
        );
        const prototypes = model.prototypes(
          parts.map((p) => p[0]),
          episode.supportLabels,
          episode.classes.length,
        );
        const scores = model.scores(parts.map((p) => p[1]), prototypes);
        const y = mul(scores, config.temperature);
        const l = softmaxCrossEntropy(y, episode.queryLabels);
        backward(l);
        optimizerStep(optimizer, recorder, recorded);
        return [l, y];
      });
      losses.push(loss);
      logits.push({ values: out, labels: episode.queryLabels });
      if (recorded) await collectGradients(ctx, recorder, "fusion", step);
      ctx.onStep?.(step + 1, total * episodes);
    }
    const { loss, accuracy } = await finishEpoch(losses, logits);
    const record = {
      stage: "fusion" as const,
      epoch,
      loss,
      accuracy,
      seconds: (performance.now() - start) / 1000,
    };
    history.push(record);
    ctx.onEpoch?.(record);
  }
  recorder?.dispose();
  return history;
}

export interface Prediction {
  index: number;
  /** The clip's id, "subject/clip". */
  clip: string;
  label: number;
  predicted: number;
  /** Softmax of temperature * similarity over the classes. */
  probabilities: number[];
}

/** Embeds clips in batches in evaluation mode; one tensor per scoring encoder. */
function embedAll(
  model: MpfNet,
  set: ClipSet,
  items: readonly number[],
  stats: ChannelStats,
  batch: number,
): Tensor[] {
  const parts: Tensor[][] = [];
  for (let b = 0; b < items.length; b += batch) {
    const chunk = items.slice(b, b + batch);
    const x = makeBatch(chunk.map((i) => set.input(i)), set.inputShape, stats);
    model.embed(x).forEach((t, k) => {
      parts[k] ??= [];
      parts[k].push(t);
    });
  }
  return parts.map((list) => (list.length === 1 ? list[0] : concat(list, 0)));
}

function batchNormModules(module: Module): BatchNorm3d[] {
  const found: BatchNorm3d[] = module instanceof BatchNorm3d ? [module] : [];
  for (const child of module.children().values()) {
    found.push(...batchNormModules(child));
  }
  return found;
}

/**
 * Recomputes every batch-norm running statistic as the plain average over
 * the given clips with the final weights (momentum 1 / (k + 1) for batch
 * k, as torch.optim.swa_utils.update_bn does). After a short schedule the
 * exponential averages still lag the weights, and in evaluation mode the
 * embeddings then lose their dependence on the input.
 */
export function recalibrateBatchNorm(
  model: MpfNet,
  set: ClipSet,
  items: readonly number[],
  stats: ChannelStats,
  batch: number,
): void {
  const layers = batchNormModules(model);
  const momenta = layers.map((layer) => layer.momentum);
  model.train();
  noGrad(() => {
    for (let start = 0, k = 0; start < items.length; start += batch, k++) {
      const chunk = items.slice(start, start + batch);
      if (chunk.length < 2) break;
      for (const layer of layers) layer.momentum = 1 / (k + 1);
      scope(() => {
        model.embed(
          makeBatch(chunk.map((i) => set.input(i)), set.inputShape, stats),
        );
      });
    }
  });
  layers.forEach((layer, i) => (layer.momentum = momenta[i]));
  model.eval();
}

/**
 * Classifies the test clips of a fold: prototypes are the class means of
 * all training clips' embeddings, each test clip is a query. The batch-norm
 * statistics are first recomputed over the training clips.
 */
export async function predictFold(
  model: MpfNet,
  set: ClipSet,
  train: readonly number[],
  test: readonly number[],
  stats: ChannelStats,
  temperature: number,
): Promise<Prediction[]> {
  recalibrateBatchNorm(model, set, train, stats, 32);
  const classes = set.classNames.length;
  // A class without training clips in this fold gets no prototype and
  // probability 0.
  const present = [...new Set(train.map((i) => set.labels[i]))].sort((a, b) =>
    a - b
  );
  const scores = noGrad(() =>
    scope(() => {
      const support = embedAll(model, set, train, stats, 32);
      const prototypes = model.prototypes(
        support,
        train.map((i) => present.indexOf(set.labels[i])),
        present.length,
      );
      const queries = embedAll(model, set, test, stats, 32);
      return model.scores(queries, prototypes);
    })
  );
  const [values] = await readAll([scores]);
  scores.dispose();
  runtime().flush();
  return test.map((index, row) => {
    const logits = present.map((_, k) =>
      temperature * values[row * present.length + k]
    );
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    const probabilities = new Array(classes).fill(0);
    present.forEach((c, k) => (probabilities[c] = exps[k] / sum));
    const predicted = probabilities.indexOf(Math.max(...probabilities));
    return {
      index,
      clip: set.ids[index],
      label: set.labels[index],
      predicted,
      probabilities,
    };
  });
}
