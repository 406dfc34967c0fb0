import assert from "node:assert/strict";
import {
  backward,
  detach,
  nanCheck,
  noGrad,
  requiresGrad,
  withModule,
} from "../src/autograd.ts";
import {
  add,
  div,
  mean,
  mul,
  relu,
  sigmoid,
  sub,
  sum,
} from "../src/ops/mod.ts";
import { readAll, scope, type Tensor, tensor } from "../src/tensor.ts";
import { ACCUMULATING_TOLERANCE } from "../src/ops/registry.ts";
import { assertClose, gpuTest } from "./helpers.ts";

interface GraphCase {
  graph: string;
  x: { shape: number[]; data: number[] };
  w: { shape: number[]; data: number[] };
  loss: number;
  gradX: { data: number[] };
  gradW: { data: number[] };
}

const fixture = JSON.parse(
  Deno.readTextFileSync(
    new URL("./fixtures/torch_graph/graphs.json", import.meta.url),
  ),
) as { cases: GraphCase[] };

const graphs: Record<string, (x: Tensor, w: Tensor) => Tensor> = {
  diamond: (x, w) => {
    const a = relu(mul(x, w));
    const b = sigmoid(x);
    return mean(div(add(mul(a, b), a), add(b, 1)));
  },
  reused: (x, w) => {
    const y = add(mul(x, x), x);
    return add(sum(sub(mul(y, w), x)), mean(mul(x, w)));
  },
};

for (const c of fixture.cases) {
  gpuTest(`${c.graph} graph gradients match PyTorch`, async () => {
    const x = requiresGrad(tensor(c.x.data, c.x.shape));
    const w = requiresGrad(tensor(c.w.data, c.w.shape));
    const loss = scope(() => {
      const l = graphs[c.graph](x, w);
      backward(l);
      return l;
    });
    const [lossValue, gx, gw] = await readAll([loss, x.grad!, w.grad!]);
    assertClose(lossValue, [c.loss], ACCUMULATING_TOLERANCE, `${c.graph} loss`);
    assertClose(gx, c.gradX.data, ACCUMULATING_TOLERANCE, `${c.graph} dL/dx`);
    assertClose(gw, c.gradW.data, ACCUMULATING_TOLERANCE, `${c.graph} dL/dw`);
    for (const t of [loss, x, w, x.grad!, w.grad!]) t.dispose();
  });
}

gpuTest("gradients accumulate over two backward passes", async () => {
  const x = requiresGrad(tensor([1, -2, 3], [3]));
  scope(() => backward(sum(mul(x, 2))));
  scope(() => backward(sum(mul(x, 3))));
  assert.deepEqual([...(await x.grad!.data())], [5, 5, 5]);
  x.grad!.dispose();
  x.dispose();
});

gpuTest("noGrad and detach record nothing", () => {
  scope(() => {
    const x = requiresGrad(tensor([1, 2], [2]));
    const y = noGrad(() => relu(x));
    assert.equal(y.gradFn, null);
    assert.equal(y.requiresGrad, false);
    const z = detach(relu(x));
    assert.equal(z.gradFn, null);
    assert.throws(() => backward(y), /does not require a gradient/);
  });
});

gpuTest("a freed graph cannot be walked again", () => {
  scope(() => {
    const x = requiresGrad(tensor([1, 2], [2]));
    const loss = sum(relu(x));
    backward(loss);
    assert.throws(() => backward(loss), /already freed by an earlier backward/);
    x.grad!.dispose();
  });
});

gpuTest("gradient hooks see intermediate and leaf gradients", async () => {
  const seen: string[] = [];
  const x = requiresGrad(tensor([1, -1, 2], [3], "f32", "x"));
  x.gradHooks.push(() => seen.push("x"));
  scope(() => {
    const h = relu(x);
    h.gradHooks.push(() => seen.push("h"));
    backward(sum(h));
  });
  assert.deepEqual(seen, ["h", "x"]);
  assert.deepEqual([...(await x.grad!.data())], [1, 0, 1]);
  x.grad!.dispose();
  x.dispose();
});

gpuTest("NaN check names the first non-finite operator", async () => {
  nanCheck.enable();
  try {
    scope(() => {
      const x = requiresGrad(tensor([0, 1], [2]));
      const z = withModule("block.gate", () => div(x, x));
      const loss = sum(relu(z));
      backward(loss);
      x.grad!.dispose();
    });
    const first = await nanCheck.firstNonFinite();
    assert.equal(first, "div forward in block.gate");
  } finally {
    nanCheck.disable();
  }
});

gpuTest("NaN check reports nothing for finite graphs", async () => {
  nanCheck.enable();
  try {
    scope(() => {
      const x = requiresGrad(tensor([0.5, 1], [2]));
      backward(sum(sigmoid(x)));
      x.grad!.dispose();
    });
    assert.equal(await nanCheck.firstNonFinite(), null);
  } finally {
    nanCheck.disable();
  }
});
