/**
 * SVG plots of a run with Observable Plot, rendered without a browser
 * through linkedom's document: training curves per stage and fold, and the
 * pooled confusion matrix.
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import type { EpochRecord } from "./stages.ts";

type PlotDocument = Plot.PlotOptions["document"];

function document(): PlotDocument {
  const window = parseHTML(
    "<!doctype html><html><body></body></html>",
  ) as unknown as {
    document: PlotDocument;
  };
  return window.document;
}

function serialize(node: unknown): string {
  const html = (node as { outerHTML: string }).outerHTML;
  // Plot returns a bare <svg>; a standalone file needs the namespace.
  return html.includes("xmlns=")
    ? html
    : html.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"');
}

export interface CurvePoint extends EpochRecord {
  fold: number;
}

/** Loss (or accuracy) per epoch, one line per fold, one panel per stage. */
export function trainingCurves(
  points: CurvePoint[],
  metric: "loss" | "accuracy",
): string {
  const data = points.filter((p) => metric === "loss" || p.accuracy !== null)
    .map((p) => ({
      ...p,
      epoch: p.epoch + 1,
      value: metric === "loss" ? p.loss : p.accuracy,
    }));
  return serialize(
    Plot.plot({
      document: document(),
      width: 760,
      height: 260,
      marginLeft: 50,
      fx: { label: "stage", domain: ["pltn", "plsm", "fusion"] },
      x: { label: "epoch" },
      y: {
        label: metric,
        grid: true,
        ...(metric === "accuracy" ? { domain: [0, 1] } : {}),
      },
      color: { legend: false },
      marks: [
        Plot.frame({ stroke: "#ccc" }),
        Plot.lineY(data, {
          fx: "stage",
          x: "epoch",
          y: "value",
          z: "fold",
          stroke: "fold",
          strokeOpacity: 0.6,
        }),
        // Dots keep a single-epoch stage visible.
        Plot.dot(data, {
          fx: "stage",
          x: "epoch",
          y: "value",
          fill: "fold",
          r: 2,
        }),
      ],
    }),
  );
}

/** Heatmap of a confusion matrix (rows true class, columns predicted). */
export function confusionPlot(
  confusion: number[][],
  classNames: string[],
): string {
  const cells = confusion.flatMap((row, t) =>
    row.map((count, p) => ({
      truth: classNames[t],
      predicted: classNames[p],
      count,
    }))
  );
  return serialize(
    Plot.plot({
      document: document(),
      width: 120 + 90 * classNames.length,
      height: 80 + 60 * classNames.length,
      marginLeft: 100,
      padding: 0,
      x: { label: "predicted", domain: classNames, axis: "top" },
      y: { label: "true", domain: classNames },
      color: { scheme: "blues" },
      marks: [
        Plot.cell(cells, {
          x: "predicted",
          y: "truth",
          fill: "count",
          inset: 0.5,
        }),
        Plot.text(cells, {
          x: "predicted",
          y: "truth",
          text: "count",
          fill: "black",
        }),
      ],
    }),
  );
}
