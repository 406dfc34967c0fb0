/**
 * Losses: softmax cross-entropy over class logits, and the batch-hard
 * triplet margin loss of Hermans et al. 2017 ("In Defense of the Triplet
 * Loss for Person Re-Identification"). Both return a scalar tensor
 * (shape []).
 *
 * Labels are i32 tensors or host arrays, as in metric.ts: host arrays are
 * validated before any kernel runs, while labels on the GPU are not read
 * back, so an invalid label there makes the loss and its gradient NaN.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, Tensor, tensor } from "../tensor.ts";
import crossEntropySource from "../../shaders/ops/softmax_cross_entropy.wgsl" with {
  type: "text",
};
import crossEntropyBackwardSource from "../../shaders/ops/softmax_cross_entropy_backward.wgsl" with {
  type: "text",
};
import tripletMineSource from "../../shaders/ops/triplet_mine.wgsl" with {
  type: "text",
};
import tripletLossSource from "../../shaders/ops/triplet_loss.wgsl" with {
  type: "text",
};
import tripletBackwardSource from "../../shaders/ops/triplet_backward.wgsl" with {
  type: "text",
};
import {
  cpuLabels,
  type CpuTensor,
  cpuTensor,
  randomTensor,
} from "./cpu_tensor.ts";
import { checkHostLabels, type Labels, labelTensor } from "./metric.ts";
import { sumToShape } from "./reduce.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "./registry.ts";
import type { Rng } from "../util/rng.ts";

function checkMatrix(x: Tensor, op: string, what: string): void {
  if (!(x instanceof Tensor)) {
    throw new Error(`${op}: ${what} must be a Tensor, got ${String(x)}`);
  }
  if (x.dtype !== "f32" || x.rank !== 2 || x.shape[0] === 0) {
    throw new Error(
      `${op}: ${what} must be an f32 matrix with at least one row, got ` +
        x.describe(),
    );
  }
}

/**
 * Keeps host labels for the backward pass: the uploaded tensor is freed
 * after the forward dispatches and uploaded again when backward runs, so a
 * graph that is never run backward keeps no extra buffers alive.
 */
function labelSource(
  op: string,
  labels: Labels,
  count: number,
  numClasses?: number,
): { forward: Tensor; again: () => Tensor; release: (t: Tensor) => void } {
  const { tensor: forward, uploaded } = labelTensor(
    op,
    labels,
    count,
    numClasses,
  );
  if (!uploaded) {
    return { forward, again: () => forward, release: () => {} };
  }
  const host = Int32Array.from(labels as ArrayLike<number>);
  return {
    forward,
    again: () => tensor(host, [count], "i32", `${op}.labels`),
    release: (t) => t.dispose(),
  };
}

// ---- softmaxCrossEntropy ----

const crossEntropyLayout = new UniformLayout([
  ["rows", "u32"],
  ["classes", "u32"],
  ["scale", "f32"],
]);

export interface SoftmaxCrossEntropyOptions {
  /** "mean" over rows (default) or "sum". */
  reduction?: "mean" | "sum";
}

function rowLogSumExp(
  op: string,
  logits: Tensor,
  uniforms: Uint8Array<ArrayBuffer>,
): Tensor {
  const rows = logits.shape[0];
  const lse = empty([rows], "f32", `${op}.lse`);
  runtime().dispatch({
    op: `${op}.row_lse`,
    kernel: {
      file: "shaders/ops/softmax_cross_entropy.wgsl",
      source: crossEntropySource,
      entryPoint: "row_lse",
    },
    uniforms,
    bindings: [logits.binding(), lse.binding()],
    workgroups: Math.ceil(rows / 64),
  });
  return lse;
}

