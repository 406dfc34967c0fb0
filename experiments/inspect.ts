/**
 * Entry point of `tools/deno task inspect`: one forward, backward and SGD
 * step of CA-I3D on one batch, with per-parameter gradient statistics
 * printed as a table and written as JSON and an SVG bar plot of the
 * gradient norms.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type LoadableDataset, loadableDatasets } from "../datasets/mod.ts";
import { backward, nanCheck } from "../src/autograd.ts";
import { initRuntime } from "../src/gpu/runtime.ts";
import {
  GradientRecorder,
  MAX_HISTOGRAM_BINS,
  type StepRecord,
} from "../src/inspect/gradients.ts";
import { gradientNormPlot, gradientTable } from "../src/inspect/report.ts";
import { loadStateInto, writeAtomically } from "../src/io/safetensors.ts";
import { CaI3d } from "../src/mer/ca_i3d.ts";
import { parsePreset, type Preset } from "../src/mer/config.ts";
import { channelStats, makeBatch } from "../src/mer/data.ts";
import { Linear } from "../src/nn/linear.ts";
import { Module } from "../src/nn/module.ts";
import { softmaxCrossEntropy, tripletMarginLoss } from "../src/ops/mod.ts";
import { SGD } from "../src/optim/mod.ts";
import { scope, type Tensor, tensor } from "../src/tensor.ts";
import { RunLog } from "../src/util/log.ts";
import { Rng } from "../src/util/rng.ts";
import { locateData, prepareData } from "./pipeline.ts";

export interface InspectOptions {
  checkpoint?: string;
  /** A preset name in experiments/presets/ or a path to a preset JSON file. */
  preset: string;
  dataset?: LoadableDataset;
  data?: string;
  batch: number;
  loss: "ce" | "triplet";
  lr: number;
  /** Regular expression over parameter paths. */
  layer?: string;
  bins: number;
  nan: boolean;
  out?: string;
  json: boolean;
  seed: number;
  /** Input values [batch, C, T, H, W] used in place of the synthetic batch. */
  input?: Float32Array;
}

export interface InspectResult {
  preset: string;
  checkpoint: string | null;
  /** "synthetic" or the dataset and its folder. */
  input: string;
  loss: "ce" | "triplet";
  lossValue: number;
  lr: number;
  batch: number;
  labels: number[];
  layer: string | null;
  /** Only with --nan: the first non-finite operator output, or null. */
  firstNonFinite?: string | null;
  step: StepRecord;
}

const USAGE = `Usage: tools/deno task inspect [options]

One forward, backward and SGD step of CA-I3D on one batch; prints the
gradient statistics of every parameter and writes inspect.json and
gradient_norms.svg into --out.

  --checkpoint FILE   CA-I3D weights (.safetensors) to load; default a fresh
                      initialisation from --seed
  --preset NAME|FILE  compact (default), paper, or a preset JSON file
  --dataset NAME      take the batch from ${loadableDatasets.join(", ")}
                      (preprocessed as for training); default synthetic
                      normal input of the preset's shape
  --data DIR          dataset root for --dataset (default data/<dataset>)
  --batch N           clips in the batch (default 4)
  --loss ce|triplet   cross-entropy on a linear head (default) or the
                      batch-hard triplet loss on the embedding
  --classes N         classes of the synthetic labels and the head (default
                      3); with --dataset, the class map: 3 or 5
  --lr X              SGD learning rate of the step (default 0.01)
  --layer PATTERN     regular expression; only parameters whose path
                      ("module.parameter") matches are reported
  --bins N            histogram bins per gradient in the JSON (0 to ${MAX_HISTOGRAM_BINS}, default 0)
  --nan               check every operator output and gradient for NaN or
                      Inf and print the first one that is not finite
  --out DIR           output folder (default runs/inspect-<time>)
  --json              print the JSON to stdout in place of the table
  --seed N            seed of the initialisation and input (default 1)
  --help              show this text`;

const PRESET_DIR = new URL("./presets/", import.meta.url);

function loadPresetFrom(nameOrPath: string): Preset {
  const isFile = nameOrPath.endsWith(".json");
  const source = isFile
    ? nameOrPath
    : new URL(`${nameOrPath}.json`, PRESET_DIR);
  let text: string;
  try {
    text = Deno.readTextFileSync(source);
  } catch {
    throw new Error(
      `Preset '${nameOrPath}' not found; pass compact, paper or a path to a preset .json file`,
    );
  }
  return parsePreset(
    text,
    isFile ? nameOrPath : `experiments/presets/${nameOrPath}.json`,
  );
}

