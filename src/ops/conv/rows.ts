/** Row kernels of conv3d: their W-axis phases, where they apply, and their dispatches. */
import { runtime } from "../../gpu/runtime.ts";
import { UniformLayout } from "../../gpu/uniforms.ts";
import { empty, formatShape, type Tensor } from "../../tensor.ts";
import directRowsSource from "../../../shaders/ops/conv3d_direct_rows.wgsl" with {
  type: "text",
};
import directWeightRowsSource from "../../../shaders/ops/conv3d_direct_weight_rows.wgsl" with {
  type: "text",
};
import { DIRECT_CHANNELS, DIRECT_WEIGHT_MIN_INVOCATIONS } from "./direct.ts";
import { type Conv3dGeometry, vec4 } from "./geometry.ts";
import { weightMatrix } from "./gemm.ts";
import { sumPartials } from "./partials.ts";

/** Floats of the source segment that one row-kernel invocation keeps in registers. */
const ROWS_SEGMENT = 64;
/** Floats of the x segment of the weight-gradient row kernel. */
const WEIGHT_ROWS_SEGMENT = 16;
/** Taps along W of the weight-gradient row kernel (two vec4 per channel). */
const WEIGHT_ROWS_MAX_TAPS = 8;

/** Returns a non-negative remainder. */
function modulo(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

/** One dispatch of the row kernel: its W-axis mapping (see conv3d_direct_rows.wgsl). */
interface RowsPhase {
  phase: number;
  step: number;
  count: number;
  scale: number;
  offset: number;
  tap: number;
  tapStep: number;
  taps: number;
  sourceStep: number;
  align: number;
  /** Target positions per invocation along W: 4, 8 or 16. */
  positions: number;
}

/** Returns whether a row-kernel dispatch keeps its source segment within registers. */
function rowsPhaseFits(phase: RowsPhase): boolean {
  return phase.align + (phase.positions - 1) * phase.sourceStep +
      phase.taps <= ROWS_SEGMENT;
}

/**
 * Chooses the most target positions per invocation (16, 8 or 4) that the
 * row fills and that keep the source segment within ROWS_SEGMENT floats.
 */
function withPositions(phase: Omit<RowsPhase, "positions">): RowsPhase {
  for (const positions of [16, 8]) {
    const wider = { ...phase, positions };
    if (phase.count >= positions && rowsPhaseFits(wider)) return wider;
  }
  return { ...phase, positions: 4 };
}

/** Describes the forward pass as one row-kernel dispatch. */
function forwardRowsPhase(g: Conv3dGeometry): RowsPhase {
  return withPositions({
    phase: 0,
    step: 1,
    count: g.output[2],
    scale: g.stride[2],
    offset: -g.padBefore[2],
    tap: 0,
    tapStep: 1,
    taps: g.kernel[2],
    sourceStep: g.stride[2],
    align: modulo(-g.padBefore[2], 4),
  });
}

/**
 * Describes the input gradient as one row-kernel dispatch per W phase: the
 * input positions w = phase + S*c read the output gradient at
 * c + e - m for the taps kw = r + S*m, with r = (phase + P) mod S and
 * e = (phase + P - r) / S. The kernel takes these taps in reverse order
 * u = M - 1 - m so that the source index grows with u, and reads the
 * flipped weight matrix at tap K - 1 - kw.
 */
function inputGradientRowsPhases(g: Conv3dGeometry): RowsPhase[] {
  const s = g.stride[2];
  const k = g.kernel[2];
  const p = g.padBefore[2];
  const phases: RowsPhase[] = [];
  for (let phase = 0; phase < Math.min(s, g.input[2]); phase++) {
    const r = (phase + p) % s;
    const e = (phase + p - r) / s;
    const taps = Math.max(0, Math.ceil((k - r) / s));
    const count = Math.ceil((g.input[2] - phase) / s);
    phases.push(withPositions({
      phase,
      step: s,
      count,
      scale: 1,
      offset: e - taps + 1,
      tap: k - 1 - r - s * (taps - 1),
      tapStep: s,
      taps,
      sourceStep: 1,
      align: modulo(e - taps + 1, 4),
    }));
  }
  return phases;
}

export function rowsForwardApplies(g: Conv3dGeometry): boolean {
  return g.input[2] % 4 === 0 && rowsPhaseFits(forwardRowsPhase(g));
}

export function rowsInputGradientApplies(g: Conv3dGeometry): boolean {
  return g.output[2] % 4 === 0 &&
    inputGradientRowsPhases(g).every(rowsPhaseFits);
}

export function rowsWeightGradientApplies(g: Conv3dGeometry): boolean {
  const align = modulo(-g.padBefore[2], 4);
  return g.input[2] % 4 === 0 && g.output[2] % 4 === 0 &&
    g.kernel[2] <= WEIGHT_ROWS_MAX_TAPS &&
    align + 3 * g.stride[2] + g.kernel[2] <= WEIGHT_ROWS_SEGMENT;
}

const directRowsLayout = new UniformLayout([
  ["invocations", "u32"],
  ["w_blocks", "u32"],
  ["ct_blocks", "u32"],
  ["c_source", "u32"],
  ["c_target", "u32"],
  ["w_phase", "u32"],
  ["w_step", "u32"],
  ["w_count", "u32"],
  ["w_scale", "i32"],
  ["w_offset", "i32"],
  ["w_tap", "i32"],
  ["w_tap_step", "i32"],
  ["source_size", "vec4<u32>"],
  ["target_size", "vec4<u32>"],
  ["kernel_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<i32>"],
]);

/**
 * Runs the forward pass (gather false) or the input gradient (gather true)
 * as the row kernel: source is x or gy, and the result is y or gx.
 */
export function directRows(
  op: string,
  source: Tensor,
  w: Tensor,
  bias: Tensor | null,
  g: Conv3dGeometry,
  gather: boolean,
): Tensor {
  const rt = runtime();
  const cSource = gather ? g.cOut : g.cIn;
  const cTarget = gather ? g.cIn : g.cOut;
  const sourceSize = gather ? g.output : g.input;
  const targetSize = gather ? g.input : g.output;
  const result = empty([g.batch, cTarget, ...targetSize], "f32", op);

  const wt = weightMatrix(`${op}.weight`, w, gather, DIRECT_CHANNELS);
  const ctBlocks = wt.shape[1] / DIRECT_CHANNELS;
  const phases = gather ? inputGradientRowsPhases(g) : [forwardRowsPhase(g)];

  for (const phase of phases) {
    const wBlocks = Math.ceil(phase.count / phase.positions);
    const invocations = g.batch * ctBlocks * targetSize[0] * targetSize[1] *
      wBlocks;
    const bindings = [source.binding(), wt.binding(), result.binding()];
    if (bias) bindings.push(bias.binding());
    rt.dispatch({
      op,
      kernel: {
        file: "shaders/ops/conv3d_direct_rows.wgsl",
        source: directRowsSource,
        defines: {
          BIAS: bias !== null,
          GATHER: gather,
          WIDE: phase.positions >= 8,
          WIDEST: phase.positions === 16,
        },
        constants: {
          TAPS_W: phase.taps,
          STEP_W: phase.sourceStep,
          ALIGN: phase.align,
        },
      },
      uniforms: directRowsLayout.pack({
        invocations,
        w_blocks: wBlocks,
        ct_blocks: ctBlocks,
        c_source: cSource,
        c_target: cTarget,
        w_phase: phase.phase,
        w_step: phase.step,
        w_count: phase.count,
        w_scale: phase.scale,
        w_offset: phase.offset,
        w_tap: phase.tap,
        w_tap_step: phase.tapStep,
        source_size: vec4(sourceSize),
        target_size: vec4(targetSize),
        kernel_size: vec4(g.kernel),
        stride: vec4(g.stride),
        pad_before: vec4(g.padBefore),
      }),
      bindings,
      workgroups: Math.ceil(invocations / 64),
      shapes: `${gather ? "grad output" : "x"} ${formatShape(source.shape)}, ` +
        `weight ${formatShape(w.shape)}`,
    });
  }
  wt.dispose();
  return result;
}

const directWeightRowsLayout = new UniformLayout([
  ["invocations", "u32"],
  ["co_blocks", "u32"],
  ["samples_per_chunk", "u32"],
  ["batch", "u32"],
  ["c_in", "u32"],
  ["c_out", "u32"],
  ["in_size", "vec4<u32>"],
  ["out_size", "vec4<u32>"],
  ["stride", "vec4<u32>"],
  ["pad_before", "vec4<i32>"],
  ["kernel_size", "vec4<u32>"],
]);

/**
 * Runs the weight gradient as the row kernel, split into chunks of samples
 * when one invocation per (Cout block, ci, kd, kh) is too few.
 */
export function rowsWeightGradient(
  gy: Tensor,
  x: Tensor,
  g: Conv3dGeometry,
): Tensor {
  const coBlocks = Math.ceil(g.cOut / DIRECT_CHANNELS);
  const perChunk = coBlocks * g.cIn * g.kernel[0] * g.kernel[1];
  const targetChunks = Math.min(
    Math.ceil(DIRECT_WEIGHT_MIN_INVOCATIONS / perChunk),
    g.batch,
  );
  const samplesPerChunk = Math.ceil(g.batch / targetChunks);
  const chunks = Math.ceil(g.batch / samplesPerChunk);
  const gw = empty([g.cOut, g.cIn, ...g.kernel], "f32", "conv3d.grad_weight");
  const partial = chunks === 1
    ? gw
    : empty([chunks, gw.size], "f32", "conv3d.grad_weight.partial");
  const invocations = perChunk * chunks;

  runtime().dispatch({
    op: "conv3d.backward_weight",
    kernel: {
      file: "shaders/ops/conv3d_direct_weight_rows.wgsl",
      source: directWeightRowsSource,
      constants: {
        KW: g.kernel[2],
        SW: g.stride[2],
        ALIGN: modulo(-g.padBefore[2], 4),
      },
    },
    uniforms: directWeightRowsLayout.pack({
      invocations,
      co_blocks: coBlocks,
      samples_per_chunk: samplesPerChunk,
      batch: g.batch,
      c_in: g.cIn,
      c_out: g.cOut,
      in_size: vec4(g.input),
      out_size: vec4(g.output),
      stride: vec4(g.stride),
      pad_before: vec4(g.padBefore),
      kernel_size: vec4(g.kernel),
    }),
    bindings: [x.binding(), gy.binding(), partial.binding()],
    workgroups: Math.ceil(invocations / 64),
    shapes: `x ${formatShape(x.shape)}, grad output ${formatShape(gy.shape)}`,
  });
  if (partial !== gw) {
    sumPartials(partial, gw, chunks);
    partial.dispose();
  }
  return gw;
}
