/**
 * Entry point of `tools/deno task train <dataset>`: the MPFNet protocol of
 * preprocessing, leave-one-subject-out folds with progressive training in
 * each, pooled metrics and a report in runs/<dataset>-<variant>-<time>/.
 */
import { join } from "node:path";
import { type AdapterSummary, initRuntime } from "../src/gpu/runtime.ts";
import { writeAtomically } from "../src/io/safetensors.ts";
import { parsePreset, type Preset } from "../src/mer/config.ts";
import { type FoldResult, runFold } from "../src/mer/protocol.ts";
import type { GradientRecord } from "../src/mer/stages.ts";
import { type RunInfo, writeReport } from "../src/mer/report.ts";
import { losoFolds } from "../src/mer/sampling.ts";
import { RunLog } from "../src/util/log.ts";
import { locateData, prepareData } from "./pipeline.ts";
import {
  parseTrainOptions,
  type TrainOptions,
  trainOptionsSchema,
  trainUsage,
} from "./train_options.ts";

const PRESET_DIR = new URL("./presets/", import.meta.url);

export function loadPreset(name: string): Preset {
  const url = new URL(`${name}.json`, PRESET_DIR);
  return parsePreset(
    Deno.readTextFileSync(url),
    `experiments/presets/${name}.json`,
  );
}

export interface RunConfig {
  options: TrainOptions;
  preset: Preset;
  command: string;
  created: string;
}

const encoder = new TextEncoder();

async function readRunConfig(runDir: string): Promise<RunConfig> {
  const path = join(runDir, "config.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new Error(
      `${path} not found: --resume expects a run folder made by this command`,
    );
  }
  let raw: RunConfig;
  try {
    raw = JSON.parse(text) as RunConfig;
  } catch (error) {
    throw new Error(
      `${path} is not valid JSON (${(error as Error).message}); restore it ` +
        "or start a new run",
    );
  }
  const options = trainOptionsSchema.safeParse(raw?.options);
  if (!options.success) {
    const problems = options.error.issues.map((i) =>
      `${i.path.join(".")}: ${i.message}`
    );
    throw new Error(
      `${path} has invalid options (${problems.join("; ")}); restore it or ` +
        "start a new run",
    );
  }
  return { ...raw, options: options.data };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")
    .replace("T", "-");
}

/**
 * Creates a new run folder, adding -2, -3, ... when runs started in the
 * same second would share a name.
 */
