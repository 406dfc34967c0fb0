// Batch-hard mining for the triplet margin loss (Hermans et al. 2017) over
// embeddings x [samples, dim] (row-major) with integer labels. Distances
// are dist = sqrt(max(d2, 1e-12)), or d2 itself when SQUARED, with
// d2 = sum_d (x_a[d] - x_j[d])^2 computed from the differences. For anchor a
// the hardest positive is the sample j != a with a's label and the largest
// dist, the hardest negative the sample with another label and the smallest
// dist; ties go to the first index. Writes selection[2a], selection[2a + 1]
// = (positive, negative), both -1 when the anchor lacks either, and their
// d2 at d2[2a], d2[2a + 1]. One invocation per anchor.
// Bindings: 0 uniform, 1 x, 2 labels, 3 selection, 4 d2.

override SQUARED: bool = false;

struct Params {
  samples: u32,
  dim: u32,
  margin: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> selection: array<i32>;
@group(0) @binding(4) var<storage, read_write> d2: array<f32>;

fn distance_of(squared_distance: f32) -> f32 {
  if (SQUARED) {
    return squared_distance;
  }
  return sqrt(max(squared_distance, 1e-12));
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let a = flat_workgroup(wid, nwg) * 64u + lid;
  if (a >= params.samples) {
    return;
  }
  let label = labels[a];
  var positive = -1;
  var negative = -1;
  var positive_d2 = 0.0;
  var negative_d2 = 0.0;
  var positive_dist = 0.0;
  var negative_dist = 0.0;
  for (var j = 0u; j < params.samples; j++) {
    if (j == a) {
      continue;
    }
    var total = 0.0;
    for (var d = 0u; d < params.dim; d++) {
      let diff = x[a * params.dim + d] - x[j * params.dim + d];
      total += diff * diff;
    }
    let dist = distance_of(total);
    if (labels[j] == label) {
      if (positive < 0 || dist > positive_dist) {
        positive = i32(j);
        positive_dist = dist;
        positive_d2 = total;
      }
    } else if (negative < 0 || dist < negative_dist) {
      negative = i32(j);
      negative_dist = dist;
      negative_d2 = total;
    }
  }
  let valid = positive >= 0 && negative >= 0;
  selection[2u * a] = select(-1, positive, valid);
  selection[2u * a + 1u] = select(-1, negative, valid);
  d2[2u * a] = positive_d2;
  d2[2u * a + 1u] = negative_d2;
}
