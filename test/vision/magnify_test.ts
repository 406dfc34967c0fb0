/**
 * Flow-based motion magnification and frame interpolation on a smooth blob
 * with a known sub-pixel motion, measured by the translation estimate.
 */
import assert from "node:assert/strict";
import { readAll, scope, type Tensor, tensor } from "../../src/tensor.ts";
import {
  estimateTranslation,
  interpolateFrames,
  magnify,
  MOTION_TVL1,
  tvl1Flow,
} from "../../src/vision/mod.ts";
import { gpuTest } from "../helpers.ts";

const SIZE = 64;

/** Gaussian blobs (sigma 5 to 7 px) on a grey background, moved by (dx, dy). */
function blobs(dx: number, dy: number, channels = 1): Float32Array {
  const centres = [[24, 26, 7, 150], [40, 38, 5, -60], [30, 44, 6, 90]];
  const out = new Float32Array(channels * SIZE * SIZE);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        let value = 80 + 10 * c;
        for (const [cx, cy, sigma, amplitude] of centres) {
          const r2 = (x - dx - cx) ** 2 + (y - dy - cy) ** 2;
          value += amplitude * Math.exp(-r2 / (2 * sigma * sigma));
        }
        out[c * SIZE * SIZE + y * SIZE + x] = value;
      }
    }
  }
  return out;
}

async function shiftBetween(
  reference: Tensor,
  moving: Tensor,
): Promise<[number, number]> {
  const shift = scope(() => estimateTranslation(reference, moving));
  const [values] = await readAll([shift]);
  shift.dispose();
  return [values[0], values[1]];
}

const MOTION: [number, number] = [0.3, 0];
const ALPHA = 5;

// With Keys' cubic warps (MOTION_TVL1) TV-L1 recovers the 0.3 px motion of
// these blobs as 0.307 px (gradient-weighted mean), so the magnified shift
// should land within about 5 * 0.01 = 0.05 px of 1.5 px. The bound, 0.1 px,
// leaves room for the bilinear sampling of the warp. (With OpenCV's remap the flow is
// 0.255 px and the magnified shift 1.28 px.)
const TOLERANCE = 0.1;

gpuTest("magnify moves a 0.3 px motion to 1.5 px", async () => {
  const [onset, apex, magnified] = scope(() => {
    const onset = tensor(blobs(0, 0), [SIZE, SIZE]);
    const apex = tensor(blobs(...MOTION), [SIZE, SIZE]);
    return [onset, apex, magnify(onset, apex, ALPHA)];
  });
  const apexShift = await shiftBetween(onset, apex);
  const [dx, dy] = await shiftBetween(onset, magnified);
  console.log(
    `  apex shift ${apexShift[0].toFixed(3)}, magnified shift (${
      dx.toFixed(3)
    }, ${dy.toFixed(3)})`,
  );
  assert.ok(Math.abs(dx - ALPHA * MOTION[0]) < TOLERANCE, `magnified dx ${dx}`);
  assert.ok(Math.abs(dy - ALPHA * MOTION[1]) < TOLERANCE, `magnified dy ${dy}`);
  for (const t of [onset, apex, magnified]) t.dispose();
});

gpuTest(
  "magnify with alpha 1 and 0 gives apex and onset geometry",
  async () => {
    const [onset, one, zero] = scope(() => {
      const onset = tensor(blobs(0, 0), [SIZE, SIZE]);
      const apex = tensor(blobs(0.6, -0.4), [SIZE, SIZE]);
      const flow = tvl1Flow(onset, apex, MOTION_TVL1);
      return [
        onset,
        magnify(onset, apex, 1, flow),
        magnify(onset, apex, 0, flow),
      ];
    });
    const [dx, dy] = await shiftBetween(onset, one);
    assert.ok(
      Math.abs(dx - 0.6) < 0.05 && Math.abs(dy + 0.4) < 0.05,
      `alpha 1 shift ${dx}, ${dy}`,
    );
    const [a, b] = await readAll([onset, zero]);
    assert.deepEqual(Array.from(b), Array.from(a));
    for (const t of [onset, one, zero]) t.dispose();
  },
);

