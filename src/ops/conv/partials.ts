/** Second pass of the chunked conv3d weight gradients, which adds the partial sums. */
import { runtime } from "../../gpu/runtime.ts";
import { UniformLayout } from "../../gpu/uniforms.ts";
import type { Tensor } from "../../tensor.ts";
import sumPartialsSource from "../../../shaders/ops/conv3d_sum_partials.wgsl" with {
  type: "text",
};

const sumPartialsLayout = new UniformLayout([
  ["count", "u32"],
  ["chunks", "u32"],
]);

/** Adds the partial weight gradients of the chunks into gw (the second pass). */
export function sumPartials(partial: Tensor, gw: Tensor, chunks: number): void {
  runtime().dispatch({
    op: "conv3d.backward_weight.sum",
    kernel: {
      file: "shaders/ops/conv3d_sum_partials.wgsl",
      source: sumPartialsSource,
    },
    uniforms: sumPartialsLayout.pack({ count: gw.size, chunks }),
    bindings: [partial.binding(), gw.binding()],
    workgroups: Math.ceil(gw.size / 256),
  });
}
