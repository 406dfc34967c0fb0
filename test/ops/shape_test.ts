/**
 * Targeted tests of the shape operators: dispatches above 65535 workgroups
 * (checked cheaply on i32 tensors whose values are their indices), i32
 * support, result buffers independent of the input, and input errors.
 */
import assert from "node:assert/strict";
import { concat, permute, reshape, split } from "../../src/ops/shape.ts";
import {
  readAll,
  scope,
  type Tensor,
  tensor,
  zeros,
} from "../../src/tensor.ts";
import { gpuTest } from "../helpers.ts";

/** Creates an i32 tensor whose element i is i. */
function indexTensor(shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Int32Array(size);
  for (let i = 0; i < size; i++) values[i] = i;
  return tensor(values, shape, "i32");
}

/** Index of the first element where `actual` differs from `expected(i)`, or -1. */
function firstMismatch(
  actual: ArrayLike<number>,
  expected: (i: number) => number,
): number {
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected(i)) return i;
  }
  return -1;
}

// 4096 x 4097 = 16 781 312 elements, above the 65535 x 256 = 16 776 960 that
// one grid dimension of 256-wide workgroups reaches.
const ROWS = 4096;
const WIDE = 4097;

gpuTest("permute above 65535 workgroups", async () => {
  const x = indexTensor([WIDE, ROWS]);
  const y = permute(x, [1, 0]);
  assert.deepEqual(y.shape, [ROWS, WIDE]);
  const [values] = await readAll([y]);
  const bad = firstMismatch(
    values,
    (i) => (i % WIDE) * ROWS + Math.floor(i / WIDE),
  );
  assert.equal(bad, -1, `permuted element ${bad} is ${values[bad]}`);
  x.dispose();
  y.dispose();
});

gpuTest("concat and split above 65535 workgroups", async () => {
  const a = indexTensor([ROWS, WIDE]);
  const b = tensor(new Int32Array(ROWS * 3).fill(-1), [ROWS, 3], "i32");
  const joined = concat([a, b], 1);
  const [left, right] = split(joined, [WIDE, 3], -1);
  const [joinedValues, leftValues, rightValues] = await readAll([
    joined,
    left,
    right,
  ]);
  const width = WIDE + 3;
  const bad = firstMismatch(joinedValues, (i) => {
    const column = i % width;
    return column < WIDE ? Math.floor(i / width) * WIDE + column : -1;
  });
  assert.equal(bad, -1, `concatenated element ${bad} is ${joinedValues[bad]}`);
  assert.equal(
    firstMismatch(leftValues, (i) => i),
    -1,
    "first split piece differs from a",
  );
  assert.equal(
    firstMismatch(rightValues, () => -1),
    -1,
    "second split piece differs from b",
  );
  for (const t of [a, b, joined, left, right]) t.dispose();
});

gpuTest("reshape result survives disposing x", async () => {
  const x = indexTensor([2, 3, 4]);
  const y = reshape(x, [-1, 6]);
  x.dispose();
  assert.deepEqual(y.shape, [4, 6]);
  assert.equal(y.dtype, "i32");
  const [values] = await readAll([y]);
  assert.deepEqual([...values], Array.from({ length: 24 }, (_, i) => i));
  y.dispose();
});

gpuTest("shape operators reject invalid input", () => {
  scope(() => {
    const x = zeros([2, 3, 4]);
    assert.throws(() => concat([], 0), /non-empty array of tensors/);
    assert.throws(
      () => concat([x, zeros([2, 5, 5])], 1),
      /tensor 1 .*\[2,5,5\] does not match tensor 0 .*\[2,3,4\] outside axis 1/,
    );
    assert.throws(
      () => concat([x, zeros([2, 3])], 0),
      /does not match tensor 0/,
    );
    assert.throws(
      () => concat([x, zeros([2, 3, 4], "i32")], 0),
      /different dtype/,
    );
    assert.throws(
      () => concat([x, x], 3),
      /axis 3 is out of range for rank 3; use an integer in \[-3, 2\]/,
    );
    assert.throws(
      () => split(x, [1, 1], 1),
      /sizes \[1,1\] sum to 2, but axis 1 of x \[2,3,4\] has length 3/,
    );
    assert.throws(
      () => split(x, [4, -1], -1),
      /contain -1, which is not a non-negative integer/,
    );
    assert.throws(() => split(x, [2], -4), /axis -4 is out of range/);
    assert.throws(
      () => reshape(x, [5, 5]),
      /cannot reshape x \[2,3,4\] \(24 elements\) to \[5,5\] \(25 elements\)/,
    );
    assert.throws(() => reshape(x, [-1, -1]), /more than one -1/);
    assert.throws(
      () => reshape(x, [5, -1]),
      /cannot infer the -1 of \[5,-1\] for x \[2,3,4\]/,
    );
    assert.throws(() => reshape(x, [2, -3, 4]), /invalid size -3/);
    assert.throws(
      () => permute(x, [0, 1]),
      /dims \[0,1\] are not a permutation of the 3 axes/,
    );
    assert.throws(() => permute(x, [0, 0, 1]), /not a permutation/);
    assert.throws(() => permute(x, [0, 1, 3]), /not a permutation/);
  });
});
