/**
 * Embedding geometry for metric learning: row-wise L2 normalisation, the
 * cosine similarity of queries to prototypes, and class prototypes (the
 * class means of prototypical networks, Snell et al. 2017).
 *
 * Class labels are i32 tensors or host arrays. Host arrays are validated
 * before any kernel runs (range, and for prototypes that every class has a
 * sample) and then uploaded. Labels already on the GPU are not read back for
 * validation, so the kernels turn an invalid label into NaN outputs rather
 * than a wrong but finite value.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, Tensor, tensor } from "../tensor.ts";
import l2NormalizeSource from "../../shaders/ops/l2_normalize.wgsl" with {
  type: "text",
};
import l2NormalizeBackwardSource from "../../shaders/ops/l2_normalize_backward.wgsl" with {
  type: "text",
};
import cosineSource from "../../shaders/ops/cosine.wgsl" with { type: "text" };
import cosineBackwardSource from "../../shaders/ops/cosine_backward.wgsl" with {
  type: "text",
};
import prototypesSource from "../../shaders/ops/prototypes.wgsl" with {
  type: "text",
};
import prototypesBackwardSource from "../../shaders/ops/prototypes_backward.wgsl" with {
  type: "text",
};
import {
  cpuLabels,
  type CpuTensor,
  cpuTensor,
  randomTensor,
} from "./cpu_tensor.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "./registry.ts";
import type { Rng } from "../util/rng.ts";

// ---- labels ----

/** Class labels: an i32 tensor on the GPU, or host integers. */
export type Labels = Tensor | ArrayLike<number>;

/**
 * Checks host labels: `count` integers, each in [0, numClasses) when
 * `numClasses` is given, otherwise within the i32 range.
 */
export function checkHostLabels(
  op: string,
  labels: ArrayLike<number>,
  count: number,
  numClasses?: number,
): void {
  if (labels.length !== count) {
    throw new Error(
      `${op}: got ${labels.length} labels for ${count} samples; pass one ` +
        "label per row",
    );
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    const inRange = numClasses === undefined
      ? label >= -0x80000000 && label <= 0x7fffffff
      : label >= 0 && label < numClasses;
    if (!Number.isInteger(label) || !inRange) {
      const range = numClasses === undefined
        ? "an i32 integer"
        : `a class index in [0, ${numClasses})`;
      throw new Error(
        `${op}: label ${label} at index ${i} is invalid; each label must be ` +
          range,
      );
    }
  }
}

/** Throws naming the first class without a sample. */
export function checkEveryClassPresent(
  op: string,
  labels: ArrayLike<number>,
  numClasses: number,
): void {
  const present = new Set(Array.from(labels));
  for (let c = 0; c < numClasses; c++) {
    if (!present.has(c)) {
      throw new Error(
        `${op}: class ${c} has no sample among the ${labels.length} labels; ` +
          `a support set must contain at least one sample of every class ` +
          `0..${numClasses - 1}`,
      );
    }
  }
}

/**
 * Returns labels as an i32 [count] tensor. Host labels are validated with
 * `checkHostLabels` (and `everyClass`) and uploaded. `uploaded` is true when
 * the caller owns the new tensor.
 */
export function labelTensor(
  op: string,
  labels: Labels,
  count: number,
  numClasses?: number,
  everyClass = false,
): { tensor: Tensor; uploaded: boolean } {
  if (labels instanceof Tensor) {
    if (labels.dtype !== "i32" || labels.rank !== 1 || labels.size !== count) {
      throw new Error(
        `${op}: labels ${labels.describe()} must be an i32 tensor of shape ` +
          `[${count}]`,
      );
    }
    return { tensor: labels, uploaded: false };
  }
  checkHostLabels(op, labels, count, numClasses);
  if (everyClass && numClasses !== undefined) {
    checkEveryClassPresent(op, labels, numClasses);
  }
  return {
    tensor: tensor(labels, [count], "i32", `${op}.labels`),
    uploaded: true,
  };
}

/** Host view of CPU reference labels. */
function labelValues(labels: CpuTensor): number[] {
  return Array.from(labels.data);
}

function checkEmbeddings(x: Tensor, op: string, what: string): void {
  if (!(x instanceof Tensor)) {
    throw new Error(`${op}: ${what} must be a Tensor, got ${String(x)}`);
  }
  if (x.dtype !== "f32" || x.rank !== 2) {
    throw new Error(
      `${op}: ${what} must be an f32 matrix [rows, dim], got ${x.describe()}`,
    );
  }
}

