/**
 * MPFNet's motion features, flow magnitudes, the flow colour picture and the
 * apex estimate.
 */
import assert from "node:assert/strict";
import { readAll, scope, type Tensor, tensor } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import {
  estimateApexIndex,
  flowMagnitude,
  flowToRgb,
  matchBrightness,
  meanFlowMagnitude,
  motionFeatures,
  toGray,
  tvl1FlowBatch,
} from "../../src/vision/mod.ts";
import { assertClose, gpuTest } from "../helpers.ts";

const H = 32;
const W = 40;

/** Smooth random texture (sum of plane waves) moved by (dx, dy), per channel. */
function frame(
  dx: number,
  dy: number,
  channels: number,
  seed = 4,
): Float32Array {
  const rng = new Rng(seed);
  const waves = Array.from({ length: 8 }, () => ({
    angle: rng.uniform(0, Math.PI),
    frequency: (2 * Math.PI) / rng.uniform(6, 16),
    phase: rng.uniform(0, 2 * Math.PI),
  }));
  const out = new Float32Array(channels * H * W);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let value = 100 + 30 * c;
        for (const { angle, frequency, phase } of waves) {
          const along = (x - dx) * Math.cos(angle) + (y - dy) * Math.sin(angle);
          value += 10 * Math.sin(frequency * along + phase + c);
        }
        out[c * H * W + y * W + x] = value;
      }
    }
  }
  return out;
}

function quantize(f: number): number {
  return Math.min(Math.max(Math.round(((f + 15) * 255) / 30), 0), 255) / 255;
}

gpuTest("motionFeatures matches its definition on RGB frames", async () => {
  const shifts = [0, 0.4, 1.1, 1.5];
  const data = shifts.map((s) => frame(s, -s / 2, 3));
  const [features, flows] = scope(() => {
    const frames = data.map((d) => tensor(d, [3, H, W]));
    const first = new Float32Array(3 * 3 * H * W);
    const second = new Float32Array(3 * 3 * H * W);
    for (let t = 0; t < 3; t++) {
      first.set(data[t], t * 3 * H * W);
      second.set(data[t + 1], t * 3 * H * W);
    }
    return [
      motionFeatures(frames, { channels: "rgb" }),
      tvl1FlowBatch(
        toGray(tensor(first, [3, 3, H, W])),
        toGray(tensor(second, [3, 3, H, W])),
      ),
    ];
  });
  assert.deepEqual([...features.shape], [5, 3, H, W]);
  const [f, flow] = await readAll([features, flows]);
  features.dispose();
  flows.dispose();
  const plane = H * W;
  const expectedFlow = new Float32Array(2 * 3 * plane);
  const expectedDifference = new Float32Array(3 * 3 * plane);
  for (let t = 0; t < 3; t++) {
    for (let i = 0; i < plane; i++) {
      expectedFlow[t * plane + i] = quantize(flow[2 * t * plane + i]);
      expectedFlow[3 * plane + t * plane + i] = quantize(
        flow[(2 * t + 1) * plane + i],
      );
      for (let c = 0; c < 3; c++) {
        expectedDifference[c * 3 * plane + t * plane + i] =
          Math.abs(data[t + 1][c * plane + i] - data[t][c * plane + i]) / 255;
      }
    }
  }
  // The same gray frames give the same flows. The quantisation here is in
  // f64, so a level can differ by one where a value sits on a rounding
  // boundary.
  assertClose(f.subarray(0, 2 * 3 * plane), expectedFlow, {
    atol: 1 / 255 + 1e-6,
    rtol: 0,
  }, "flow");
  assertClose(f.subarray(2 * 3 * plane), expectedDifference, {
    atol: 1e-6,
    rtol: 1e-5,
  }, "difference");
  let mismatched = 0;
  for (let i = 0; i < expectedFlow.length; i++) {
    if (Math.abs(f[i] - expectedFlow[i]) > 1e-6) mismatched++;
  }
  assert.ok(mismatched <= 2, `${mismatched} flow levels differ`);
  const flowLevels = new Set(
    Array.from(f.subarray(0, plane), (v) => Math.round(v * 255)),
  );
  assert.ok(
    flowLevels.size > 3,
    "the moving frames give more than a few flow levels",
  );
});

