// Sums for the update-to-weight ratio of one parameter in one workgroup:
// writes stats[slot * 12 + 8] = sum (w - w0)^2 and stats[slot * 12 + 9] =
// sum w0^2, where w0 is the snapshot taken before the optimiser step.
// Bindings: 0 uniform {n, slot}, 1 weights after, 2 weights before, 3 stats.

struct Params {
  n: u32,
  slot: u32,
}

const WORKGROUP = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> after: array<f32>;
@group(0) @binding(2) var<storage, read> before: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

var<workgroup> deltas: array<f32, WORKGROUP>;
var<workgroup> weights: array<f32, WORKGROUP>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var delta = 0.0;
  var weight = 0.0;
  for (var i = lid; i < params.n; i += WORKGROUP) {
    let w0 = before[i];
    let d = after[i] - w0;
    delta += d * d;
    weight += w0 * w0;
  }
  deltas[lid] = delta;
  weights[lid] = weight;
  workgroupBarrier();
  for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      deltas[lid] += deltas[lid + stride];
      weights[lid] += weights[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    stats[params.slot * 12u + 8u] = deltas[0];
    stats[params.slot * 12u + 9u] = weights[0];
  }
}
