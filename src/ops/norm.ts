/**
 * Batch normalisation over N, D, H, W for each channel of an NCDHW tensor (or
 * over N for an [N, C] tensor), as torch.nn.functional.batch_norm. Training
 * mode uses the batch statistics and updates the running statistics in
 * place. Evaluation mode uses the running statistics. Both modes have the
 * gradients of x, weight and bias. The reductions run in two passes
 * (per-chunk Welford statistics, then a per-channel merge) without float
 * atomics.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, Tensor } from "../tensor.ts";
import type { Rng } from "../util/rng.ts";
import partialStatsSource from "../../shaders/ops/batch_norm_partial_stats.wgsl" with {
  type: "text",
};
import statsSource from "../../shaders/ops/batch_norm_stats.wgsl" with {
  type: "text",
};
import evalStatsSource from "../../shaders/ops/batch_norm_eval_stats.wgsl" with {
  type: "text",
};
import forwardSource from "../../shaders/ops/batch_norm_forward.wgsl" with {
  type: "text",
};
import backwardReduceSource from "../../shaders/ops/batch_norm_backward_reduce.wgsl" with {
  type: "text",
};
import backwardParamsSource from "../../shaders/ops/batch_norm_backward_params.wgsl" with {
  type: "text",
};
import backwardInputSource from "../../shaders/ops/batch_norm_backward_input.wgsl" with {
  type: "text",
};
import { type CpuTensor, cpuTensor, randomTensor } from "./cpu_tensor.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "./registry.ts";

export interface BatchNormOptions {
  /**
   * True: normalise with the batch statistics and update the running
   * statistics in place. False: normalise with the running statistics.
   */
  training: boolean;
  /**
   * Weight of the batch statistic in the running update, PyTorch's
   * convention: running = (1 - momentum) * running + momentum * batch
   * (default 0.1).
   */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
}

/** Sizes of x seen as [N, C, spatial] with spatial = D * H * W (1 for [N, C]). */
interface ChannelLayout {
  channels: number;
  spatial: number;
  /** Elements per channel, N * spatial. */
  count: number;
}

/** Per-channel batch mean and 1 / sqrt(variance + eps), C entries each. */
interface Statistics {
  mean: Tensor;
  invstd: Tensor;
}

const DEFAULT_MOMENTUM = 0.1;
const DEFAULT_EPS = 1e-5;

const reductionLayout = new UniformLayout([
  ["channels", "u32"],
  ["spatial", "u32"],
  ["count", "u32"],
  ["chunks", "u32"],
]);
const statsLayout = new UniformLayout([
  ["channels", "u32"],
  ["chunks", "u32"],
  ["count", "u32"],
  ["eps", "f32"],
  ["momentum", "f32"],
]);
const evalStatsLayout = new UniformLayout([["channels", "u32"], [
  "eps",
  "f32",
]]);
const normalizeLayout = new UniformLayout([
  ["n", "u32"],
  ["channels", "u32"],
  ["spatial", "u32"],
]);
const paramsLayout = new UniformLayout([["channels", "u32"], [
  "chunks",
  "u32",
]]);
const inputGradLayout = new UniformLayout([
  ["n", "u32"],
  ["channels", "u32"],
  ["spatial", "u32"],
  ["batch_scale", "f32"],
]);

const KERNELS = {
  partialStats: "shaders/ops/batch_norm_partial_stats.wgsl",
  stats: "shaders/ops/batch_norm_stats.wgsl",
  evalStats: "shaders/ops/batch_norm_eval_stats.wgsl",
  forward: "shaders/ops/batch_norm_forward.wgsl",
  backwardReduce: "shaders/ops/batch_norm_backward_reduce.wgsl",
  backwardParams: "shaders/ops/batch_norm_backward_params.wgsl",
  backwardInput: "shaders/ops/batch_norm_backward_input.wgsl",
} as const;

/**
 * Strided chunks per channel for the first reduction pass: a multiple of the
 * workgroup size 64, so that one workgroup reads consecutive elements of one
 * channel, with about 256 elements per chunk and at most 1024 chunks.
 */