gpuTest(
  "motionFeatures of still frames is mid-grey flow and no difference",
  async () => {
    const still = frame(0, 0, 1);
    const features = scope(() => {
      const frames = Array.from({ length: 11 }, () => tensor(still, [1, H, W]));
      return motionFeatures(frames, { channels: "gray" });
    });
    assert.deepEqual([...features.shape], [5, 10, H, W]);
    const [f] = await readAll([features]);
    features.dispose();
    const n = 10 * H * W;
    // Zero flow maps to (0 + 15) * 255 / 30 = 127.5, rounded half to even.
    for (let i = 0; i < 2 * n; i++) assert.equal(f[i], Math.fround(128 / 255));
    for (let i = 2 * n; i < 5 * n; i++) assert.equal(f[i], 0);
  },
);

gpuTest(
  "motionFeatures repeats a gray difference and can skip rounding",
  async () => {
    const data = [frame(0, 0, 1), frame(0.5, 0, 1)];
    const [rounded, exact] = scope(() => {
      const frames = data.map((d) => tensor(d, [H, W]));
      return [
        motionFeatures(frames, { channels: "gray" }),
        motionFeatures(frames, { channels: "gray", roundFlow: false }),
      ];
    });
    const [r, e] = await readAll([rounded, exact]);
    rounded.dispose();
    exact.dispose();
    const plane = H * W;
    for (let i = 0; i < plane; i++) {
      const difference = Math.abs(data[1][i] - data[0][i]) / 255;
      for (let c = 2; c < 5; c++) {
        assert.ok(
          Math.abs(r[c * plane + i] - difference) < 1e-6,
          `channel ${c} pixel ${i}`,
        );
      }
      assert.ok(Math.abs(r[i] - e[i]) <= 0.5 / 255 + 1e-6, `pixel ${i}`);
    }
    const levels = new Set(
      Array.from(e.subarray(0, plane), (v) => Math.round(v * 255 * 1000)),
    );
    assert.ok(levels.size > 50, "unrounded flow keeps sub-level values");
  },
);

gpuTest("motionFeatures rejects invalid input", () => {
  scope(() => {
    const gray = tensor(new Float32Array(H * W), [H, W]);
    assert.throws(
      () => motionFeatures([gray], { channels: "gray" }),
      /at least 2/,
    );
    assert.throws(
      () => motionFeatures([gray, gray], { channels: "rgb" }),
      /\[3, H, W\]/,
    );
    const other = tensor(new Float32Array(H * (W + 1)), [H, W + 1]);
    assert.throws(
      () => motionFeatures([gray, other], { channels: "gray" }),
      /same size/,
    );
  });
});

function flowField(): Float32Array {
  // Pixel i has flow (cos, sin) of angle i * 45 degrees and magnitude i / 2.
  const flow = new Float32Array(2 * 8);
  for (let i = 0; i < 8; i++) {
    flow[i] = (i / 2) * Math.cos((i * Math.PI) / 4);
    flow[8 + i] = (i / 2) * Math.sin((i * Math.PI) / 4);
  }
  return flow;
}

gpuTest("flowMagnitude and meanFlowMagnitude", async () => {
  const field = flowField();
  const [magnitude, mean, batchMean] = scope(() => {
    const flow = tensor(field, [2, 2, 4]);
    const batch = tensor([...field, ...field.map((v) => 2 * v)], [2, 2, 2, 4]);
    return [
      flowMagnitude(flow),
      meanFlowMagnitude(flow),
      meanFlowMagnitude(batch),
    ];
  });
  assert.deepEqual([...magnitude.shape], [2, 4]);
  assert.deepEqual([...batchMean.shape], [2]);
  const [m, average, batch] = await readAll([magnitude, mean, batchMean]);
  for (const t of [magnitude, mean, batchMean]) t.dispose();
  const expected = Array.from({ length: 8 }, (_, i) => i / 2);
  assertClose(m, expected, { atol: 1e-5, rtol: 1e-5 }, "magnitude");
  assertClose(average, [1.75], { atol: 1e-5, rtol: 1e-5 }, "mean");
  assertClose(batch, [1.75, 3.5], { atol: 1e-5, rtol: 1e-5 }, "batch mean");
});

