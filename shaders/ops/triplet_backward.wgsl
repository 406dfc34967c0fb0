// Gradient of the batch-hard triplet loss of triplet.wgsl with respect to
// the embeddings, from the selection and d2 that its mine entry point wrote.
// Only selected pairs of anchors with hinge dist_ap - dist_an + margin >= 0
// contribute (at exactly 0 the gradient passes, as torch.clamp_min).
// d dist_aj / d x_a = u_aj = (x_a - x_j) / sqrt(d2_aj) where d2_aj >= 1e-12
// and 0 below (the clamp is constant there); 2 (x_a - x_j) when SQUARED.
// Each anchor adds u_ap - u_an to itself, -u_ap to its positive and u_an to
// its negative; the sum is scaled by gy / (anchors with both).
// One invocation per element of gx [samples, dim], row-major.
// Bindings: 0 uniform, 1 x, 2 selection, 3 d2, 4 gy, 5 gx.

override SQUARED: bool = false;

struct Params {
  samples: u32,
  dim: u32,
  margin: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> selection: array<i32>;
@group(0) @binding(3) var<storage, read> d2: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;

fn distance_of(squared_distance: f32) -> f32 {
  if (SQUARED) {
    return squared_distance;
  }
  return sqrt(max(squared_distance, 1e-12));
}

// Factor f with d dist / d x_a = f (x_a - x_j).
fn slope_of(squared_distance: f32) -> f32 {
  if (SQUARED) {
    return 2.0;
  }
  return select(0.0, 1.0 / sqrt(squared_distance), squared_distance >= 1e-12);
}

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
  let k = i32(t / params.dim);
  let d = t % params.dim;
  var total = 0.0;
  var count = 0u;
  for (var a = 0u; a < params.samples; a++) {
    let positive = selection[2u * a];
    if (positive < 0) {
      continue;
    }
    count++;
    let negative = selection[2u * a + 1u];
    let ap = d2[2u * a];
    let an = d2[2u * a + 1u];
    if (distance_of(ap) - distance_of(an) + params.margin < 0.0) {
      continue;
    }
    let xa = x[a * params.dim + d];
    let u_ap = slope_of(ap) * (xa - x[u32(positive) * params.dim + d]);
    let u_an = slope_of(an) * (xa - x[u32(negative) * params.dim + d]);
    if (i32(a) == k) {
      total += u_ap - u_an;
    }
    if (positive == k) {
      total -= u_ap;
    }
    if (negative == k) {
      total += u_an;
    }
  }
  gx[t] = select(0.0, gy[0] * total / f32(count), count > 0u);
}