function chunksFor(count: number): number {
  return 64 * Math.min(16, Math.max(1, Math.ceil(count / (64 * 256))));
}

function resolveOptions(options: BatchNormOptions): Required<BatchNormOptions> {
  if (
    options === null || typeof options !== "object" ||
    typeof options.training !== "boolean"
  ) {
    throw new Error(
      "batchNorm3d: options.training must be true or false, got " +
        `${JSON.stringify(options?.training)}`,
    );
  }
  const momentum = options.momentum ?? DEFAULT_MOMENTUM;
  const eps = options.eps ?? DEFAULT_EPS;
  if (!Number.isFinite(momentum) || momentum < 0 || momentum > 1) {
    throw new Error(`batchNorm3d: momentum must be in [0, 1], got ${momentum}`);
  }
  if (!Number.isFinite(eps) || eps <= 0) {
    throw new Error(`batchNorm3d: eps must be a positive number, got ${eps}`);
  }
  return { training: options.training, momentum, eps };
}

/** Checks ranks and per-channel shapes and returns x's channel layout. */
function checkBatchNorm(
  x: Tensor,
  parameters: Record<"weight" | "bias" | "runningMean" | "runningVar", Tensor>,
  training: boolean,
): ChannelLayout {
  if (!(x instanceof Tensor)) {
    throw new Error(`batchNorm3d expects x to be a Tensor, got ${String(x)}`);
  }
  if (x.dtype !== "f32") {
    throw new Error(`batchNorm3d expects an f32 x, got ${x.describe()}`);
  }
  if (x.rank !== 5 && x.rank !== 2) {
    throw new Error(
      `batchNorm3d expects x of rank 5 [N, C, D, H, W] or rank 2 [N, C], got ${x.describe()}`,
    );
  }
  const channels = x.shape[1];
  const spatial = x.rank === 5 ? x.shape[2] * x.shape[3] * x.shape[4] : 1;
  const count = x.shape[0] * spatial;
  for (const [name, t] of Object.entries(parameters)) {
    if (!(t instanceof Tensor)) {
      throw new Error(
        `batchNorm3d expects ${name} to be a Tensor, got ${String(t)}`,
      );
    }
    if (t.dtype !== "f32" || t.rank !== 1 || t.shape[0] !== channels) {
      const actual = `${t.dtype}${formatShape(t.shape)}`;
      throw new Error(
        `batchNorm3d: ${name} is ${actual}, but x ${formatShape(x.shape)} ` +
          `has ${channels} channels; expected f32[${channels}]`,
      );
    }
  }
  for (const name of ["runningMean", "runningVar"] as const) {
    const statistic = parameters[name];
    if (statistic.requiresGrad) {
      throw new Error(
        `batchNorm3d: ${name} ${statistic.describe()} requires a gradient, ` +
          "but running statistics are state, not parameters; register them " +
          "as module buffers",
      );
    }
  }
  if (training && count <= 1) {
    throw new Error(
      `batchNorm3d in training mode needs more than one value per channel, got x ` +
        `${formatShape(x.shape)}; use a larger batch or evaluation mode`,
    );
  }
  return { channels, spatial, count };
}

/**
 * Computes the batch statistics of x in two passes. With `running`, the
 * second pass also updates the running statistics in place.
 */
