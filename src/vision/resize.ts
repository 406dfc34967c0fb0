/**
 * Image resizing with the semantics of OpenCV 4.6 `cv::resize` on float
 * images: INTER_LINEAR (half-pixel centres, source x = (x' + 0.5) * scale -
 * 0.5, edges replicated) and INTER_AREA (pixel-area weights when shrinking,
 * OpenCV's area-mode linear weights when enlarging). The weights of each axis
 * are computed here once per size pair, O(H + W) numbers cached on the GPU,
 * and every pixel is computed by shaders/vision/resample.wgsl.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, Tensor, tensor } from "../tensor.ts";
import { checkInteger, planeLayout } from "./image.ts";
import resampleSource from "../../shaders/vision/resample.wgsl" with {
  type: "text",
};

export type ResizeMode = "area" | "bilinear";

export interface ResizeOptions {
  height: number;
  width: number;
  /** "bilinear" (OpenCV INTER_LINEAR, the default) or "area" (INTER_AREA). */
  mode?: ResizeMode;
}

/** Per-axis resampling weights: output i reads inputs offsets[i] + k. */
export interface AxisTaps {
  offsets: number[];
  /** weights[i][k], k < taps. */
  weights: number[][];
  taps: number;
}

const resampleLayout = new UniformLayout([
  ["planes", "u32"],
  ["in_h", "u32"],
  ["in_w", "u32"],
  ["out_h", "u32"],
  ["out_w", "u32"],
  ["taps_x", "u32"],
  ["taps_y", "u32"],
  ["y_table", "u32"],
  ["gain", "f32"],
]);

/**
 * INTER_LINEAR weights for an axis of `inSize` -> `outSize` samples with
 * source step `scale` (inSize / outSize, or 1 / fx when OpenCV is given a
 * factor). Positions are computed in f32 like OpenCV; taps left of the first
 * or right of the last sample collapse onto the edge sample.
 */
export function linearTaps(
  inSize: number,
  outSize: number,
  scale: number,
): AxisTaps {
  const offsets: number[] = [];
  const weights: number[][] = [];
  for (let d = 0; d < outSize; d++) {
    const position = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(position);
    let f = Math.fround(position - s);
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= inSize - 1) {
      s = inSize - 1;
      f = 0;
    }
    offsets.push(s);
    weights.push([Math.fround(1 - f), f]);
  }
  return { offsets, weights, taps: 2 };
}

/**
 * INTER_AREA weights for shrinking (`scale` = inSize / outSize >= 1): each
 * output averages the input cells it covers, weighted by the covered length,
 * as OpenCV's computeResizeAreaTab does (overlaps under 1e-3 pixel are
 * dropped).
 */
export function areaTaps(
  inSize: number,
  outSize: number,
  scale: number,
): AxisTaps {
  const offsets: number[] = [];
  const weights: number[][] = [];
  let taps = 1;
  for (let d = 0; d < outSize; d++) {
    const start = d * scale;
    const end = start + scale;
    const cellWidth = Math.min(scale, inSize - start);
    let first = Math.ceil(start);
    let last = Math.floor(end);
    last = Math.min(last, inSize - 1);
    first = Math.min(first, last);
    const row: [number, number][] = [];
    if (first - start > 1e-3) {
      row.push([first - 1, (first - start) / cellWidth]);
    }
    for (let s = first; s < last; s++) row.push([s, 1 / cellWidth]);
    if (end - last > 1e-3) {
      row.push([
        last,
        Math.min(Math.min(end - last, 1), cellWidth) / cellWidth,
      ]);
    }
    offsets.push(row[0][0]);
    weights.push(row.map(([, w]) => Math.fround(w)));
    taps = Math.max(taps, row.length);
  }
  return { offsets, weights, taps };
}

/**
 * INTER_AREA weights when an axis is enlarged (OpenCV's area-mode linear
 * weights: source s = floor(d * scale), weight of s + 1 the fractional part
 * of (d + 1) - (s + 1) / scale, or 0 when that is not positive).
 */
export function areaEnlargeTaps(
  inSize: number,
  outSize: number,
  scale: number,
): AxisTaps {
  const inverse = outSize / inSize;
  const offsets: number[] = [];
  const weights: number[][] = [];
  for (let d = 0; d < outSize; d++) {
    let s = Math.floor(d * scale);
    let f = Math.fround((d + 1) - (s + 1) * inverse);
    f = f <= 0 ? 0 : Math.fround(f - Math.floor(f));
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= inSize - 1) {
      s = inSize - 1;
      f = 0;
    }
    offsets.push(s);
    weights.push([Math.fround(1 - f), f]);
  }
  return { offsets, weights, taps: 2 };
}

