/**
 * Targeted conv3d checks beyond the generic operator tests: SAME padding
 * geometry, the shape errors, and gradients when only some inputs require
 * them.
 */
import assert from "node:assert/strict";
import { backward, requiresGrad } from "../../src/autograd.ts";
import {
  conv3d,
  conv3dGeometry,
  conv3dLimits,
  type Conv3dOptions,
  conv3dOutputShape,
  cpuConv3d,
  cpuConv3dBackward,
} from "../../src/ops/conv.ts";
import { randomTensor } from "../../src/ops/cpu_tensor.ts";
import { ACCUMULATING_TOLERANCE } from "../../src/ops/registry.ts";
import { readAll, scope, tensor } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import { assertClose, gpuTest } from "../helpers.ts";

Deno.test("conv3d same padding puts the extra element after", () => {
  const g = conv3dGeometry([1, 3, 5, 8, 6], [4, 3, 3, 3, 3], null, {
    stride: 2,
    padding: "same",
  });
  assert.deepEqual(g.output, [3, 4, 3]);
  assert.deepEqual(g.padBefore, [1, 0, 0]);
  assert.deepEqual(g.padAfter, [1, 1, 1]);
});

Deno.test("conv3d same padding with even kernels", () => {
  const g = conv3dGeometry([2, 3, 4, 5, 6], [5, 3, 2, 4, 2], null, {
    padding: "same",
  });
  assert.deepEqual(g.output, [4, 5, 6]);
  assert.deepEqual(g.padBefore, [0, 1, 0]);
  assert.deepEqual(g.padAfter, [1, 2, 1]);
});

Deno.test("conv3d same padding never negative", () => {
  const g = conv3dGeometry([1, 1, 1, 5, 9], [1, 1, 1, 1, 1], null, {
    stride: [2, 4, 3],
    padding: "same",
  });
  assert.deepEqual(g.output, [1, 2, 3]);
  assert.deepEqual(g.padBefore, [0, 0, 0]);
  assert.deepEqual(g.padAfter, [0, 0, 0]);
});

Deno.test("conv3d output shape with explicit padding", () => {
  const shape = conv3dOutputShape([2, 3, 4, 6, 5], [7, 3, 3, 2, 3], {
    stride: [1, 2, 1],
    padding: [[0, 2], [1, 0], [2, 1]],
  });
  assert.deepEqual(shape, [2, 7, 4, 3, 6]);
});

Deno.test("conv3d rejects mismatched shapes", () => {
  assert.throws(
    () => conv3dGeometry([1, 3, 4, 4], [2, 3, 3, 3, 3], null),
    /x must have rank 5 \[N, Cin, D, H, W\], got \[1,3,4,4\]/,
  );
  assert.throws(
    () => conv3dGeometry([1, 3, 4, 4, 4], [2, 3, 3, 3], null),
    /weight must have rank 5 \[Cout, Cin, kD, kH, kW\], got \[2,3,3,3\]/,
  );
  assert.throws(
    () => conv3dGeometry([1, 3, 4, 4, 4], [2, 5, 3, 3, 3], null),
    /x \[1,3,4,4,4\] has 3 input channels but weight \[2,5,3,3,3\] expects 5/,
  );
  assert.throws(
    () => conv3dGeometry([1, 3, 4, 4, 4], [2, 3, 3, 3, 3], [3]),
    /bias must have shape \[2\] for weight \[2,3,3,3,3\], got \[3\]/,
  );
  assert.throws(
    () => conv3dGeometry([1, 3, 2, 4, 4], [2, 3, 3, 3, 3], null),
    /kernel size 3 along D exceeds the padded input size 2/,
  );
});

Deno.test("conv3d rejects invalid stride and padding", () => {
  assert.throws(
    () => conv3dGeometry([1, 3, 4, 4, 4], [2, 3, 3, 3, 3], null, { stride: 0 }),
    /stride must be a positive integer or three of them/,
  );
  assert.throws(
    () =>
      conv3dGeometry([1, 3, 4, 4, 4], [2, 3, 3, 3, 3], null, { padding: -1 }),
    /padding must be a non-negative integer/,
  );
  const twoAxes = { padding: [[1, 1], [1, 1]] } as unknown as Conv3dOptions;
  assert.throws(
    () => conv3dGeometry([1, 3, 4, 4, 4], [2, 3, 3, 3, 3], null, twoAxes),
    /padding must be/,
  );
});

