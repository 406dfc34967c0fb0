/**
 * Lists every registered operator and what it has: WGSL forward and
 * backward kernels, a float64 CPU reference, stored PyTorch values.
 *
 *   tools/deno task ops          a table
 *   tools/deno task ops --json   one JSON object per operator
 */
import { parseCommandLine, runMain } from "../src/util/cli.ts";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { listOps } from "../src/ops/mod.ts";
import { opsWithTorchFixtures } from "../test/ops/torch_fixtures.ts";

export interface OpCoverage {
  name: string;
  forward: boolean;
  backward: boolean;
  cpuReference: boolean;
  torchFixture: boolean;
}

const root = new URL("../", import.meta.url);

function kernelsExist(files: string[]): boolean {
  return files.length > 0 &&
    files.every((f) =>
      f === "buffer copy" || existsSync(fileURLToPath(new URL(f, root)))
    );
}

/** Coverage of every registered operator, from the registry and the files on disk. */
export function opCoverage(): OpCoverage[] {
  const fixtures = opsWithTorchFixtures();
  return listOps().map((op) => ({
    name: op.name,
    forward: kernelsExist(op.forwardKernels),
    backward: !op.noGradient && kernelsExist(op.backwardKernels),
    cpuReference: typeof op.cpu.forward === "function" &&
      (op.noGradient !== undefined || typeof op.cpu.backward === "function"),
    torchFixture: fixtures.has(op.name),
  }));
}

/** Prints the coverage table (or JSON lines with --json). */
export function main(args: string[]): number {
  const usage =
    "Usage: tools/deno task ops [--json]\n\nLists every operator's coverage.";
  const { values } = parseCommandLine({
    args,
    options: {
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  }, usage);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const rows = opCoverage();
  if (values.json) {
    for (const row of rows) console.log(JSON.stringify(row));
  } else {
    const mark = (b: boolean) => (b ? "yes" : "NO");
    console.log("operator               forward  backward  cpu-ref  torch");
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(22)} ${mark(r.forward).padEnd(8)} ${
          mark(r.backward).padEnd(9)
        } ` +
          `${mark(r.cpuReference).padEnd(8)} ${mark(r.torchFixture)}`,
      );
    }
    const missing = rows.filter((r) =>
      !r.forward || !r.backward || !r.cpuReference || !r.torchFixture
    );
    console.log(`${rows.length} operators, ${missing.length} with a gap`);
  }
  return 0;
}

if (import.meta.main) await runMain(() => Promise.resolve(main(Deno.args)));
