/** Shared test helpers: a GPU test wrapper and tolerance checks. */
import { initRuntime, type Runtime } from "../src/gpu/runtime.ts";
import type { Tolerance } from "../src/ops/registry.ts";

/** Registers a test that needs the WebGPU runtime. */
export function gpuTest(
  name: string,
  fn: (rt: Runtime) => Promise<void> | void,
): void {
  Deno.test({
    name,
    // WebGPU keeps internal async work alive between tests.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const rt = await initRuntime({ log: false });
      await fn(rt);
    },
  });
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise and
 * reports the worst index, the actual and the expected value.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(
      `${what}: ${actual.length} values, expected ${expected.length}`,
    );
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const bound = tolerance.atol + tolerance.rtol * Math.abs(e);
    const error = Math.abs(a - e);
    if (!(error <= bound)) {
      const excess = Number.isFinite(error) ? error / bound : Infinity;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: index ${worst} is ${actual[worst]}, expected ${
        expected[worst]
      } ` +
        `(atol ${tolerance.atol}, rtol ${tolerance.rtol}; ${actual.length} values)`,
    );
  }
}

/** Output of a script run by `runScript`. */
export interface ScriptOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A` with `args` (the script first, relative to the
 * repository root) in the repository root, without colours.
 */
export async function runScript(args: string[]): Promise<ScriptOutput> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: new URL("../", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