function batchStatistics(
  op: string,
  x: Tensor,
  layout: ChannelLayout,
  eps: number,
  running: { mean: Tensor; variance: Tensor; momentum: number } | null,
): Statistics {
  const rt = runtime();
  const chunks = chunksFor(layout.count);
  const partials = empty(
    [layout.channels * chunks * 3],
    "f32",
    `${op}.partials`,
  );
  rt.dispatch({
    op: `${op}.partial_stats`,
    kernel: { file: KERNELS.partialStats, source: partialStatsSource },
    uniforms: reductionLayout.pack({ ...layout, chunks }),
    bindings: [x.binding(), partials.binding()],
    workgroups: Math.ceil((layout.channels * chunks) / 64),
    shapes: `x ${formatShape(x.shape)}`,
  });
  const mean = empty([layout.channels], "f32", `${op}.mean`);
  const invstd = empty([layout.channels], "f32", `${op}.invstd`);
  const bindings = [partials.binding(), mean.binding(), invstd.binding()];
  if (running) {
    bindings.push(running.mean.binding(), running.variance.binding());
  }
  rt.dispatch({
    op: `${op}.stats`,
    kernel: {
      file: KERNELS.stats,
      source: statsSource,
      defines: { UPDATE_RUNNING: running !== null },
    },
    uniforms: statsLayout.pack({
      channels: layout.channels,
      chunks,
      count: layout.count,
      eps,
      momentum: running?.momentum ?? 0,
    }),
    bindings,
    workgroups: Math.ceil(layout.channels / 64),
  });
  partials.dispose();
  return { mean, invstd };
}

function evalStatistics(
  op: string,
  runningMean: Tensor,
  runningVar: Tensor,
  eps: number,
): Statistics {
  const channels = runningMean.size;
  const mean = empty([channels], "f32", `${op}.mean`);
  const invstd = empty([channels], "f32", `${op}.invstd`);
  runtime().dispatch({
    op: `${op}.eval_stats`,
    kernel: { file: KERNELS.evalStats, source: evalStatsSource },
    uniforms: evalStatsLayout.pack({ channels, eps }),
    bindings: [
      runningMean.binding(),
      runningVar.binding(),
      mean.binding(),
      invstd.binding(),
    ],
    workgroups: Math.ceil(channels / 64),
  });
  return { mean, invstd };
}

/**
 * Batch normalisation of x [N, C, D, H, W] (or [N, C]) with per-channel
 * weight, bias and running statistics of shape [C], as PyTorch's
 * `F.batch_norm(x, runningMean, runningVar, weight, bias, training,
 * momentum, eps)`.
 *
 * In training mode x is normalised with the batch mean and the biased batch
 * variance over N, D, H, W, and `runningMean` and `runningVar` are updated
 * in place on the GPU, the variance with the unbiased batch variance. In
 * evaluation mode x is normalised with the running statistics, which are
 * left unchanged. Gradients flow to x, weight and bias.
 *
 * @example
 * ```ts
 * const y = batchNorm3d(x, gamma, beta, runningMean, runningVar, {
 *   training: true,
 *   momentum: 0.01,
 *   eps: 1e-3,
 * });
 * ```
 */
export function batchNorm3d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  options: BatchNormOptions,
): Tensor {
  const { training, momentum, eps } = resolveOptions(options);
  const layout = checkBatchNorm(
    x,
    { weight, bias, runningMean, runningVar },
    training,
  );
  const op = "batchNorm3d";
  const stats = training
    ? batchStatistics(op, x, layout, eps, {
      mean: runningMean,
      variance: runningVar,
      momentum,
    })
    : evalStatistics(op, runningMean, runningVar, eps);
  const y = empty(x.shape, "f32", op);
  runtime().dispatch({
    op: `${op}.forward`,
    kernel: { file: KERNELS.forward, source: forwardSource },
    uniforms: normalizeLayout.pack({
      n: x.size,
      channels: layout.channels,
      spatial: layout.spatial,
    }),
    bindings: [
      x.binding(),
      stats.mean.binding(),
      stats.invstd.binding(),
      weight.binding(),
      bias.binding(),
      y.binding(),
    ],
    workgroups: Math.ceil(x.size / 256),
    shapes: `x ${formatShape(x.shape)}`,
  });
  // The statistics are recomputed in backward rather than saved, so no
  // tensor outlives this call whatever scope the caller closes.
  stats.mean.dispose();
  stats.invstd.dispose();

  record(op, [x, weight, bias, runningMean, runningVar], [y], ([gy]) => {
    // NOTE: in evaluation mode the backward reads the running statistics
    // when it runs. A training-mode call that updates the same statistics
    // between this forward and its backward therefore changes the gradient.
    const saved = training
      ? batchStatistics(op, x, layout, eps, null)
      : evalStatistics(op, runningMean, runningVar, eps);
    const grads = batchNormBackward(
      op,
      x,
      gy!,
      weight,
      saved,
      layout,
      training,
    );
    saved.mean.dispose();
    saved.invstd.dispose();
    return [
      grads.x,
      keepIfRequired(grads.weight, weight),
      keepIfRequired(grads.bias, bias),
      null,
      null,
    ];
  });
  return y;
}

