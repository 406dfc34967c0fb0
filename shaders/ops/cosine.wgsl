// Cosine similarity of every query with every prototype,
// y[i, j] = (q_i . p_j) / (max(||q_i||, eps) max(||p_j||, eps)), with the
// row norms from l2_normalize.wgsl (row_norms). q is [queries, dim], p is
// [classes, dim], y is [queries, classes], all row-major; one invocation per
// element of y.
// Bindings: 0 uniform, 1 q, 2 p, 3 q_norms, 4 p_norms, 5 y.

struct Params {
  queries: u32,
  classes: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<f32>;
@group(0) @binding(3) var<storage, read> q_norms: array<f32>;
@group(0) @binding(4) var<storage, read> p_norms: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  if (t >= params.queries * params.classes) {
    return;
  }
  let i = t / params.classes;
  let j = t % params.classes;
  var dot = 0.0;
  for (var d = 0u; d < params.dim; d++) {
    dot += q[i * params.dim + d] * p[j * params.dim + d];
  }
  let scale = max(q_norms[i], params.eps) * max(p_norms[j], params.eps);
  y[t] = dot / scale;
}
