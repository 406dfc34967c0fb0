/** Options, geometry, output shape, FLOPs and multiply-adds of conv3d. */
import { formatShape, type Shape } from "../../tensor.ts";

export type Triple = [number, number, number];

/**
 * Padding of the D, H and W axes: one size for all sides, one size per axis
 * (both sides), "same" (TensorFlow's SAME: output size ceil(in / stride),
 * pad_total = max((ceil(in / stride) - 1) * stride + k - in, 0), with
 * floor(pad_total / 2) before and the rest after), or [before, after] per axis.
 */
export type Conv3dPadding =
  | number
  | Triple
  | "same"
  | [[number, number], [number, number], [number, number]];

export interface Conv3dOptions {
  /** Stride per axis D, H, W, or one for all (default 1). */
  stride?: number | Triple;
  /** Zero padding (default 0). */
  padding?: Conv3dPadding;
}

/** Sizes of one convolution, per spatial axis in the order D, H, W. */
export interface Conv3dGeometry {
  batch: number;
  cIn: number;
  cOut: number;
  input: Triple;
  kernel: Triple;
  stride: Triple;
  padBefore: Triple;
  padAfter: Triple;
  output: Triple;
}

const AXES = ["D", "H", "W"] as const;

function isCount(value: unknown, minimum: number): value is number {
  return typeof value === "number" && Number.isInteger(value) &&
    value >= minimum;
}

function resolveStride(stride: Conv3dOptions["stride"]): Triple {
  const value = stride ?? 1;
  const triple = typeof value === "number" ? [value, value, value] : value;
  if (
    !Array.isArray(triple) || triple.length !== 3 ||
    !triple.every((s) => isCount(s, 1))
  ) {
    throw new Error(
      `conv3d: stride must be a positive integer or three of them [sD, sH, sW], ` +
        `got ${JSON.stringify(stride)}`,
    );
  }
  return [triple[0], triple[1], triple[2]];
}

function resolvePadding(
  padding: Conv3dPadding | undefined,
  input: Triple,
  kernel: Triple,
  stride: Triple,
): [Triple, Triple] {
  const value = padding ?? 0;
  const invalid = () =>
    new Error(
      `conv3d: padding must be a non-negative integer, three of them, ` +
        `"same", or [[before, after], [before, after], [before, after]], ` +
        `got ${JSON.stringify(padding)}`,
    );

  if (value === "same") {
    const before = [0, 0, 0] as Triple;
    const after = [0, 0, 0] as Triple;
    for (let a = 0; a < 3; a++) {
      const out = Math.ceil(input[a] / stride[a]);
      const total = Math.max((out - 1) * stride[a] + kernel[a] - input[a], 0);
      before[a] = Math.floor(total / 2);
      after[a] = total - before[a];
    }
    return [before, after];
  }

  if (typeof value === "number") {
    if (!isCount(value, 0)) throw invalid();
    return [[value, value, value], [value, value, value]];
  }

  if (!Array.isArray(value) || value.length !== 3) throw invalid();
  if (value.every((p) => isCount(p, 0))) {
    const p = value as Triple;
    return [[p[0], p[1], p[2]], [p[0], p[1], p[2]]];
  }

  const pairs = value as unknown[];
  const isPair = (p: unknown): p is [number, number] =>
    Array.isArray(p) && p.length === 2 && isCount(p[0], 0) && isCount(p[1], 0);
  if (!pairs.every(isPair)) throw invalid();
  const pairList = pairs as [number, number][];
  return [
    [pairList[0][0], pairList[1][0], pairList[2][0]],
    [pairList[0][1], pairList[1][1], pairList[2][1]],
  ];
}

/**
 * Checks the shapes of a convolution and resolves its padding and output
 * size. Throws an error naming the shapes when ranks or channels disagree
 * or the kernel does not fit the padded input.
 */