/** Returns `grad` when `input` requires a gradient, else disposes it. */
function keepIfRequired(grad: Tensor, input: Tensor): Tensor | null {
  if (input.requiresGrad) return grad;
  grad.dispose();
  return null;
}

/**
 * Gradients of x (when it requires one), weight and bias. The weight and
 * bias sums are computed even when only x needs a gradient, because the
 * training-mode input gradient uses them.
 */
function batchNormBackward(
  op: string,
  x: Tensor,
  gy: Tensor,
  weight: Tensor,
  stats: Statistics,
  layout: ChannelLayout,
  training: boolean,
): { x: Tensor | null; weight: Tensor; bias: Tensor } {
  const rt = runtime();
  const chunks = chunksFor(layout.count);
  const partials = empty(
    [layout.channels * chunks * 2],
    "f32",
    `${op}.grad_partials`,
  );
  rt.dispatch({
    op: `${op}.backward_reduce`,
    kernel: { file: KERNELS.backwardReduce, source: backwardReduceSource },
    uniforms: reductionLayout.pack({ ...layout, chunks }),
    bindings: [
      x.binding(),
      gy.binding(),
      stats.mean.binding(),
      partials.binding(),
    ],
    workgroups: Math.ceil((layout.channels * chunks) / 64),
    shapes: `x ${formatShape(x.shape)}`,
  });
  const gradWeight = empty([layout.channels], "f32", `${op}.grad_weight`);
  const gradBias = empty([layout.channels], "f32", `${op}.grad_bias`);
  rt.dispatch({
    op: `${op}.backward_params`,
    kernel: { file: KERNELS.backwardParams, source: backwardParamsSource },
    uniforms: paramsLayout.pack({ channels: layout.channels, chunks }),
    bindings: [
      partials.binding(),
      stats.invstd.binding(),
      gradWeight.binding(),
      gradBias.binding(),
    ],
    workgroups: Math.ceil(layout.channels / 64),
  });
  partials.dispose();

  let gradX: Tensor | null = null;
  if (x.requiresGrad) {
    gradX = empty(x.shape, "f32", `${op}.grad_x`);
    rt.dispatch({
      op: `${op}.backward_input`,
      kernel: { file: KERNELS.backwardInput, source: backwardInputSource },
      uniforms: inputGradLayout.pack({
        n: x.size,
        channels: layout.channels,
        spatial: layout.spatial,
        batch_scale: training ? 1 / layout.count : 0,
      }),
      bindings: [
        x.binding(),
        gy.binding(),
        stats.mean.binding(),
        stats.invstd.binding(),
        weight.binding(),
        gradWeight.binding(),
        gradBias.binding(),
        gradX.binding(),
      ],
      workgroups: Math.ceil(x.size / 256),
      shapes: `x ${formatShape(x.shape)}`,
    });
  }
  return { x: gradX, weight: gradWeight, bias: gradBias };
}

// ---- CPU reference (float64) ----

function cpuLayout(x: CpuTensor): ChannelLayout {
  const channels = x.shape[1];
  const spatial = x.shape.length === 5
    ? x.shape[2] * x.shape[3] * x.shape[4]
    : 1;
  return { channels, spatial, count: x.shape[0] * spatial };
}

/** Calls `visit(i, c)` for every flat index i of x in channel c. */
function forEachElement(
  x: CpuTensor,
  layout: ChannelLayout,
  visit: (i: number, c: number) => void,
): void {
  for (let i = 0; i < x.data.length; i++) {
    visit(i, Math.floor(i / layout.spatial) % layout.channels);
  }
}