async function createRunDir(base: string): Promise<string> {
  for (let attempt = 1;; attempt++) {
    const dir = attempt === 1 ? base : `${base}-${attempt}`;
    try {
      await Deno.mkdir(dir);
      return dir;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}

/** Creates the run folder chosen with --name, which must not exist yet. */
async function createNamedRunDir(dir: string): Promise<string> {
  try {
    await Deno.mkdir(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    throw new Error(
      `Run folder ${dir} (--name) already exists; continue it with ` +
        `--resume ${dir} or pick another --name`,
    );
  }
  return dir;
}

/** Returns ", LP_NUM_THREADS N" for llvmpipe, else "". */
function threadsNote(adapter: AdapterSummary): string {
  return adapter.llvmpipeThreads
    ? `, LP_NUM_THREADS ${adapter.llvmpipeThreads}`
    : "";
}

/** Runs the protocol; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed: TrainOptions | "help";
  try {
    parsed = parseTrainOptions(args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  if (parsed === "help") {
    console.log(trainUsage());
    return 0;
  }
  const log = new RunLog();
  try {
    return await run(parsed, args, log);
  } catch (error) {
    log.line(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    log.close();
  }
}

interface OpenedRun {
  runDir: string;
  config: RunConfig;
}

/**
 * Opens a killed run for --resume. The run keeps its saved settings, and
 * only --fold may change; returns the other options given, which are ignored.
 */
async function resumeRun(
  requested: TrainOptions,
  runDir: string,
  args: string[],
): Promise<OpenedRun & { ignored: string[] }> {
  const config = await readRunConfig(runDir);
  if (requested.dataset !== config.options.dataset) {
    throw new Error(
      `${runDir} is a ${config.options.dataset} run, but the command names ` +
        `${requested.dataset}; resume it with tools/deno task train ` +
        `${config.options.dataset} --resume ${runDir}`,
    );
  }
  if (requested.folds) config.options.folds = requested.folds;
  // Options named on the command line, as keys of TrainOptions
  // ("--no-prior=both" -> "noPrior", "--fold" -> "folds").
  const named = new Set(
    args.filter((a) => a.startsWith("--")).map((a) => {
      const flag = a.slice(2).split("=")[0];
      return flag === "fold"
        ? "folds"
        : flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    }),
  );
  const ignored: string[] = [];
  for (const key of Object.keys(requested) as (keyof TrainOptions)[]) {
    if (key === "resume" || key === "folds" || !named.has(key)) continue;
    const value = JSON.stringify(requested[key]);
    if (value !== JSON.stringify(config.options[key])) {
      ignored.push(`${key}=${value}`);
    }
  }
  return { runDir, config, ignored };
}

/** Creates the run folder and its config.json with the resolved preset. */
async function createRun(
  requested: TrainOptions,
  args: string[],
): Promise<OpenedRun> {
  const rt = await initRuntime();
  const presetName = requested.preset ??
    (rt.adapter.isFallbackAdapter ? "compact" : "paper");
  const preset = loadPreset(presetName);
  if (requested.smoke) {
    preset.pltn.epochs = 1;
    preset.plsm.epochs = 1;
    preset.fusion.epochs = 1;
    preset.fusion.episodesPerEpoch = 3;
  }
  preset.model.inputChannels =
    { flow: 2, diff: 3, both: 5 }[requested.features];

  try {
    await Deno.mkdir(requested.out, { recursive: true });
  } catch (error) {
    throw new Error(
      `Cannot create the run folder ${requested.out} (--out): ` +
        `${(error as Error).message}; pass a writable folder with --out`,
    );
  }
  const smoke = requested.smoke ? "-smoke" : "";
  const runDir = requested.name === undefined
    ? await createRunDir(
      join(
        requested.out,
        `${requested.dataset}-${requested.variant}-${timestamp()}${smoke}`,
      ),
    )
    : await createNamedRunDir(join(requested.out, requested.name));
  const config: RunConfig = {
    options: requested,
    preset,
    command: `tools/deno task train ${args.join(" ")}`,
    created: new Date().toISOString(),
  };
  await writeAtomically(
    join(runDir, "config.json"),
    encoder.encode(JSON.stringify(config, null, 2) + "\n"),
  );
  return { runDir, config };
}

/**
 * Rejects a dataset with fewer than 2 subjects, which leaves no training
 * clips for leave-one-subject-out, and a --fold index it does not have.
 */
function checkFolds(
  requestedFolds: number[] | undefined,
  subjects: string[],
  smoke: boolean,
): void {
  const distinct = [...new Set(subjects)];
  if (distinct.length < 2) {
    throw new Error(
      `Leave-one-subject-out needs clips of at least 2 subjects, found ` +
        `${distinct.length} (${distinct.join(", ") || "none"}); add subjects ` +
        "to the dataset folder",
    );
  }
  const count = losoFolds(subjects).length;
  for (const k of requestedFolds ?? []) {
    if (k >= count) {
      throw new Error(
        `--fold ${k} does not exist: ${
          smoke ? "the --smoke subset" : "this dataset"
        } has ${count} subjects, so folds 0..${
          count - 1
        }; pick folds in that ` +
          "range",
      );
    }
  }
}

async function run(
  requested: TrainOptions,
  args: string[],
  log: RunLog,
): Promise<number> {
  const started = performance.now();
  const { runDir, config, ignored } = requested.resume
    ? await resumeRun(requested, requested.resume, args)
    : { ...(await createRun(requested, args)), ignored: [] };
  try {
    return await runOpened(requested, runDir, config, ignored, started, log);
  } catch (error) {
    log.line(`error: ${(error as Error).message}`);
    // A new run that failed before its first fold holds only its settings
    // and log. It is removed so that report and --resume never meet it, and
    // its log lines are already on stderr.
    const foldsStarted = await Deno.stat(join(runDir, "folds")).then(
      () => true,
      () => false,
    );
    if (!requested.resume && !foldsStarted) {
      log.close();
      await Deno.remove(runDir, { recursive: true });
      console.error(`removed ${runDir}: the run failed before its first fold`);
    }
    return 1;
  }
}

async function runOpened(
  requested: TrainOptions,
  runDir: string,
  config: RunConfig,
  ignored: string[],
  started: number,
  log: RunLog,
): Promise<number> {
  await log.open(join(runDir, "log.txt"));
  const rt = await initRuntime();
  const { options, preset } = config;
  log.line(
    `run ${runDir}: ${options.dataset}, MPFNet-${options.variant.toUpperCase()}, preset ${preset.name} ` +
      `(${
        options.preset ? "chosen" : "from the adapter"
      }), adapter ${rt.adapter.description} ` +
      `(fallback ${rt.adapter.isFallbackAdapter}, ${rt.adapter.backend}${
        threadsNote(rt.adapter)
      })` +
      (requested.resume ? ", resumed" : ""),
  );
  if (ignored.length > 0) {
    log.line(
      `warning: --resume keeps the run's saved settings; ignored ${
        ignored.join(", ")
      }`,
    );
  }
  const location = await locateData(options.dataset, options.data, log);
  const classes = options.classes ??
    (options.dataset === "casme2" || options.dataset === "samm" ? 5 : 3);
  const data = await prepareData(options.dataset, location.root, preset, {
    classes,
    strict: options.strict,
    features: options.features,
    subjects: options.smoke ? 3 : undefined,
    skipInvalid: options.skipInvalid,
    sheet: options.sheet,
    checkSubjects: (subjects) =>
      checkFolds(options.folds, subjects, options.smoke),
  }, log);
  const folds = losoFolds(data.set.subjects);
  const wanted = options.folds ?? folds.map((f) => f.index);
  const adapter =
    `${rt.adapter.description} (fallback ${rt.adapter.isFallbackAdapter}, ${rt.adapter.backend}${
      threadsNote(rt.adapter)
    })`;
  const session = join(
    runDir,
    "sessions",
    `${new Date().toISOString().replace(/[:.]/g, "-")}-${Deno.pid}.json`,
  );
  const trained: number[] = [];
  const saveSession = () =>
    writeSession(session, {
      seconds: (performance.now() - started) / 1000,
      preprocessSeconds: data.seconds,
      folds: trained,
      adapter,
      synthetic: location.synthetic,
      smoke: options.smoke,
      skipped: data.load.skipped.map((s) => `${s.clip}: ${s.reason}`),
    });
  await saveSession();
  const results: FoldResult[] = [];
  for (const fold of folds.filter((f) => wanted.includes(f.index))) {
    results.push(
      await runFold(data.set, fold, {
        preset,
        variant: options.variant,
        gamma: options.gamma,
        noPrior: options.noPrior,
        seed: options.seed,
        epochScale: 1,
        runDir,
        recordGradients: options.recordGradients,
        synthetic: location.synthetic,
        log: (line) => log.line(line),
        progress: (label, done, total) => log.progress(label, done, total),
      }),
    );
    trained.push(fold.index);
    await saveSession();
  }
  const sessions = await readSessions(runDir);
  const info: RunInfo = {
    dataset: options.dataset,
    variant: options.variant,
    preset: preset.name,
    classNames: data.set.classNames,
    totalFolds: folds.length,
    command: config.command,
    ...sessionTotals(sessions),
    synthetic: location.synthetic,
    smoke: options.smoke,
  };
  const all = await collectFolds(runDir);
  const metrics = await writeReport(
    runDir,
    info,
    all,
    await firstGradients(runDir, all),
  );
  const m = metrics.overall;
  log.line(
    `done: ${metrics.folds}/${metrics.totalFolds} folds, accuracy ${
      m.accuracy.toFixed(3)
    }, ` +
      `F1 ${m.weightedF1.toFixed(3)}, UF1 ${m.uf1.toFixed(3)}, UAR ${
        m.uar.toFixed(3)
      }, ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s; report ${
        join(runDir, "report.md")
      }`,
  );
  return 0;
}

/** Reads the gradient records of the first finished fold that has them. */
export async function firstGradients(
  runDir: string,
  folds: FoldResult[],
): Promise<{ fold: number; records: GradientRecord[] } | undefined> {
  for (const f of folds) {
    const path = join(
      runDir,
      "folds",
      String(f.fold).padStart(2, "0"),
      "gradients.json",
    );
    try {
      const records = JSON.parse(await Deno.readTextFile(path));
      return { fold: f.fold, records };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return undefined;
}

/**
 * Record of one invocation of train on a run folder (the first run or a
 * resume), rewritten after preprocessing and after every fold, so that the
 * time of a killed session is kept up to its last finished fold.
 */
export interface SessionRecord {
  /** Wall time of the session so far. */
  seconds: number;
  preprocessSeconds: number;
  /** Folds this session trained (not those it loaded). */
  folds: number[];
  adapter: string;
  synthetic: boolean;
  smoke: boolean;
  /** Clips left out by --skip-invalid, as "clip: reason" (absent in older runs). */
  skipped?: string[];
}

async function writeSession(path: string, record: SessionRecord) {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await writeAtomically(
    path,
    new TextEncoder().encode(JSON.stringify(record, null, 2) + "\n"),
  );
}

/**
 * Reads every session record of a run folder (RUN/sessions/*.json),
 * skipping unreadable ones with a warning.
 */
export async function readSessions(runDir: string): Promise<SessionRecord[]> {
  const dir = join(runDir, "sessions");
  const records: SessionRecord[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const path = join(dir, entry.name);
      try {
        records.push(JSON.parse(await Deno.readTextFile(path)));
      } catch (error) {
        // The report is still written; only this session's time is missing.
        console.error(
          `warning: ${path} is unreadable (${(error as Error).message}); ` +
            "its session's time is left out of the report",
        );
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return records;
}

/** Sums the time of the sessions and lists their adapters. */
export function sessionTotals(
  sessions: SessionRecord[],
): Pick<
  RunInfo,
  "seconds" | "preprocessSeconds" | "sessions" | "adapter" | "skipped"
> {
  const adapters = [...new Set(sessions.map((s) => s.adapter))];
  return {
    skipped: [...new Set(sessions.flatMap((s) => s.skipped ?? []))],
    seconds: sessions.reduce((sum, s) => sum + s.seconds, 0),
    preprocessSeconds: sessions.reduce(
      (sum, s) => sum + s.preprocessSeconds,
      0,
    ),
    sessions: sessions.length,
    adapter: adapters.length > 0 ? adapters.join("; ") : "not recorded",
  };
}

/** Reads the result of every finished fold in a run folder. */
export async function collectFolds(runDir: string): Promise<FoldResult[]> {
  const results: FoldResult[] = [];
  const dir = join(runDir, "folds");
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory) continue;
      try {
        const text = await Deno.readTextFile(
          join(dir, entry.name, "predictions.json"),
        );
        results.push(JSON.parse(text) as FoldResult);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return results.sort((a, b) => a.fold - b.fold);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
