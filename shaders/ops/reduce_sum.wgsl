// Sum over a set of axes, times `scale` (1 for sum, 1/count for mean).
// Thread t = o * chunks + c sums chunk c of the reduced index space of output
// element o into y[t]; with chunks > 1 a second dispatch of this kernel sums
// the partials (a two-pass tree, no float atomics).
// Output o -> x offset through out_shape/out_strides; reduced index r -> x
// offset through red_shape/red_strides, both coalesced on the host (rank 1 at
// least). The innermost reduced dimension is walked with a counter, so the
// reduced index is unravelled once per row and not per element.
// Bindings: 0 uniform, 1 x, 2 y.

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

// Offset in x of output element o.
fn out_offset(o: u32) -> u32 {
  var rest = o;
  var offset = 0u;
  for (var d = params.out_rank - 1u; d > 0u; d--) {
    let size = params.out_shape[d / 4u][d % 4u];
    offset += (rest % size) * params.out_strides[d / 4u][d % 4u];
    rest = rest / size;
  }
  return offset + rest * params.out_strides[0].x;
}

// Offset in x of row `row` of the reduced dimensions other than the innermost
// one (dimensions 0 .. red_rank - 2).
fn row_offset(row: u32) -> u32 {
  var rest = row;
  var offset = 0u;
  for (var d = params.red_rank - 1u; d > 1u; d--) {
    let e = d - 1u;
    let size = params.red_shape[e / 4u][e % 4u];
    offset += (rest % size) * params.red_strides[e / 4u][e % 4u];
    rest = rest / size;
  }
  return offset + select(0u, rest * params.red_strides[0].x, params.red_rank > 1u);
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
  let base = out_offset(o);
  let last = params.red_rank - 1u;
  let inner = params.red_shape[last / 4u][last % 4u];
  let inner_stride = params.red_strides[last / 4u][last % 4u];
  let start = c * params.chunk;
  let stop = min(start + params.chunk, params.count);
  var row = start / inner;
  var j = start % inner;
  var row_base = base + row_offset(row);
  var acc = 0.0;
  for (var r = start; r < stop; r++) {
    acc += x[row_base + j * inner_stride];
    j++;
    if (j == inner) {
      j = 0u;
      row++;
      row_base = base + row_offset(row);
    }
  }
  y[t] = acc * params.scale;
}