export function conv3dGeometry(
  xShape: Shape,
  weightShape: Shape,
  biasShape: Shape | null,
  options: Conv3dOptions = {},
): Conv3dGeometry {
  const xText = formatShape(xShape);
  const weightText = formatShape(weightShape);
  if (xShape.length !== 5) {
    throw new Error(
      `conv3d: x must have rank 5 [N, Cin, D, H, W], got ${xText}`,
    );
  }
  if (weightShape.length !== 5) {
    throw new Error(
      `conv3d: weight must have rank 5 [Cout, Cin, kD, kH, kW], ` +
        `got ${weightText}`,
    );
  }

  const [batch, cIn, ...spatial] = xShape;
  const [cOut, weightCIn, ...kernelSize] = weightShape;
  if (cIn !== weightCIn) {
    throw new Error(
      `conv3d: x ${xText} has ${cIn} input channels but weight ` +
        `${weightText} expects ${weightCIn}`,
    );
  }
  if (biasShape && (biasShape.length !== 1 || biasShape[0] !== cOut)) {
    throw new Error(
      `conv3d: bias must have shape [${cOut}] for weight ${weightText}, ` +
        `got ${formatShape(biasShape)}`,
    );
  }
  if ([batch, cIn, cOut, ...spatial, ...kernelSize].some((d) => d === 0)) {
    throw new Error(
      `conv3d: empty dimension in x ${xText} or weight ${weightText}`,
    );
  }

  const input = spatial as Triple;
  const kernel = kernelSize as Triple;
  const stride = resolveStride(options.stride);
  const [padBefore, padAfter] = resolvePadding(
    options.padding,
    input,
    kernel,
    stride,
  );

  const output = [0, 0, 0] as Triple;
  for (let a = 0; a < 3; a++) {
    const padded = input[a] + padBefore[a] + padAfter[a];
    if (kernel[a] > padded) {
      throw new Error(
        `conv3d: kernel size ${kernel[a]} along ${AXES[a]} exceeds the ` +
          `padded input size ${padded} (x ${xText}, weight ${weightText}, ` +
          `padding ${padBefore[a]} + ${padAfter[a]})`,
      );
    }
    output[a] = Math.floor((padded - kernel[a]) / stride[a]) + 1;
  }
  return {
    batch,
    cIn,
    cOut,
    input,
    kernel,
    stride,
    padBefore,
    padAfter,
    output,
  };
}

/** Returns the output shape [N, Cout, Do, Ho, Wo] of conv3d for these shapes. */
export function conv3dOutputShape(
  xShape: Shape,
  weightShape: Shape,
  options: Conv3dOptions = {},
): number[] {
  const g = conv3dGeometry(xShape, weightShape, null, options);
  return [g.batch, g.cOut, ...g.output];
}

/**
 * Counts the FLOPs of the forward pass, 2 per multiply-add. The input
 * gradient and the weight gradient each take as many.
 */
export function conv3dFlops(g: Conv3dGeometry): number {
  const positions = g.batch * g.output[0] * g.output[1] * g.output[2];
  const k = g.cIn * g.kernel[0] * g.kernel[1] * g.kernel[2];
  return 2 * g.cOut * positions * k;
}

/** Counts the taps inside the unpadded input, summed over the outputs of one axis. */
function validTaps(g: Conv3dGeometry, axis: number): number {
  let count = 0;
  for (let o = 0; o < g.output[axis]; o++) {
    const start = o * g.stride[axis] - g.padBefore[axis];
    const low = Math.max(0, -start);
    const high = Math.min(g.kernel[axis], g.input[axis] - start);
    count += Math.max(0, high - low);
  }
  return count;
}

/**
 * Counts the multiply-adds of one pass on the input, without the taps on
 * the padding. Each of the three passes has as many.
 */
export function conv3dMultiplyAdds(g: Conv3dGeometry): number {
  const taps = validTaps(g, 0) * validTaps(g, 1) * validTaps(g, 2);
  return g.batch * g.cOut * g.cIn * taps;
}

/** Pads a D, H, W triple to the four components of a vec4 uniform. */

export function vec4(t: readonly number[]): number[] {
  return [t[0], t[1], t[2], 0];
}