function tableValues(axis: AxisTaps): number[] {
  const values: number[] = [];
  axis.offsets.forEach((offset, i) => {
    values.push(offset);
    for (let k = 0; k < axis.taps; k++) values.push(axis.weights[i][k] ?? 0);
  });
  return values;
}

const TABLE_CACHE_SIZE = 64;
const tableCache = new Map<string, Tensor>();

function tapTable(key: string, x: AxisTaps, y: AxisTaps): Tensor {
  const found = tableCache.get(key);
  if (found && !found.disposed) {
    tableCache.delete(key);
    tableCache.set(key, found);
    return found;
  }
  const values = [...tableValues(x), ...tableValues(y)];
  const table = tensor(values, [values.length], "f32", "resample.taps").keep();
  tableCache.set(key, table);
  if (tableCache.size > TABLE_CACHE_SIZE) {
    const [oldestKey, oldest] = tableCache.entries().next().value as [
      string,
      Tensor,
    ];
    tableCache.delete(oldestKey);
    oldest.dispose();
  }
  return table;
}

/**
 * Resamples every H x W plane of `image` to `height` x `width` with the
 * given per-axis weights, multiplying the result by `gain`. `key` names the
 * weights for the table cache.
 */
export function resample(
  image: Tensor,
  height: number,
  width: number,
  taps: { x: AxisTaps; y: AxisTaps; key: string },
  gain = 1,
): Tensor {
  const { planes, height: inH, width: inW } = planeLayout(image, "resample");
  const shape = [...image.shape.slice(0, -2), height, width];
  const out = empty(shape, "f32", "resample");
  const table = tapTable(taps.key, taps.x, taps.y);
  runtime().dispatch({
    op: "vision.resample",
    kernel: { file: "shaders/vision/resample.wgsl", source: resampleSource },
    uniforms: resampleLayout.pack({
      planes,
      in_h: inH,
      in_w: inW,
      out_h: height,
      out_w: width,
      taps_x: taps.x.taps,
      taps_y: taps.y.taps,
      y_table: width * (taps.x.taps + 1),
      gain,
    }),
    bindings: [image.binding(), table.binding(), out.binding()],
    workgroups: Math.ceil(out.size / 256),
    shapes: `image ${image.describe()} -> ${height}x${width}`,
  });
  return out;
}

/**
 * Resizes the last two axes of an image ([H, W], [C, H, W] or
 * [N, C, H, W]) like OpenCV's `cv::resize(src, dst, Size(width, height), 0,
 * 0, INTER_LINEAR or INTER_AREA)` on a float image.
 *
 * @example
 * ```ts
 * const small = resize(frame, { height: 128, width: 128, mode: "area" });
 * ```
 */
export function resize(image: Tensor, options: ResizeOptions): Tensor {
  const { height, width } = options;
  const mode = options.mode ?? "bilinear";
  checkInteger(height, "height", 1, 1 << 16, "resize");
  checkInteger(width, "width", 1, 1 << 16, "resize");
  if (mode !== "area" && mode !== "bilinear") {
    throw new Error(
      `resize: mode must be "area" or "bilinear", got ${String(mode)}`,
    );
  }
  const { height: inH, width: inW } = planeLayout(image, "resize");
  const scaleX = inW / width;
  const scaleY = inH / height;
  let x: AxisTaps;
  let y: AxisTaps;
  if (mode === "bilinear") {
    x = linearTaps(inW, width, scaleX);
    y = linearTaps(inH, height, scaleY);
  } else if (scaleX >= 1 && scaleY >= 1) {
    x = areaTaps(inW, width, scaleX);
    y = areaTaps(inH, height, scaleY);
  } else {
    // OpenCV uses area-mode linear weights on both axes as soon as one axis
    // is enlarged.
    x = areaEnlargeTaps(inW, width, scaleX);
    y = areaEnlargeTaps(inH, height, scaleY);
  }
  const key = `${mode}:${inH}x${inW}->${height}x${width}`;
  return resample(image, height, width, { x, y, key });
}