gpuTest("magnify warps colour frames with a gray flow", async () => {
  const plane = SIZE * SIZE;
  const onsetValues = blobs(0, 0, 3);
  const magnified = scope(() => {
    const onset = tensor(onsetValues, [3, SIZE, SIZE]);
    const apex = tensor(blobs(...MOTION, 3), [3, SIZE, SIZE]);
    return magnify(onset, apex, ALPHA);
  });
  assert.deepEqual([...magnified.shape], [3, SIZE, SIZE]);
  const [values] = await readAll([magnified]);
  magnified.dispose();
  for (const c of [0, 2]) {
    const [reference, moved] = scope(() => [
      tensor(onsetValues.subarray(c * plane, (c + 1) * plane), [SIZE, SIZE]),
      tensor(values.subarray(c * plane, (c + 1) * plane), [SIZE, SIZE]),
    ]);
    const [dx] = await shiftBetween(reference, moved);
    assert.ok(
      Math.abs(dx - ALPHA * MOTION[0]) < TOLERANCE,
      `channel ${c} dx ${dx}`,
    );
    reference.dispose();
    moved.dispose();
  }
});

gpuTest("interpolated frames land at the fractions", async () => {
  const [onset, target, frames] = scope(() => {
    const onset = tensor(blobs(0, 0), [SIZE, SIZE]);
    const apex = tensor(blobs(...MOTION), [SIZE, SIZE]);
    const flow = tvl1Flow(onset, apex, MOTION_TVL1);
    const target = magnify(onset, apex, ALPHA, flow);
    return [
      onset,
      target,
      interpolateFrames(onset, target, 11, flow, { flowScale: ALPHA }),
    ];
  });
  assert.equal(frames.length, 11);
  const [first, last, o, t] = await readAll([
    frames[0],
    frames[10],
    onset,
    target,
  ]);
  assert.deepEqual(Array.from(first), Array.from(o));
  assert.deepEqual(Array.from(last), Array.from(t));
  for (let k = 1; k < 10; k++) {
    const [dx, dy] = await shiftBetween(onset, frames[k]);
    const expected = (k / 10) * ALPHA * MOTION[0];
    assert.ok(
      Math.abs(dx - expected) < TOLERANCE,
      `frame ${k}: dx ${dx}, expected ${expected}`,
    );
    assert.ok(Math.abs(dy) < TOLERANCE, `frame ${k}: dy ${dy}`);
  }
  for (const x of [onset, target, ...frames]) x.dispose();
});

gpuTest("interpolateFrames computes the flow when none is given", async () => {
  const [onset, frames] = scope(() => {
    const onset = tensor(blobs(0, 0), [1, SIZE, SIZE]);
    const target = tensor(blobs(1, 0.5), [1, SIZE, SIZE]);
    return [onset, interpolateFrames(onset, target, 5)];
  });
  assert.equal(frames.length, 5);
  const [dx, dy] = await shiftBetween(onset, frames[2]);
  assert.ok(
    Math.abs(dx - 0.5) < 0.05 && Math.abs(dy - 0.25) < 0.05,
    `middle frame ${dx}, ${dy}`,
  );
  for (const x of [onset, ...frames]) x.dispose();
});

gpuTest("magnify and interpolateFrames reject invalid input", () => {
  scope(() => {
    const a = tensor(new Float32Array(SIZE * SIZE), [SIZE, SIZE]);
    const b = tensor(new Float32Array(2 * SIZE * SIZE), [2, SIZE, SIZE]);
    assert.throws(() => magnify(a, b, 5), /same size/);
    assert.throws(() => magnify(a, a, Number.NaN), /alpha/);
    assert.throws(() => interpolateFrames(a, a, 1), /count/);
    assert.throws(() => magnify(b, b, 2), /\[3, H, W\]/);
  });
});
