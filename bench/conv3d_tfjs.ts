/**
 * TensorFlow.js 4.22 with its WebGPU backend on the same adapter and the
 * same conv3d shape as bench/run.ts: input 1x16x10x64x64 (NDHWC in
 * TensorFlow.js), 32 output channels, 3x3x3 kernel, SAME padding (padding 1
 * on every side for this kernel), no bias.
 *
 *   deno run -A bench/conv3d_tfjs.ts [--runs 5] [--warmup 2]
 *
 * Prints one JSON line per case, {"name", "ms", "gflops"}, like
 * `deno task bench --json`: conv3d_fwd (forward) and conv3d_fwd_bwd
 * (forward, input gradient and weight gradient), each the median of several
 * runs after warm-up runs. A timed run ends when the queue has finished the
 * submitted work, as in bench/run.ts.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";

const X_SHAPE: [number, number, number, number, number] = [1, 10, 64, 64, 16];
const FILTER_SHAPE: [number, number, number, number, number] = [
  3,
  3,
  3,
  16,
  32,
];
/** 2 * Cout * output positions * Cin * 27; the output size equals the input size. */
const PASS_FLOPS = 2 * 32 * 10 * 64 * 64 * 16 * 27;

/** The methods of tfjs-backend-webgpu 4.22's WebGPUBackend that `finish` uses. */
interface WebGpuBackend {
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  queue: GPUQueue;
}

/**
 * Submits what TensorFlow.js has recorded and waits until the GPU has run
 * it: the steps of the backend's own readback, without the copy.
 */
async function finish(): Promise<void> {
  const backend = tf.backend() as unknown as WebGpuBackend;
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.queue.onSubmittedWorkDone();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function medianMs(
  run: () => Promise<void>,
  runs: number,
  warmup: number,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
  },
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);
if (
  !Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0
) {
  throw new Error(
    `--runs must be a positive integer and --warmup a non-negative one, ` +
      `got '${values.runs}' and '${values.warmup}'`,
  );
}

if (!(await tf.setBackend("webgpu"))) {
  throw new Error(
    "TensorFlow.js could not initialise its WebGPU backend (no adapter?)",
  );
}
await tf.ready();

const x = tf.randomUniform(X_SHAPE, -1, 1);
const filter = tf.randomUniform(FILTER_SHAPE, -1, 1);
const dy = tf.randomUniform([1, 10, 64, 64, 32], -1, 1);
const convolve = (input: tf.Tensor, kernel: tf.Tensor) =>
  tf.conv3d(input as tf.Tensor5D, kernel as tf.Tensor5D, 1, "same");
const gradients = tf.grads(convolve);

const cases: [string, number, () => Promise<void>][] = [
  ["conv3d_fwd", PASS_FLOPS, async () => {
    const y = convolve(x, filter);
    await finish();
    y.dispose();
  }],
  ["conv3d_fwd_bwd", 3 * PASS_FLOPS, async () => {
    const grads = tf.tidy(() => gradients([x, filter], dy));
    await finish();
    tf.dispose(grads);
  }],
];

for (const [name, flops, run] of cases) {
  const ms = await medianMs(run, runs, warmup);
  console.log(JSON.stringify({ name, ms, gflops: flops / (ms / 1000) / 1e9 }));
}
