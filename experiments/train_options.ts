/**
 * Command-line options of `tools/deno task train`, validated with zod. Each
 * option's help line gives its unit and default.
 */
import { parseArgs } from "node:util";
import { attachNegativeNumbers } from "../src/util/cli.ts";
import { z } from "zod";

export const DATASETS = ["smic", "casme2", "samm", "megc2019"] as const;

interface OptionHelp {
  flag: string;
  help: string;
}

export const OPTION_HELP: OptionHelp[] = [
  {
    flag: "--data DIR",
    help:
      "dataset root in its official layout (default: data/<dataset>, generated synthetically when missing)",
  },
  {
    flag: "--preset NAME",
    help:
      "paper | compact (default: compact on a fallback CPU adapter, paper otherwise)",
  },
  {
    flag: "--variant p|c",
    help: "MPFNet-P (parallel) or MPFNet-C (cascaded) fusion (default: c)",
  },
  {
    flag: "--no-prior pltn|plsm|both",
    help:
      "skip a prior-learning stage for the ablation (default: none skipped)",
  },
  {
    flag: "--features flow|diff|both",
    help:
      "input channels: optical flow, frame difference or both (default: both)",
  },
  {
    flag: "--classes 3|5",
    help: "class map (default: 3 for smic and megc2019, 5 for casme2 and samm)",
  },
  {
    flag: "--fold K[,K...]",
    help: "train only these LOSO folds, 0-based (default: all)",
  },
  { flag: "--seed N", help: "random seed (default: 0)" },
  {
    flag: "--gamma X",
    help:
      "weight of the AFE similarity in MPFNet-P, a number >= 0; ignored by MPFNet-C (default: 0.7)",
  },
  { flag: "--out DIR", help: "parent folder of run folders (default: runs)" },
  {
    flag: "--name NAME",
    help:
      "name of the new run folder in DIR; it must not exist yet (default: <dataset>-<variant>-<time>)",
  },
  {
    flag: "--resume RUN",
    help: "continue a killed run from its last finished stage",
  },
  {
    flag: "--smoke",
    help:
      "the 3 smallest subjects, one short epoch per stage: an end-to-end check of under a minute on a 2-core CPU",
  },
  {
    flag: "--strict",
    help: "reject annotation rows that would otherwise be repaired",
  },
  {
    flag: "--record-gradients N",
    help:
      "record per-layer gradient statistics every N training steps (default: 0, off)",
  },
  {
    flag: "--skip-invalid",
    help:
      "skip clips with invalid input (listed in the log) instead of stopping",
  },
  {
    flag: "--sheet FILE",
    help:
      "coding sheet of CASME II or SAMM (default: found in the data folder)",
  },
  { flag: "--help, -h", help: "print this help" },
];

export const trainOptionsSchema = z.object({
  dataset: z.enum(DATASETS, {
    error: (issue) =>
      `Unknown dataset '${String(issue.input)}'; choose one of ${
        DATASETS.join(", ")
      }`,
  }),
  data: z.string().min(1).optional(),
  preset: z.enum(["paper", "compact"]).optional(),
  variant: z.enum(["p", "c"]).default("c"),
  noPrior: z.enum(["pltn", "plsm", "both"]).optional(),
  features: z.enum(["flow", "diff", "both"]).default("both"),
  classes: z.union([z.literal(3), z.literal(5)], {
    error: (issue) => `expected 3 or 5 classes, got ${String(issue.input)}`,
  }).optional(),
  folds: z.array(z.number().int().nonnegative()).optional(),
  seed: z.number().int().nonnegative().default(0),
  gamma: z.number().min(0).max(10).default(0.7),
  out: z.string().min(1).default("runs"),
  name: z.string().regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    "a folder name of letters, digits, '.', '_' and '-', starting with a letter or digit",
  ).optional(),
  resume: z.string().min(1).optional(),
  smoke: z.boolean().default(false),
  strict: z.boolean().default(false),
  skipInvalid: z.boolean().default(false),
  recordGradients: z.number().int().nonnegative().default(0),
  sheet: z.string().min(1).optional(),
});

