/**
 * Benchmarks of the framework on the current WebGPU adapter. Each case is
 * set up once and run a few times to warm up (pipeline compilation, buffer
 * pool). Then it is timed over several runs, and the median is reported. A
 * timed run ends when the GPU has finished its work, so every figure
 * includes one sync (about 11 ms in Deno 2.9).
 *
 *   deno task bench            a readable table
 *   deno task bench --json     one JSON line per case: {"name", "ms", "gflops"}
 *
 * To add a case, append a `BenchCase` to `benchCases` (or push one from
 * another module before calling `runBenchmarks`).
 */
import { parseCommandLine, runMain, UsageError } from "../src/util/cli.ts";
import { accumulateInto, backward, requiresGrad } from "../src/autograd.ts";
import { initRuntime, runtime } from "../src/gpu/runtime.ts";
import {
  conv3d,
  conv3dFlops,
  conv3dGeometry,
  type Conv3dOptions,
} from "../src/ops/conv.ts";
import { type Tensor, tensor, zeros } from "../src/tensor.ts";
import { Rng } from "../src/util/rng.ts";
import { modelCases } from "./model_cases.ts";

/** One benchmark: `setup` runs once, `run` is timed. */
// deno-lint-ignore no-explicit-any
export interface BenchCase<S = any> {
  name: string;
  /** Floating-point operations of one `run`, when the case has a FLOP count. */
  flops?: number;
  /**
   * Operations timed by one `run` (default 1); the reported time is per
   * operation, for example per dispatch when `run` records 1000 of them.
   */
  repeats?: number;
  setup(): S | Promise<S>;
  /** One timed iteration; resolves once the GPU work it recorded has finished. */
  run(state: S): Promise<void>;
  teardown?(state: S): void;
}

export interface BenchResult {
  name: string;
  /** Median milliseconds per operation. */
  ms: number;
  /** flops / median time, in GFLOP/s; null for cases without a FLOP count. */
  gflops: number | null;
}

/** The conv3d benchmark shape: 1.13 GFLOP per pass. */
export const CONV3D_SHAPE = {
  x: [1, 16, 10, 64, 64],
  weight: [32, 16, 3, 3, 3],
  options: { padding: 1 } as Conv3dOptions,
};

function randomTensor(rng: Rng, shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.uniform(-1, 1);
  return tensor(data, shape).keep();
}

const CONV3D_GEOMETRY = conv3dGeometry(
  CONV3D_SHAPE.x,
  CONV3D_SHAPE.weight,
  null,
  CONV3D_SHAPE.options,
);
/**
 * FLOPs of one conv3d pass on the benchmark shape: 2 * Cout * output
 * positions * Cin * 27 = 2 * 32 * 40960 * 432 = 1 132 462 080.
 */
const CONV3D_PASS_FLOPS = conv3dFlops(CONV3D_GEOMETRY);

interface ConvState {
  x: Tensor;
  weight: Tensor;
  gy: Tensor;
}

function convSetup(withGradients: boolean): ConvState {
  const rng = new Rng(7);
  const x = randomTensor(rng, CONV3D_SHAPE.x);
  const weight = randomTensor(rng, CONV3D_SHAPE.weight);
  if (withGradients) {
    requiresGrad(x);
    requiresGrad(weight);
  }
  const outputShape = [
    CONV3D_GEOMETRY.batch,
    CONV3D_GEOMETRY.cOut,
    ...CONV3D_GEOMETRY.output,
  ];
  const gy = randomTensor(rng, outputShape);
  return { x, weight, gy };
}

function convTeardown(state: ConvState): void {
  for (const t of [state.x, state.weight, state.gy]) t.dispose();
}

function clearGrad(t: Tensor): void {
  t.grad?.dispose();
  t.grad = null;
}

