// One Gauss-Newton step of global-translation Lucas-Kanade on one pyramid
// level, in a single workgroup. It minimises
// sum_x (moving(x + d) - reference(x))^2 over the translation d with the
// reference's gradient (the inverse-compositional form, so the 2x2 normal
// matrix needs no warped gradient). shift [2] holds d in pixels of the finest
// level; on this level it is d * level_scale. Pixels within margin of the
// edge, and those whose sample falls outside the moving image, are left out.
// Bindings: 0 uniform Params, 1 reference [H, W], 2 moving [H, W],
// 3 shift [2] (read and updated).

struct Params {
  h: u32,
  w: u32,
  margin: u32,
  level_scale: vec2<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> reference: array<f32>;
@group(0) @binding(2) var<storage, read> moving: array<f32>;
@group(0) @binding(3) var<storage, read_write> shift: array<f32>;

// Sums of gx*gx, gx*gy, gy*gy, gx*r, gy*r per invocation, then reduced.
var<workgroup> sums: array<array<f32, 5>, 256>;

fn moving_at(x: f32, y: f32) -> f32 {
  let fx = floor(x);
  let fy = floor(y);
  let x0 = u32(fx);
  let y0 = u32(fy);
  let x1 = min(x0 + 1u, params.w - 1u);
  let y1 = min(y0 + 1u, params.h - 1u);
  let ax = x - fx;
  let ay = y - fy;
  let top = moving[y0 * params.w + x0] * (1.0 - ax) + moving[y0 * params.w + x1] * ax;
  let bottom = moving[y1 * params.w + x0] * (1.0 - ax) + moving[y1 * params.w + x1] * ax;
  return top * (1.0 - ay) + bottom * ay;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let d = vec2<f32>(shift[0], shift[1]) * params.level_scale;
  let last = vec2<f32>(f32(params.w - 1u), f32(params.h - 1u));
  let inner_w = params.w - 2u * params.margin;
  let count = inner_w * (params.h - 2u * params.margin);
  var acc = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
  for (var k = lid; k < count; k += 256u) {
    let x = params.margin + k % inner_w;
    let y = params.margin + k / inner_w;
    let p = vec2<f32>(f32(x), f32(y)) + d;
    if (any(p < vec2<f32>(0.0)) || any(p > last)) {
      continue;
    }
    let at = y * params.w + x;
    let gx = 0.5 * (reference[at + 1u] - reference[at - 1u]);
    let gy = 0.5 * (reference[at + params.w] - reference[at - params.w]);
    let r = moving_at(p.x, p.y) - reference[at];
    acc[0] += gx * gx;
    acc[1] += gx * gy;
    acc[2] += gy * gy;
    acc[3] += gx * r;
    acc[4] += gy * r;
  }
  sums[lid] = acc;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      for (var j = 0u; j < 5u; j++) {
        sums[lid][j] += sums[lid + stride][j];
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let s = sums[0];
    let det = s[0] * s[2] - s[1] * s[1];
    // A flat image gives no information; keep the current estimate.
    if (det > 1e-6 * (s[0] * s[2] + 1e-20)) {
      let step = -vec2<f32>(s[2] * s[3] - s[1] * s[4], s[0] * s[4] - s[1] * s[3]) / det;
      let bounded = clamp(step, vec2<f32>(-2.0), vec2<f32>(2.0));
      let updated = vec2<f32>(shift[0], shift[1]) + bounded / params.level_scale;
      shift[0] = updated.x;
      shift[1] = updated.y;
    }
  }
}