function checkEps(op: string, eps: number): void {
  if (!(eps > 0) || !Number.isFinite(eps)) {
    throw new Error(`${op}: eps must be a positive number, got ${eps}`);
  }
}

// ---- l2Normalize ----

const rowsLayout = new UniformLayout([
  ["rows", "u32"],
  ["dim", "u32"],
  ["eps", "f32"],
]);

/** Dispatches row_norms of l2_normalize.wgsl: ||x_i|| for every row. */
function rowNorms(op: string, x: Tensor): Tensor {
  const [rows, dim] = x.shape;
  const norms = empty([rows], "f32", `${op}.norms`);
  runtime().dispatch({
    op: `${op}.row_norms`,
    kernel: {
      file: "shaders/ops/l2_normalize.wgsl",
      source: l2NormalizeSource,
      entryPoint: "row_norms",
    },
    uniforms: rowsLayout.pack({ rows, dim, eps: 1 }),
    bindings: [x.binding(), norms.binding()],
    workgroups: Math.ceil(rows / 64),
  });
  return norms;
}

export interface L2NormalizeOptions {
  /** Lower bound of the norm in the denominator (default 1e-12). */
  eps?: number;
}

/**
 * Normalises every row of x [N, D] to unit L2 norm,
 * y = x / max(||x||, eps), with the values and gradient of
 * torch.nn.functional.normalize(x, dim=1, eps=eps). Below eps the gradient
 * is gy / eps.
 */
export function l2Normalize(
  x: Tensor,
  options: L2NormalizeOptions = {},
): Tensor {
  checkEmbeddings(x, "l2Normalize", "x");
  const eps = options.eps ?? 1e-12;
  checkEps("l2Normalize", eps);
  const [rows, dim] = x.shape;
  const uniforms = rowsLayout.pack({ rows, dim, eps });

  const norms = rowNorms("l2Normalize", x);
  const y = empty(x.shape, "f32", "l2Normalize");
  runtime().dispatch({
    op: "l2Normalize",
    kernel: {
      file: "shaders/ops/l2_normalize.wgsl",
      source: l2NormalizeSource,
    },
    uniforms,
    bindings: [x.binding(), norms.binding(), y.binding()],
    workgroups: Math.ceil(y.size / 256),
    shapes: `x ${formatShape(x.shape)}`,
  });
  norms.dispose();

  record("l2Normalize", [x], [y], ([gy]) => {
    // The norms are recomputed rather than kept, so a graph that is never
    // run backward keeps no extra buffers alive.
    const rowNormsAgain = rowNorms("l2Normalize.backward", x);
    const dots = empty([rows], "f32", "l2Normalize.dots");
    const gx = empty(x.shape, "f32", "l2Normalize.grad");
    const kernel = {
      file: "shaders/ops/l2_normalize_backward.wgsl",
      source: l2NormalizeBackwardSource,
    };
    runtime().dispatch({
      op: "l2Normalize.backward_dots",
      kernel: { ...kernel, entryPoint: "row_dots" },
      uniforms,
      bindings: [y.binding(), gy!.binding(), dots.binding()],
      workgroups: Math.ceil(rows / 64),
    });
    runtime().dispatch({
      op: "l2Normalize.backward",
      kernel,
      uniforms,
      bindings: [
        y.binding(),
        gy!.binding(),
        dots.binding(),
        rowNormsAgain.binding(),
        gx.binding(),
      ],
      workgroups: Math.ceil(gx.size / 256),
    });
    dots.dispose();
    rowNormsAgain.dispose();
    return [gx];
  });
  return y;
}

// ---- cosineSimilarity ----

const cosineLayout = new UniformLayout([
  ["queries", "u32"],
  ["classes", "u32"],
  ["dim", "u32"],
  ["eps", "f32"],
]);

const cosineBackwardLayout = new UniformLayout([
  ["rows", "u32"],
  ["others", "u32"],
  ["dim", "u32"],
  ["eps", "f32"],
  ["own_stride", "u32"],
  ["other_stride", "u32"],
]);

export interface CosineSimilarityOptions {
  /** Lower bound of each norm in the denominator (default 1e-8). */
  eps?: number;
}

