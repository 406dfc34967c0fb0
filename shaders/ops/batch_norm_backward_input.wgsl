// Batch-norm input gradient. With xhat = (x - mean[c]) * invstd[c]:
//   gx = weight[c] * invstd[c] * (gy - (grad_bias[c] + xhat * grad_weight[c]) * batch_scale)
// where grad_bias = sum gy and grad_weight = sum gy * xhat over the channel's
// N * D * H * W elements. batch_scale is 1 / (N * D * H * W) in training mode,
// where the batch statistics depend on x, and 0 in evaluation mode, where
// gx = gy * weight * invstd.
// Bindings: 0 uniform, 1 x, 2 gy, 3 mean, 4 invstd, 5 weight, 6 grad_weight,
// 7 grad_bias, 8 gx. Element i is in channel c = (i / spatial) % channels.

struct Params {
  n: u32,
  channels: u32,
  spatial: u32,
  batch_scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> invstd: array<f32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read> grad_weight: array<f32>;
@group(0) @binding(7) var<storage, read> grad_bias: array<f32>;
@group(0) @binding(8) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.n) {
    return;
  }
  let c = (i / params.spatial) % params.channels;
  let xhat = (x[i] - mean[c]) * invstd[c];
  let correction = (grad_bias[c] + xhat * grad_weight[c]) * params.batch_scale;
  gx[i] = weight[c] * invstd[c] * (gy[i] - correction);
}
