// Mean, minimum and maximum of the flow magnitude sqrt(u^2 + v^2) of each
// image, one workgroup per image (tree reduction in workgroup memory).
// Bindings: 0 uniform Params, 1 flow [N, 2, H, W], 2 mean [N],
// 3 magnitude_range [N, 2] (minimum, maximum).

struct Params {
  plane: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> flow: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> magnitude_range: array<f32>;

var<workgroup> sums: array<vec3<f32>, 256>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let image = flat_workgroup(wid, nwg);
  let plane = params.plane;
  let base = 2u * image * plane;
  // (sum, minimum, maximum); magnitudes are never negative, so the first
  // value seen replaces the -1 marker of an empty minimum.
  var acc = vec3<f32>(0.0, -1.0, 0.0);
  for (var k = lid; k < plane; k += 256u) {
    let m = length(vec2<f32>(flow[base + k], flow[base + plane + k]));
    acc.x += m;
    acc.y = select(min(acc.y, m), m, acc.y < 0.0);
    acc.z = max(acc.z, m);
  }
  sums[lid] = acc;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let a = sums[lid];
      let b = sums[lid + stride];
      var low = min(a.y, b.y);
      if (a.y < 0.0) {
        low = b.y;
      } else if (b.y < 0.0) {
        low = a.y;
      }
      sums[lid] = vec3<f32>(a.x + b.x, low, max(a.z, b.z));
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let total = sums[0];
    mean[image] = total.x / f32(plane);
    magnitude_range[2u * image] = max(total.y, 0.0);
    magnitude_range[2u * image + 1u] = total.z;
  }
}
