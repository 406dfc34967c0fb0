/**
 * Per-parameter gradient statistics collected through the module gradient
 * hooks: L2 norm, mean, standard deviation, max |g|, NaN and Inf counts,
 * optional histograms, and the update-to-weight ratio of an optimiser step.
 * Every statistic is reduced on the GPU (one single-workgroup dispatch per
 * tensor), and one step's results come back in one readback.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import type { Module } from "../nn/module.ts";
import { readAll, type Tensor, zeros } from "../tensor.ts";
import statsSource from "../../shaders/inspect/gradient_stats.wgsl" with {
  type: "text",
};
import updateSource from "../../shaders/inspect/update_ratio.wgsl" with {
  type: "text",
};

/** Bins of the histogram kernel's workgroup array. */
export const MAX_HISTOGRAM_BINS = 256;
/** f32 values per parameter in the statistics buffer (see the kernels). */
const STATS_STRIDE = 12;

const statsLayout = new UniformLayout([
  ["n", "u32"],
  ["slot", "u32"],
  ["bins", "u32"],
]);
const updateLayout = new UniformLayout([["n", "u32"], ["slot", "u32"]]);

export interface GradientRecorderOptions {
  /**
   * Bins of a histogram of each gradient over [min, max] of its finite
   * values (at most 256); 0 or absent for no histograms.
   */
  histogramBins?: number;
  /** Records only parameters whose path ("module.parameter") matches. */
  filter?: RegExp;
}

export interface Histogram {
  /** Lower edge of the first bin, the smallest finite value. */
  min: number;
  /** Upper edge of the last bin, the largest finite value. */
  max: number;
  /** Finite elements per bin; they sum to count - nan - inf. */
  counts: number[];
}

/** Statistics of one parameter's gradient in one step. */
export interface GradientStats {
  /** Dotted path of the module that owns the parameter, "" for the root. */
  module: string;
  parameter: string;
  /** `module.parameter`, the name in `Module.namedParameters()`. */
  path: string;
  shape: number[];
  count: number;
  /** L2 norm of the finite elements. */
  norm: number;
  /** Mean of the finite elements. */
  mean: number;
  /** Population standard deviation (divides by the count) of the finite elements. */
  std: number;
  /** Largest |g| over the finite elements. */
  maxAbs: number;
  nan: number;
  inf: number;
  /**
   * ||w_after - w_before|| / ||w_before|| of the optimiser step between
   * `beforeStep()` and `afterStep()`; null without both calls or when
   * ||w_before|| is 0.
   */
  updateRatio: number | null;
  histogram?: Histogram;
}

export interface StepRecord {
  step: number;
  parameters: GradientStats[];
}

interface Tracked {
  path: string;
  module: string;
  parameter: string;
  tensor: Tensor;
  snapshot: Tensor | null;
}

/**
 * Records gradient statistics of a module's parameters step by step.
 *
 * Per step: `backward(loss)`, then optionally `capture()` (otherwise
 * `read()` captures), `beforeStep()`, `optimizer.step()`, `afterStep()`,
 * and `await read()`, which returns the step's statistics and adds them to
 * `history`. Only parameters whose gradient hook fired since the previous
 * `read()` are recorded.
 *
 * @example
 * ```ts
 * import { backward } from "../autograd.ts";
 * import { initRuntime } from "../gpu/runtime.ts";
 * import { Linear } from "../nn/linear.ts";
 * import { linear, sum } from "../ops/mod.ts";
 * import { SGD } from "../optim/mod.ts";
 * import { tensor } from "../tensor.ts";
 * import { Rng } from "../util/rng.ts";
 *
 * await initRuntime({ log: false });
 * const model = new Linear({ inFeatures: 3, outFeatures: 2, rng: new Rng(1) });
 * const optimizer = new SGD(model.parameters(), { lr: 0.1 });
 * const recorder = new GradientRecorder(model, { histogramBins: 8 });
 * const x = tensor([1, 2, 3], [1, 3]);
 * backward(sum(linear(x, model.weight, model.bias)));
 * recorder.beforeStep();
 * optimizer.step();
 * recorder.afterStep();
 * const { parameters } = await recorder.read();
 * console.log(parameters.map((p) => `${p.path} ${p.norm} ${p.updateRatio}`));
 * recorder.dispose();
 * ```
 */
