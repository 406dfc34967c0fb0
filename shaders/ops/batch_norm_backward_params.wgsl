// Second pass of the batch-norm parameter gradients, one thread per channel:
// grad_bias[c] = sum of gy and grad_weight[c] = invstd[c] * sum of
// gy * (x - mean), summed over the per-chunk partials of
// batch_norm_backward_reduce.wgsl. grad_weight is also the sum of gy * xhat
// that the training-mode input gradient needs.
// Bindings: 0 uniform, 1 partials, 2 invstd, 3 grad_weight, 4 grad_bias.

struct Params {
  channels: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read> invstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_bias: array<f32>;

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = flat_workgroup(wid, nwg) * 64u + lid;
  if (c >= params.channels) {
    return;
  }
  var sum_gy = 0.0;
  var sum_gy_centered = 0.0;
  for (var k = 0u; k < params.chunks; k++) {
    let at = 2u * (c * params.chunks + k);
    sum_gy += partials[at];
    sum_gy_centered += partials[at + 1u];
  }
  grad_bias[c] = sum_gy;
  grad_weight[c] = sum_gy_centered * invstd[c];
}
