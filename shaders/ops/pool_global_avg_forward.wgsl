// Sums of contiguous rows times `scale`: thread t = o * chunks + c writes
// scale * (sum of x[o * count + r] for r in chunk c) to y[t]. Global average
// pooling runs it once over rows of D*H*W values with scale 1 / (D*H*W);
// with chunks > 1 a second dispatch sums each row's partials (two passes,
// no float atomics). Bindings: 0 uniform, 1 x, 2 y.

struct Params {
  n_out: u32,
  chunks: u32,
  chunk: u32,
  count: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  if (t >= params.n_out * params.chunks) {
    return;
  }
  let o = t / params.chunks;
  let c = t % params.chunks;
  let start = c * params.chunk;
  let stop = min(start + params.chunk, params.count);
  let base = o * params.count;
  var acc = 0.0;
  for (var r = start; r < stop; r++) {
    acc += x[base + r];
  }
  y[t] = acc * params.scale;
}
