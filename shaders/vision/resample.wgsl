// Separable resampling of a stack of planes, [P, H, W] -> [P, OH, OW]:
// out[p, y, x] = gain * sum_i wy[y, i] * (sum_j wx[x, j] * src[p, oy + i, ox + j]),
// rows first, then columns, as OpenCV's resize sums them. The tap table holds,
// per output column, its first source column ox and taps_x weights (stride
// taps_x + 1), then from y_table on the same for each output row. Source
// indices past the edge are clamped; their weights are zero.
// Bindings: 0 uniform Params, 1 src [P, H, W], 2 table, 3 out [P, OH, OW].

struct Params {
  planes: u32,
  in_h: u32,
  in_w: u32,
  out_h: u32,
  out_w: u32,
  taps_x: u32,
  taps_y: u32,
  y_table: u32,
  gain: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  let out_plane = params.out_h * params.out_w;
  if (i >= params.planes * out_plane) {
    return;
  }
  let p = i / out_plane;
  let y = (i % out_plane) / params.out_w;
  let x = i % params.out_w;
  let x_entry = x * (params.taps_x + 1u);
  let y_entry = params.y_table + y * (params.taps_y + 1u);
  let x0 = u32(table[x_entry]);
  let y0 = u32(table[y_entry]);
  let base = p * params.in_h * params.in_w;
  var total = 0.0;
  for (var r = 0u; r < params.taps_y; r++) {
    let row = min(y0 + r, params.in_h - 1u);
    var row_sum = 0.0;
    for (var c = 0u; c < params.taps_x; c++) {
      let column = min(x0 + c, params.in_w - 1u);
      row_sum += table[x_entry + 1u + c] * src[base + row * params.in_w + column];
    }
    total += table[y_entry + 1u + r] * row_sum;
  }
  out[i] = params.gain * total;
}
