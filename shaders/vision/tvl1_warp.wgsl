// TV-L1 warping step: samples I1 and its gradient at x + u(x) with bicubic
// interpolation, taps outside the image reading 0, and stores the terms of
// the linearised data term: I1wx, I1wy, grad = I1wx^2 + I1wy^2, and
// rho_c = I1w - I1wx * u1 - I1wy * u2 - I0. It also resets each image's
// convergence state, because every warp restarts OpenCV's stopping rule.
// Bindings: 0 uniform Params, 1 i0 [B, H, W], 2 i1 [B, H, W],
// 3 i1_gradient [B, 2, H, W], 4 flow [B, 2, H, W],
// 5 warped [B, H, W] of vec4 (I1wx, I1wy, grad, rho_c),
// 6 state [B, STATE_STRIDE].

const STATE_STRIDE: u32 = 288u;
// Cubic convolution parameter: -0.75 with positions rounded to 1/32 pixel
// (SUBPIXEL_STEPS) is OpenCV's remap; -0.5 (Keys) at exact positions
// (SUBPIXEL_STEPS = 0) interpolates quadratics exactly, which removes the
// sub-pixel bias that -0.75 gives on smooth images.
override CUBIC_A: f32 = -0.75;
override SUBPIXEL_STEPS: f32 = 32.0;
// Larger than any squared update sum, like OpenCV's initial FLT_MAX.
const UNCONVERGED: f32 = 1e30;

struct Params {
  images: u32,
  h: u32,
  w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> i0: array<f32>;
@group(0) @binding(2) var<storage, read> i1: array<f32>;
@group(0) @binding(3) var<storage, read> i1_gradient: array<f32>;
@group(0) @binding(4) var<storage, read> flow: array<f32>;
@group(0) @binding(5) var<storage, read_write> warped: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;

fn cubic_weights(t: f32) -> vec4<f32> {
  let a = CUBIC_A;
  let w0 = ((a * (t + 1.0) - 5.0 * a) * (t + 1.0) + 8.0 * a) * (t + 1.0) - 4.0 * a;
  let w1 = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
  let w2 = ((a + 2.0) * (1.0 - t) - (a + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
  return vec4<f32>(w0, w1, w2, 1.0 - w0 - w1 - w2);
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  let plane = params.h * params.w;
  if (i >= params.images * plane) {
    return;
  }
  let b = i / plane;
  let at = i % plane;
  let x = at % params.w;
  let y = at / params.w;
  if (at == 0u) {
    state[b * STATE_STRIDE] = UNCONVERGED;
  }
  let u1 = flow[2u * b * plane + at];
  let u2 = flow[(2u * b + 1u) * plane + at];

  // OpenCV rounds map coordinates to 1/32 pixel (INTER_BITS = 5).
  var position = vec2<f32>(f32(x) + u1, f32(y) + u2);
  if (SUBPIXEL_STEPS > 0.0) {
    position = round(position * SUBPIXEL_STEPS) / SUBPIXEL_STEPS;
  }
  let cell = floor(position);
  let sx = i32(cell.x) - 1;
  let sy = i32(cell.y) - 1;
  let wx = cubic_weights(position.x - cell.x);
  let wy = cubic_weights(position.y - cell.y);

  var value = 0.0;
  var dx = 0.0;
  var dy = 0.0;
  let image_base = b * plane;
  let gradient_base = 2u * b * plane;
  for (var r = 0; r < 4; r++) {
    let row = sy + r;
    if (row < 0 || row >= i32(params.h)) {
      continue;
    }
    var row_value = 0.0;
    var row_dx = 0.0;
    var row_dy = 0.0;
    for (var c = 0; c < 4; c++) {
      let column = sx + c;
      if (column < 0 || column >= i32(params.w)) {
        continue;
      }
      let k = u32(row) * params.w + u32(column);
      row_value += wx[c] * i1[image_base + k];
      row_dx += wx[c] * i1_gradient[gradient_base + k];
      row_dy += wx[c] * i1_gradient[gradient_base + plane + k];
    }
    value += wy[r] * row_value;
    dx += wy[r] * row_dx;
    dy += wy[r] * row_dy;
  }

  warped[i] = vec4<f32>(
    dx,
    dy,
    dx * dx + dy * dy,
    value - dx * u1 - dy * u2 - i0[image_base + at],
  );
}
