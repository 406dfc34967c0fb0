// Gradient of the class means of prototypes.wgsl: every sample receives
// gy[label] / counts[label] ([samples, dim] from [classes, dim], row-major);
// NaN where the label is outside [0, classes) or its class count is 0.
// Bindings: 0 uniform, 1 labels (i32), 2 counts, 3 gy, 4 gx.

struct Params {
  samples: u32,
  classes: u32,
  dim: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> counts: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

// A quiet NaN read from a variable, because a NaN constant expression is a
// shader-creation error in WGSL.
var<private> nan_bits: u32 = 0x7fc00000u;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 256u + lid;
  if (t >= params.samples * params.dim) {
    return;
  }
  let label = labels[t / params.dim];
  if (label < 0 || u32(label) >= params.classes) {
    gx[t] = bitcast<f32>(nan_bits);
    return;
  }
  let c = u32(label);
  let count = counts[c];
  if (count == 0.0) {
    gx[t] = bitcast<f32>(nan_bits);
    return;
  }
  gx[t] = gy[c * params.dim + t % params.dim] / count;
}
