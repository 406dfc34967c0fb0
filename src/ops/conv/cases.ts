/** Attributes and test cases of the registered conv3d. */
import { randomTensor } from "../cpu_tensor.ts";
import type { Rng } from "../../util/rng.ts";
import type { Conv3dOptions } from "./geometry.ts";
import type { Conv3dKernels } from "./limits.ts";

/**
 * Attributes of the registered conv3d: the options, and for tests the
 * kernel family that every pass uses (see Conv3dKernels).
 */
export interface Conv3dAttrs extends Conv3dOptions {
  kernels?: Conv3dKernels;
}

interface ConvCase {
  label: string;
  x: number[];
  weight: number[];
  bias: boolean;
  attrs: Conv3dAttrs;
  /** False for cases too large for finite differences on the CPU. */
  finiteDifferences?: boolean;
}

export const CASES: ConvCase[] = [
  {
    label: "3x3x3 padding 1, odd sizes",
    x: [1, 3, 5, 6, 7],
    weight: [5, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1 },
  },
  {
    label: "batch 2, 5 to 7 channels, no bias",
    x: [2, 5, 4, 5, 3],
    weight: [7, 5, 3, 3, 3],
    bias: false,
    attrs: { padding: 1 },
  },
  {
    label: "stride 2 padding 1",
    x: [1, 3, 7, 8, 9],
    weight: [4, 3, 3, 3, 3],
    bias: true,
    attrs: { stride: 2, padding: 1 },
  },
  {
    label: "1x1x1",
    x: [2, 7, 3, 4, 5],
    weight: [5, 7, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "gemm: 1x1x1 on rows of 8, read without unfolding",
    x: [1, 4, 2, 3, 8],
    weight: [6, 4, 1, 1, 1],
    bias: true,
    attrs: { kernels: "gemm" },
  },
  {
    label: "1x1x1 padding 1, padding wider than the kernel",
    x: [1, 2, 2, 3, 3],
    weight: [3, 2, 1, 1, 1],
    bias: false,
    attrs: { padding: 1 },
  },
  {
    label: "7x7x7 stride 2 padding 3",
    x: [1, 3, 9, 10, 11],
    weight: [4, 3, 7, 7, 7],
    bias: true,
    attrs: { stride: 2, padding: 3 },
  },
  {
    label: "1x3x3 padding [0, 1, 1]",
    x: [1, 5, 3, 6, 7],
    weight: [3, 5, 1, 3, 3],
    bias: true,
    attrs: { padding: [0, 1, 1] },
  },
  {
    label: "same, stride 2, asymmetric",
    x: [1, 3, 5, 8, 6],
    weight: [4, 3, 3, 3, 3],
    bias: true,
    attrs: { stride: 2, padding: "same" },
  },
  {
    label: "same, even kernel 2x4x2",
    x: [2, 3, 4, 5, 6],
    weight: [5, 3, 2, 4, 2],
    bias: true,
    attrs: { padding: "same" },
  },
  {
    label: "explicit [before, after] padding",
    x: [1, 3, 4, 6, 5],
    weight: [3, 3, 3, 2, 3],
    bias: false,
    attrs: { stride: [1, 2, 1], padding: [[0, 2], [1, 0], [2, 1]] },
  },
  {
    label: "several tiles and chunks",
    x: [2, 3, 6, 9, 10],
    weight: [7, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1 },
  },
  {
    label: "channels above one 16-row block",
    x: [1, 18, 3, 4, 6],
    weight: [20, 18, 3, 3, 3],
    bias: true,
    attrs: { padding: 1 },
  },
  // The cases above run the direct kernels, chosen by size. The ones below
  // cover the other kernels and the shapes of the compact CA-I3D.
  {
    label: "gemm: 3x3x3 padding 1, odd sizes",
    x: [1, 3, 5, 6, 7],
    weight: [5, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1, kernels: "gemm" },
  },
  {
    label: "gemm: stride 2 padding 1",
    x: [1, 3, 7, 8, 9],
    weight: [4, 3, 3, 3, 3],
    bias: true,
    attrs: { stride: 2, padding: 1, kernels: "gemm" },
  },
  {
    label: "gemm: several tiles and chunks",
    x: [2, 3, 6, 9, 10],
    weight: [7, 3, 3, 3, 3],
    bias: true,
    attrs: { padding: 1, kernels: "gemm" },
  },
  {
    label: "gemm: channels above one 16-row block",
    x: [1, 18, 3, 4, 6],
    weight: [20, 18, 3, 3, 3],
    bias: true,
    attrs: { padding: 1, kernels: "gemm" },
  },
  {
    label: "pointwise on volumes of 12 positions",
    x: [2, 8, 2, 3, 2],
    weight: [9, 8, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "pointwise, 3 output channels, no bias",
    x: [3, 12, 1, 1, 4],
    weight: [3, 12, 1, 1, 1],
    bias: false,
    attrs: {},
  },
  {
    label: "small pointwise, 4 output channels",
    x: [3, 6, 2, 3, 5],
    weight: [3, 6, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "small 3x3x3 same, 3 input channels",
    x: [2, 3, 3, 4, 4],
    weight: [9, 3, 3, 3, 3],
    bias: false,
    attrs: { padding: "same" },
  },
  {
    label: "Coordinate Attention 1x1x1 on [N, C, L, 1, 1]",
    x: [4, 12, 11, 1, 1],
    weight: [5, 12, 1, 1, 1],
    bias: true,
    attrs: {},
  },
  {
    label: "3x3x3 same on [N, C, 2, 1, 1]",
    x: [3, 6, 2, 1, 1],
    weight: [10, 6, 3, 3, 3],
    bias: false,
    attrs: { padding: "same" },
  },
  {
    label: "stride [1, 2, 3], 1x1x1 on skipped inputs",
    x: [1, 5, 3, 5, 7],
    weight: [4, 5, 1, 1, 1],
    bias: false,
    attrs: { stride: [1, 2, 3] },
  },
  {
    label: "stem-like 7x7x7 stride 2 same",
    x: [1, 5, 5, 9, 9],
    weight: [8, 5, 7, 7, 7],
    bias: false,
    attrs: { stride: 2, padding: "same" },
    finiteDifferences: false,
  },
  {
    label: "rows: 3x3x3 same on rows of 8, chunks of samples",
    x: [2, 5, 3, 6, 8],
    weight: [10, 5, 3, 3, 3],
    bias: true,
    attrs: { padding: "same", kernels: "rows" },
  },
  {
    label: "rows: 3x3x3 stride 2 padding 1, phases with 1 and 2 taps",
    x: [1, 3, 5, 7, 8],
    weight: [6, 3, 3, 3, 3],
    bias: false,
    attrs: { stride: 2, padding: 1, kernels: "rows" },
  },
  {
    label: "rows: 1x1x1 on rows of 4, padding wider than the kernel",
    x: [2, 3, 2, 3, 4],
    weight: [5, 3, 1, 1, 1],
    bias: true,
    attrs: { padding: [[0, 0], [1, 0], [1, 3]], kernels: "rows" },
  },
  {
    label: "rows: 1x3x3 same on rows of 16",
    x: [1, 2, 2, 3, 16],
    weight: [3, 2, 1, 3, 3],
    bias: true,
    attrs: { padding: "same", kernels: "rows" },
  },
  {
    label: "rows: stem-like 7x7x7 stride 2 same",
    x: [1, 3, 6, 12, 16],
    weight: [4, 3, 7, 7, 7],
    bias: false,
    attrs: { stride: 2, padding: "same", kernels: "rows" },
    finiteDifferences: false,
  },
];

export function randomCase(rng: Rng, c: ConvCase) {
  return {
    label: c.label,
    inputs: [
      randomTensor(rng, c.x),
      randomTensor(rng, c.weight),
      c.bias ? randomTensor(rng, [c.weight[0]]) : null,
    ],
    attrs: c.attrs,
    finiteDifferences: c.finiteDifferences,
  };
}

/** The registry's cases, for tests that check which kernels they run. */
export const conv3dCases: readonly ConvCase[] = CASES;
