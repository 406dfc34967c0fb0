/**
 * `tools/deno task report RUN`: merges the finished folds of a run folder
 * into metrics.json, report.md and the plots. Folds trained on different
 * machines (`--fold K` with the same run settings) are merged by copying
 * their folds/<K>/ folders into one run folder first.
 */
import { join } from "node:path";
import { parseCommandLine, runMain } from "../src/util/cli.ts";
import { type RunInfo, writeReport } from "../src/mer/report.ts";
import {
  collectFolds,
  firstGradients,
  readSessions,
  type RunConfig,
  sessionTotals,
} from "./train.ts";

const USAGE = "Usage: tools/deno task report RUN\n\n" +
  "Writes RUN/metrics.json, RUN/report.md and RUN/plots/ from " +
  "RUN/folds/*/predictions.json.";

export async function main(args: string[]): Promise<number> {
  const { positionals, values } = parseCommandLine({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" } },
  }, USAGE);
  if (values.help || positionals.length !== 1) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const runDir = positionals[0];
  const configPath = join(runDir, "config.json");
  let text: string;
  try {
    text = await Deno.readTextFile(configPath);
  } catch (error) {
    console.error(
      `${configPath} not found or unreadable (${(error as Error).message}): ` +
        "RUN must be a run folder of tools/deno task train",
    );
    return 1;
  }
  let config: RunConfig;
  try {
    config = JSON.parse(text);
  } catch (error) {
    console.error(
      `${configPath} is not valid JSON (${(error as Error).message}); ` +
        "restore it from a copy of the run folder",
    );
    return 1;
  }
  const folds = await collectFolds(runDir);
  if (folds.length === 0) {
    console.error(
      `No finished folds in ${
        join(runDir, "folds")
      }; train some with tools/deno task train --fold K`,
    );
    return 1;
  }
  let previous: Partial<RunInfo> = {};
  try {
    previous = JSON.parse(
      await Deno.readTextFile(join(runDir, "metrics.json")),
    );
  } catch {
    // First report of this run folder.
  }
  const subjects = previous.totalFolds;
  // Folds copied from other machines bring no session records, so their
  // data source is read from the folds as well.
  const sessions = await readSessions(runDir);
  const synthetic = sessions.some((s) => s.synthetic) ||
    folds.some((f) => f.synthetic === true) || previous.synthetic === true;
  const info: RunInfo = {
    dataset: config.options.dataset,
    variant: config.options.variant,
    preset: config.preset.name,
    classNames: previous.classNames ?? inferClassNames(config),
    totalFolds: subjects ?? folds.length,
    command: config.command,
    ...sessionTotals(sessions),
    synthetic,
    smoke: config.options.smoke ?? false,
  };
  const metrics = await writeReport(
    runDir,
    info,
    folds,
    await firstGradients(runDir, folds),
  );
  const m = metrics.overall;
  console.log(
    `${folds.length} folds: accuracy ${m.accuracy.toFixed(3)}, F1 ${
      m.weightedF1.toFixed(3)
    }, ` +
      `UF1 ${m.uf1.toFixed(3)}, UAR ${m.uar.toFixed(3)}; wrote ${
        join(runDir, "report.md")
      }`,
  );
  return 0;
}

function inferClassNames(config: RunConfig): string[] {
  const classes = config.options.classes ??
    (config.options.dataset === "casme2" || config.options.dataset === "samm"
      ? 5
      : 3);
  if (classes === 3) return ["negative", "positive", "surprise"];
  return config.options.dataset === "samm"
    ? ["anger", "contempt", "happiness", "other", "surprise"]
    : ["disgust", "happiness", "others", "repression", "surprise"];
}

if (import.meta.main) await runMain(() => main(Deno.args));
