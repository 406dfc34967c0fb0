// Sum over a set of axes, times `scale` (1 for sum, 1/count for mean).
// Thread t = o * chunks + c sums chunk c of the reduced index space of output
// element o into y[t]; with chunks > 1 a second dispatch of this kernel sums
// the partials (a two-pass tree, no float atomics).
// Output o -> x offset through out_shape/out_strides; reduced index r -> x
// offset through red_shape/red_strides. Bindings: 0 uniform, 1 x, 2 y.

struct Params {
  n_out: u32,
  chunks: u32,
  chunk: u32,
  count: u32,
  out_rank: u32,
  red_rank: u32,
  scale: f32,
  out_shape: array<vec4<u32>, 2>,
  out_strides: array<vec4<u32>, 2>,
  red_shape: array<vec4<u32>, 2>,
  red_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn offset_of(index: u32, rank: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>) -> u32 {
  var rest = index;
  var offset = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let size = at8(shape, u32(d));
    offset += (rest % size) * at8(strides, u32(d));
    rest = rest / size;
  }
  return offset;
}

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
  let base = offset_of(o, params.out_rank, params.out_shape, params.out_strides);
  let start = c * params.chunk;
  let stop = min(start + params.chunk, params.count);
  var acc = 0.0;
  for (var r = start; r < stop; r++) {
    acc += x[base + offset_of(r, params.red_rank, params.red_shape, params.red_strides)];
  }
  y[t] = acc * params.scale;
}