/**
 * Cosine similarity of every query [Q, D] with every prototype [C, D],
 * giving [Q, C]:
 * cos(q, p) = q . p / (max(||q||, eps) max(||p||, eps)).
 *
 * Each norm is clamped separately, so the result equals
 * normalize(q) @ normalize(p)^T with torch.nn.functional.normalize. It
 * differs from torch.nn.functional.cosine_similarity (1.13), which clamps
 * the product of the squared norms at eps^2, only where a norm is below eps.
 */
export function cosineSimilarity(
  queries: Tensor,
  prototypes: Tensor,
  options: CosineSimilarityOptions = {},
): Tensor {
  const op = "cosineSimilarity";
  checkEmbeddings(queries, op, "queries");
  checkEmbeddings(prototypes, op, "prototypes");
  const eps = options.eps ?? 1e-8;
  checkEps(op, eps);
  const [numQueries, dim] = queries.shape;
  const numClasses = prototypes.shape[0];
  if (prototypes.shape[1] !== dim) {
    throw new Error(
      `${op}: queries ${formatShape(queries.shape)} and prototypes ` +
        `${formatShape(prototypes.shape)} differ in embedding size`,
    );
  }

  const queryNorms = rowNorms(op, queries);
  const prototypeNorms = rowNorms(op, prototypes);
  const y = empty([numQueries, numClasses], "f32", op);
  runtime().dispatch({
    op,
    kernel: { file: "shaders/ops/cosine.wgsl", source: cosineSource },
    uniforms: cosineLayout.pack({
      queries: numQueries,
      classes: numClasses,
      dim,
      eps,
    }),
    bindings: [
      queries.binding(),
      prototypes.binding(),
      queryNorms.binding(),
      prototypeNorms.binding(),
      y.binding(),
    ],
    workgroups: Math.ceil(y.size / 64),
    shapes: `queries ${formatShape(queries.shape)}, prototypes ` +
      formatShape(prototypes.shape),
  });
  queryNorms.dispose();
  prototypeNorms.dispose();

  record(op, [queries, prototypes], [y], ([gy]) => {
    // The norms are recomputed rather than kept, so a graph that is never
    // run backward keeps no extra buffers alive.
    const norms = [rowNorms(op, queries), rowNorms(op, prototypes)];
    const side = (own: 0 | 1): Tensor | null => {
      const x = own === 0 ? queries : prototypes;
      const other = own === 0 ? prototypes : queries;
      if (!x.requiresGrad) return null;
      const g = empty(x.shape, "f32", `${op}.grad`);
      runtime().dispatch({
        op: `${op}.backward_${own === 0 ? "queries" : "prototypes"}`,
        kernel: {
          file: "shaders/ops/cosine_backward.wgsl",
          source: cosineBackwardSource,
        },
        uniforms: cosineBackwardLayout.pack({
          rows: x.shape[0],
          others: other.shape[0],
          dim,
          eps,
          own_stride: own === 0 ? numClasses : 1,
          other_stride: own === 0 ? 1 : numClasses,
        }),
        bindings: [
          x.binding(),
          other.binding(),
          norms[own].binding(),
          norms[1 - own].binding(),
          y.binding(),
          gy!.binding(),
          g.binding(),
        ],
        workgroups: Math.ceil(g.size / 256),
      });
      return g;
    };
    const grads = [side(0), side(1)];
    for (const t of norms) t.dispose();
    return grads;
  });
  return y;
}

// ---- classPrototypes ----

const prototypesLayout = new UniformLayout([
  ["samples", "u32"],
  ["classes", "u32"],
  ["dim", "u32"],
]);

export interface ClassPrototypesOptions {
  numClasses: number;
}

/**
 * Class means of embeddings [N, D] by integer labels, giving [numClasses, D]
 * (the prototypes of a support set). Every sample receives gy[label] / n_c
 * as gradient. Host labels with a class that has no sample are rejected.
 * With labels on the GPU, such a class gets a NaN prototype, and a label
 * outside [0, numClasses) makes every prototype NaN.
 */