/** The registered cases, in the order they run. */
export const benchCases: BenchCase[] = [
  {
    name: "conv3d_fwd",
    flops: CONV3D_PASS_FLOPS,
    setup: () => convSetup(false),
    run: async (s: ConvState) => {
      const y = conv3d(s.x, s.weight, null, CONV3D_SHAPE.options);
      await runtime().sync();
      y.dispose();
    },
    teardown: convTeardown,
  },
  {
    // Forward, input gradient and weight gradient: three passes of equal cost.
    name: "conv3d_fwd_bwd",
    flops: 3 * CONV3D_PASS_FLOPS,
    setup: () => convSetup(true),
    run: async (s: ConvState) => {
      const y = conv3d(s.x, s.weight, null, CONV3D_SHAPE.options);
      backward(y, s.gy);
      await runtime().sync();
      y.dispose();
      clearGrad(s.x);
      clearGrad(s.weight);
    },
    teardown: convTeardown,
  },
  {
    // A one-element kernel, 1000 dispatches recorded and synced once.
    name: "dispatch_overhead",
    repeats: 1000,
    setup: () => [zeros([1]).keep(), zeros([1]).keep()],
    run: async ([a, b]: Tensor[]) => {
      for (let i = 0; i < 1000; i++) accumulateInto(a, b);
      await runtime().sync();
    },
    teardown: (tensors: Tensor[]) => tensors.forEach((t) => t.dispose()),
  },
  {
    // The same kernel with a readback of its output after every dispatch.
    name: "dispatch_overhead_readback",
    repeats: 20,
    setup: () => [zeros([1]).keep(), zeros([1]).keep()],
    run: async ([a, b]: Tensor[]) => {
      for (let i = 0; i < 20; i++) {
        accumulateInto(a, b);
        await runtime().read([a.binding()]);
      }
    },
    teardown: (tensors: Tensor[]) => tensors.forEach((t) => t.dispose()),
  },
];

benchCases.push(...modelCases);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs one case: `warmup` untimed runs, then the median of `runs` timed ones. */
export async function runCase(
  c: BenchCase,
  runs: number,
  warmup: number,
): Promise<BenchResult> {
  const state = await c.setup();
  await runtime().sync();
  try {
    for (let i = 0; i < warmup; i++) await c.run(state);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await c.run(state);
      times.push(performance.now() - start);
    }
    const ms = median(times) / (c.repeats ?? 1);
    const gflops = c.flops === undefined ? null : c.flops / (ms / 1000) / 1e9;
    return { name: c.name, ms, gflops };
  } finally {
    c.teardown?.(state);
  }
}

function formatTable(results: BenchResult[]): string {
  const header = ["case", "ms (median)", "GFLOP/s"];
  const rows = results.map((r) => [
    r.name,
    r.ms < 1 ? r.ms.toFixed(4) : r.ms.toFixed(1),
    r.gflops === null ? "-" : r.gflops.toFixed(2),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i].length))
  );
  const line = (cells: string[]): string => {
    const padded = cells.map((cell, i) =>
      i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])
    );
    return padded.join("  ");
  };
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}

/** Runs the cases whose name contains `filter` and prints them. */
export async function runBenchmarks(options: {
  json: boolean;
  filter?: string;
  runs: number;
  warmup: number;
}): Promise<BenchResult[]> {
  await initRuntime();
  const selected = benchCases.filter((c) =>
    !options.filter || c.name.includes(options.filter)
  );
  if (selected.length === 0) {
    const names = benchCases.map((c) => c.name).join(", ");
    throw new UsageError(
      `No benchmark case matches --filter '${options.filter}'. ` +
        `The cases are: ${names}`,
    );
  }

  const results: BenchResult[] = [];
  for (const c of selected) {
    const result = await runCase(c, options.runs, options.warmup);
    results.push(result);
    if (options.json) console.log(JSON.stringify(result));
  }

  if (!options.json) {
    const adapter = runtime().adapter;
    console.log(
      `adapter: ${adapter.description} (fallback: ${adapter.isFallbackAdapter}, ` +
        `backend: ${adapter.backend}), median of ${options.runs} runs after ` +
        `${options.warmup} warm-up runs\n`,
    );
    console.log(formatTable(results));
  }
  return results;
}

const USAGE = "Usage: tools/deno task bench [--json] [--filter TEXT] " +
  "[--runs N] [--warmup N]\n\n" +
  "Times every benchmark case (those whose name contains TEXT) and prints\n" +
  "the median of N runs after the warm-up runs (default 5 and 2).";

async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine({
    args,
    options: {
      help: { type: "boolean", short: "h" },
      json: { type: "boolean", default: false },
      filter: { type: "string" },
      runs: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
    },
  }, USAGE);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new UsageError(
      `--runs must be a positive integer, got '${values.runs}'\n\n${USAGE}`,
    );
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new UsageError(
      `--warmup must be a non-negative integer, got '${values.warmup}'`,
    );
  }
  await runBenchmarks({
    json: values.json,
    filter: values.filter,
    runs,
    warmup,
  });
  return 0;
}

if (import.meta.main) await runMain(() => main(Deno.args));
