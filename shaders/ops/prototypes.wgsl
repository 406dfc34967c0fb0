// Class prototypes (prototypical networks, Snell et al. 2017): y[c] is the
// mean of the embeddings x[n] ([samples, dim], row-major) whose label is c.
// Entry points: class_counts writes counts[c] (one invocation per class) and
// main writes y ([classes, dim], one invocation per element). A class with
// no sample gets NaN, and so does every class when any label is outside
// [0, classes); callers that know the labels on the host reject both first.
// Bindings: 0 uniform, 1 labels (i32), 2 counts, 3 x (main), 4 y (main).

struct Params {
  samples: u32,
  classes: u32,
  dim: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> counts: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// A quiet NaN read from a variable, because a NaN constant expression is a
// shader-creation error in WGSL.
var<private> nan_bits: u32 = 0x7fc00000u;

@compute @workgroup_size(64)
fn class_counts(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = flat_workgroup(wid, nwg) * 64u + lid;
  if (c >= params.classes) {
    return;
  }
  var count = 0u;
  var invalid = false;
  for (var n = 0u; n < params.samples; n++) {
    let label = labels[n];
    invalid = invalid || label < 0 || u32(label) >= params.classes;
    count += select(0u, 1u, label == i32(c));
  }
  counts[c] = select(f32(count), 0.0, invalid);
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 256u + lid;
  if (t >= params.classes * params.dim) {
    return;
  }
  let c = t / params.dim;
  let d = t % params.dim;
  let count = counts[c];
  if (count == 0.0) {
    y[t] = bitcast<f32>(nan_bits);
    return;
  }
  var total = 0.0;
  for (var n = 0u; n < params.samples; n++) {
    if (labels[n] == i32(c)) {
      total += x[n * params.dim + d];
    }
  }
  y[t] = total / count;
}
