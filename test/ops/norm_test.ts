/**
 * Targeted batchNorm3d tests: the in-place running-statistics update after
 * one and two training steps against PyTorch, evaluation mode leaving the
 * statistics alone, a dispatch above 65535 workgroups, and input errors.
 */
import assert from "node:assert/strict";
import { backward, requiresGrad } from "../../src/autograd.ts";
import { type CpuTensor, cpuTensor } from "../../src/ops/cpu_tensor.ts";
import {
  batchNorm3d,
  cpuBatchNorm3d,
  cpuBatchNormRunningStats,
} from "../../src/ops/norm.ts";
import type { BatchNormOptions } from "../../src/ops/norm.ts";
import {
  ACCUMULATING_TOLERANCE,
  type Tolerance,
} from "../../src/ops/registry.ts";
import {
  readAll,
  scope,
  type Tensor,
  tensor,
  zeros,
} from "../../src/tensor.ts";
import { assertClose, gpuTest } from "../helpers.ts";
import { FIXTURE_DIR, toCpu } from "./torch_fixtures.ts";

/** The running update is a few f32 multiply-adds of the batch statistics. */
const RUNNING_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };
const FLOAT64_TOLERANCE: Tolerance = { atol: 1e-12, rtol: 1e-10 };

interface StoredTensor {
  shape: number[];
  data: number[];
}

interface RunningStatsEntry {
  label: string;
  attrs: BatchNormOptions;
  weight: StoredTensor;
  bias: StoredTensor;
  runningMean: StoredTensor;
  runningVar: StoredTensor;
  steps: {
    x: StoredTensor;
    runningMean: StoredTensor;
    runningVar: StoredTensor;
  }[];
}

function loadRunningStats(): RunningStatsEntry[] {
  const url = new URL("norm.json", FIXTURE_DIR);
  const body = JSON.parse(Deno.readTextFileSync(url));
  const entries = body.runningStats as RunningStatsEntry[] | undefined;
  if (!entries || entries.length === 0) {
    throw new Error(
      "test/fixtures/torch/norm.json has no runningStats entries; regenerate it with " +
        "test/fixtures/torch_norm.py",
    );
  }
  return entries;
}

function upload(t: StoredTensor): Tensor {
  return tensor(t.data, t.shape);
}

function channelInputs(channels: number): Tensor[] {
  return [
    tensor(new Array(channels).fill(1), [channels]),
    zeros([channels]),
    zeros([channels]),
    tensor(new Array(channels).fill(1), [channels]),
  ];
}

Deno.test("batchNorm3d running stats CPU reference matches PyTorch", () => {
  for (const entry of loadRunningStats()) {
    let runningMean: CpuTensor = toCpu(entry.runningMean);
    let runningVar: CpuTensor = toCpu(entry.runningVar);
    entry.steps.forEach((step, k) => {
      const next = cpuBatchNormRunningStats(
        toCpu(step.x),
        runningMean,
        runningVar,
        entry.attrs,
      );
      const what = `${entry.label}, step ${k + 1}`;
      assertClose(
        next.runningMean.data,
        step.runningMean.data,
        FLOAT64_TOLERANCE,
        `${what} mean`,
      );
      assertClose(
        next.runningVar.data,
        step.runningVar.data,
        FLOAT64_TOLERANCE,
        `${what} var`,
      );
      runningMean = next.runningMean;
      runningVar = next.runningVar;
    });
  }
});

gpuTest("batchNorm3d running stats after two steps", async () => {
  for (const entry of loadRunningStats()) {
    const weight = upload(entry.weight);
    const bias = upload(entry.bias);
    const runningMean = upload(entry.runningMean);
    const runningVar = upload(entry.runningVar);
    for (const [k, step] of entry.steps.entries()) {
      scope(() => {
        const x = upload(step.x);
        batchNorm3d(x, weight, bias, runningMean, runningVar, entry.attrs);
      });
      const [mean, variance] = await readAll([runningMean, runningVar]);
      const what = `${entry.label}, step ${k + 1}`;
      assertClose(
        mean,
        step.runningMean.data,
        RUNNING_TOLERANCE,
        `${what} running mean`,
      );
      assertClose(
        variance,
        step.runningVar.data,
        RUNNING_TOLERANCE,
        `${what} running var`,
      );
    }
    for (const t of [weight, bias, runningMean, runningVar]) t.dispose();
  }
});

gpuTest("batchNorm3d evaluation keeps running stats", async () => {
  const x = tensor(Array.from({ length: 2 * 3 * 8 }, (_, i) => Math.sin(i)), [
    2,
    3,
    2,
    2,
    2,
  ]);
  const [weight, bias, runningMean, runningVar] = channelInputs(3);
  const before = await readAll([runningMean, runningVar]);
  const y = batchNorm3d(x, weight, bias, runningMean, runningVar, {
    training: false,
  });
  const [after0, after1, output] = await readAll([runningMean, runningVar, y]);
  assert.deepEqual(after0, before[0]);
  assert.deepEqual(after1, before[1]);
  // With running mean 0, variance 1, weight 1 and bias 0, y = x / sqrt(1 + eps).
  const expected = Array.from(
    { length: x.size },
    (_, i) => Math.sin(i) / Math.sqrt(1 + 1e-5),
  );
  assertClose(output, expected, ACCUMULATING_TOLERANCE, "evaluation output");
  for (const t of [x, y, weight, bias, runningMean, runningVar]) t.dispose();
});

