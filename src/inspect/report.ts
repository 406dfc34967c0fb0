/**
 * Text table and SVG bar plot of one step's gradient statistics. The plot
 * uses Observable Plot on linkedom's document, so no browser is needed.
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import type { GradientStats } from "./gradients.ts";

type PlotDocument = Plot.PlotOptions["document"];

function plotDocument(): PlotDocument {
  const window = parseHTML(
    "<!doctype html><html><body></body></html>",
  ) as unknown as { document: PlotDocument };
  return window.document;
}

function formatNumber(value: number | null): string {
  if (value === null) return "-";
  if (value === 0) return "0";
  return value.toExponential(3);
}

const COLUMNS = ["norm", "mean", "std", "max|g|", "nan", "inf", "update"];

/** Formats one row per parameter: norm, mean, std, max |g|, NaN, Inf, update ratio. */
export function gradientTable(stats: GradientStats[]): string {
  const rows = stats.map((s) => [
    s.path,
    formatNumber(s.norm),
    formatNumber(s.mean),
    formatNumber(s.std),
    formatNumber(s.maxAbs),
    String(s.nan),
    String(s.inf),
    formatNumber(s.updateRatio),
  ]);
  const header = ["parameter", ...COLUMNS];
  const widths = header.map((h, c) =>
    Math.max(h.length, ...rows.map((r) => r[c].length))
  );
  const format = (cells: string[]) =>
    cells.map((cell, c) =>
      c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])
    ).join("  ");
  return [
    format(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(format),
  ].join("\n");
}

/** Horizontal bars of the gradient L2 norm per parameter, in model order. */
export function gradientNormPlot(stats: GradientStats[]): string {
  const data = stats.map((s) => ({ path: s.path, norm: s.norm }));
  const longest = Math.max(10, ...data.map((d) => d.path.length));
  const svg = Plot.plot({
    document: plotDocument(),
    width: 760,
    height: 60 + 14 * Math.max(data.length, 1),
    marginLeft: Math.min(6 * longest + 10, 420),
    x: { label: "gradient L2 norm", grid: true },
    y: { label: null, domain: data.map((d) => d.path) },
    marks: [
      Plot.barX(data, { x: "norm", y: "path", fill: "steelblue" }),
      Plot.ruleX([0]),
    ],
  });
  const html = (svg as unknown as { outerHTML: string }).outerHTML;
  // Plot returns a bare <svg>; a standalone file needs the namespace.
  return html.includes("xmlns=")
    ? html
    : html.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"');
}
