// First pass of the training-mode batch-norm statistics: Welford mean and
// sum of squared deviations (m2) of one channel over a strided subset of its
// N * D * H * W elements. Thread t = c * chunks + k visits the elements
// r = k, k + chunks, k + 2 * chunks, ... of channel c, so neighbouring
// threads read neighbouring addresses. Element r of a channel is sample
// n = r / spatial at position s = r % spatial, at x offset
// (n * channels + c) * spatial + s (NCDHW, or NC with spatial = 1).
// Writes partials[3t .. 3t + 2] = (element count, mean, m2).
// Bindings: 0 uniform, 1 x, 2 partials.

struct Params {
  channels: u32,
  spatial: u32,
  count: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

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
  var seen = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var r = k; r < params.count; r += params.chunks) {
    let n = r / params.spatial;
    let s = r - n * params.spatial;
    let v = x[(n * params.channels + c) * params.spatial + s];
    seen += 1.0;
    let delta = v - mean;
    mean += delta / seen;
    m2 += delta * (v - mean);
  }
  partials[3u * t] = seen;
  partials[3u * t + 1u] = mean;
  partials[3u * t + 2u] = m2;
}