/** Batch mean and biased variance per channel, mean first, then squared deviations. */
function cpuBatchMoments(
  x: CpuTensor,
  layout: ChannelLayout,
): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(layout.channels);
  const variance = new Float64Array(layout.channels);
  forEachElement(x, layout, (i, c) => (mean[c] += x.data[i]));
  for (let c = 0; c < layout.channels; c++) mean[c] /= layout.count;
  forEachElement(
    x,
    layout,
    (i, c) => (variance[c] += (x.data[i] - mean[c]) ** 2),
  );
  for (let c = 0; c < layout.channels; c++) variance[c] /= layout.count;
  return { mean, variance };
}

function cpuStatistics(
  x: CpuTensor,
  runningMean: CpuTensor,
  runningVar: CpuTensor,
  options: Required<BatchNormOptions>,
): { mean: Float64Array; invstd: Float64Array } {
  const layout = cpuLayout(x);
  const moments = options.training
    ? cpuBatchMoments(x, layout)
    : { mean: runningMean.data, variance: runningVar.data };
  const invstd = moments.variance.map((v) => 1 / Math.sqrt(v + options.eps));
  return { mean: moments.mean, invstd };
}

/** Float64 reference of the batchNorm3d output. */
export function cpuBatchNorm3d(
  inputs: (CpuTensor | null)[],
  attrs: BatchNormOptions,
): CpuTensor {
  const [x, weight, bias, runningMean, runningVar] = inputs as CpuTensor[];
  const options = resolveOptions(attrs);
  const layout = cpuLayout(x);
  const { mean, invstd } = cpuStatistics(x, runningMean, runningVar, options);
  const y = cpuTensor(x.shape);
  forEachElement(x, layout, (i, c) => {
    y.data[i] = (x.data[i] - mean[c]) * invstd[c] * weight.data[c] +
      bias.data[c];
  });
  return y;
}

/** Float64 reference of the batchNorm3d gradients of x, weight and bias. */
function cpuBatchNorm3dBackward(
  inputs: (CpuTensor | null)[],
  attrs: BatchNormOptions,
  gy: CpuTensor,
): (CpuTensor | null)[] {
  const [x, weight, , runningMean, runningVar] = inputs as CpuTensor[];
  const options = resolveOptions(attrs);
  const layout = cpuLayout(x);
  const { mean, invstd } = cpuStatistics(x, runningMean, runningVar, options);
  const gradWeight = cpuTensor([layout.channels]);
  const gradBias = cpuTensor([layout.channels]);
  const xhat = (i: number, c: number) => (x.data[i] - mean[c]) * invstd[c];
  forEachElement(x, layout, (i, c) => {
    gradBias.data[c] += gy.data[i];
    gradWeight.data[c] += gy.data[i] * xhat(i, c);
  });
  const gradX = cpuTensor(x.shape);
  const batchScale = options.training ? 1 / layout.count : 0;
  forEachElement(x, layout, (i, c) => {
    const correction = (gradBias.data[c] + xhat(i, c) * gradWeight.data[c]) *
      batchScale;
    gradX.data[i] = weight.data[c] * invstd[c] * (gy.data[i] - correction);
  });
  return [gradX, gradWeight, gradBias, null, null];
}

/**
 * Float64 reference of the running statistics after one training-mode call:
 * (1 - momentum) * running + momentum * batch, with the unbiased batch
 * variance. Evaluation mode returns them unchanged.
 */