export class GradientRecorder {
  readonly histogramBins: number;
  readonly history: StepRecord[] = [];
  readonly #tracked: Tracked[];
  readonly #received = new Set<number>();
  readonly #removeHooks: () => void;
  #step = 0;
  #stats: Tensor | null = null;
  #histogram: Tensor | null = null;
  #captured: Set<number> | null = null;
  #snapshotted = new Set<number>();
  #updated = new Set<number>();
  #disposed = false;

  constructor(module: Module, options: GradientRecorderOptions = {}) {
    const bins = options.histogramBins ?? 0;
    if (!Number.isInteger(bins) || bins < 0 || bins > MAX_HISTOGRAM_BINS) {
      throw new Error(
        `GradientRecorder: histogramBins must be an integer in [0, ${MAX_HISTOGRAM_BINS}], got ${bins}`,
      );
    }
    this.histogramBins = bins;
    this.#tracked = [];
    const index = new Map<string, number>();
    for (const [path, tensor] of module.namedParameters()) {
      if (options.filter && !options.filter.test(path)) continue;
      const dot = path.lastIndexOf(".");
      index.set(path, this.#tracked.length);
      this.#tracked.push({
        path,
        module: dot < 0 ? "" : path.slice(0, dot),
        parameter: dot < 0 ? path : path.slice(dot + 1),
        tensor,
        snapshot: null,
      });
    }
    this.#removeHooks = module.registerGradHook((modulePath, parameter) => {
      const path = modulePath ? `${modulePath}.${parameter}` : parameter;
      const i = index.get(path);
      if (i !== undefined) this.#received.add(i);
    });
  }

  /** Paths of the recorded parameters, in `namedParameters()` order. */
  get paths(): string[] {
    return this.#tracked.map((t) => t.path);
  }

  /**
   * Dispatches the statistics kernels of every gradient received since the
   * previous `read()`. Call it after backward and before anything changes
   * or frees the gradients (zeroGrad); calling it again in the same step
   * recomputes them.
   */
  capture(): void {
    this.#checkLive("capture");
    const rt = runtime();
    const stats = this.#stepStats();
    const captured = new Set<number>();
    for (const i of this.#received) {
      const grad = this.#tracked[i].tensor.grad;
      if (!grad || grad.size === 0) continue;
      captured.add(i);
      const bindings = [grad.binding(), stats.binding()];
      if (this.#histogram) bindings.push(this.#histogram.binding());
      rt.dispatch({
        op: "GradientRecorder.stats",
        kernel: {
          file: "shaders/inspect/gradient_stats.wgsl",
          source: statsSource,
          defines: { HISTOGRAM: this.#histogram !== null },
        },
        uniforms: statsLayout.pack({
          n: grad.size,
          slot: i,
          bins: Math.max(this.histogramBins, 1),
        }),
        bindings,
        workgroups: 1,
        shapes: `gradient of ${this.#tracked[i].path} ${grad.describe()}`,
      });
    }
    this.#captured = captured;
  }

  /** Copies every recorded parameter, for the update ratio of the next step. */
  beforeStep(): void {
    this.#checkLive("beforeStep");
    const rt = runtime();
    this.#tracked.forEach((t, i) => {
      if (!t.snapshot) {
        t.snapshot = zeros(t.tensor.shape, "f32", `${t.path}.before_step`)
          .keep();
      }
      rt.copy(t.tensor.buffer, t.snapshot.buffer, t.tensor.bytes);
      this.#snapshotted.add(i);
    });
  }

  /** Dispatches the update-ratio sums against the `beforeStep()` copies. */
  afterStep(): void {
    this.#checkLive("afterStep");
    if (this.#snapshotted.size === 0) {
      throw new Error(
        "GradientRecorder.afterStep() needs beforeStep() before the optimiser step",
      );
    }
    const rt = runtime();
    const stats = this.#stepStats();
    for (const i of this.#snapshotted) {
      const t = this.#tracked[i];
      if (!t.snapshot || t.tensor.size === 0) continue;
      rt.dispatch({
        op: "GradientRecorder.update_ratio",
        kernel: {
          file: "shaders/inspect/update_ratio.wgsl",
          source: updateSource,
        },
        uniforms: updateLayout.pack({ n: t.tensor.size, slot: i }),
        bindings: [t.tensor.binding(), t.snapshot.binding(), stats.binding()],
        workgroups: 1,
        shapes: `parameter ${t.path} ${t.tensor.describe()}`,
      });
      this.#updated.add(i);
    }
    this.#snapshotted.clear();
  }

  /**
   * Reads the step's statistics back with one sync (capturing first if
   * `capture()` was not called), appends them to `history` and starts the
   * next step.
   */
  async read(): Promise<StepRecord> {
    this.#checkLive("read");
    if (this.#captured === null) this.capture();
    const captured = this.#captured ?? new Set<number>();
    const updated = this.#updated;
    const stats = this.#stepStats();
    const histogram = this.#histogram;
    const values = await readAll(histogram ? [stats, histogram] : [stats]);
    const rows = values[0] as Float32Array;
    const bins = histogram ? values[1] : null;
    const parameters: GradientStats[] = [];
    this.#tracked.forEach((t, i) => {
      if (!captured.has(i)) return;
      parameters.push(this.#summarize(t, i, rows, bins, updated.has(i)));
    });
    const record = { step: this.#step, parameters };
    this.history.push(record);
    this.#endStep();
    return record;
  }

  /** Removes the hooks and frees the snapshots and statistics buffers. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#removeHooks();
    this.#endStep();
    for (const t of this.#tracked) {
      t.snapshot?.dispose();
      t.snapshot = null;
    }
  }

  #summarize(
    t: Tracked,
    i: number,
    rows: Float32Array,
    bins: Float32Array | Int32Array | null,
    updated: boolean,
  ): GradientStats {
    const row = rows.subarray(i * STATS_STRIDE, (i + 1) * STATS_STRIDE);
    const count = t.tensor.size;
    const nan = row[3];
    const inf = row[4];
    const finite = count - nan - inf;
    const weightNorm = Math.sqrt(row[9]);
    const stats: GradientStats = {
      module: t.module,
      parameter: t.parameter,
      path: t.path,
      shape: [...t.tensor.shape],
      count,
      norm: Math.sqrt(row[1]),
      mean: finite > 0 ? row[0] / finite : 0,
      std: finite > 0 ? Math.sqrt(row[5] / finite) : 0,
      maxAbs: row[2],
      nan,
      inf,
      updateRatio: updated && weightNorm > 0
        ? Math.sqrt(row[8]) / weightNorm
        : null,
    };
    if (bins) {
      const n = this.histogramBins;
      stats.histogram = {
        min: row[6],
        max: row[7],
        counts: [...bins.subarray(i * n, (i + 1) * n)],
      };
    }
    return stats;
  }

  #stepStats(): Tensor {
    if (!this.#stats) {
      const rows = Math.max(this.#tracked.length, 1);
      this.#stats = zeros([rows, STATS_STRIDE], "f32", "gradient-stats")
        .keep();
      if (this.histogramBins > 0) {
        this.#histogram = zeros(
          [rows, this.histogramBins],
          "i32",
          "gradient-histograms",
        ).keep();
      }
    }
    return this.#stats;
  }

  #endStep(): void {
    this.#stats?.dispose();
    this.#histogram?.dispose();
    this.#stats = null;
    this.#histogram = null;
    this.#captured = null;
    this.#received.clear();
    this.#snapshotted.clear();
    this.#updated = new Set();
    this.#step++;
  }

  #checkLive(what: string): void {
    if (this.#disposed) {
      throw new Error(
        `GradientRecorder.${what}() after dispose(); create a new recorder`,
      );
    }
  }
}
