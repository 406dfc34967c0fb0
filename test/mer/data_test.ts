import assert from "node:assert/strict";
import { mirrorInput, randomMirror } from "../../src/mer/data.ts";
import { Rng } from "../../src/util/rng.ts";

// [C = 2, T = 1, H = 2, W = 3]: channel 0 is u (0.5 + u / 30), 1 is v.
const shape = [2, 1, 2, 3];
const input = new Float32Array([
  0.5,
  0.6,
  0.7, // u, row 0: motion growing to the right
  0.4,
  0.5,
  0.5,
  1,
  2,
  3, // v, row 0
  4,
  5,
  6,
]);

Deno.test("mirrorInput reverses rows and negates the horizontal flow", () => {
  const mirrored = mirrorInput(input, shape, 0);
  const expected = [0.3, 0.4, 0.5, 0.5, 0.5, 0.6, 3, 2, 1, 6, 5, 4];
  mirrored.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6));
  const twice = mirrorInput(mirrored, shape, 0);
  twice.forEach((v, i) => assert.ok(Math.abs(v - input[i]) < 1e-6));
});

Deno.test("mirrorInput without flow channels only reverses", () => {
  const mirrored = mirrorInput(input, shape, null);
  assert.deepEqual(
    [...mirrored.subarray(0, 3)].map((v) => Math.round(v * 10)),
    [7, 6, 5],
  );
});

Deno.test("mirrorInput rejects an input that does not fill the shape", () => {
  assert.throws(
    () => mirrorInput(new Float32Array(5), shape, 0),
    /invalid input of 5 values, expected \[2,1,2,3\]/,
  );
});

Deno.test("randomMirror flips about half and draws the same either way", () => {
  const set = {
    inputShape: [2, 1, 2, 3] as [number, number, number, number],
    horizontalFlowChannel: 0,
  };
  const inputs = Array.from({ length: 200 }, () => input);
  const a = new Rng(3);
  const flipped = randomMirror(inputs, set, true, a);
  const count = flipped.filter((x) => x !== input).length;
  assert.ok(count > 70, `${count} of 200 mirrored`);
  assert.ok(count < 130, `${count} of 200 mirrored`);
  const b = new Rng(3);
  const unchanged = randomMirror(inputs, set, false, b);
  assert.ok(unchanged.every((x) => x === input));
  assert.equal(a.next(), b.next(), "both settings consume the same draws");
});
