// Gradients of gate3d with respect to the three gates, one invocation per
// gate element, each looping over the two other axes in row-major order:
//   d_t[n,c,t] = sum over h, w of ((gy * gate_w) * gate_h) * x
//   d_h[n,c,h] = sum over t, w of (gy * gate_w) * (x * gate_t)
//   d_w[n,c,w] = sum over t, h of gy * ((x * gate_t) * gate_h)
// (the factors of the chain rule through ((x * gate_t) * gate_h) * gate_w).
// Invocations 0 .. nc*t - 1 compute d_t, the next nc*h compute d_h, the
// last nc*w compute d_w. x and gy are NCDHW; the gates and their gradients
// are [N, C, T], [N, C, H], [N, C, W].
// Bindings: 0 uniform, 1 x, 2 gy, 3 gate_t, 4 gate_h, 5 gate_w, 6 d_t,
// 7 d_h, 8 d_w.

struct Params {
  n: u32,
  nc: u32,
  t: u32,
  h: u32,
  w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> gate_t: array<f32>;
@group(0) @binding(4) var<storage, read> gate_h: array<f32>;
@group(0) @binding(5) var<storage, read> gate_w: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_t: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_h: array<f32>;
@group(0) @binding(8) var<storage, read_write> d_w: array<f32>;

fn grad_t(k: u32) -> f32 {
  let nc = k / params.t;
  let hw = params.h * params.w;
  let start = k * hw;
  var acc = 0.0;
  for (var hi = 0u; hi < params.h; hi++) {
    let scale_h = gate_h[nc * params.h + hi];
    let row = start + hi * params.w;
    for (var wi = 0u; wi < params.w; wi++) {
      let i = row + wi;
      acc += ((gy[i] * gate_w[nc * params.w + wi]) * scale_h) * x[i];
    }
  }
  return acc;
}

fn grad_h(k: u32) -> f32 {
  let nc = k / params.h;
  let hi = k % params.h;
  let hw = params.h * params.w;
  var acc = 0.0;
  for (var ti = 0u; ti < params.t; ti++) {
    let slice = nc * params.t + ti;
    let scale_t = gate_t[slice];
    let row = slice * hw + hi * params.w;
    for (var wi = 0u; wi < params.w; wi++) {
      let i = row + wi;
      acc += (gy[i] * gate_w[nc * params.w + wi]) * (x[i] * scale_t);
    }
  }
  return acc;
}

fn grad_w(k: u32) -> f32 {
  let nc = k / params.w;
  let wi = k % params.w;
  let hw = params.h * params.w;
  var acc = 0.0;
  for (var ti = 0u; ti < params.t; ti++) {
    let slice = nc * params.t + ti;
    let scale_t = gate_t[slice];
    for (var hi = 0u; hi < params.h; hi++) {
      let i = slice * hw + hi * params.w + wi;
      acc += gy[i] * ((x[i] * scale_t) * gate_h[nc * params.h + hi]);
    }
  }
  return acc;
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let k = flat_workgroup(wid, nwg) * 64u + lid;
  let count_t = params.nc * params.t;
  let count_h = params.nc * params.h;
  let count_w = params.nc * params.w;
  if (k < count_t) {
    d_t[k] = grad_t(k);
  } else if (k < count_t + count_h) {
    d_h[k - count_t] = grad_h(k - count_t);
  } else if (k < count_t + count_h + count_w) {
    let j = k - count_t - count_h;
    d_w[j] = grad_w(j);
  }
}
