// Batch-norm statistics in evaluation mode, from the running statistics:
// mean = running_mean and invstd = 1 / sqrt(running_var + eps), per channel.
// Bindings: 0 uniform, 1 running_mean, 2 running_var, 3 mean, 4 invstd, each
// with C entries.

struct Params {
  channels: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> running_mean: array<f32>;
@group(0) @binding(2) var<storage, read> running_var: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> invstd_out: array<f32>;

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
  mean_out[c] = running_mean[c];
  invstd_out[c] = 1.0 / sqrt(running_var[c] + params.eps);
}