function parseCount(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${flag} must be an integer >= ${min}, got '${value}'`);
  }
  return n;
}

/** Parses the command line; returns "help" for --help. */
export function parseInspectOptions(
  args: string[],
): (InspectOptions & { classes: number }) | "help" {
  const { values, positionals } = parseArgs({
    args,
    options: {
      checkpoint: { type: "string" },
      preset: { type: "string", default: "compact" },
      dataset: { type: "string" },
      data: { type: "string" },
      batch: { type: "string", default: "4" },
      loss: { type: "string", default: "ce" },
      classes: { type: "string", default: "3" },
      lr: { type: "string", default: "0.01" },
      layer: { type: "string" },
      bins: { type: "string", default: "0" },
      nan: { type: "boolean", default: false },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      seed: { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return "help";

  if (positionals.length > 0) {
    throw new Error(
      `Unexpected argument '${
        positionals[0]
      }'; pass the dataset with --dataset`,
    );
  }

  const dataset = values.dataset;
  if (
    dataset !== undefined &&
    !(loadableDatasets as readonly string[]).includes(dataset)
  ) {
    throw new Error(
      `Unknown dataset '${dataset}'; choose one of ${
        loadableDatasets.join(", ")
      }`,
    );
  }
  if (values.data !== undefined && dataset === undefined) {
    throw new Error(
      `--data requires --dataset (one of ${
        loadableDatasets.join(", ")
      }) to name the dataset in the folder`,
    );
  }
  if (values.loss !== "ce" && values.loss !== "triplet") {
    throw new Error(`--loss must be ce or triplet, got '${values.loss}'`);
  }
  const lr = Number(values.lr);
  if (!Number.isFinite(lr) || lr < 0) {
    throw new Error(`--lr must be a non-negative number, got '${values.lr}'`);
  }
  if (values.layer !== undefined) {
    try {
      new RegExp(values.layer);
    } catch (error) {
      throw new Error(
        `--layer '${values.layer}' is not a valid regular expression: ${
          (error as Error).message
        }`,
      );
    }
  }

  const bins = parseCount("--bins", values.bins, 0);
  if (bins > MAX_HISTOGRAM_BINS) {
    throw new Error(
      `--bins must be at most ${MAX_HISTOGRAM_BINS}, got ${bins}`,
    );
  }

  return {
    checkpoint: values.checkpoint,
    preset: values.preset,
    dataset: dataset as LoadableDataset | undefined,
    data: values.data,
    batch: parseCount("--batch", values.batch, 1),
    loss: values.loss,
    classes: parseCount("--classes", values.classes, 2),
    lr,
    layer: values.layer,
    bins,
    nan: values.nan,
    out: values.out,
    json: values.json,
    seed: parseCount("--seed", values.seed, 0),
  };
}

/** CA-I3D with the linear head of the cross-entropy loss, when there is one. */
class InspectedNet extends Module {
  readonly encoder: CaI3d;
  readonly head: Linear | null;

  constructor(preset: Preset, classes: number | null, seed: number) {
    super();
    this.encoder = this.child("encoder", new CaI3d(preset.model, seed));
    this.head = classes === null ? null : this.child(
      "head",
      new Linear({
        inFeatures: preset.model.embedding,
        outFeatures: classes,
        rng: new Rng(seed + 5),
      }),
    );
  }

  loss(x: Tensor, labels: number[]): Tensor {
    const { projection, embedding } = this.scoped(
      "encoder",
      () => this.encoder.forward(x),
    );
    const head = this.head;
    if (!head) {
      return tripletMarginLoss(embedding, labels, { margin: 1, squared: true });
    }
    const logits = this.scoped("head", () => head.forward(projection));
    return softmaxCrossEntropy(logits, labels);
  }
}

interface Batch {
  values: () => Tensor;
  labels: number[];
  /** Classes of the labels, the outputs of the cross-entropy head. */
  classes: number;
  description: string;
}

async function datasetBatch(
  options: InspectOptions,
  preset: Preset,
  classes: number,
  log: RunLog,
): Promise<Batch> {
  const dataset = options.dataset!;
  if (classes !== 3 && classes !== 5) {
    throw new Error(
      `--classes must be 3 or 5 with --dataset (the MPFNet class maps), got ${classes}`,
    );
  }
  const location = await locateData(dataset, options.data, log);
  const data = await prepareData(dataset, location.root, preset, {
    classes,
    strict: false,
    features: "both",
  }, log);

  const set = data.set;
  const count = set.labels.length;
  if (count < options.batch) {
    throw new Error(
      `--batch ${options.batch} exceeds the ${count} clips of ${location.root}`,
    );
  }
  // Clips spread evenly over the dataset, so the batch mixes subjects.
  const items = Array.from(
    { length: options.batch },
    (_, i) => Math.floor(i * count / options.batch),
  );

  // NOTE: the batch is normalised with its own channel statistics, not
  // those of a training fold, so its scale can differ from a training step.
  const stats = channelStats(set, items);
  return {
    values: () =>
      makeBatch(items.map((i) => set.input(i)), set.inputShape, stats),
    labels: items.map((i) => set.labels[i]),
    classes: set.classNames.length,
    description:
      `${dataset} clips ${items.map((i) => set.ids[i]).join(", ")} ` +
      `from ${location.root}${
        location.synthetic ? " (synthetic stand-in)" : ""
      }`,
  };
}

