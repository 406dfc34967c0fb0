/// <reference lib="dom" />
/**
 * Output helpers for notebook cells: text, tables, Observable Plot figures,
 * heatmaps of tensor values and RGB images. Each helper returns a DOM node,
 * so a cell may also build its own figure and pass it to `display`.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { readAll, Tensor } from "../src/tensor.ts";

export interface HeatmapOptions {
  title?: string;
  /** Observable Plot colour scheme, e.g. "viridis" or "rdbu". */
  scheme?: Plot.ColorScheme;
  /** Cell size in CSS pixels. */
  cellSize?: number;
  xLabel?: string;
  yLabel?: string;
}

/** Renders rows of objects (or arrays) as an HTML table. */
export function table(rows: readonly unknown[]): HTMLTableElement {
  const element = document.createElement("table");
  if (rows.length === 0) return element;
  const first = rows[0];
  const columns = Array.isArray(first)
    ? first.map((_, i) => String(i))
    : Object.keys(first as object);
  const head = element.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.textContent = column;
    head.append(th);
  }
  const body = element.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const column of columns) {
      const value = (row as Record<string, unknown>)[column];
      tr.insertCell().textContent = formatValue(value);
    }
  }
  return element;
}

/**
 * Draws a rows x cols matrix as a heatmap (an SVG from Observable Plot).
 * `values` is row-major; a Tensor is read back first and must be 2D, or 1D
 * with `rows` given.
 */
export async function heatmap(
  values: ArrayLike<number> | Tensor,
  rows?: number,
  cols?: number,
  options: HeatmapOptions = {},
): Promise<Element> {
  let data: ArrayLike<number>;
  if (values instanceof Tensor) {
    if (rows === undefined && values.rank === 2) {
      [rows, cols] = values.shape;
    }
    [data] = await readAll([values]);
  } else {
    data = values;
  }
  if (rows === undefined) {
    throw new Error(
      "heatmap needs the row count for flat values; pass heatmap(values, rows)",
    );
  }
  cols ??= Math.floor(data.length / rows);
  if (rows * cols !== data.length) {
    throw new Error(
      `heatmap: ${data.length} values do not form ${rows} x ${cols}`,
    );
  }
  const cells = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      cells.push({ row: r, col: c, value: data[r * cols + c] });
    }
  }
  const size = options.cellSize ?? Math.max(4, Math.min(24, 320 / cols));
  return Plot.plot({
    title: options.title,
    width: Math.max(160, cols * size + 80),
    height: Math.max(80, rows * size + 50),
    padding: 0,
    x: { label: options.xLabel ?? null, axis: cols <= 40 ? "bottom" : null },
    y: { label: options.yLabel ?? null, axis: rows <= 40 ? "left" : null },
    color: { scheme: options.scheme ?? "viridis", legend: true },
    marks: [Plot.cell(cells, { x: "col", y: "row", fill: "value" })],
  });
}

/**
 * Draws an RGB image [3, H, W] with values in 0..maxValue (`flowToRgb`
 * returns 0..255) on a canvas, scaled up by `scale`.
 */
export async function image(
  rgb: Tensor,
  scale = 4,
  maxValue = 255,
): Promise<HTMLCanvasElement> {
  if (rgb.rank !== 3 || rgb.shape[0] !== 3) {
    throw new Error(`image expects [3, H, W], got ${rgb.describe()}`);
  }
  const [, height, width] = rgb.shape;
  const [data] = await readAll([rgb]);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${width * scale}px`;
  canvas.style.imageRendering = "pixelated";
  const pixels = new ImageData(width, height);
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    for (let channel = 0; channel < 3; channel++) {
      const value = data[channel * plane + i] / maxValue;
      pixels.data[i * 4 + channel] = Math.round(
        Math.min(1, Math.max(0, value)) * 255,
      );
    }
    pixels.data[i * 4 + 3] = 255;
  }
  canvas.getContext("2d")!.putImageData(pixels, 0, 0);
  return canvas;
}

/** Converts any value a cell displays into a DOM node. */
export function render(value: unknown): Node {
  if (value instanceof Node) return value;
  if (
    Array.isArray(value) && value.length > 0 &&
    value.every((row) => row !== null && typeof row === "object")
  ) {
    return table(value);
  }
  const pre = document.createElement("pre");
  pre.textContent = formatValue(value);
  return pre;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : value.toPrecision(5);
  }
  if (value instanceof Tensor) return value.toString();
  if (ArrayBuffer.isView(value)) {
    const values = Array.from(value as unknown as ArrayLike<number>);
    const shown = values.slice(0, 16).map((v) => formatValue(v)).join(", ");
    return `[${shown}${values.length > 16 ? `, ... (${values.length})` : ""}]`;
  }
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}
