/**
 * SVG plots of a run with Observable Plot, rendered without a browser
 * through linkedom's document: training curves per stage and fold, and the
 * pooled confusion matrix.
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import type { EpochRecord, GradientRecord } from "./stages.ts";

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

const STAGES = ["pltn", "plsm", "fusion"] as const;

/**
 * Plots loss (or accuracy) per epoch, one panel per stage: a thin grey line
 * per fold and a black line for the mean over the folds. Stages without
 * values (PLTN has no accuracy) get no panel.
 */
export function trainingCurves(
  points: CurvePoint[],
  metric: "loss" | "accuracy",
): string {
  const data = points.filter((p) => metric === "loss" || p.accuracy !== null)
    .map((p) => ({
      stage: p.stage,
      fold: p.fold,
      epoch: p.epoch + 1,
      value: (metric === "loss" ? p.loss : p.accuracy) as number,
    }));
  const means = [...Map.groupBy(data, (d) => `${d.stage} ${d.epoch}`).values()]
    .map((group) => ({
      stage: group[0].stage,
      epoch: group[0].epoch,
      value: group.reduce((sum, d) => sum + d.value, 0) / group.length,
    }));
  const stages = STAGES.filter((stage) => data.some((d) => d.stage === stage));
  const epochs = Math.max(1, ...data.map((d) => d.epoch));
  const folds = new Set(data.map((d) => d.fold)).size;
  const label = `${metric === "loss" ? "loss" : "training accuracy"} ` +
    `(grey: each of ${folds} folds, black: mean)`;
  return serialize(
    Plot.plot({
      document: document(),
      width: 760,
      height: 280,
      marginLeft: 50,
      fx: { label: "stage", domain: stages },
      x: {
        label: "epoch",
        ticks: Array.from({ length: epochs }, (_, i) => i + 1),
        tickFormat: "d",
      },
      y: {
        label,
        grid: true,
        ...(metric === "accuracy" ? { domain: [0, 1] } : {}),
      },
      marks: [
        Plot.frame({ stroke: "#ccc" }),
        Plot.lineY(data, {
          fx: "stage",
          x: "epoch",
          y: "value",
          z: "fold",
          stroke: "#999",
          strokeOpacity: 0.5,
        }),
        // Dots keep a single-epoch stage visible.
        Plot.dot(data, {
          fx: "stage",
          x: "epoch",
          y: "value",
          fill: "#999",
          r: 1.5,
        }),
        Plot.lineY(means, {
          fx: "stage",
          x: "epoch",
          y: "value",
          stroke: "black",
          strokeWidth: 2,
        }),
        Plot.dot(means, { fx: "stage", x: "epoch", y: "value", fill: "black" }),
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

/** Top-level layer of a parameter path ("gfe.mixed_3b" in fusion, else "mixed_3b"). */
function layerOf(path: string): string {
  const parts = path.split(".");
  const depth = ["gfe", "afe", "encoder"].includes(parts[0]) ? 2 : 1;
  return parts.slice(0, depth).join(".");
}

/**
 * Gradient L2 norm per layer (the parameters' norms combined) over the
 * recorded steps, one panel per stage, log scale.
 */
export function gradientNormCurves(records: GradientRecord[]): string {
  const data: { stage: string; step: number; layer: string; norm: number }[] =
    [];
  for (const record of records) {
    const squares = new Map<string, number>();
    for (const layer of record.layers) {
      const key = layerOf(layer.path);
      squares.set(key, (squares.get(key) ?? 0) + layer.norm * layer.norm);
    }
    for (const [layer, sum] of squares) {
      if (sum > 0) {
        data.push({
          stage: record.stage,
          step: record.step,
          layer,
          norm: Math.sqrt(sum),
        });
      }
    }
  }
  return serialize(
    Plot.plot({
      document: document(),
      width: 760,
      height: 320,
      marginLeft: 60,
      fx: { label: "stage", domain: ["pltn", "plsm", "fusion"] },
      x: { label: "step" },
      y: { label: "gradient L2 norm", type: "log", grid: true },
      marginRight: 90,
      marks: [
        Plot.frame({ stroke: "#ccc" }),
        Plot.lineY(data, {
          fx: "stage",
          x: "step",
          y: "norm",
          z: "layer",
          stroke: "layer",
        }),
        // A line needs two steps, so dots keep a single-step stage visible.
        Plot.dot(data, {
          fx: "stage",
          x: "step",
          y: "norm",
          fill: "layer",
          r: 2,
        }),
        // A color legend would make Plot return an HTML figure instead of an
        // SVG, so each line is labelled at its last step.
        Plot.text(
          data,
          Plot.selectLast({
            fx: "stage",
            x: "step",
            y: "norm",
            z: "layer",
            text: "layer",
            fill: "layer",
            textAnchor: "start",
            dx: 3,
            fontSize: 8,
          }),
        ),
      ],
    }),
  );
}
