/**
 * Time to generate a synthetic dataset and preprocess it at a preset's
 * size, from an empty cache: `tools/deno run -A bench/preprocess.ts
 * [smic|casme2|samm] [--preset compact|paper] [--json]`.
 */
import { join } from "node:path";
import { exitOnErrors, parseCommandLine, UsageError } from "../src/util/cli.ts";
import { synthesize } from "../datasets/mod.ts";
import { initRuntime } from "../src/gpu/runtime.ts";
import { RunLog } from "../src/util/log.ts";
import { prepareData } from "../experiments/pipeline.ts";
import { loadPreset } from "../experiments/train.ts";

const USAGE = "Usage: tools/deno run -A bench/preprocess.ts " +
  "[smic|casme2|samm] [--preset compact|paper] [--json]";
exitOnErrors();
const { values, positionals } = parseCommandLine({
  args: Deno.args,
  allowPositionals: true,
  options: {
    preset: { type: "string", default: "compact" },
    json: { type: "boolean" },
  },
}, USAGE);
const dataset = (positionals[0] ?? "smic") as "smic" | "casme2" | "samm";
if (!["smic", "casme2", "samm"].includes(dataset)) {
  throw new UsageError(
    `Unknown dataset '${dataset}'; use smic, casme2 or samm\n\n${USAGE}`,
  );
}
const rt = await initRuntime({ log: !values.json });
const preset = loadPreset(values.preset!);
const dir = await Deno.makeTempDir({ prefix: "mpfnet-bench-" });
const cwd = Deno.cwd();
try {
  Deno.chdir(dir);
  const log = new RunLog();
  const synth = await synthesize(dataset, join(dir, dataset), {
    seed: 1,
    size: 128,
  });
  const prepared = await prepareData(
    dataset,
    join(dir, dataset),
    preset,
    {
      classes: dataset === "smic" ? 3 : 5,
      strict: false,
      features: "both",
    },
    values.json
      ? { line: () => {}, progress: () => {} } as unknown as RunLog
      : log,
  );
  const tensors = prepared.set.labels.length;
  const result = {
    name: `preprocess_${dataset}_${preset.name}`,
    generateSeconds: Number(synth.seconds.toFixed(1)),
    preprocessSeconds: Number(prepared.seconds.toFixed(1)),
    clips: tensors,
    workSize: preset.preprocess.size,
    adapter: rt.adapter.description,
  };
  console.log(values.json ? JSON.stringify(result) : result);
} finally {
  Deno.chdir(cwd);
  await Deno.remove(dir, { recursive: true });
}
