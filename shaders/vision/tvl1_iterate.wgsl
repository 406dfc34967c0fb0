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
// The image is cut into tiles of TILE_ROWS rows and at most 16 columns, and
// invocation lid owns tile lid, so images have at most 256 tiles (16384
// pixels). It keeps the tile's data term, flow and dual variables in private
// arrays for the whole dispatch, so neighbours inside the tile are private
// values. Across tile edges values go through storage. After the primal
// step each tile publishes u of its top row and left column, which the dual
// step of the tiles above and on the left reads. After the dual step it
// publishes p of its bottom row and right column, which the divergence of
// the tiles below and on the right reads. Each phase first gathers the edge
// values it needs into small private arrays.
//
// llvmpipe runs both sides of a branch with lane masks, and a storage access
// costs several times a private one. Measured on 2 cores, an iteration takes
// about 30 ns per pixel here and 47 ns in tvl1_iterate_global.wgsl, which
// reads every neighbour from storage and serves larger images. The private
// arrays stay small because llvmpipe's compile time grows quickly with
// their size (about 1 s for 64 pixels per invocation, 12 s for 256).
//
// Bindings: 0 uniform Params, 1 warped [B, H, W] of vec4 (I1wx, I1wy, grad,
// rho_c), 2 flow [B, 2, H, W] (u1, u2), 3 dual [B, 4, H, W] (p11, p12, p21,
// p22), 4 state [B, STATE_STRIDE]: [0] last squared update sum, [1]
// iterations run, [16, 16 + WORKGROUP_SIZE) per-invocation sums.

const STATE_STRIDE: u32 = 288u;
const PER_INVOCATION: u32 = 16u;
// 64 or 256, at least the number of tiles; small workgroups make barriers
// cheaper on llvmpipe.
override WORKGROUP_SIZE: u32 = 64u;
const TILE_ROWS: u32 = 4u;
const MAX_TILE_COLUMNS: u32 = 16u;
const TILE_PIXELS: u32 = 64u;
// FLT_EPSILON, OpenCV's bound below which the gradient counts as zero.
const GRADIENT_EPSILON: f32 = 1.1920929e-7;

struct Params {
  h: u32,
  w: u32,
  inner_iterations: u32,
  // Tile width (at most MAX_TILE_COLUMNS) and tiles per row.
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
  let tile_w = params.tile_w;
  let tiles = ((h + TILE_ROWS - 1u) / TILE_ROWS) * params.tiles_per_row;

  // This invocation's tile; invocations past the last tile own 0 x 0 pixels.
  let x0 = (lid % params.tiles_per_row) * tile_w;
  let y0 = (lid / params.tiles_per_row) * TILE_ROWS;
  var rows = 0u;
  var columns = 0u;
  if (lid < tiles) {
    rows = min(TILE_ROWS, h - y0);
    columns = min(tile_w, w - x0);
  }
  let origin = y0 * w + x0;
  let has_up = select(1.0, 0.0, y0 == 0u);
  let has_left = select(1.0, 0.0, x0 == 0u);
  let has_down = select(0.0, 1.0, y0 + rows < h);
  let has_right = select(0.0, 1.0, x0 + columns < w);
  // Neighbouring pixel positions, clamped into the image where absent.
  let up_row = origin - select(w, 0u, y0 == 0u);
  let left_column = origin - select(1u, 0u, x0 == 0u);
  let down_row = origin + select(rows * w, 0u, y0 + rows >= h);
  let right_column = origin + select(columns, 0u, x0 + columns >= w);

  var terms: array<vec4<f32>, TILE_PIXELS>;
  var flows: array<vec2<f32>, TILE_PIXELS>;
  var duals: array<vec4<f32>, TILE_PIXELS>;
  // Edge values of the neighbouring tiles: p12, p22 above, p11, p21 on the
  // left, u below and u on the right.
  var above: array<vec2<f32>, MAX_TILE_COLUMNS>;
  var left: array<vec2<f32>, TILE_ROWS>;
  var below: array<vec2<f32>, MAX_TILE_COLUMNS>;
  var right: array<vec2<f32>, TILE_ROWS>;

  if (lid == 0u) {
    shared_error = state[state_base];
  }
  var error = workgroupUniformLoad(&shared_error);
  var iterations = 0u;
  // A warp that has converged leaves the flow as it is, without loading it.
  if (error <= params.scaled_epsilon) {
    return;
  }

