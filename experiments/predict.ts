/**
 * `tools/deno task predict RUN CLIP`: classifies a new clip (a folder of
 * frames) with a finished run's model. The model is the fusion checkpoint
 * of one fold (`--fold`, default 0) and the prototypes are built from all
 * training clips of that fold, as in the run's own evaluation. Prints the
 * class probabilities and writes the clip's onset-to-apex flow as a PNG.
 */
import { basename, join } from "node:path";
import { parseCommandLine, runMain } from "../src/util/cli.ts";
import { encodePng } from "../datasets/images.ts";
import type { ClipRecord } from "../datasets/types.ts";
import { initRuntime } from "../src/gpu/runtime.ts";
import { writeAtomically } from "../src/io/safetensors.ts";
import { loadStateInto } from "../src/io/safetensors.ts";
import { channelStats, type ClipSet } from "../src/mer/data.ts";
import { MpfNet } from "../src/mer/mpfnet.ts";
import { losoFolds } from "../src/mer/sampling.ts";
import { predictFold } from "../src/mer/stages.ts";
import { RunLog } from "../src/util/log.ts";
import { locateData, prepareData, preprocessorFor } from "./pipeline.ts";
import { collectFolds, type RunConfig } from "./train.ts";

const USAGE = `Usage: tools/deno task predict RUN CLIP [options]

Classifies CLIP, a folder of frames (bmp, jpg or png, ordered by the number
in their names), with the model of a finished run.

Options:
  --fold K       fold whose fusion checkpoint and training clips are used (default 0)
  --onset N      frame number of the onset (default: the first frame)
  --apex N       frame number of the apex (default: as for SMIC under the
                 run's preset: the middle frame, or the flow estimate when
                 its preprocess.apexCandidates is above 0)
  --out DIR      where the flow picture goes (default: RUN/predictions)
  --help, -h     print this help`;

const FRAME_PATTERN = /(\d+)\.(bmp|jpe?g|png)$/i;

async function clipRecord(
  folder: string,
  dataset: RunConfig["options"]["dataset"],
  onset?: number,
  apex?: number,
): Promise<ClipRecord> {
  const frames: { path: string; number: number }[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      const match = entry.isFile ? FRAME_PATTERN.exec(entry.name) : null;
      if (match) {
        frames.push({
          path: join(folder, entry.name),
          number: Number(match[1]),
        });
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotADirectory) {
      throw new Error(
        `${folder} is a file; CLIP must be the folder of the clip's frame images`,
      );
    }
    throw new Error(
      `Clip folder ${folder} not found; CLIP must be a folder of frame images`,
    );
  }
  frames.sort((a, b) => a.number - b.number);
  if (frames.length < 2) {
    throw new Error(
      `Clip folder ${folder} has ${frames.length} numbered frames (name123.bmp, .jpg, .png); it needs at least 2`,
    );
  }
  const numbers = frames.map((f) => f.number);
  for (const [flag, value] of [["--onset", onset], ["--apex", apex]] as const) {
    if (value !== undefined && !numbers.includes(value)) {
      const nearest = numbers.reduce((best, n) =>
        Math.abs(n - value) < Math.abs(best - value) ? n : best
      );
      const gaps = numbers.length !== numbers.at(-1)! - numbers[0] + 1;
      throw new Error(
        `${flag} ${value} is not a frame of ${folder} (frames ${numbers[0]}..${
          numbers.at(-1)
        }${gaps ? ", with gaps" : ""}); the nearest frame is ${nearest}`,
      );
    }
  }
  const first = onset ?? numbers[0];
  if (first === numbers.at(-1)) {
    throw new Error(
      `The onset ${first} is the last frame of ${folder}; pass an earlier --onset`,
    );
  }
  if (apex !== undefined && apex <= first) {
    throw new Error(
      `--apex ${apex} is not after the onset ${first}; the apex must come ` +
        "later in the clip",
    );
  }
  return {
    dataset: dataset === "megc2019" ? "smic" : dataset,
    subject: "new",
    clip: basename(folder),
    label: "unknown",
    emotion: "unknown",
    fps: 100,
    framePaths: frames.map((f) => f.path),
    frameNumbers: numbers,
    onset: first,
    apex: apex ?? null,
    apexSource: apex === undefined ? "estimate-needed" : "annotated",
    offset: numbers.at(-1)!,
    source: { folder },
  };
}

