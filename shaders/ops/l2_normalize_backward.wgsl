// Gradient of the row-wise y = x / max(||x||, eps) of l2_normalize.wgsl.
// With n = ||x_i||: gx_i = (gy_i - y_i (y_i . gy_i)) / n where n >= eps, and
// gx_i = gy_i / eps where n < eps, because there the denominator is the
// constant eps (torch's clamp_min passes the gradient only where n >= eps).
// Entry points: row_dots writes dots[i] = y_i . gy_i (one invocation per
// row); main writes gx (one invocation per element). Row-major [rows, dim].
// Bindings: 0 uniform, 1 y, 2 gy, 3 dots, 4 norms (main), 5 gx (main).

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dots: array<f32>;
@group(0) @binding(4) var<storage, read> norms: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(64)
fn row_dots(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = flat_workgroup(wid, nwg) * 64u + lid;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.dim;
  var total = 0.0;
  for (var d = 0u; d < params.dim; d++) {
    total += y[base + d] * gy[base + d];
  }
  dots[row] = total;
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.rows * params.dim) {
    return;
  }
  let row = i / params.dim;
  let n = norms[row];
  if (n >= params.eps) {
    gx[i] = (gy[i] - y[i] * dots[row]) / n;
  } else {
    gx[i] = gy[i] / params.eps;
  }
}
