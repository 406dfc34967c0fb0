/**
 * Gradient self-checks that run the same code on any adapter, so results
 * from the browser and from Deno can be compared value by value.
 *
 * @module
 */
import { backward, requiresGrad } from "../src/autograd.ts";
import { CoordinateAttention3d } from "../src/nn/coordinate_attention.ts";
import { mul, sum } from "../src/ops/mod.ts";
import { readAll, scope, tensor } from "../src/tensor.ts";
import { Rng } from "../src/util/rng.ts";

export interface StepResult {
  loss: number;
  /** Gradients by name: "input" and every parameter path of the block. */
  gradients: Record<string, number[]>;
}

/**
 * Runs one forward and backward step of a seeded Coordinate Attention block
 * (8 channels, input [2, 8, 3, 4, 5], training-mode batch norm). The loss
 * is sum(y * r) for a fixed random r. Returns the loss and all gradients;
 * the runtime must be initialised first.
 */
export async function coordinateAttentionStep(seed = 3): Promise<StepResult> {
  const rng = new Rng(seed);
  const shape = [2, 8, 3, 4, 5];
  const size = shape.reduce((a, b) => a * b);
  const block = new CoordinateAttention3d({ channels: 8, rng });
  const input = requiresGrad(
    tensor(Array.from({ length: size }, () => rng.normal()), shape).keep(),
  );
  const weights = Array.from({ length: size }, () => rng.uniform(-1, 1));
  try {
    const loss = scope(() => {
      const y = block.forward(input);
      const l = sum(mul(y, tensor(weights, shape)));
      backward(l);
      return l;
    });
    const named = [["input", input], ...block.namedParameters()] as const;
    const values = await readAll([loss, ...named.map(([, t]) => t.grad!)]);
    loss.dispose();
    const gradients: Record<string, number[]> = {};
    named.forEach(([name], i) => gradients[name] = Array.from(values[i + 1]));
    return { loss: values[0][0], gradients };
  } finally {
    input.grad?.dispose();
    input.dispose();
    block.dispose();
  }
}
