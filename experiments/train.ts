/**
 * Entry point of `tools/deno task train <dataset>`: the MPFNet protocol.
 */
import { initRuntime } from "../src/gpu/runtime.ts";
import { parseTrainOptions, trainUsage } from "./train_options.ts";

async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseTrainOptions(args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  if (options === "help") {
    console.log(trainUsage());
    return 0;
  }
  const rt = await initRuntime();
  const preset = options.preset ??
    (rt.adapter.isFallbackAdapter ? "compact" : "paper");
  console.error(
    `preset: ${preset} (${options.preset ? "chosen" : "from the adapter"})`,
  );
  console.error(
    "The MPFNet training pipeline (CA-I3D encoders, PLTN, PLSM and fusion) is not " +
      "built yet: the framework core and its operators are in place. Run " +
      "`tools/deno task test` to check them on this adapter.",
  );
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
