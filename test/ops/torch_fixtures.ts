/** Reads the PyTorch reference values stored under test/fixtures/torch/. */
import { z } from "zod";
import type { CpuTensor } from "../../src/ops/cpu_tensor.ts";

const storedTensor = z.object({
  shape: z.array(z.number().int().nonnegative()),
  data: z.array(z.number()),
  dtype: z.enum(["f32", "i32"]).optional(),
});

const storedCase = z.object({
  op: z.string(),
  label: z.string(),
  attrs: z.record(z.string(), z.unknown()),
  inputs: z.array(storedTensor.nullable()),
  gradOutputs: z.array(storedTensor).nullable(),
  outputs: z.array(storedTensor),
  gradInputs: z.array(storedTensor.nullable()).nullable(),
});

const fixtureFile = z.object({
  generator: z.string(),
  torch: z.string(),
  cases: z.array(storedCase),
});

export type StoredCase = z.infer<typeof storedCase>;

export function toCpu(t: z.infer<typeof storedTensor>): CpuTensor {
  return { shape: t.shape, data: Float64Array.from(t.data), dtype: t.dtype };
}

export const FIXTURE_DIR = new URL("../fixtures/torch/", import.meta.url);

/** Every fixture file's cases, keyed by file name. */
export function loadTorchFixtures(): Map<string, StoredCase[]> {
  const files = new Map<string, StoredCase[]>();
  for (const entry of Deno.readDirSync(FIXTURE_DIR)) {
    if (!entry.isFile || !entry.name.endsWith(".json")) continue;
    const url = new URL(entry.name, FIXTURE_DIR);
    const parsed = fixtureFile.safeParse(
      JSON.parse(Deno.readTextFileSync(url)),
    );
    if (!parsed.success) {
      throw new Error(
        `test/fixtures/torch/${entry.name} is malformed: ${parsed.error.message}; ` +
          "regenerate it with test/fixtures/generate.sh",
      );
    }
    files.set(entry.name, parsed.data.cases);
  }
  return files;
}

/** Names of the operators that have at least one stored PyTorch case. */
export function opsWithTorchFixtures(): Set<string> {
  const names = new Set<string>();
  for (const cases of loadTorchFixtures().values()) {
    for (const c of cases) names.add(c.op);
  }
  return names;
}
