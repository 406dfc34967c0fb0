// Inner iterations of TV-L1 (Zach, Pock and Bischof 2007) at one scale and
// warp, in the form of OpenCV's DualTVL1: per iteration the thresholding
// step gives v from the linearised data term, the primal step
// u = v + theta * div(p), then the dual step
// p = (p + taut * grad(u)) / (1 + taut * |grad(u)|) with forward differences.
// One workgroup runs all iterations of one image, so no dispatch or readback
// separates them. It stops like OpenCV: after up to inner_iterations, or as
// soon as the sum of squared updates of u over the image is at most
// scaled_epsilon (epsilon^2 * H * W). That sum, kept in the state, also
// stops later dispatches of the same warp.
//
// Invocation lid owns pixels lid, lid + 256, ... (at most MAX_PIXELS, so
// images up to 256 * MAX_PIXELS pixels) and keeps their data term, flow and
// dual variables in private arrays for the whole dispatch. Only the values
// neighbours need go through storage: u after the primal step (read by the
// dual step on the right and below) and p after the dual step (read by the
// divergence on the left and above). On llvmpipe a private access is about
// four times cheaper than a storage access.
//
// Bindings: 0 uniform Params, 1 warped [B, H, W] of vec4 (I1wx, I1wy, grad,
// rho_c), 2 flow [B, 2, H, W] (u1, u2), 3 dual [B, 4, H, W] (p11, p12, p21,
// p22), 4 state [B, STATE_STRIDE]: [0] last squared update sum, [1]
// iterations run, [16, 272) per-invocation sums.

const STATE_STRIDE: u32 = 288u;
const PER_INVOCATION: u32 = 16u;
const WORKGROUP_SIZE: u32 = 256u;
const MAX_PIXELS: u32 = 64u;
// FLT_EPSILON, OpenCV's bound below which the gradient counts as zero.
const GRADIENT_EPSILON: f32 = 1.1920929e-7;

struct Params {
  h: u32,
  w: u32,
  inner_iterations: u32,
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
fn threshold(term: vec4<f32>, u: vec2<f32>) -> vec2<f32> {
  let gradient = term.xy;
  let grad = term.z;
  let rho = term.w + dot(gradient, u);
  let l_t = params.l_t;
  if (rho < -l_t * grad) {
    return l_t * gradient;
  }
  if (rho > l_t * grad) {
    return -l_t * gradient;
  }
  if (grad > GRADIENT_EPSILON) {
    return (-rho / grad) * gradient;
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
  let u1_base = 2u * base;
  let u2_base = u1_base + plane;
  let p11_base = 4u * base;
  let p12_base = p11_base + plane;
  let p21_base = p12_base + plane;
  let p22_base = p21_base + plane;
  let state_base = b * STATE_STRIDE;
  var terms: array<vec4<f32>, MAX_PIXELS>;
  var flows: array<vec2<f32>, MAX_PIXELS>;
  var duals: array<vec4<f32>, MAX_PIXELS>;
  var count = 0u;
  if (lid < plane) {
    count = (plane - lid + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
  }
  // Pixels lid, lid + WORKGROUP_SIZE, ... are visited with their column and
  // row updated by additions instead of a division per pixel.
  let step_x = WORKGROUP_SIZE % w;
  let step_y = WORKGROUP_SIZE / w;
  let first_x = lid % w;
  let first_y = lid / w;

  for (var j = 0u; j < count; j++) {
    let k = lid + j * WORKGROUP_SIZE;
    terms[j] = warped[base + k];
    flows[j] = vec2<f32>(flow[u1_base + k], flow[u2_base + k]);
    duals[j] = vec4<f32>(
      dual[p11_base + k],
      dual[p12_base + k],
      dual[p21_base + k],
      dual[p22_base + k],
    );
  }
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
    for (var j = 0u; j < count; j++) {
      let k = lid + j * WORKGROUP_SIZE;
      let u = flows[j];
      let v = u + threshold(terms[j], u);
      let p = duals[j];
      var div = vec2<f32>(p.x + p.y, p.z + p.w);
      if (x > 0u) {
        div -= vec2<f32>(dual[p11_base + k - 1u], dual[p21_base + k - 1u]);
      }
      if (y > 0u) {
        div -= vec2<f32>(dual[p12_base + k - w], dual[p22_base + k - w]);
      }
      let next = v + params.theta * div;
      let change = next - u;
      update_sum += dot(change, change);
      flows[j] = next;
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
    for (var j = 0u; j < count; j++) {
      let k = lid + j * WORKGROUP_SIZE;
      let u = flows[j];
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
      let p = (duals[j] + taut * vec4<f32>(ux.x, uy.x, ux.y, uy.y)) /
        vec4<f32>(norm1, norm1, norm2, norm2);
      duals[j] = p;
      dual[p11_base + k] = p.x;
      dual[p12_base + k] = p.y;
      dual[p21_base + k] = p.z;
      dual[p22_base + k] = p.w;
      x += step_x;
      y += step_y;
      if (x >= w) {
        x -= w;
        y += 1u;
      }
    }
    // The per-invocation sums are visible since the first barrier.
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