  for (var r = 0u; r < rows; r++) {
    for (var i = 0u; i < columns; i++) {
      let k = origin + r * w + i;
      let slot = r * tile_w + i;
      terms[slot] = warped[base + k];
      flows[slot] = vec2<f32>(flow[u1_base + k], flow[u2_base + k]);
      duals[slot] = vec4<f32>(
        dual[p11_base + k],
        dual[p12_base + k],
        dual[p21_base + k],
        dual[p22_base + k],
      );
    }
  }

  for (var n = 0u; n < params.inner_iterations; n++) {
    if (error <= params.scaled_epsilon) {
      break;
    }

    // Thresholding and primal step; p outside the image counts as 0.
    for (var i = 0u; i < columns; i++) {
      above[i] = has_up * vec2<f32>(dual[p12_base + up_row + i], dual[p22_base + up_row + i]);
    }
    for (var r = 0u; r < rows; r++) {
      let k = left_column + r * w;
      left[r] = has_left * vec2<f32>(dual[p11_base + k], dual[p21_base + k]);
    }
    var update_sum = 0.0;
    for (var r = 0u; r < rows; r++) {
      for (var i = 0u; i < columns; i++) {
        let slot = r * tile_w + i;
        let u = flows[slot];
        let v = u + threshold(terms[slot], u);
        let p = duals[slot];
        let up = select(duals[max(slot, tile_w) - tile_w].yw, above[i], r == 0u);
        let before = select(duals[max(slot, 1u) - 1u].xz, left[r], i == 0u);
        let next = v + params.theta * (vec2<f32>(p.x + p.y, p.z + p.w) - before - up);
        let change = next - u;
        update_sum += dot(change, change);
        flows[slot] = next;
      }
    }
    for (var i = 0u; i < columns; i++) {
      flow[u1_base + origin + i] = flows[i].x;
      flow[u2_base + origin + i] = flows[i].y;
    }
    for (var r = 1u; r < rows; r++) {
      let k = origin + r * w;
      flow[u1_base + k] = flows[r * tile_w].x;
      flow[u2_base + k] = flows[r * tile_w].y;
    }
    state[state_base + PER_INVOCATION + lid] = update_sum;
    storageBarrier();

    // Dual step with forward differences (0 on the last column and row).
    for (var i = 0u; i < columns; i++) {
      below[i] = vec2<f32>(flow[u1_base + down_row + i], flow[u2_base + down_row + i]);
    }
    for (var r = 0u; r < rows; r++) {
      let k = right_column + r * w;
      right[r] = vec2<f32>(flow[u1_base + k], flow[u2_base + k]);
    }
    let taut = params.taut;
    for (var r = 0u; r < rows; r++) {
      for (var i = 0u; i < columns; i++) {
        let slot = r * tile_w + i;
        let u = flows[slot];
        let ux = select(has_right * (right[r] - u), flows[min(slot + 1u, TILE_PIXELS - 1u)] - u, i + 1u < columns);
        let uy = select(has_down * (below[i] - u), flows[min(slot + tile_w, TILE_PIXELS - 1u)] - u, r + 1u < rows);
        let norm1 = 1.0 + taut * length(vec2<f32>(ux.x, uy.x));
        let norm2 = 1.0 + taut * length(vec2<f32>(ux.y, uy.y));
        duals[slot] = (duals[slot] + taut * vec4<f32>(ux.x, uy.x, ux.y, uy.y)) /
          vec4<f32>(norm1, norm1, norm2, norm2);
      }
    }
    if (rows > 0u) {
      let last_row = (rows - 1u) * tile_w;
      for (var i = 0u; i < columns; i++) {
        let k = origin + (rows - 1u) * w + i;
        dual[p12_base + k] = duals[last_row + i].y;
        dual[p22_base + k] = duals[last_row + i].w;
      }
    }
    for (var r = 0u; r < rows; r++) {
      let k = origin + r * w + columns - 1u;
      dual[p11_base + k] = duals[r * tile_w + columns - 1u].x;
      dual[p21_base + k] = duals[r * tile_w + columns - 1u].z;
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

  for (var r = 0u; r < rows; r++) {
    for (var i = 0u; i < columns; i++) {
      let k = origin + r * w + i;
      let slot = r * tile_w + i;
      flow[u1_base + k] = flows[slot].x;
      flow[u2_base + k] = flows[slot].y;
      let p = duals[slot];
      dual[p11_base + k] = p.x;
      dual[p12_base + k] = p.y;
      dual[p21_base + k] = p.z;
      dual[p22_base + k] = p.w;
    }
  }
  if (lid == 0u) {
    state[state_base] = error;
    state[state_base + 1u] += f32(iterations);
  }
}
