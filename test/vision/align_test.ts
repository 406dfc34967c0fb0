/**
 * Onset-to-apex alignment: the translation estimate on textured images with
 * known sub-pixel shifts, and translate's bilinear sampling.
 */
import assert from "node:assert/strict";
import { readAll, scope, tensor } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import {
  alignTo,
  estimateTranslation,
  translate,
  translateBy,
} from "../../src/vision/mod.ts";
import { gpuTest } from "../helpers.ts";

interface Wave {
  fx: number;
  fy: number;
  phase: number;
  amplitude: number;
}

/** Sum of random plane waves, wavelengths 6 to 20 px, values about 20..235. */
function makeWaves(seed: number): Wave[] {
  const rng = new Rng(seed);
  const waves: Wave[] = [];
  for (let k = 0; k < 10; k++) {
    const angle = rng.uniform(0, Math.PI);
    const frequency = (2 * Math.PI) / rng.uniform(6, 20);
    waves.push({
      fx: frequency * Math.cos(angle),
      fy: frequency * Math.sin(angle),
      phase: rng.uniform(0, 2 * Math.PI),
      amplitude: 11,
    });
  }
  return waves;
}

/** Renders the texture with its content moved by (dx, dy). */
function render(
  waves: Wave[],
  h: number,
  w: number,
  dx = 0,
  dy = 0,
): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let value = 128;
      for (const wave of waves) {
        value += wave.amplitude *
          Math.sin(wave.fx * (x - dx) + wave.fy * (y - dy) + wave.phase);
      }
      out[y * w + x] = value;
    }
  }
  return out;
}

const SHIFTS: [number, number][] = [
  [0.3, -0.2],
  [1.75, 0.4],
  [-2.6, 1.1],
  [3, -3],
  [-0.45, 2.95],
];

gpuTest("estimateTranslation recovers sub-pixel shifts", async () => {
  const waves = makeWaves(7);
  const size = 128;
  const reference = render(waves, size, size);
  for (const [dx, dy] of SHIFTS) {
    const shift = scope(() =>
      estimateTranslation(
        tensor(reference, [size, size]),
        tensor(render(waves, size, size, dx, dy), [size, size]),
      )
    );
    const [estimate] = await readAll([shift]);
    shift.dispose();
    // Required accuracy: 0.05 px for shifts up to 3 px.
    assert.ok(
      Math.abs(estimate[0] - dx) < 0.05 && Math.abs(estimate[1] - dy) < 0.05,
      `shift (${dx}, ${dy}) estimated as (${estimate[0]}, ${estimate[1]})`,
    );
  }
});

gpuTest("translate moves content by sub-pixel amounts", async () => {
  const waves = makeWaves(11);
  const size = 64;
  const [dx, dy] = [1.25, -0.5];
  const moved = scope(() =>
    translate(tensor(render(waves, size, size), [1, size, size]), dx, dy)
  );
  assert.deepEqual([...moved.shape], [1, size, size]);
  const [actual] = await readAll([moved]);
  moved.dispose();
  const expected = render(waves, size, size, dx, dy);
  // Bilinear interpolation of waves of wavelength >= 6 px errs by at most
  // amplitude * (2 pi / 6)^2 / 8 per wave; the sum over 10 waves stays
  // under about 10 grey levels, the average far lower.
  let sum = 0;
  let count = 0;
  for (let y = 4; y < size - 4; y++) {
    for (let x = 4; x < size - 4; x++) {
      const error = Math.abs(actual[y * size + x] - expected[y * size + x]);
      assert.ok(error < 10, `pixel (${x}, ${y}) off by ${error}`);
      sum += error;
      count++;
    }
  }
  assert.ok(sum / count < 2, `mean error ${sum / count}`);
});

gpuTest("translate replicates the border", async () => {
  const image = new Float32Array(4 * 5).map((_, i) => i);
  const moved = scope(() => translate(tensor(image, [4, 5]), 2, 0));
  const [actual] = await readAll([moved]);
  moved.dispose();
  for (let y = 0; y < 4; y++) {
    assert.deepEqual(
      Array.from(actual.subarray(y * 5, y * 5 + 5)),
      [0, 0, 0, 1, 2].map((v) => v + 5 * y),
    );
  }
});

gpuTest("alignTo undoes a shift", async () => {
  const waves = makeWaves(3);
  const size = 96;
  const reference = render(waves, size, size);
  const [aligned, shift, back] = scope(() => {
    const ref = tensor(reference, [size, size]);
    const moving = tensor(render(waves, size, size, 2.2, -1.4), [size, size]);
    const shift = estimateTranslation(ref, moving);
    return [alignTo(ref, moving), shift, translateBy(moving, shift, -1)];
  });
  const [a, s, b] = await readAll([aligned, shift, back]);
  aligned.dispose();
  shift.dispose();
  back.dispose();
  assert.ok(
    Math.abs(s[0] - 2.2) < 0.05 && Math.abs(s[1] + 1.4) < 0.05,
    `shift ${s}`,
  );
  let sum = 0;
  let count = 0;
  for (let y = 6; y < size - 6; y++) {
    for (let x = 6; x < size - 6; x++) {
      sum += Math.abs(a[y * size + x] - reference[y * size + x]);
      assert.equal(a[y * size + x], b[y * size + x]);
      count++;
    }
  }
  assert.ok(sum / count < 2, `mean error after alignment ${sum / count}`);
});

gpuTest("estimateTranslation rejects colour and mismatched images", () => {
  scope(() => {
    const colour = tensor(new Float32Array(3 * 32 * 32), [3, 32, 32]);
    assert.throws(() => estimateTranslation(colour, colour), /toGray/);
    const a = tensor(new Float32Array(32 * 32), [32, 32]);
    const b = tensor(new Float32Array(32 * 30), [32, 30]);
    assert.throws(() => estimateTranslation(a, b), /same size/);
    assert.throws(
      () => estimateTranslation(a, a, { iterations: 0 }),
      /iterations/,
    );
  });
});