export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    allowPositionals: true,
    options: {
      fold: { type: "string", default: "0" },
      onset: { type: "string" },
      apex: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }, USAGE);
  if (values.help || positionals.length !== 2) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const [runDir, clipFolder] = positionals;
  const log = new RunLog();
  try {
    let config: RunConfig;
    try {
      config = JSON.parse(
        await Deno.readTextFile(join(runDir, "config.json")),
      ) as RunConfig;
    } catch {
      throw new Error(
        `${
          join(runDir, "config.json")
        } is missing or unreadable: RUN must be ` +
          "a run folder of tools/deno task train",
      );
    }
    const { options, preset } = config;
    const fold = Number(values.fold);
    if (!Number.isInteger(fold) || fold < 0) {
      throw new Error(`--fold expects a fold number, got '${values.fold}'`);
    }
    const checkpoint = join(
      runDir,
      "folds",
      String(fold).padStart(2, "0"),
      "fusion.safetensors",
    );
    try {
      await Deno.stat(checkpoint);
    } catch {
      const finished = (await collectFolds(runDir)).map((f) => f.fold);
      throw new Error(
        `Checkpoint ${checkpoint} not found: fold ${fold} of ${runDir} has ` +
          "not finished or does not exist; pick a finished fold with --fold " +
          `(finished: ${finished.join(", ") || "none"})`,
      );
    }
    await initRuntime();
    const number = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n)) {
        throw new Error(`${flag} expects a frame number, got '${v}'`);
      }
      return n;
    };
    const record = await clipRecord(
      clipFolder,
      options.dataset,
      number("--onset", values.onset),
      number("--apex", values.apex),
    );

    const location = await locateData(options.dataset, options.data, log);
    const classes = options.classes ??
      (options.dataset === "casme2" || options.dataset === "samm" ? 5 : 3);
    const data = await prepareData(options.dataset, location.root, preset, {
      classes,
      strict: options.strict,
      features: options.features,
      subjects: options.smoke ? 3 : undefined,
    }, log);
    const folds = losoFolds(data.set.subjects);
    if (!folds[fold]) {
      throw new Error(
        `--fold ${fold} does not exist in ${runDir} (folds 0..${
          folds.length - 1
        })`,
      );
    }
    const train = folds[fold].train;

    const preprocessor = preprocessorFor(options.dataset, preset);
    const features = await preprocessor.clip(record, [preset.preprocess.alpha]);
    const input = features.byAlpha.get(preset.preprocess.alpha)!;
    const channels = data.set.inputShape[0];
    const plane = input.length / 5;
    const selected = channels === 5
      ? input
      : channels === 2
      ? input.slice(0, 2 * plane)
      : input.slice(2 * plane);
    const extra = data.set.labels.length;
    const set: ClipSet = {
      ...data.set,
      labels: [...data.set.labels, 0],
      subjects: [...data.set.subjects, "new"],
      ids: [...data.set.ids, record.clip],
      input: (i) => (i === extra ? selected : data.set.input(i)),
    };
    const model = new MpfNet(options.variant, preset.model, 0, options.gamma);
    await loadStateInto(model, checkpoint);
    const stats = channelStats(data.set, train);
    const [prediction] = await predictFold(
      model,
      set,
      train,
      [extra],
      stats,
      preset.fusion.temperature,
    );
    model.dispose();

    const outDir = values.out ?? join(runDir, "predictions");
    await Deno.mkdir(outDir, { recursive: true });
    const picture = await preprocessor.flowPicture(record, features.apex);
    const picturePath = join(outDir, `${record.clip}-flow.png`);
    await writeAtomically(picturePath, encodePng(picture));

    console.log(
      `clip ${clipFolder}: onset ${record.onset}, apex ${features.apex} (${features.apexSource})`,
    );
    const order = prediction.probabilities.map((p, c) => [p, c] as const).sort((
      a,
      b,
    ) => b[0] - a[0]);
    for (const [p, c] of order) {
      console.log(`  ${data.set.classNames[c].padEnd(12)} ${p.toFixed(3)}`);
    }
    console.log(
      `predicted: ${
        data.set.classNames[prediction.predicted]
      }; flow picture: ${picturePath}`,
    );
    return 0;
  } catch (error) {
    log.line(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    log.close();
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