/**
 * Cross-entropy of softmax(logits [N, C]) with class labels [N], as
 * torch.nn.functional.cross_entropy, reduced to a scalar by the mean over
 * rows (default) or the sum. Host labels outside [0, C) are rejected before
 * any kernel runs; with labels on the GPU they make the loss NaN.
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Labels,
  options: SoftmaxCrossEntropyOptions = {},
): Tensor {
  const op = "softmaxCrossEntropy";
  checkMatrix(logits, op, "logits");
  const reduction = options.reduction ?? "mean";
  if (reduction !== "mean" && reduction !== "sum") {
    throw new Error(
      `${op}: reduction must be "mean" or "sum", got ${String(reduction)}`,
    );
  }
  const [rows, classes] = logits.shape;
  if (classes === 0) {
    throw new Error(`${op}: logits ${logits.describe()} have no class column`);
  }
  const scale = reduction === "mean" ? 1 / rows : 1;
  const source = labelSource(op, labels, rows, classes);
  const uniforms = crossEntropyLayout.pack({ rows, classes, scale });

  const lse = rowLogSumExp(op, logits, uniforms);
  const losses = empty([rows], "f32", `${op}.rows`);
  runtime().dispatch({
    op,
    kernel: {
      file: "shaders/ops/softmax_cross_entropy.wgsl",
      source: crossEntropySource,
    },
    uniforms,
    bindings: [
      logits.binding(),
      lse.binding(),
      source.forward.binding(),
      losses.binding(),
    ],
    workgroups: Math.ceil(rows / 64),
    shapes: `logits ${formatShape(logits.shape)}`,
  });
  const loss = sumToShape(losses, []);
  lse.dispose();
  losses.dispose();
  source.release(source.forward);

  record(op, [logits], [loss], ([gy]) => {
    const backwardLabels = source.again();
    const backwardLse = rowLogSumExp(op, logits, uniforms);
    const gx = empty(logits.shape, "f32", `${op}.grad`);
    runtime().dispatch({
      op: `${op}.backward`,
      kernel: {
        file: "shaders/ops/softmax_cross_entropy_backward.wgsl",
        source: crossEntropyBackwardSource,
      },
      uniforms,
      bindings: [
        logits.binding(),
        backwardLse.binding(),
        backwardLabels.binding(),
        gy!.binding(),
        gx.binding(),
      ],
      workgroups: Math.ceil(gx.size / 256),
    });
    backwardLse.dispose();
    source.release(backwardLabels);
    return [gx];
  });
  return loss;
}

// ---- tripletMarginLoss ----

const tripletLayout = new UniformLayout([
  ["samples", "u32"],
  ["dim", "u32"],
  ["margin", "f32"],
]);

export interface TripletMarginLossOptions {
  /** Margin alpha of the hinge (default 1.0). */
  margin?: number;
  /** Use squared Euclidean distances (default false). */
  squared?: boolean;
}

/** Squared distances below this are clamped: dist = sqrt(max(d2, 1e-12)). */
export const TRIPLET_MIN_SQUARED_DISTANCE = 1e-12;

/**
 * Batch-hard triplet margin loss (Hermans et al. 2017) of embeddings
 * [N, D] with labels [N]. For each anchor, the hardest positive is the
 * other sample of its label at the largest distance. The hardest negative
 * is the sample of another label at the smallest distance. Ties go to the
 * lowest index. Anchors without a positive or a negative are skipped, and
 * the loss is the mean of max(d_ap - d_an + margin, 0) over the others. It
 * is 0, with a zero gradient, when every anchor is skipped.
 *
 * Distances are Euclidean, d = sqrt(max(d2, 1e-12)), so the gradient at
 * d2 < 1e-12 (duplicate embeddings) is 0 rather than undefined; with
 * `squared`, d = d2. The gradient flows through the selected pairs only, and
 * at a hinge of exactly 0 it passes, as torch.clamp_min.
 */
