import assert from "node:assert/strict";
import { backward } from "../src/autograd.ts";
import { Inception3d } from "../src/nn/inception.ts";
import { mean } from "../src/ops/mod.ts";
import { SGD } from "../src/optim/mod.ts";
import { scope, tensor } from "../src/tensor.ts";
import { Rng } from "../src/util/rng.ts";
import { gpuTest } from "./helpers.ts";

gpuTest("live bytes plateau over 50 training steps", async (rt) => {
  const rng = new Rng(3);
  const block = new Inception3d({
    inChannels: 6,
    branches: [4, 3, 5, 2, 3, 3],
    attention: true,
    rng,
  });
  const optimizer = new SGD(block.parameters(), { lr: 0.01, momentum: 0.9 });
  const data = Array.from({ length: 2 * 6 * 3 * 5 * 5 }, () => rng.normal());
  const live: number[] = [];
  for (let step = 1; step <= 50; step++) {
    scope(() => {
      const x = tensor(data, [2, 6, 3, 5, 5]);
      backward(mean(block.forward(x)));
      optimizer.step();
      optimizer.zeroGrad();
    });
    if (step % 10 === 0) {
      await rt.sync();
      live.push(rt.pool.stats().liveBytes);
    }
  }
  // After the first steps create the momentum buffers, nothing may grow.
  for (let i = 1; i < live.length; i++) {
    assert.equal(
      live[i],
      live[1],
      `live bytes after step ${10 * (i + 1)}: ${live}`,
    );
  }
  assert.ok(live[0] <= live[1]);
  optimizer.dispose();
  block.dispose();
  await rt.sync();
});
