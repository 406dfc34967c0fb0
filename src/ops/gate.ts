/**
 * The gating step of 3D Coordinate Attention as one operator:
 * y[n,c,t,h,w] = x[n,c,t,h,w] * gateT[n,c,t] * gateH[n,c,h] * gateW[n,c,w].
 * As three broadcast multiplications, the backward would write a full-size
 * tensor per gate and reduce it. Here each gate gradient element is one
 * invocation that loops over the two other axes, and the forward and the
 * gradient of x are one elementwise kernel each.
 */
import { record } from "../autograd.ts";
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, formatShape, Tensor } from "../tensor.ts";
import forwardSource from "../../shaders/ops/gate3d_forward.wgsl" with {
  type: "text",
};
import backwardInputSource from "../../shaders/ops/gate3d_backward_input.wgsl" with {
  type: "text",
};
import backwardGatesSource from "../../shaders/ops/gate3d_backward_gates.wgsl" with {
  type: "text",
};
import { type CpuTensor, cpuTensor, randomTensor } from "./cpu_tensor.ts";
import { ACCUMULATING_TOLERANCE, defineOp } from "./registry.ts";

const gateLayout = new UniformLayout([
  ["n", "u32"],
  ["nc", "u32"],
  ["t", "u32"],
  ["h", "u32"],
  ["w", "u32"],
]);

function checkInputs(
  x: Tensor,
  gateT: Tensor,
  gateH: Tensor,
  gateW: Tensor,
): void {
  const named = { x, gateT, gateH, gateW };
  for (const [name, t] of Object.entries(named)) {
    if (!(t instanceof Tensor)) {
      throw new Error(`gate3d: ${name} must be a Tensor, got ${String(t)}`);
    }
    if (t.dtype !== "f32") {
      throw new Error(
        `gate3d: ${name} must be an f32 tensor, got ${t.describe()}`,
      );
    }
  }
  if (x.rank !== 5) {
    throw new Error(
      `gate3d: x must be [N, C, T, H, W], got ${x.describe()}`,
    );
  }
  const [n, c, t, h, w] = x.shape;
  const expected = { gateT: [n, c, t], gateH: [n, c, h], gateW: [n, c, w] };
  const gates = { gateT, gateH, gateW };
  for (const [name, shape] of Object.entries(expected)) {
    const gate = gates[name as keyof typeof gates];
    if (gate.shape.join(",") !== shape.join(",")) {
      const axis = name.slice(-1);
      throw new Error(
        `gate3d: ${name} must have shape [N, C, ${axis}] = ` +
          `${formatShape(shape)} for x ${formatShape(x.shape)}, got ` +
          `${formatShape(gate.shape)}`,
      );
    }
  }
}

/**
 * Multiplies x [N, C, T, H, W] by three axis gates:
 * y = x * gateT[n,c,t] * gateH[n,c,h] * gateW[n,c,w], with the gates
 * [N, C, T], [N, C, H] and [N, C, W]. Recorded for autograd with the
 * gradients of x and of each gate.
 */
export function gate3d(
  x: Tensor,
  gateT: Tensor,
  gateH: Tensor,
  gateW: Tensor,
): Tensor {
  checkInputs(x, gateT, gateH, gateW);
  const [n, c, t, h, w] = x.shape;
  const uniforms = gateLayout.pack({ n: x.size, nc: n * c, t, h, w });
  const gateBindings = [gateT.binding(), gateH.binding(), gateW.binding()];
  const y = empty(x.shape, "f32", "gate3d");
  runtime().dispatch({
    op: "gate3d.forward",
    kernel: { file: "shaders/ops/gate3d_forward.wgsl", source: forwardSource },
    uniforms,
    bindings: [x.binding(), ...gateBindings, y.binding()],
    workgroups: Math.ceil(x.size / 256),
    shapes: `x ${formatShape(x.shape)}`,
  });
  record("gate3d", [x, gateT, gateH, gateW], [y], ([gy]) => {
    const rt = runtime();
    let gx: Tensor | null = null;
    if (x.requiresGrad) {
      gx = empty(x.shape, "f32", "gate3d.grad");
      rt.dispatch({
        op: "gate3d.backward_input",
        kernel: {
          file: "shaders/ops/gate3d_backward_input.wgsl",
          source: backwardInputSource,
        },
        uniforms,
        bindings: [gy!.binding(), ...gateBindings, gx.binding()],
        workgroups: Math.ceil(x.size / 256),
      });
    }
    const gates = [gateT, gateH, gateW];
    if (!gates.some((g) => g.requiresGrad)) return [gx, null, null, null];

    const grads = gates.map((g) => empty(g.shape, "f32", "gate3d.grad"));
    const threads = n * c * (t + h + w);
    rt.dispatch({
      op: "gate3d.backward_gates",
      kernel: {
        file: "shaders/ops/gate3d_backward_gates.wgsl",
        source: backwardGatesSource,
      },
      uniforms,
      bindings: [
        x.binding(),
        gy!.binding(),
        ...gateBindings,
        ...grads.map((g) => g.binding()),
      ],
      workgroups: Math.ceil(threads / 64),
    });
    const result = grads.map((grad, k) => {
      if (gates[k].requiresGrad) return grad;
      grad.dispose();
      return null;
    });
    return [gx, ...result];
  });
  return y;
}