export function classPrototypes(
  embeddings: Tensor,
  labels: Labels,
  options: ClassPrototypesOptions,
): Tensor {
  const op = "classPrototypes";
  checkEmbeddings(embeddings, op, "embeddings");
  const numClasses = options?.numClasses;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(
      `${op}: numClasses must be a positive integer, got ${numClasses}`,
    );
  }
  const [samples, dim] = embeddings.shape;
  const { tensor: labelsGpu, uploaded } = labelTensor(
    op,
    labels,
    samples,
    numClasses,
    true,
  );
  const uniforms = prototypesLayout.pack({
    samples,
    classes: numClasses,
    dim,
  });

  const kernel = {
    file: "shaders/ops/prototypes.wgsl",
    source: prototypesSource,
  };
  const countClasses = (classLabels: Tensor): Tensor => {
    const counts = empty([numClasses], "f32", `${op}.counts`);
    runtime().dispatch({
      op: `${op}.counts`,
      kernel: { ...kernel, entryPoint: "class_counts" },
      uniforms,
      bindings: [classLabels.binding(), counts.binding()],
      workgroups: Math.ceil(numClasses / 64),
    });
    return counts;
  };
  const counts = countClasses(labelsGpu);
  const y = empty([numClasses, dim], "f32", op);
  runtime().dispatch({
    op,
    kernel,
    uniforms,
    bindings: [
      labelsGpu.binding(),
      counts.binding(),
      embeddings.binding(),
      y.binding(),
    ],
    workgroups: Math.ceil(y.size / 256),
    shapes: `embeddings ${formatShape(embeddings.shape)}`,
  });
  counts.dispose();
  // Host labels are uploaded again by the backward, so that nothing but the
  // caller's tensors stays alive for the graph.
  const hostLabels = uploaded
    ? Int32Array.from(labels as ArrayLike<number>)
    : null;
  if (uploaded) labelsGpu.dispose();

  record(op, [embeddings, uploaded ? null : labelsGpu], [y], ([gy]) => {
    const backwardLabels = hostLabels
      ? tensor(hostLabels, [samples], "i32", `${op}.labels`)
      : labelsGpu;
    const backwardCounts = countClasses(backwardLabels);
    const gx = empty(embeddings.shape, "f32", `${op}.grad`);
    runtime().dispatch({
      op: `${op}.backward`,
      kernel: {
        file: "shaders/ops/prototypes_backward.wgsl",
        source: prototypesBackwardSource,
      },
      uniforms,
      bindings: [
        backwardLabels.binding(),
        backwardCounts.binding(),
        gy!.binding(),
        gx.binding(),
      ],
      workgroups: Math.ceil(gx.size / 256),
    });
    backwardCounts.dispose();
    if (hostLabels) backwardLabels.dispose();
    return [gx, null];
  });
  return y;
}

// ---- CPU reference ----

function rowNorm(x: CpuTensor, row: number): number {
  const dim = x.shape[1];
  let total = 0;
  for (let d = 0; d < dim; d++) total += x.data[row * dim + d] ** 2;
  return Math.sqrt(total);
}

function cpuL2Normalize(x: CpuTensor, eps: number): CpuTensor {
  const [rows, dim] = x.shape;
  const y = cpuTensor(x.shape);
  for (let i = 0; i < rows; i++) {
    const denominator = Math.max(rowNorm(x, i), eps);
    for (let d = 0; d < dim; d++) {
      y.data[i * dim + d] = x.data[i * dim + d] / denominator;
    }
  }
  return y;
}

function cpuL2NormalizeBackward(
  x: CpuTensor,
  eps: number,
  g: CpuTensor,
): CpuTensor {
  const [rows, dim] = x.shape;
  const y = cpuL2Normalize(x, eps);
  const gx = cpuTensor(x.shape);
  for (let i = 0; i < rows; i++) {
    const norm = rowNorm(x, i);
    let dot = 0;
    for (let d = 0; d < dim; d++) {
      dot += y.data[i * dim + d] * g.data[i * dim + d];
    }
    for (let d = 0; d < dim; d++) {
      const k = i * dim + d;
      gx.data[k] = norm >= eps
        ? (g.data[k] - y.data[k] * dot) / norm
        : g.data[k] / eps;
    }
  }
  return gx;
}

function cpuCosine(q: CpuTensor, p: CpuTensor, eps: number): CpuTensor {
  const [numQueries, dim] = q.shape;
  const numClasses = p.shape[0];
  const y = cpuTensor([numQueries, numClasses]);
  for (let i = 0; i < numQueries; i++) {
    for (let j = 0; j < numClasses; j++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) {
        dot += q.data[i * dim + d] * p.data[j * dim + d];
      }
      const scale = Math.max(rowNorm(q, i), eps) * Math.max(rowNorm(p, j), eps);
      y.data[i * numClasses + j] = dot / scale;
    }
  }
  return y;
}

