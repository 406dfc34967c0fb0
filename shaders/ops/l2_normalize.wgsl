// Row-wise L2 normalisation of a row-major [rows, dim] matrix,
// y = x / max(||x||, eps), as torch.nn.functional.normalize(x, dim=1).
// Entry points: row_norms writes norms[i] = ||x_i|| (one invocation per row,
// also used for cosineSimilarity); main writes y (one invocation per element).
// Bindings: 0 uniform, 1 x, 2 norms, 3 y (main only).

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> norms: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn row_norms(
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
    let v = x[base + d];
    total += v * v;
  }
  norms[row] = sqrt(total);
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
  y[i] = x[i] / max(norms[i / params.dim], params.eps);
}