function syntheticBatch(
  options: InspectOptions,
  preset: Preset,
  classes: number,
): Batch {
  const model = preset.model;
  const shape = [
    options.batch,
    model.inputChannels,
    model.frames,
    model.size,
    model.size,
  ];
  const size = shape.reduce((a, b) => a * b, 1);
  let values = options.input;
  if (values && values.length !== size) {
    throw new Error(
      `The given input has ${values.length} values, but the preset expects [${shape}] (${size}); pass an input of that size`,
    );
  }
  if (!values) {
    const rng = new Rng(options.seed + 101);
    values = Float32Array.from({ length: size }, () => rng.normal());
  }
  const data = values;
  return {
    values: () => tensor(data, shape),
    labels: Array.from({ length: options.batch }, (_, i) => i % classes),
    classes,
    description: options.input
      ? "the given input"
      : "synthetic standard normal input (no --dataset given)",
  };
}

/** Runs the inspection step; writes nothing. */
export async function runInspection(
  options: InspectOptions & { classes: number },
  log: RunLog,
): Promise<InspectResult> {
  await initRuntime({ log: false });
  const preset = loadPresetFrom(options.preset);
  const classes = options.classes;
  const batch = options.dataset
    ? await datasetBatch(options, preset, classes, log)
    : syntheticBatch(options, preset, classes);
  log.line(`input: ${batch.description}, labels ${batch.labels.join(",")}`);
  const net = new InspectedNet(
    preset,
    options.loss === "ce" ? batch.classes : null,
    options.seed,
  );
  const recorder = new GradientRecorder(net, {
    histogramBins: options.bins,
    filter: options.layer === undefined ? undefined : new RegExp(options.layer),
  });
  const optimizer = new SGD(net.parameters(), { lr: options.lr });
  try {
    if (options.checkpoint) {
      const loaded = await loadStateInto(net.encoder, options.checkpoint);
      log.line(
        `checkpoint ${options.checkpoint}: ${net.encoder.stateDict().size} tensors loaded` +
          (loaded.metadata.stage ? ` (stage ${loaded.metadata.stage})` : ""),
      );
    }
    if (recorder.paths.length === 0) {
      log.line(`warning: --layer '${options.layer}' matches no parameter`);
    }

    if (options.nan) nanCheck.enable();
    net.train();
    const loss = scope(() => {
      const x = batch.values();
      const value = net.loss(x, batch.labels);
      backward(value);
      return value;
    });
    recorder.capture();
    recorder.beforeStep();
    optimizer.step();
    recorder.afterStep();
    const step = await recorder.read();
    const lossValue = await loss.item();
    loss.dispose();
    const result: InspectResult = {
      preset: preset.name,
      checkpoint: options.checkpoint ?? null,
      input: batch.description,
      loss: options.loss,
      lossValue,
      lr: options.lr,
      batch: options.batch,
      labels: batch.labels,
      layer: options.layer ?? null,
      step,
    };
    if (options.nan) result.firstNonFinite = await nanCheck.firstNonFinite();
    return result;
  } finally {
    if (options.nan) nanCheck.disable();
    recorder.dispose();
    optimizer.dispose();
    net.zeroGrad();
    net.dispose();
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")
    .replace("T", "-");
}

/** Runs the command line; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let options: ReturnType<typeof parseInspectOptions>;
  try {
    options = parseInspectOptions(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  const log = new RunLog();
  try {
    const result = await runInspection(options, log);
    const out = options.out ?? join("runs", `inspect-${timestamp()}`);
    await Deno.mkdir(out, { recursive: true });
    const encoder = new TextEncoder();
    const json = JSON.stringify(result, null, 2) + "\n";
    await writeAtomically(join(out, "inspect.json"), encoder.encode(json));
    await writeAtomically(
      join(out, "gradient_norms.svg"),
      encoder.encode(gradientNormPlot(result.step.parameters) + "\n"),
    );
    if (options.json) {
      console.log(json.trimEnd());
    } else {
      console.log(gradientTable(result.step.parameters));
      console.log(`loss ${result.lossValue}`);
      if (result.firstNonFinite !== undefined) {
        console.log(
          result.firstNonFinite === null
            ? "nan check: every operator output and gradient was finite"
            : `nan check: first non-finite value in ${result.firstNonFinite}`,
        );
      }
    }
    log.line(`wrote ${join(out, "inspect.json")} and gradient_norms.svg`);
    return 0;
  } catch (error) {
    log.line(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    log.close();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
