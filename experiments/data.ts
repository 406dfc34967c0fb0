/**
 * Dataset command line: `summary` loads a dataset and prints its counts,
 * `synth` writes a synthetic dataset in an official layout.
 *
 *     tools/deno task data summary casme2 data/CASME2 --json --classes 3
 *     tools/deno task data synth smic --out data/smic-synthetic --seed 1
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "../src/util/cli.ts";
import { z } from "zod";
import {
  DatasetError,
  loadableDatasets,
  loadDataset,
  summarizeClips,
  synthesize,
} from "../datasets/mod.ts";
import { imageCheckModes } from "../datasets/types.ts";
import { synthDatasets } from "../datasets/synth/mod.ts";

const usage = `Usage:
  tools/deno task data summary <smic|casme2|samm|megc2019> DIR [options]
      --json               print {"subjects", "clips", "classes", "skipped"}
      --classes 3|5        class map (default: 3 for SMIC and MEGC2019,
                           5 for CASME II and SAMM)
      --skip-invalid       skip invalid clips and list them instead of failing
      --strict             reject non-numeric apex cells instead of
                           replacing them by the middle frame
      --check-images MODE  header (default), decode (slow) or none
      --sheet FILE         coding sheet (CASME II, SAMM) when not found
      --frames DIR         folder of the subject folders (CASME II, SAMM)
  tools/deno task data synth <smic|casme2|samm|megc2019> --out DIR --seed N
      --size PX            image side in pixels (default 128)
      --overwrite          replace an earlier synthetic dataset in DIR
`;

const summaryOptionsSchema = z.object({
  dataset: z.enum(loadableDatasets),
  root: z.string().min(1),
  json: z.boolean(),
  classes: z.enum(["3", "5"]).transform(Number).pipe(
    z.union([z.literal(3), z.literal(5)]),
  ).optional(),
  skipInvalid: z.boolean(),
  strict: z.boolean(),
  checkImages: z.enum(imageCheckModes),
  sheet: z.string().min(1).optional(),
  framesDir: z.string().min(1).optional(),
});

const synthOptionsSchema = z.object({
  dataset: z.enum([...synthDatasets, "megc2019"]),
  out: z.string().min(1, "--out DIR is required"),
  seed: z.string()
    .min(1, {
      error: "--seed N is required (a whole number >= 0)",
      abort: true,
    })
    .regex(/^\d+$/, "--seed must be a whole number >= 0").transform(Number),
  size: z.string().regex(/^\d+$/, "--size must be a whole number of pixels")
    .transform(Number).refine((n) => n >= 16, "--size must be at least 16 px"),
  overwrite: z.boolean(),
});

function parseOrThrow<T extends z.ZodType>(
  schema: T,
  value: unknown,
): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) =>
      `${issue.path.join(".") || "arguments"}: ${issue.message}`
    ).join("; ");
    throw new UsageError(`Invalid arguments: ${details}`);
  }
  return parsed.data;
}

function parseSummaryArgs(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      classes: { type: "string" },
      "skip-invalid": { type: "boolean", default: false },
      strict: { type: "boolean", default: false },
      "check-images": { type: "string", default: "header" },
      sheet: { type: "string" },
      frames: { type: "string" },
    },
  });
  if (positionals.length !== 2) {
    throw new UsageError(
      `summary takes a dataset and a folder, got ${positionals.length} ` +
        "positional argument(s)",
    );
  }

  return parseOrThrow(summaryOptionsSchema, {
    dataset: positionals[0],
    root: positionals[1],
    json: values.json,
    classes: values.classes,
    skipInvalid: values["skip-invalid"],
    strict: values.strict,
    checkImages: values["check-images"],
    sheet: values.sheet,
    framesDir: values.frames,
  });
}

async function runSummary(args: string[]): Promise<void> {
  const options = parseSummaryArgs(args);
  const started = performance.now();
  const result = await loadDataset(options.dataset, options.root, {
    classes: options.classes,
    skipInvalid: options.skipInvalid,
    strict: options.strict,
    checkImages: options.checkImages,
    sheet: options.sheet,
    framesDir: options.framesDir,
    onWarning: (message) => console.error(`warning: ${message}`),
  });
  const seconds = (performance.now() - started) / 1000;
  const summary = summarizeClips(result.clips);

  if (options.json) {
    console.log(JSON.stringify({
      ...summary,
      skipped: result.skipped,
      excluded: result.excluded.length,
      warnings: result.warnings.length,
    }));
    return;
  }

  console.log(
    `${options.dataset} (${result.classes} classes) from ${options.root}: ` +
      `${summary.clips} clips, ${summary.subjects} subjects, ` +
      `loaded in ${seconds.toFixed(1)} s`,
  );
  for (const [label, count] of Object.entries(summary.classes)) {
    console.log(`  ${label}: ${count}`);
  }
  console.log(
    `  excluded by the class map: ${result.excluded.length}, skipped: ` +
      `${result.skipped.length}, warnings: ${result.warnings.length}`,
  );
  for (const item of result.skipped) {
    console.log(`  skipped ${item.clip}: ${item.reason}`);
  }
}

async function runSynth(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string", default: "" },
      seed: { type: "string", default: "" },
      size: { type: "string", default: "128" },
      overwrite: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) {
    throw new UsageError(
      `synth takes one dataset name, got ${positionals.length} positional ` +
        "argument(s)",
    );
  }

  const options = parseOrThrow(synthOptionsSchema, {
    dataset: positionals[0],
    out: values.out,
    seed: values.seed,
    size: values.size,
    overwrite: values.overwrite,
  });

  console.error(
    `Generating synthetic ${options.dataset} in ${options.out} (seed ` +
      `${options.seed}, ${options.size} px) ...`,
  );
  const interactive = Deno.stderr.isTerminal();
  let lastPercent = -1;
  const summary = await synthesize(options.dataset, options.out, {
    seed: options.seed,
    size: options.size,
    overwrite: options.overwrite,
    onProgress: (done, total) => {
      const percent = Math.floor((100 * done) / total);
      if (!interactive || percent === lastPercent) return;
      lastPercent = percent;
      const bar = "#".repeat(Math.floor(percent / 5)).padEnd(20, ".");
      Deno.stderr.writeSync(
        new TextEncoder().encode(`\r[${bar}] ${done}/${total} clips`),
      );
    },
  });

  if (interactive) console.error("");
  console.log(
    `Wrote synthetic ${summary.dataset}: ${summary.clips} clips, ` +
      `${summary.subjects} subjects, ${summary.frames} frames to ` +
      `${summary.outDir} in ${summary.seconds.toFixed(1)} s`,
  );
  console.log(`  clips per emotion: ${JSON.stringify(summary.emotions)}`);
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === "summary") {
      await runSummary(rest);
    } else if (command === "synth") {
      await runSynth(rest);
    } else if (
      command === undefined || command === "help" ||
      command === "--help"
    ) {
      console.log(usage);
    } else {
      throw new UsageError(`Unknown command '${command}'`);
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      console.error(`error: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    if (error instanceof DatasetError) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof TypeError &&
    String((error as { code?: string }).code).startsWith("ERR_PARSE_ARGS");
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
