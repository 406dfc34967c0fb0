// Inner iterations of TV-L1 (Zach, Pock and Bischof 2007) at one scale and
// warp for images of any size (tvl1_iterate.wgsl is faster but limited to
// 16384 pixels), in the form of OpenCV's DualTVL1: per iteration the
// thresholding step gives v from the linearised data term, the primal step
// u = v + theta * div(p), then the dual step
// p = (p + taut * grad(u)) / (1 + taut * |grad(u)|) with forward differences.
// One workgroup runs all iterations of one image, so no dispatch or readback
// separates them. It stops like OpenCV: after up to inner_iterations, or as
// soon as the sum of squared updates of u over the image is at most
// scaled_epsilon (epsilon^2 * H * W). That sum, kept in the state, also
// stops later dispatches of the same warp.
// Bindings: 0 uniform Params, 1 warped [B, H, W] of vec4 (I1wx, I1wy, grad,
// rho_c), 2 flow [B, 2, H, W] (u1, u2), 3 dual [B, 4, H, W] (p11, p12, p21,
// p22), 4 state [B, STATE_STRIDE]: [0] last squared update sum, [1]
// iterations run, [16, 16 + WORKGROUP_SIZE) per-invocation sums.

const STATE_STRIDE: u32 = 288u;
const PER_INVOCATION: u32 = 16u;
// At most 256 (STATE_STRIDE - PER_INVOCATION - 16).
override WORKGROUP_SIZE: u32 = 256u;
// FLT_EPSILON, OpenCV's bound below which the gradient counts as zero.
const GRADIENT_EPSILON: f32 = 1.1920929e-7;

// The same layout as tvl1_iterate.wgsl's; the tile fields are unused.
struct Params {
  h: u32,
  w: u32,
  inner_iterations: u32,
  tile_w: u32,
  tiles_per_row: u32,
  l_t: f32,
  theta: f32,
  taut: f32,
  scaled_epsilon: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> warped: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> flow: array<f32>;
@group(0) @binding(3) var<storage, read_write> dual: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;

var<workgroup> shared_error: f32;

// Thresholding step: v = u + d minimising the linearised data term
// lambda * |rho| + (v - u)^2 / (2 theta), with rho = rho_c + grad(I1w) . u.
fn threshold(ix: f32, iy: f32, grad: f32, rho: f32) -> vec2<f32> {
  let l_t = params.l_t;
  if (rho < -l_t * grad) {
    return l_t * vec2<f32>(ix, iy);
  }
  if (rho > l_t * grad) {
    return -l_t * vec2<f32>(ix, iy);
  }
  if (grad > GRADIENT_EPSILON) {
    return (-rho / grad) * vec2<f32>(ix, iy);
  }
  return vec2<f32>(0.0);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let b = flat_workgroup(wid, nwg);
  let w = params.w;
  let h = params.h;
  let plane = h * w;
  let base = b * plane;
  let u1_base = 2u * b * plane;
  let u2_base = u1_base + plane;
  let p11_base = 4u * base;
  let p12_base = p11_base + plane;
  let p21_base = p12_base + plane;
  let p22_base = p21_base + plane;
  let state_base = b * STATE_STRIDE;
  // Pixels lid, lid + WORKGROUP_SIZE, ... are visited with their column and
  // row updated by additions instead of a division per pixel.
  let step_x = WORKGROUP_SIZE % w;
  let step_y = WORKGROUP_SIZE / w;
  let first_x = lid % w;
  let first_y = lid / w;
  if (lid == 0u) {
    shared_error = state[state_base];
  }
  var error = workgroupUniformLoad(&shared_error);
  var iterations = 0u;

  for (var n = 0u; n < params.inner_iterations; n++) {
    if (error <= params.scaled_epsilon) {
      break;
    }

    // Thresholding and primal step; p outside the image counts as 0.
    var update_sum = 0.0;
    var x = first_x;
    var y = first_y;
    for (var k = lid; k < plane; k += WORKGROUP_SIZE) {
      let term = warped[base + k];
      let u = vec2<f32>(flow[u1_base + k], flow[u2_base + k]);
      let v = u + threshold(term.x, term.y, term.z, term.w + term.x * u.x + term.y * u.y);
      var div = vec2<f32>(
        dual[p11_base + k] + dual[p12_base + k],
        dual[p21_base + k] + dual[p22_base + k],
      );
      if (x > 0u) {
        div -= vec2<f32>(dual[p11_base + k - 1u], dual[p21_base + k - 1u]);
      }
      if (y > 0u) {
        div -= vec2<f32>(dual[p12_base + k - w], dual[p22_base + k - w]);
      }
      let next = v + params.theta * div;
      let change = next - u;
      update_sum += dot(change, change);
      flow[u1_base + k] = next.x;
      flow[u2_base + k] = next.y;
      x += step_x;
      y += step_y;
      if (x >= w) {
        x -= w;
        y += 1u;
      }
    }
    state[state_base + PER_INVOCATION + lid] = update_sum;
    storageBarrier();

    // Dual step with forward differences (0 on the last column and row).
    x = first_x;
    y = first_y;
    for (var k = lid; k < plane; k += WORKGROUP_SIZE) {
      let u = vec2<f32>(flow[u1_base + k], flow[u2_base + k]);
      var ux = vec2<f32>(0.0);
      var uy = vec2<f32>(0.0);
      if (x + 1u < w) {
        ux = vec2<f32>(flow[u1_base + k + 1u], flow[u2_base + k + 1u]) - u;
      }
      if (y + 1u < h) {
        uy = vec2<f32>(flow[u1_base + k + w], flow[u2_base + k + w]) - u;
      }
      let taut = params.taut;
      let norm1 = 1.0 + taut * length(vec2<f32>(ux.x, uy.x));
      let norm2 = 1.0 + taut * length(vec2<f32>(ux.y, uy.y));
      dual[p11_base + k] = (dual[p11_base + k] + taut * ux.x) / norm1;
      dual[p12_base + k] = (dual[p12_base + k] + taut * uy.x) / norm1;
      dual[p21_base + k] = (dual[p21_base + k] + taut * ux.y) / norm2;
      dual[p22_base + k] = (dual[p22_base + k] + taut * uy.y) / norm2;
      x += step_x;
      y += step_y;
      if (x >= w) {
        x -= w;
        y += 1u;
      }
    }
    // The per-invocation sums are visible since the barrier above.
    if (lid == 0u) {
      var total = 0.0;
      for (var j = 0u; j < WORKGROUP_SIZE; j++) {
        total += state[state_base + PER_INVOCATION + j];
      }
      shared_error = total;
    }
    storageBarrier();
    error = workgroupUniformLoad(&shared_error);
    iterations++;
  }

  if (lid == 0u) {
    state[state_base] = error;
    state[state_base + 1u] += f32(iterations);
  }
}
