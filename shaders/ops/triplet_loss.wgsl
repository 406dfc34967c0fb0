// Batch-hard triplet loss from the selection and d2 of triplet_mine.wgsl:
// loss = mean over anchors with a positive and a negative of
// max(dist_ap - dist_an + margin, 0), with dist = sqrt(max(d2, 1e-12)), or
// d2 when SQUARED; 0 when no anchor has both. A single invocation, since
// the loop runs over one batch of anchors.
// Bindings: 0 uniform, 1 selection, 2 d2, 3 loss (one value).

override SQUARED: bool = false;

struct Params {
  samples: u32,
  dim: u32,
  margin: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> selection: array<i32>;
@group(0) @binding(2) var<storage, read> d2: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

fn distance_of(squared_distance: f32) -> f32 {
  if (SQUARED) {
    return squared_distance;
  }
  return sqrt(max(squared_distance, 1e-12));
}

@compute @workgroup_size(1)
fn main() {
  var total = 0.0;
  var count = 0u;
  for (var a = 0u; a < params.samples; a++) {
    if (selection[2u * a] < 0) {
      continue;
    }
    count++;
    let hinge = distance_of(d2[2u * a]) - distance_of(d2[2u * a + 1u]) + params.margin;
    total += max(hinge, 0.0);
  }
  loss[0] = select(0.0, total / f32(count), count > 0u);
}
