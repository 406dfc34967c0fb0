// Coordinate Attention gating, y[n,c,t,h,w] = x * gate_t[n,c,t] *
// gate_h[n,c,h] * gate_w[n,c,w], one invocation per element of y.
// x and y are NCDHW (T = D); the gates are [N, C, T], [N, C, H], [N, C, W].
// The products run in the order ((x * gate_t) * gate_h) * gate_w.
// Bindings: 0 uniform, 1 x, 2 gate_t, 3 gate_h, 4 gate_w, 5 y.

struct Params {
  n: u32,
  nc: u32,
  t: u32,
  h: u32,
  w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gate_t: array<f32>;
@group(0) @binding(3) var<storage, read> gate_h: array<f32>;
@group(0) @binding(4) var<storage, read> gate_w: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.n) {
    return;
  }
  let wi = i % params.w;
  let row = i / params.w;
  let hi = row % params.h;
  let slice = row / params.h;
  let nc = slice / params.t;
  let gated = (x[i] * gate_t[slice]) * gate_h[nc * params.h + hi];
  y[i] = gated * gate_w[nc * params.w + wi];
}