export type TrainOptions = z.infer<typeof trainOptionsSchema>;

export function trainUsage(): string {
  const width = Math.max(...OPTION_HELP.map((o) => o.flag.length)) + 2;
  const lines = OPTION_HELP.map((o) => `  ${o.flag.padEnd(width)}${o.help}`);
  return [
    "Usage: tools/deno task train <smic|casme2|samm|megc2019> [options]",
    "",
    "Runs the MPFNet protocol: preprocessing, leave-one-subject-out folds,",
    "progressive training (PLTN, PLSM, fusion), pooled metrics and a report.",
    "",
    "Options:",
    ...lines,
  ].join("\n");
}

function parseNumber(
  flag: string,
  value: string | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  // Number() also reads hexadecimal and binary ("0x10"), which no option means.
  const decimal = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value.trim());
  if (!decimal || !Number.isFinite(n)) {
    throw new Error(`Option ${flag} expects a number, got '${value}'`);
  }
  return n;
}

const ARG_OPTIONS = {
  data: { type: "string" },
  preset: { type: "string" },
  variant: { type: "string" },
  "no-prior": { type: "string" },
  features: { type: "string" },
  classes: { type: "string" },
  fold: { type: "string" },
  seed: { type: "string" },
  gamma: { type: "string" },
  out: { type: "string" },
  name: { type: "string" },
  resume: { type: "string" },
  smoke: { type: "boolean" },
  strict: { type: "boolean" },
  "skip-invalid": { type: "boolean" },
  "record-gradients": { type: "string" },
  sheet: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Parses and validates argv; throws with a message naming the option and the fix. */
export function parseTrainOptions(args: string[]): TrainOptions | "help" {
  const { values, positionals } = parseArgs({
    args: attachNegativeNumbers(args, ARG_OPTIONS),
    allowPositionals: true,
    options: ARG_OPTIONS,
  });
  if (values.help) return "help";
  if (positionals.length !== 1) {
    throw new Error(
      `Expected one dataset name (${DATASETS.join(", ")}), got ` +
        (positionals.length === 0 ? "none" : `'${positionals.join(" ")}'`),
    );
  }
  const folds = values.fold?.split(",").map((k) => parseNumber("--fold", k)!);
  const raw: Record<string, unknown> = {
    dataset: positionals[0],
    data: values.data,
    preset: values.preset,
    variant: values.variant,
    noPrior: values["no-prior"],
    features: values.features,
    classes: parseNumber("--classes", values.classes),
    folds,
    seed: parseNumber("--seed", values.seed),
    gamma: parseNumber("--gamma", values.gamma),
    out: values.out,
    name: values.name,
    resume: values.resume,
    smoke: values.smoke,
    strict: values.strict,
    skipInvalid: values["skip-invalid"],
    recordGradients: parseNumber(
      "--record-gradients",
      values["record-gradients"],
    ),
    sheet: values.sheet,
  };
  const parsed = trainOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const flags: Record<string, string> = {
      noPrior: "--no-prior",
      folds: "--fold",
      skipInvalid: "--skip-invalid",
      recordGradients: "--record-gradients",
    };
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const flag = key === "dataset" ? "dataset" : flags[key] ?? `--${key}`;
      let value: unknown = raw[key];
      for (const step of issue.path.slice(1)) {
        value = (value as Record<PropertyKey, unknown> | undefined)?.[
          step as PropertyKey
        ];
      }
      const got = value === undefined ? "" : ` (got ${JSON.stringify(value)})`;
      return `${flag}: ${issue.message}${got}`;
    });
    throw new Error(
      `Invalid options (see --help):\n  ${problems.join("\n  ")}`,
    );
  }
  return parsed.data;
}