/** Gradient of the cosine similarity for one side (see cosine_backward.wgsl). */
function cpuCosineSide(
  own: CpuTensor,
  other: CpuTensor,
  y: CpuTensor,
  g: CpuTensor,
  eps: number,
  isQuery: boolean,
): CpuTensor {
  const [rows, dim] = own.shape;
  const others = other.shape[0];
  const numClasses = isQuery ? others : rows;
  const gx = cpuTensor(own.shape);
  for (let r = 0; r < rows; r++) {
    const norm = rowNorm(own, r);
    const h = 1 / Math.max(norm, eps);
    for (let d = 0; d < dim; d++) {
      let total = 0;
      for (let o = 0; o < others; o++) {
        const at = isQuery ? r * numClasses + o : o * numClasses + r;
        const ho = 1 / Math.max(rowNorm(other, o), eps);
        const radial = norm >= eps ? y.data[at] * h * own.data[r * dim + d] : 0;
        total += g.data[at] * (ho * other.data[o * dim + d] - radial);
      }
      gx.data[r * dim + d] = h * total;
    }
  }
  return gx;
}

function cpuPrototypes(
  x: CpuTensor,
  labels: CpuTensor,
  numClasses: number,
): { y: CpuTensor; counts: number[] } {
  const values = labelValues(labels);
  checkHostLabels("classPrototypes", values, x.shape[0], numClasses);
  checkEveryClassPresent("classPrototypes", values, numClasses);
  const [samples, dim] = x.shape;
  const y = cpuTensor([numClasses, dim]);
  const counts = new Array(numClasses).fill(0);
  for (let n = 0; n < samples; n++) {
    const c = values[n];
    counts[c]++;
    for (let d = 0; d < dim; d++) y.data[c * dim + d] += x.data[n * dim + d];
  }
  for (let k = 0; k < y.data.length; k++) {
    y.data[k] /= counts[Math.floor(k / dim)];
  }
  return { y, counts };
}

// ---- registry ----

/** Rows with norms spread over [0.2, 3] so the clamp at eps is inactive. */
function embeddingRows(rng: Rng, rows: number, dim: number): CpuTensor {
  const x = randomTensor(rng, [rows, dim]);
  for (let i = 0; i < rows; i++) {
    const target = rng.uniform(0.2, 3) / Math.max(rowNorm(x, i), 1e-6);
    for (let d = 0; d < dim; d++) x.data[i * dim + d] *= target;
  }
  return x;
}

defineOp<L2NormalizeOptions>({
  name: "l2Normalize",
  family: "metric",
  inputs: [{ name: "x" }],
  forwardKernels: ["shaders/ops/l2_normalize.wgsl"],
  backwardKernels: ["shaders/ops/l2_normalize_backward.wgsl"],
  gpu: ([x], attrs) => l2Normalize(x!, attrs),
  cpu: {
    forward: ([x], attrs) => [cpuL2Normalize(x!, attrs.eps ?? 1e-12)],
    backward: ([x], attrs, [g]) => [
      cpuL2NormalizeBackward(x!, attrs.eps ?? 1e-12, g),
    ],
  },
  cases: (rng) => {
    const small = embeddingRows(rng, 4, 6);
    // Row 1 has norm 0.05, below eps = 0.1, where the denominator is eps.
    for (let d = 0; d < 6; d++) small.data[6 + d] *= 0.05 / rowNorm(small, 1);
    const zeroRow = embeddingRows(rng, 3, 5);
    zeroRow.data.fill(0, 5, 10);
    return [
      { label: "odd sizes", inputs: [embeddingRows(rng, 5, 7)], attrs: {} },
      { label: "batch 1", inputs: [embeddingRows(rng, 1, 9)], attrs: {} },
      {
        label: "row norm below eps",
        inputs: [small],
        attrs: { eps: 0.1 },
      },
      {
        // gx = gy / 1e-12 on the zero row; a finite difference would leave
        // the clamp region at once.
        label: "zero row",
        inputs: [zeroRow],
        attrs: {},
        finiteDifferences: false,
      },
      {
        label: "128-d embeddings",
        inputs: [embeddingRows(rng, 24, 128)],
        attrs: {},
      },
      {
        // 131072 x 128 elements at 256 per workgroup: 65536 workgroups,
        // one more than a grid dimension allows, so the grid is folded.
        label: "dispatch above 65535 workgroups",
        inputs: [embeddingRows(rng, 131072, 128)],
        attrs: {},
        finiteDifferences: false,
      },
    ];
  },
  tolerance: ACCUMULATING_TOLERANCE,
});