export function tripletMarginLoss(
  embeddings: Tensor,
  labels: Labels,
  options: TripletMarginLossOptions = {},
): Tensor {
  const op = "tripletMarginLoss";
  checkMatrix(embeddings, op, "embeddings");
  const margin = options.margin ?? 1;
  if (!Number.isFinite(margin)) {
    throw new Error(`${op}: margin must be a finite number, got ${margin}`);
  }
  const squared = options.squared ?? false;
  const [samples, dim] = embeddings.shape;
  const source = labelSource(op, labels, samples);
  const uniforms = tripletLayout.pack({ samples, dim, margin });
  const constants = { SQUARED: squared ? 1 : 0 };

  const mine = (batchLabels: Tensor) => {
    const selection = empty([samples, 2], "i32", `${op}.selection`);
    const d2 = empty([samples, 2], "f32", `${op}.d2`);
    runtime().dispatch({
      op: `${op}.mine`,
      kernel: {
        file: "shaders/ops/triplet_mine.wgsl",
        source: tripletMineSource,
        constants,
      },
      uniforms,
      bindings: [
        embeddings.binding(),
        batchLabels.binding(),
        selection.binding(),
        d2.binding(),
      ],
      workgroups: Math.ceil(samples / 64),
      shapes: `embeddings ${formatShape(embeddings.shape)}`,
    });
    return { selection, d2 };
  };

  const forward = mine(source.forward);
  const loss = empty([], "f32", op);
  runtime().dispatch({
    op,
    kernel: {
      file: "shaders/ops/triplet_loss.wgsl",
      source: tripletLossSource,
      constants,
    },
    uniforms,
    bindings: [
      forward.selection.binding(),
      forward.d2.binding(),
      loss.binding(),
    ],
    workgroups: 1,
  });
  forward.selection.dispose();
  forward.d2.dispose();
  source.release(source.forward);

  record(op, [embeddings], [loss], ([gy]) => {
    // The selection is mined again rather than kept from the forward pass,
    // so a graph that is never run backward keeps no extra buffers alive.
    const backwardLabels = source.again();
    const { selection, d2 } = mine(backwardLabels);
    const gx = empty(embeddings.shape, "f32", `${op}.grad`);
    runtime().dispatch({
      op: `${op}.backward`,
      kernel: {
        file: "shaders/ops/triplet_backward.wgsl",
        source: tripletBackwardSource,
        constants,
      },
      uniforms,
      bindings: [
        embeddings.binding(),
        selection.binding(),
        d2.binding(),
        gy!.binding(),
        gx.binding(),
      ],
      workgroups: Math.ceil(gx.size / 256),
    });
    selection.dispose();
    d2.dispose();
    source.release(backwardLabels);
    return [gx];
  });
  return loss;
}

// ---- CPU reference ----

function cpuCrossEntropy(
  x: CpuTensor,
  labels: CpuTensor,
  reduction: "mean" | "sum",
): { loss: number; probabilities: Float64Array; scale: number } {
  const [rows, classes] = x.shape;
  const values = Array.from(labels.data);
  checkHostLabels("softmaxCrossEntropy", values, rows, classes);
  const scale = reduction === "mean" ? 1 / rows : 1;
  const probabilities = new Float64Array(rows * classes);
  let loss = 0;
  for (let n = 0; n < rows; n++) {
    const row = x.data.subarray(n * classes, (n + 1) * classes);
    const top = Math.max(...row);
    let total = 0;
    for (const v of row) total += Math.exp(v - top);
    const lse = top + Math.log(total);
    for (let c = 0; c < classes; c++) {
      probabilities[n * classes + c] = Math.exp(row[c] - lse);
    }
    loss += scale * (lse - row[values[n]]);
  }
  return { loss, probabilities, scale };
}

/** Distance of a squared distance, as distance_of in the triplet kernels. */
function tripletDistance(d2: number, squared: boolean): number {
  if (squared) return d2;
  return Math.sqrt(Math.max(d2, TRIPLET_MIN_SQUARED_DISTANCE));
}

/** Factor f with d dist(x_a, x_j) / d x_a = f (x_a - x_j). */
function tripletSlope(d2: number, squared: boolean): number {
  if (squared) return 2;
  if (d2 < TRIPLET_MIN_SQUARED_DISTANCE) return 0;
  return 1 / Math.sqrt(d2);
}