gpuTest("batchNorm3d above 65535 workgroups", async () => {
  // 16.8 M elements: the forward and input-gradient kernels fold their grid.
  const shape = [2, 2, 16, 512, 513];
  const size = shape.reduce((a, b) => a * b, 1);
  const xHost = new Float32Array(size);
  const gyHost = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    xHost[i] = ((i * 7919) % 1009) / 1009 - 0.5;
    gyHost[i] = ((i * 104729) % 997) / 997 - 0.5;
  }
  const attrs = { training: true, momentum: 0.1, eps: 1e-5 };
  const x = requiresGrad(tensor(xHost, shape));
  const [weight, bias, runningMean, runningVar] = channelInputs(2);
  const y = batchNorm3d(x, weight, bias, runningMean, runningVar, attrs);
  const gy = tensor(gyHost, shape);
  backward(y, gy);
  const [xValues, yValues, gxValues] = await readAll([x, y, x.grad!]);
  for (const t of [x, y, gy, x.grad!, weight, bias, runningMean, runningVar]) {
    t.dispose();
  }
  const inputs = [
    cpuTensor(shape, xValues),
    cpuTensor([2], [1, 1]),
    cpuTensor([2], [0, 0]),
    cpuTensor([2], [0, 0]),
    cpuTensor([2], [1, 1]),
  ];
  assertClose(
    yValues,
    cpuBatchNorm3d(inputs, attrs).data,
    ACCUMULATING_TOLERANCE,
    "folded output",
  );
  // Input gradient with weight 1: (gy - mean(gy) - xhat * mean(gy * xhat)) * invstd.
  const expected = cpuInputGradient(inputs[0], gyHost, attrs.eps);
  assertClose(
    gxValues,
    expected,
    ACCUMULATING_TOLERANCE,
    "folded input gradient",
  );
});

/** Training-mode input gradient of batch norm with weight 1, per channel. */
function cpuInputGradient(
  x: CpuTensor,
  gy: Float32Array,
  eps: number,
): Float64Array {
  const [n, channels] = x.shape;
  const spatial = x.data.length / (n * channels);
  const count = n * spatial;
  const gx = new Float64Array(x.data.length);
  for (let c = 0; c < channels; c++) {
    const offsets: number[] = [];
    for (let b = 0; b < n; b++) offsets.push((b * channels + c) * spatial);
    let mean = 0;
    for (const o of offsets) {
      for (let s = 0; s < spatial; s++) mean += x.data[o + s];
    }
    mean /= count;
    let variance = 0;
    for (const o of offsets) {
      for (let s = 0; s < spatial; s++) {
        variance += (x.data[o + s] - mean) ** 2;
      }
    }
    const invstd = 1 / Math.sqrt(variance / count + eps);
    let sumGy = 0;
    let sumGyXhat = 0;
    for (const o of offsets) {
      for (let s = 0; s < spatial; s++) {
        sumGy += gy[o + s];
        sumGyXhat += gy[o + s] * (x.data[o + s] - mean) * invstd;
      }
    }
    for (const o of offsets) {
      for (let s = 0; s < spatial; s++) {
        const xhat = (x.data[o + s] - mean) * invstd;
        gx[o + s] = invstd *
          (gy[o + s] - sumGy / count - xhat * sumGyXhat / count);
      }
    }
  }
  return gx;
}

gpuTest("batchNorm3d rejects invalid inputs", () => {
  scope(() => {
    const x = zeros([2, 3, 2, 2, 2]);
    const [weight, bias, runningMean, runningVar] = channelInputs(3);
    const four = zeros([4]);
    const training = { training: true };
    assert.throws(
      () =>
        batchNorm3d(
          zeros([2, 3, 4]),
          weight,
          bias,
          runningMean,
          runningVar,
          training,
        ),
      /rank 5 \[N, C, D, H, W\] or rank 2 \[N, C\], got .*\[2,3,4\]/,
    );
    assert.throws(
      () => batchNorm3d(x, four, bias, runningMean, runningVar, training),
      /weight is f32\[4\], but x \[2,3,2,2,2\] has 3 channels; expected f32\[3\]/,
    );
    assert.throws(
      () => batchNorm3d(x, weight, four, runningMean, runningVar, training),
      /bias is f32\[4\], but x \[2,3,2,2,2\] has 3 channels/,
    );
    assert.throws(
      () => batchNorm3d(x, weight, bias, four, runningVar, training),
      /runningMean is f32\[4\], but x \[2,3,2,2,2\] has 3 channels/,
    );
    assert.throws(
      () => batchNorm3d(x, weight, bias, runningMean, zeros([3, 1]), training),
      /runningVar is f32\[3,1\], but x \[2,3,2,2,2\] has 3 channels/,
    );
    assert.throws(
      () =>
        batchNorm3d(
          zeros([1, 3, 1, 1, 1]),
          weight,
          bias,
          runningMean,
          runningVar,
          training,
        ),
      /more than one value per channel, got x \[1,3,1,1,1\]/,
    );
    assert.throws(
      () =>
        batchNorm3d(x, weight, bias, runningMean, runningVar, {
          training: true,
          momentum: 2,
        }),
      /momentum must be in \[0, 1\], got 2/,
    );
    assert.throws(
      () =>
        batchNorm3d(x, weight, bias, runningMean, runningVar, {
          training: true,
          eps: 0,
        }),
      /eps must be a positive number, got 0/,
    );
    assert.throws(
      () =>
        batchNorm3d(
          x,
          weight,
          bias,
          requiresGrad(zeros([3])),
          runningVar,
          training,
        ),
      /runningMean .* requires a gradient/,
    );
  });
});