gpuTest("flowToRgb colours direction and magnitude", async () => {
  const picture = scope(() => flowToRgb(tensor(flowField(), [2, 2, 4])));
  assert.deepEqual([...picture.shape], [3, 2, 4]);
  const [rgb] = await readAll([picture]);
  picture.dispose();
  const pixel = (i: number) => [rgb[i], rgb[8 + i], rgb[16 + i]];
  // Value = (m - 0) / (3.5 - 0); hue = angle: 0 red, 90 yellow-green, 180
  // cyan, 270 violet (image y points down, so 90 degrees is downwards).
  assertClose(pixel(0), [0, 0, 0], { atol: 1e-3, rtol: 0 }, "zero flow");
  assertClose(pixel(2), [127.5 * (1 / 3.5), 255 * (1 / 3.5), 0], {
    atol: 1e-2,
    rtol: 0,
  }, "90 degrees");
  assertClose(pixel(4), [0, 255 * (2 / 3.5), 255 * (2 / 3.5)], {
    atol: 1e-2,
    rtol: 0,
  }, "180 degrees");
  assertClose(pixel(6), [127.5 * (3 / 3.5), 0, 255 * (3 / 3.5)], {
    atol: 1e-2,
    rtol: 0,
  }, "270 degrees");
  assertClose(
    pixel(7),
    [255, 0, 255 * 0.75],
    { atol: 1e-2, rtol: 0 },
    "315 degrees",
  );
});

gpuTest("estimateApexIndex ignores global drift", async () => {
  // A pattern drifting steadily to the right, with a local bump (a patch
  // shifted further) that peaks in frame 1: compensation finds the bump,
  // the raw magnitude the drift's last frame.
  const drift = [0.3, 0.6, 0.9, 1.2];
  const local = [0.5, 2.0, 0.5, 0];
  const frames: Tensor[] = [];
  const onset = tensor(frame(0, 0, 1), [1, H, W]);
  drift.forEach((d, k) => {
    const base = frame(d, 0, 1);
    const moved = frame(d + local[k], 0, 1);
    for (let y = 8; y < 24; y++) {
      for (let x = 8; x < 24; x++) base[y * W + x] = moved[y * W + x];
    }
    frames.push(tensor(base, [1, H, W]));
  });
  const compensated = await estimateApexIndex(onset, frames);
  assert.equal(compensated.index, 1);
  const raw = await estimateApexIndex(onset, frames, undefined, false);
  assert.equal(raw.index, 3);
  onset.dispose();
  for (const t of frames) t.dispose();
});

gpuTest("estimateApexIndex picks the frame of largest motion", async () => {
  const shifts = [0.2, 0.6, 1.4, 0.9, 0.3];
  const tensors: Tensor[] = [];
  const onset = tensor(frame(0, 0, 3), [3, H, W]);
  for (const s of shifts) tensors.push(tensor(frame(s, s / 3, 3), [3, H, W]));
  // Whole-image shifts: global motion is the signal here, so it is kept.
  const { index, meanMagnitudes } = await estimateApexIndex(
    onset,
    tensors,
    undefined,
    false,
  );
  assert.equal(index, 2);
  assert.equal(meanMagnitudes.length, shifts.length);
  for (let i = 1; i < 3; i++) {
    assert.ok(meanMagnitudes[i] > meanMagnitudes[i - 1]);
  }
  onset.dispose();
  for (const t of tensors) t.dispose();
});

gpuTest("matchBrightness scales an image to the reference's mean", async () => {
  const reference = tensor(frame(0, 0, 3), [3, H, W]);
  const darker = tensor(frame(0, 0, 3).map((v) => v * 0.93), [3, H, W]);
  const black = tensor(new Float32Array(3 * H * W), [3, H, W]);
  const [matched, original, zero] = await readAll([
    matchBrightness(darker, reference),
    reference,
    matchBrightness(black, reference),
  ]);
  assertClose(matched, original, { atol: 1e-3, rtol: 1e-4 }, "matched");
  assert.ok(zero.every((v) => v === 0), "an all-black frame stays black");
  for (const t of [reference, darker, black]) t.dispose();
});

gpuTest("estimateApexIndex is not fooled by lighting flicker", async () => {
  // Frame 0 moves a patch by 0.8 px. Frame 1 has no motion but is 6 %
  // brighter, so without brightness matching it reads as larger motion.
  const onset = tensor(frame(0, 0, 1), [1, H, W]);
  const moved = frame(0, 0, 1);
  const shifted = frame(0.8, 0, 1);
  for (let y = 8; y < 24; y++) {
    for (let x = 8; x < 24; x++) moved[y * W + x] = shifted[y * W + x];
  }
  const brighter = frame(0, 0, 1).map((v) => v * 1.06);
  const frames = [tensor(moved, [1, H, W]), tensor(brighter, [1, H, W])];
  const { index, meanMagnitudes } = await estimateApexIndex(onset, frames);
  assert.equal(index, 0, `magnitudes ${meanMagnitudes}`);
  onset.dispose();
  for (const t of frames) t.dispose();
});