/** Float64 batch-hard mining with the rules of triplet_mine.wgsl. */
export function cpuTripletMining(
  x: CpuTensor,
  labels: readonly number[],
  squared: boolean,
): { positive: number; negative: number; ap: number; an: number }[] {
  const [samples, dim] = x.shape;
  const squaredDistance = (i: number, j: number) => {
    let total = 0;
    for (let d = 0; d < dim; d++) {
      total += (x.data[i * dim + d] - x.data[j * dim + d]) ** 2;
    }
    return total;
  };

  const result = [];
  for (let a = 0; a < samples; a++) {
    let positive = -1;
    let negative = -1;
    let ap = 0;
    let an = 0;
    for (let j = 0; j < samples; j++) {
      if (j === a) continue;
      const d2 = squaredDistance(a, j);
      const dist = tripletDistance(d2, squared);
      if (labels[j] === labels[a]) {
        if (positive < 0 || dist > tripletDistance(ap, squared)) {
          positive = j;
          ap = d2;
        }
      } else if (negative < 0 || dist < tripletDistance(an, squared)) {
        negative = j;
        an = d2;
      }
    }
    const valid = positive >= 0 && negative >= 0;
    result.push({
      positive: valid ? positive : -1,
      negative: valid ? negative : -1,
      ap,
      an,
    });
  }
  return result;
}

function cpuTriplet(
  x: CpuTensor,
  labels: CpuTensor,
  attrs: TripletMarginLossOptions,
  g?: CpuTensor,
): { loss: number; grad: CpuTensor } {
  const values = Array.from(labels.data);
  checkHostLabels("tripletMarginLoss", values, x.shape[0]);
  const squared = attrs.squared ?? false;
  const margin = attrs.margin ?? 1;
  const dim = x.shape[1];
  const selection = cpuTripletMining(x, values, squared);
  const count = selection.filter((s) => s.positive >= 0).length;
  const scale = (g ? g.data[0] : 1) / count;

  let total = 0;
  const grad = cpuTensor(x.shape);
  selection.forEach((s, a) => {
    if (s.positive < 0) return;
    const hinge = tripletDistance(s.ap, squared) -
      tripletDistance(s.an, squared) + margin;
    total += Math.max(hinge, 0);
    if (hinge < 0) return;

    const slopeAp = tripletSlope(s.ap, squared);
    const slopeAn = tripletSlope(s.an, squared);
    for (let d = 0; d < dim; d++) {
      const xa = x.data[a * dim + d];
      const uap = slopeAp * (xa - x.data[s.positive * dim + d]);
      const uan = slopeAn * (xa - x.data[s.negative * dim + d]);
      grad.data[a * dim + d] += scale * (uap - uan);
      grad.data[s.positive * dim + d] -= scale * uap;
      grad.data[s.negative * dim + d] += scale * uan;
    }
  });
  return { loss: count > 0 ? total / count : 0, grad };
}

// ---- registry ----

defineOp<SoftmaxCrossEntropyOptions>({
  name: "softmaxCrossEntropy",
  family: "loss",
  inputs: [{ name: "logits" }, {
    name: "labels",
    differentiable: false,
    dtype: "i32",
  }],
  forwardKernels: ["shaders/ops/softmax_cross_entropy.wgsl"],
  backwardKernels: ["shaders/ops/softmax_cross_entropy_backward.wgsl"],
  gpu: ([x, labels], attrs) => softmaxCrossEntropy(x!, labels!, attrs),
  cpu: {
    forward: ([x, labels], attrs) => {
      const { loss } = cpuCrossEntropy(x!, labels!, attrs.reduction ?? "mean");
      return [cpuTensor([], [loss])];
    },
    backward: ([x, labels], attrs, [g]) => {
      const { probabilities, scale } = cpuCrossEntropy(
        x!,
        labels!,
        attrs.reduction ?? "mean",
      );
      const classes = x!.shape[1];
      const gx = cpuTensor(x!.shape, probabilities);
      for (let k = 0; k < gx.data.length; k++) {
        const target = labels!.data[Math.floor(k / classes)] === k % classes;
        gx.data[k] = g.data[0] * scale * (gx.data[k] - (target ? 1 : 0));
      }
      return [gx, null];
    },
  },
  cases: (rng) => {
    const labelsFor = (rows: number, classes: number) =>
      cpuLabels(Array.from({ length: rows }, () => rng.int(classes)));
    return [
      {
        label: "odd sizes, mean",
        inputs: [randomTensor(rng, [5, 3], -3, 3), labelsFor(5, 3)],
        attrs: {},
      },
      {
        label: "sum",
        inputs: [randomTensor(rng, [6, 7], -3, 3), labelsFor(6, 7)],
        attrs: { reduction: "sum" },
      },
      {
        label: "batch 1",
        inputs: [randomTensor(rng, [1, 5], -3, 3), cpuLabels([4])],
        attrs: {},
      },
      {
        // exp(90) overflows f32 without the row maximum subtracted.
        label: "large logits",
        inputs: [randomTensor(rng, [4, 3], 60, 90), labelsFor(4, 3)],
        attrs: {},
      },
      {
        label: "two-pass row sum",
        inputs: [randomTensor(rng, [3000, 3], -3, 3), labelsFor(3000, 3)],
        attrs: { reduction: "sum" },
        finiteDifferences: false,
      },
    ];
  },
  tolerance: ACCUMULATING_TOLERANCE,
});

