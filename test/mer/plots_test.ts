/**
 * The report's per-layer gradient norm plot: every layer of every recorded
 * step gets a dot, so a stage with a single recorded step (where a line has
 * one point and draws nothing) still shows its values.
 */
import assert from "node:assert/strict";
import { DOMParser } from "linkedom";
import {
  type CurvePoint,
  gradientNormCurves,
  trainingCurves,
} from "../../src/mer/plots.ts";
import type { GradientRecord } from "../../src/mer/stages.ts";

function layer(path: string, norm: number) {
  return { path, norm, updateRatio: null };
}

/** One pltn step with three layers: conv3d_1a (two tensors), mixed_3b, logits. */
const SINGLE_STEP: GradientRecord = {
  stage: "pltn",
  step: 0,
  layers: [
    layer("conv3d_1a.conv3d.weight", 0.3),
    layer("conv3d_1a.bn.weight", 0.4),
    layer("mixed_3b.b0.conv3d.weight", 0.05),
    layer("logits.weight", 2),
    // A layer whose gradients are all zero has no point on a log scale.
    layer("mixed_3c.b0.conv3d.weight", 0),
  ],
};

function parseSvg(svg: string) {
  return new DOMParser().parseFromString(svg, "image/svg+xml");
}

/** Returns a mark's facet groups, one per stage with data, in stage order. */
function facets(svg: string, mark: string) {
  const group = parseSvg(svg).querySelector(`g[aria-label="${mark}"]`);
  assert.ok(group, `the plot has no ${mark} mark`);
  return [...group.children];
}

Deno.test("gradientNormCurves dots a single-step stage", () => {
  const svg = gradientNormCurves([SINGLE_STEP]);
  const [dots] = facets(svg, "dot");
  const circles = [...dots.querySelectorAll("circle")];
  assert.equal(circles.length, 3, "expected one dot per nonzero layer");
  for (const circle of circles) {
    assert.ok(Number(circle.getAttribute("r")) > 0, "a dot has no radius");
  }

  // Each labelled layer has a dot of its color.
  const [labels] = facets(svg, "text");
  const labelFills = new Map(
    [...labels.querySelectorAll("text")].map((text) => [
      text.textContent,
      text.getAttribute("fill"),
    ]),
  );
  assert.deepEqual(
    [...labelFills.keys()].sort(),
    ["conv3d_1a", "logits", "mixed_3b"],
  );
  const dotFills = circles.map((circle) => circle.getAttribute("fill"));
  for (const [name, fill] of labelFills) {
    assert.ok(dotFills.includes(fill), `layer ${name} has no dot`);
  }
});

Deno.test("gradientNormCurves dots every recorded step", () => {
  const steps: GradientRecord[] = [0, 5, 10].map((step) => ({
    stage: "plsm",
    step,
    layers: [
      layer("encoder.conv3d_1a.conv3d.weight", 1 + step),
      layer("logits.weight", 0.5 + step),
    ],
  }));
  const svg = gradientNormCurves([SINGLE_STEP, ...steps]);
  const dots = facets(svg, "dot");
  assert.equal(dots.length, 2, "expected a pltn and a plsm panel");
  assert.equal(dots[0].querySelectorAll("circle").length, 3);
  assert.equal(dots[1].querySelectorAll("circle").length, 6);

  const lines = facets(svg, "line");
  const plsmPaths = [...lines[1].querySelectorAll("path")];
  assert.equal(plsmPaths.length, 2, "expected one line per plsm layer");
  for (const path of plsmPaths) {
    assert.match(path.getAttribute("d") ?? "", /L/, "a line has one point");
  }
});

/** Two folds: PLTN (no accuracy) for 2 epochs, PLSM for 1. */
const CURVES: CurvePoint[] = [0, 1].flatMap((fold) => [
  { stage: "pltn", epoch: 0, loss: 1.2, accuracy: null, seconds: 1, fold },
  { stage: "pltn", epoch: 1, loss: 1.0, accuracy: null, seconds: 1, fold },
  {
    stage: "plsm",
    epoch: 0,
    loss: 0.9,
    accuracy: 0.4 + 0.2 * fold,
    seconds: 1,
    fold,
  },
]);

Deno.test("trainingCurves panels, mean and ticks", () => {
  const loss = trainingCurves(CURVES, "loss");
  assert.match(loss, />pltn</);
  assert.match(loss, /grey: each of 2 folds, black: mean/);
  // Whole epoch numbers only, even with a single epoch in a stage.
  const ticks = parseSvg(loss).querySelector(
    'g[aria-label="x-axis tick label"]',
  );
  assert.ok(ticks);
  const labels = [...ticks.querySelectorAll("text")].map((t) => t.textContent);
  assert.deepEqual(labels, ["1", "2", "1", "2"]);

  const accuracy = trainingCurves(CURVES, "accuracy");
  assert.doesNotMatch(accuracy, />pltn</);
  assert.match(accuracy, />plsm</);
  // The black mean dot of PLSM epoch 1 sits at accuracy 0.5, between the
  // two folds' grey dots.
  const dots = parseSvg(accuracy).querySelectorAll('g[aria-label="dot"]');
  assert.equal(dots.length, 2);
  const [folds, mean] = [...dots].map((g) =>
    [...g.querySelectorAll("circle")].map((c) => Number(c.getAttribute("cy")))
  );
  assert.equal(folds.length, 2);
  assert.equal(mean.length, 1);
  assert.ok(Math.abs(mean[0] - (folds[0] + folds[1]) / 2) < 1e-6);
});