// ---- CPU reference ----

function cpuDims(x: CpuTensor) {
  const [n, c, t, h, w] = x.shape;
  return { nc: n * c, t, h, w };
}

function cpuGate3d(
  x: CpuTensor,
  gateT: CpuTensor,
  gateH: CpuTensor,
  gateW: CpuTensor,
): CpuTensor {
  const { nc, t, h, w } = cpuDims(x);
  const y = cpuTensor(x.shape);
  let i = 0;
  for (let m = 0; m < nc; m++) {
    for (let ti = 0; ti < t; ti++) {
      for (let hi = 0; hi < h; hi++) {
        for (let wi = 0; wi < w; wi++, i++) {
          y.data[i] = x.data[i] * gateT.data[m * t + ti] *
            gateH.data[m * h + hi] * gateW.data[m * w + wi];
        }
      }
    }
  }
  return y;
}

function cpuGate3dBackward(
  x: CpuTensor,
  gateT: CpuTensor,
  gateH: CpuTensor,
  gateW: CpuTensor,
  gy: CpuTensor,
): CpuTensor[] {
  const { nc, t, h, w } = cpuDims(x);
  const gx = cpuTensor(x.shape);
  const dT = cpuTensor(gateT.shape);
  const dH = cpuTensor(gateH.shape);
  const dW = cpuTensor(gateW.shape);
  let i = 0;
  for (let m = 0; m < nc; m++) {
    for (let ti = 0; ti < t; ti++) {
      for (let hi = 0; hi < h; hi++) {
        for (let wi = 0; wi < w; wi++, i++) {
          const vt = gateT.data[m * t + ti];
          const vh = gateH.data[m * h + hi];
          const vw = gateW.data[m * w + wi];
          const g = gy.data[i];
          const v = x.data[i];
          gx.data[i] = g * vt * vh * vw;
          dT.data[m * t + ti] += g * v * vh * vw;
          dH.data[m * h + hi] += g * v * vt * vw;
          dW.data[m * w + wi] += g * v * vt * vh;
        }
      }
    }
  }
  return [gx, dT, dH, dW];
}

/** Random x and gates in (0, 1), the range of the sigmoid gates. */
function randomCase(
  rng: import("../util/rng.ts").Rng,
  shape: [number, number, number, number, number],
): CpuTensor[] {
  const [n, c, t, h, w] = shape;
  return [
    randomTensor(rng, shape),
    randomTensor(rng, [n, c, t], 0, 1),
    randomTensor(rng, [n, c, h], 0, 1),
    randomTensor(rng, [n, c, w], 0, 1),
  ];
}

defineOp<Record<string, never>>({
  name: "gate3d",
  family: "gate",
  inputs: [
    { name: "x" },
    { name: "gateT" },
    { name: "gateH" },
    { name: "gateW" },
  ],
  forwardKernels: ["shaders/ops/gate3d_forward.wgsl"],
  backwardKernels: [
    "shaders/ops/gate3d_backward_input.wgsl",
    "shaders/ops/gate3d_backward_gates.wgsl",
  ],
  gpu: ([x, gateT, gateH, gateW]) => gate3d(x!, gateT!, gateH!, gateW!),
  cpu: {
    forward: ([x, gateT, gateH, gateW]) => [
      cpuGate3d(x!, gateT!, gateH!, gateW!),
    ],
    backward: ([x, gateT, gateH, gateW], _attrs, [gy]) =>
      cpuGate3dBackward(x!, gateT!, gateH!, gateW!, gy),
  },
  cases: (rng) =>
    [
      { label: "odd sizes, C = 3", inputs: randomCase(rng, [2, 3, 3, 5, 7]) },
      { label: "batch 1, C = 6", inputs: randomCase(rng, [1, 6, 4, 3, 2]) },
      { label: "T = 1", inputs: randomCase(rng, [2, 5, 1, 3, 4]) },
      { label: "H = W = 1", inputs: randomCase(rng, [3, 7, 2, 1, 1]) },
      { label: "all sizes 1", inputs: randomCase(rng, [1, 1, 1, 1, 1]) },
      {
        label: "dispatch above 65535 workgroups",
        // 16.8 M elements need 65536 workgroups of 256. The gate gradients
        // sum at most 1024 terms, so float32 rounding stays within the
        // tolerance. The float64 finite difference would take minutes.
        inputs: randomCase(rng, [16, 64, 16, 32, 32]),
        finiteDifferences: false,
      },
    ].map((c) => ({ ...c, attrs: {} })),
  tolerance: ACCUMULATING_TOLERANCE,
});