export function cpuBatchNormRunningStats(
  x: CpuTensor,
  runningMean: CpuTensor,
  runningVar: CpuTensor,
  attrs: BatchNormOptions,
): { runningMean: CpuTensor; runningVar: CpuTensor } {
  const options = resolveOptions(attrs);
  if (!options.training) {
    return {
      runningMean: cpuTensor(runningMean.shape, runningMean.data),
      runningVar: cpuTensor(runningVar.shape, runningVar.data),
    };
  }
  const layout = cpuLayout(x);
  const { mean, variance } = cpuBatchMoments(x, layout);
  const unbiased = layout.count / (layout.count - 1);
  const keep = 1 - options.momentum;
  const nextMean = cpuTensor([layout.channels]);
  const nextVar = cpuTensor([layout.channels]);
  for (let c = 0; c < layout.channels; c++) {
    nextMean.data[c] = keep * runningMean.data[c] + options.momentum * mean[c];
    nextVar.data[c] = keep * runningVar.data[c] +
      options.momentum * variance[c] * unbiased;
  }
  return { runningMean: nextMean, runningVar: nextVar };
}

// ---- registry ----

/** Inputs x, weight, bias, runningMean, runningVar for x of `shape`. */
function batchNormInputs(
  rng: Rng,
  shape: number[],
  low = -1,
  high = 1,
): CpuTensor[] {
  const channels = shape[1];
  return [
    randomTensor(rng, shape, low, high),
    randomTensor(rng, [channels], 0.5, 1.5),
    randomTensor(rng, [channels], -0.5, 0.5),
    randomTensor(rng, [channels], -0.5, 0.5),
    randomTensor(rng, [channels], 0.5, 2),
  ];
}

defineOp<BatchNormOptions>({
  name: "batchNorm3d",
  family: "norm",
  inputs: [
    { name: "x" },
    { name: "weight" },
    { name: "bias" },
    { name: "runningMean", differentiable: false },
    { name: "runningVar", differentiable: false },
  ],
  forwardKernels: [
    KERNELS.partialStats,
    KERNELS.stats,
    KERNELS.evalStats,
    KERNELS.forward,
  ],
  backwardKernels: [
    KERNELS.partialStats,
    KERNELS.stats,
    KERNELS.evalStats,
    KERNELS.backwardReduce,
    KERNELS.backwardParams,
    KERNELS.backwardInput,
  ],
  gpu: ([x, weight, bias, runningMean, runningVar], attrs) =>
    batchNorm3d(x!, weight!, bias!, runningMean!, runningVar!, attrs),
  cpu: {
    forward: (inputs, attrs) => [cpuBatchNorm3d(inputs, attrs)],
    backward: (inputs, attrs, [gy]) =>
      cpuBatchNorm3dBackward(inputs, attrs, gy),
  },
  cases: (rng) => [
    {
      label: "training, C = 3",
      inputs: batchNormInputs(rng, [2, 3, 2, 3, 5]),
      attrs: { training: true, momentum: 0.1, eps: 1e-5 },
    },
    {
      label: "training, batch 1, C = 5",
      inputs: batchNormInputs(rng, [1, 5, 3, 2, 3]),
      attrs: { training: true, momentum: 0.1, eps: 1e-5 },
    },
    {
      label: "training, I3D eps 1e-3 and momentum 0.01",
      inputs: batchNormInputs(rng, [3, 5, 1, 3, 3]),
      attrs: { training: true, momentum: 0.01, eps: 1e-3 },
    },
    {
      label: "training, 128 chunks, values far from 0",
      inputs: batchNormInputs(rng, [2, 3, 4, 41, 51], 9, 11),
      attrs: { training: true, momentum: 0.1, eps: 1e-5 },
    },
    {
      label: "evaluation, C = 3",
      inputs: batchNormInputs(rng, [2, 3, 3, 2, 5]),
      attrs: { training: false, momentum: 0.1, eps: 1e-5 },
    },
    {
      label: "training, [N, C]",
      inputs: batchNormInputs(rng, [7, 5]),
      attrs: { training: true, momentum: 0.1, eps: 1e-5 },
    },
    {
      label: "evaluation, [N, C]",
      inputs: batchNormInputs(rng, [4, 3]),
      attrs: { training: false, momentum: 0.01, eps: 1e-3 },
    },
  ],
  tolerance: ACCUMULATING_TOLERANCE,
});
