// First pass of the batch-norm parameter gradients: per-chunk sums of gy and
// of gy * (x - mean[c]) over a strided subset of channel c's
// N * D * H * W elements, with the thread layout of
// batch_norm_partial_stats.wgsl (thread t = c * chunks + k visits
// r = k, k + chunks, ...). Writes partials[2t] = sum gy and
// partials[2t + 1] = sum gy * (x - mean).
// Bindings: 0 uniform, 1 x, 2 gy, 3 mean, 4 partials.

struct Params {
  channels: u32,
  spatial: u32,
  count: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  if (t >= params.channels * params.chunks) {
    return;
  }
  let c = t / params.chunks;
  let k = t % params.chunks;
  let m = mean[c];
  var sum_gy = 0.0;
  var sum_gy_centered = 0.0;
  for (var r = k; r < params.count; r += params.chunks) {
    let n = r / params.spatial;
    let s = r - n * params.spatial;
    let at = (n * params.channels + c) * params.spatial + s;
    let g = gy[at];
    sum_gy += g;
    sum_gy_centered += g * (x[at] - m);
  }
  partials[2u * t] = sum_gy;
  partials[2u * t + 1u] = sum_gy_centered;
}
