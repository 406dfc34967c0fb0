// Softmax cross-entropy of logits [rows, classes] (row-major) with integer
// labels: losses[n] = scale * (logsumexp(x_n) - x_n[label_n]), where scale is
// 1 / rows for the mean and 1 for the sum. logsumexp subtracts the row
// maximum first, so large logits cannot overflow exp. A label outside
// [0, classes) gives a NaN loss.
// Entry points: row_lse writes lse[n] = logsumexp(x_n); main writes losses.
// One invocation per row. Bindings: 0 uniform, 1 logits, 2 lse,
// 3 labels (main), 4 losses (main).

struct Params {
  rows: u32,
  classes: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;

// A quiet NaN read from a variable, because a NaN constant expression is a
// shader-creation error in WGSL.
var<private> nan_bits: u32 = 0x7fc00000u;

@compute @workgroup_size(64)
fn row_lse(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = flat_workgroup(wid, nwg) * 64u + lid;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.classes;
  var top = logits[base];
  for (var c = 1u; c < params.classes; c++) {
    top = max(top, logits[base + c]);
  }
  var total = 0.0;
  for (var c = 0u; c < params.classes; c++) {
    total += exp(logits[base + c] - top);
  }
  lse[row] = top + log(total);
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = flat_workgroup(wid, nwg) * 64u + lid;
  if (row >= params.rows) {
    return;
  }
  let label = labels[row];
  if (label < 0 || u32(label) >= params.classes) {
    losses[row] = bitcast<f32>(nan_bits);
    return;
  }
  let target_logit = logits[row * params.classes + u32(label)];
  losses[row] = params.scale * (lse[row] - target_logit);
}
