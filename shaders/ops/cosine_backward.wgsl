// Gradient of cosine.wgsl for one side ("own", the queries or the
// prototypes; "other", the opposite side). With h = 1 / max(||.||, eps) and
// m_r = 1 where ||own_r|| >= eps, 0 below (the clamp holds the denominator
// constant there):
//   g_own[r, d] = h_r sum_o gy[r, o] (h_o other[o, d] - m_r y[r, o] h_r own[r, d])
// where (r, o) indexes y and gy at r * own_stride + o * other_stride
// ([queries, classes] row-major). One invocation per element of g_own.
// Bindings: 0 uniform, 1 own, 2 other, 3 own_norms, 4 other_norms, 5 y,
// 6 gy, 7 g_own.

struct Params {
  rows: u32,
  others: u32,
  dim: u32,
  eps: f32,
  own_stride: u32,
  other_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> own: array<f32>;
@group(0) @binding(2) var<storage, read> other: array<f32>;
@group(0) @binding(3) var<storage, read> own_norms: array<f32>;
@group(0) @binding(4) var<storage, read> other_norms: array<f32>;
@group(0) @binding(5) var<storage, read> y: array<f32>;
@group(0) @binding(6) var<storage, read> gy: array<f32>;
@group(0) @binding(7) var<storage, read_write> g_own: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 256u + lid;
  if (t >= params.rows * params.dim) {
    return;
  }
  let r = t / params.dim;
  let d = t % params.dim;
  let norm = own_norms[r];
  let h = 1.0 / max(norm, params.eps);
  var towards = 0.0;
  var along = 0.0;
  for (var o = 0u; o < params.others; o++) {
    let at = r * params.own_stride + o * params.other_stride;
    let g = gy[at];
    towards += g * other[o * params.dim + d] / max(other_norms[o], params.eps);
    along += g * y[at];
  }
  let radial = select(0.0, along * h * own[t], norm >= params.eps);
  g_own[t] = h * (towards - radial);
}
