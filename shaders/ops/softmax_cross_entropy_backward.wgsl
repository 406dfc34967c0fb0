// Gradient of softmax_cross_entropy.wgsl with respect to the logits:
// gx[n, c] = gy * scale * (softmax(x_n)[c] - (c == label_n)), with
// softmax(x_n)[c] = exp(x[n, c] - lse[n]); NaN on rows whose label is outside
// [0, classes). gy is the gradient of the scalar loss. One invocation per
// element of [rows, classes], row-major.
// Bindings: 0 uniform, 1 logits, 2 lse, 3 labels, 4 gy, 5 gx.

struct Params {
  rows: u32,
  classes: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;

// A quiet NaN read from a variable, because a NaN constant expression is a
// shader-creation error in WGSL.
var<private> nan_bits: u32 = 0x7fc00000u;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.rows * params.classes) {
    return;
  }
  let row = i / params.classes;
  let c = i % params.classes;
  let label = labels[row];
  if (label < 0 || u32(label) >= params.classes) {
    gx[i] = bitcast<f32>(nan_bits);
    return;
  }
  let probability = exp(logits[i] - lse[row]);
  let target_mass = select(0.0, 1.0, u32(label) == c);
  gx[i] = gy[0] * params.scale * (probability - target_mass);
}
