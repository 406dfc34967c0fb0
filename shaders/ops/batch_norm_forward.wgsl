// Batch-norm normalisation, y = (x - mean[c]) * invstd[c] * weight[c] + bias[c],
// where element i of x (NCDHW, or NC with spatial = 1) is in channel
// c = (i / spatial) % channels.
// Bindings: 0 uniform, 1 x, 2 mean, 3 invstd, 4 weight, 5 bias, 6 y.

struct Params {
  n: u32,
  channels: u32,
  spatial: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> invstd: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

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
  y[i] = (x[i] - mean[c]) * invstd[c] * weight[c] + bias[c];
}