/**
 * P x K batch: `classes` clusters of `shots` embeddings around centres
 * spread by `spread`, so the hardest pairs are unique and some hinges are
 * active and some are not.
 */
function clusteredBatch(
  rng: Rng,
  classes: number,
  shots: number,
  dim: number,
  spread: number,
): { x: CpuTensor; labels: CpuTensor } {
  const centres = randomTensor(rng, [classes, dim], -spread, spread);
  const x = randomTensor(rng, [classes * shots, dim]);
  const labels: number[] = [];
  for (let n = 0; n < classes * shots; n++) {
    const c = n % classes;
    labels.push(c);
    for (let d = 0; d < dim; d++) {
      x.data[n * dim + d] += centres.data[c * dim + d];
    }
  }
  return { x, labels: cpuLabels(labels) };
}

defineOp<TripletMarginLossOptions>({
  name: "tripletMarginLoss",
  family: "loss",
  inputs: [{ name: "embeddings" }, {
    name: "labels",
    differentiable: false,
    dtype: "i32",
  }],
  forwardKernels: [
    "shaders/ops/triplet_mine.wgsl",
    "shaders/ops/triplet_loss.wgsl",
  ],
  backwardKernels: [
    "shaders/ops/triplet_mine.wgsl",
    "shaders/ops/triplet_backward.wgsl",
  ],
  gpu: ([x, labels], attrs) => tripletMarginLoss(x!, labels!, attrs),
  cpu: {
    forward: ([x, labels], attrs) => [
      cpuTensor([], [cpuTriplet(x!, labels!, attrs).loss]),
    ],
    backward: ([x, labels], attrs, [g]) => [
      cpuTriplet(x!, labels!, attrs, g).grad,
      null,
    ],
  },
  cases: (rng) => {
    const pk = clusteredBatch(rng, 3, 4, 8, 2.0);
    const squared = clusteredBatch(rng, 3, 4, 6, 1.6);
    const large = clusteredBatch(rng, 8, 6, 128, 0.76);
    const skipped = randomTensor(rng, [6, 5]);
    const duplicate = randomTensor(rng, [5, 4]);
    duplicate.data.copyWithin(4, 0, 4);
    return [
      { label: "3 classes x 4 shots", inputs: [pk.x, pk.labels], attrs: {} },
      {
        label: "squared, margin 0.5",
        inputs: [squared.x, squared.labels],
        attrs: { margin: 0.5, squared: true },
      },
      {
        label: "anchors without a positive skipped",
        inputs: [skipped, cpuLabels([0, 0, 1, 2, 2, 3])],
        attrs: { margin: 2 },
      },
      {
        label: "no valid anchor",
        inputs: [randomTensor(rng, [4, 3]), cpuLabels([1, 1, 1, 1])],
        attrs: {},
      },
      {
        // Samples 0 and 1 are equal and the only members of class 0, so
        // d_ap = sqrt(1e-12) with a zero gradient.
        label: "duplicate embeddings",
        inputs: [duplicate, cpuLabels([0, 0, 1, 1, 2])],
        attrs: {},
        finiteDifferences: false,
      },
      {
        label: "48 samples, 128-d",
        inputs: [large.x, large.labels],
        attrs: { margin: 1 },
      },
    ];
  },
  tolerance: ACCUMULATING_TOLERANCE,
});