gpuTest("conv3d weight gradient alone", async () => {
  const rng = new Rng(5);
  const xCpu = randomTensor(rng, [1, 4, 3, 5, 7]);
  const wCpu = randomTensor(rng, [6, 4, 3, 3, 3]);
  const attrs = {
    stride: [1, 2, 1] as [number, number, number],
    padding: "same" as const,
  };
  const g = conv3dGeometry(xCpu.shape, wCpu.shape, null, attrs);
  const gyCpu = randomTensor(rng, [1, 6, ...g.output]);
  const [, expected] = cpuConv3dBackward([xCpu, wCpu, null], attrs, gyCpu);
  const gradient = scope(() => {
    const x = tensor(xCpu.data, xCpu.shape);
    const w = requiresGrad(tensor(wCpu.data, wCpu.shape));
    const y = conv3d(x, w, null, attrs);
    backward(y, tensor(gyCpu.data, gyCpu.shape));
    assert.equal(x.grad, null);
    return w.grad!;
  });
  const [actual] = await readAll([gradient]);
  gradient.dispose();
  assertClose(
    actual,
    expected!.data,
    ACCUMULATING_TOLERANCE,
    "conv3d d/dweight",
  );
});

gpuTest("conv3d batch slices match whole batch", async () => {
  const rng = new Rng(9);
  const xCpu = randomTensor(rng, [5, 3, 3, 4, 6]);
  const wCpu = randomTensor(rng, [4, 3, 3, 3, 3]);
  const bCpu = randomTensor(rng, [4]);
  const attrs: Conv3dOptions = { stride: [1, 1, 2], padding: 1 };
  const inputs = [xCpu, wCpu, bCpu];
  const expectedY = cpuConv3d(inputs, attrs);
  const gyCpu = randomTensor(rng, expectedY.shape);
  const [expectedX, expectedW, expectedB] = cpuConv3dBackward(
    inputs,
    attrs,
    gyCpu,
  );

  // Bytes of one unfolded sample: 4 * 3 * 5 * 6 * 3 * 4 = 4320 for the
  // forward pass and the weight gradient, 4 * 4 * 5 * 6 * 3 * 8 = 11520 for
  // the input gradient. A cap of 12000 bytes thus runs slices of 2, 2 and
  // 1 samples, and of 1 sample for the input gradient.
  const previous = conv3dLimits.unfoldedBytes;
  conv3dLimits.unfoldedBytes = 12000;
  let tensors;
  try {
    tensors = scope(() => {
      const x = requiresGrad(tensor(xCpu.data, xCpu.shape));
      const w = requiresGrad(tensor(wCpu.data, wCpu.shape));
      const b = requiresGrad(tensor(bCpu.data, bCpu.shape));
      const y = conv3d(x, w, b, attrs);
      backward(y, tensor(gyCpu.data, gyCpu.shape));
      return [y, x.grad!, w.grad!, b.grad!];
    });
  } finally {
    conv3dLimits.unfoldedBytes = previous;
  }
  const [y, gx, gw, gb] = await readAll(tensors);
  for (const t of tensors) t.dispose();
  assertClose(y, expectedY.data, ACCUMULATING_TOLERANCE, "conv3d output");
  assertClose(gx, expectedX!.data, ACCUMULATING_TOLERANCE, "conv3d d/dx");
  assertClose(gw, expectedW!.data, ACCUMULATING_TOLERANCE, "conv3d d/dweight");
  assertClose(gb, expectedB!.data, ACCUMULATING_TOLERANCE, "conv3d d/dbias");
});

gpuTest("conv3d rejects a sample above the cap", () => {
  const previous = conv3dLimits.unfoldedBytes;
  conv3dLimits.unfoldedBytes = 1000;
  try {
    scope(() => {
      const x = tensor(new Float32Array(3 * 64), [1, 3, 4, 4, 4]);
      const w = tensor(new Float32Array(6 * 27), [2, 3, 3, 3, 3]);
      assert.throws(
        () => conv3d(x, w, null, { padding: 1 }),
        /the unfolded input of one sample of x \[1,3,4,4,4\] needs 5184 bytes, above the limit of 1000 bytes/,
      );
    });
  } finally {
    conv3dLimits.unfoldedBytes = previous;
  }
});