defineOp<CosineSimilarityOptions>({
  name: "cosineSimilarity",
  family: "metric",
  inputs: [{ name: "queries" }, { name: "prototypes" }],
  forwardKernels: ["shaders/ops/l2_normalize.wgsl", "shaders/ops/cosine.wgsl"],
  backwardKernels: ["shaders/ops/cosine_backward.wgsl"],
  gpu: ([q, p], attrs) => cosineSimilarity(q!, p!, attrs),
  cpu: {
    forward: ([q, p], attrs) => [cpuCosine(q!, p!, attrs.eps ?? 1e-8)],
    backward: ([q, p], attrs, [g]) => {
      const eps = attrs.eps ?? 1e-8;
      const y = cpuCosine(q!, p!, eps);
      return [
        cpuCosineSide(q!, p!, y, g, eps, true),
        cpuCosineSide(p!, q!, y, g, eps, false),
      ];
    },
  },
  cases: (rng) => {
    const tiny = embeddingRows(rng, 3, 4);
    // Query 2 has norm 0.01, below eps = 0.05.
    for (let d = 0; d < 4; d++) tiny.data[8 + d] *= 0.01 / rowNorm(tiny, 2);
    return [
      {
        label: "3-way episode",
        inputs: [embeddingRows(rng, 3, 16), embeddingRows(rng, 3, 16)],
        attrs: {},
      },
      {
        label: "odd sizes",
        inputs: [embeddingRows(rng, 7, 5), embeddingRows(rng, 5, 5)],
        attrs: {},
      },
      {
        label: "query norm below eps",
        inputs: [tiny, embeddingRows(rng, 2, 4)],
        attrs: { eps: 0.05 },
      },
      {
        label: "many queries, 128-d",
        inputs: [embeddingRows(rng, 40, 128), embeddingRows(rng, 5, 128)],
        attrs: {},
        finiteDifferences: false,
      },
    ];
  },
  tolerance: ACCUMULATING_TOLERANCE,
});

defineOp<ClassPrototypesOptions>({
  name: "classPrototypes",
  family: "metric",
  inputs: [{ name: "embeddings" }, {
    name: "labels",
    differentiable: false,
    dtype: "i32",
  }],
  forwardKernels: ["shaders/ops/prototypes.wgsl"],
  backwardKernels: ["shaders/ops/prototypes_backward.wgsl"],
  gpu: ([x, labels], attrs) => classPrototypes(x!, labels!, attrs),
  cpu: {
    forward: ([x, labels], attrs) => [
      cpuPrototypes(x!, labels!, attrs.numClasses).y,
    ],
    backward: ([x, labels], attrs, [g]) => {
      const { counts } = cpuPrototypes(x!, labels!, attrs.numClasses);
      const [samples, dim] = x!.shape;
      const gx = cpuTensor(x!.shape);
      for (let n = 0; n < samples; n++) {
        const c = labels!.data[n];
        for (let d = 0; d < dim; d++) {
          gx.data[n * dim + d] = g.data[c * dim + d] / counts[c];
        }
      }
      return [gx, null];
    },
  },
  cases: (rng) => [
    {
      label: "3-way 5-shot",
      inputs: [
        randomTensor(rng, [15, 8]),
        cpuLabels([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]),
      ],
      attrs: { numClasses: 3 },
    },
    {
      label: "unordered labels, unequal shots",
      inputs: [
        randomTensor(rng, [7, 5]),
        cpuLabels([2, 0, 3, 1, 2, 2, 0]),
      ],
      attrs: { numClasses: 4 },
    },
    {
      label: "one class, one sample",
      inputs: [randomTensor(rng, [1, 3]), cpuLabels([0])],
      attrs: { numClasses: 1 },
    },
  ],
  tolerance: ACCUMULATING_TOLERANCE,
});
