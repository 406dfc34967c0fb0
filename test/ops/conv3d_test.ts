/**
 * Targeted conv3d checks beyond the generic operator tests: SAME padding
 * geometry, the shape errors, gradients when only some inputs require them,
 * the choice of kernels, and the GEMM's batch slices.
 */
import assert from "node:assert/strict";
import { backward, requiresGrad } from "../../src/autograd.ts";
import {
  conv3d,
  conv3dCases,
  conv3dGeometry,
  conv3dLimits,
  conv3dMultiplyAdds,
  type Conv3dOptions,
  conv3dOutputShape,
  conv3dPlan,
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
  conv3dLimits.kernels = "gemm";
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
    conv3dLimits.kernels = null;
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
  conv3dLimits.kernels = "gemm";
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
    conv3dLimits.kernels = null;
  }
});

Deno.test("conv3d multiply-adds skip padding taps", () => {
  // Along W (size 1, kernel 3, padding 1) one tap of three is inside.
  const g = conv3dGeometry([2, 3, 2, 1, 1], [4, 3, 3, 3, 3], null, {
    padding: "same",
  });
  // Along D (size 2) each output has 2 taps inside.
  assert.equal(conv3dMultiplyAdds(g), 2 * 4 * 3 * (2 + 2) * 1 * 1);
});

Deno.test("conv3d plan keeps the GEMM for the benchmark shape", () => {
  const g = conv3dGeometry([1, 16, 10, 64, 64], [32, 16, 3, 3, 3], null, {
    padding: 1,
  });
  assert.deepEqual(conv3dPlan(g, null), {
    forward: "gemm",
    inputGradient: "gemm",
    weightGradient: "gemm",
  });
});

Deno.test("conv3d plan runs the stem on row kernels", () => {
  const g = conv3dGeometry([24, 5, 10, 32, 32], [8, 5, 7, 7, 7], null, {
    stride: 2,
    padding: "same",
  });
  assert.deepEqual(conv3dPlan(g, null), {
    forward: "rows",
    inputGradient: "rows",
    weightGradient: "rows",
  });
});

Deno.test("conv3d plan gathers strided input gradients", () => {
  // Large enough for the GEMM, but the transposed-convolution form of the
  // input gradient would do 8 times the multiply-adds (stride 2 on 3 axes).
  // Rows of 6 elements rule out the row kernels.
  const g = conv3dGeometry([8, 16, 24, 48, 6], [32, 16, 3, 3, 3], null, {
    stride: 2,
    padding: 1,
  });
  const plan = conv3dPlan(g, null);
  assert.equal(plan.forward, "gemm");
  assert.equal(plan.inputGradient, "gather");
  assert.equal(plan.weightGradient, "gemm");
});

Deno.test("conv3d plan runs pointwise convolutions on vec4", () => {
  const g = conv3dGeometry([24, 64, 3, 2, 2], [16, 64, 1, 1, 1], null);
  assert.deepEqual(conv3dPlan(g, null), {
    forward: "pointwise",
    inputGradient: "gather",
    weightGradient: "direct",
  });
});

Deno.test("conv3d plan runs small convolutions directly", () => {
  const shapes: [number[], number[]][] = [
    [[24, 32, 13, 1, 1], [8, 32, 1, 1, 1]],
    [[24, 66, 3, 2, 2], [16, 66, 1, 1, 1]],
    [[24, 20, 3, 2, 2], [40, 20, 3, 3, 3]],
    [[24, 24, 2, 1, 1], [48, 24, 3, 3, 3]],
  ];
  for (const [x, w] of shapes) {
    const g = conv3dGeometry(x, w, null, { padding: "same" });
    assert.deepEqual(
      conv3dPlan(g, null),
      { forward: "direct", inputGradient: "gather", weightGradient: "direct" },
      `x [${x}], weight [${w}]`,
    );
  }
});

Deno.test("conv3d cases cover every kernel", () => {
  const chosen = new Set<string>();
  for (const c of conv3dCases) {
    const g = conv3dGeometry(c.x, c.weight, null, c.attrs);
    const plan = conv3dPlan(g, c.attrs.kernels ?? null);
    for (const [pass, kernel] of Object.entries(plan)) {
      chosen.add(`${pass} ${kernel}`);
    }
    if (c.attrs.kernels === "rows") {
      assert.deepEqual(
        plan,
        { forward: "rows", inputGradient: "rows", weightGradient: "rows" },
        `case '${c.label}' should run every pass on row kernels`,
      );
    }
  }
  for (
    const expected of [
      "forward gemm",
      "forward rows",
      "forward pointwise",
      "forward direct",
      "inputGradient gemm",
      "inputGradient rows",
      "inputGradient gather",
      "weightGradient gemm",
      "weightGradient rows",
      "weightGradient direct",
    ]
  ) {
    assert.ok(chosen.has(expected), `no case runs ${expected}`);
  }
});

gpuTest("conv3d direct kernels fold above 65535 workgroups", async () => {
  // 2^24 + 4 output positions in blocks of 4 and workgroups of 64 need
  // 65537 workgroups in the forward pass and the input gradient.
  const width = (1 << 24) + 4;
  const rng = new Rng(3);
  const xData = new Float32Array(width);
  for (let i = 0; i < width; i++) xData[i] = rng.uniform(-1, 1);
  const gyData = new Float32Array(width);
  for (let i = 0; i < width; i++) gyData[i] = rng.uniform(-1, 1);
  const weight = 0.75;
  const biasValue = -0.25;
  conv3dLimits.kernels = "direct";
  let tensors;
  try {
    tensors = scope(() => {
      const x = requiresGrad(tensor(xData, [1, 1, 1, 1, width]));
      const w = requiresGrad(tensor([weight], [1, 1, 1, 1, 1]));
      const b = tensor([biasValue], [1]);
      const y = conv3d(x, w, b);
      backward(y, tensor(gyData, y.shape));
      return [y, x.grad!, w.grad!];
    });
  } finally {
    conv3dLimits.kernels = null;
  }
  const [y, gx, gw] = await readAll(tensors);
  for (const t of tensors) t.dispose();
  let expectedGw = 0;
  const expectedY = new Float32Array(width);
  const expectedGx = new Float32Array(width);
  for (let i = 0; i < width; i++) {
    expectedY[i] = weight * xData[i] + biasValue;
    expectedGx[i] = weight * gyData[i];
    expectedGw += gyData[i] * xData[i];
  }
  assertClose(y, expectedY, ACCUMULATING_TOLERANCE, "conv3d output");
  assertClose(gx, expectedGx, ACCUMULATING_TOLERANCE, "conv3d d/dx");
  assertClose(gw, [expectedGw], ACCUMULATING_TOLERANCE, "conv3d d/dweight");
});
