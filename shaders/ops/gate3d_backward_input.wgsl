// Gradient of gate3d with respect to x: gx = gy * gate_w[n,c,w] *
// gate_h[n,c,h] * gate_t[n,c,t], one invocation per element, in the order of
// the chain rule through ((x * gate_t) * gate_h) * gate_w.
// gy and gx are NCDHW; the gates are [N, C, T], [N, C, H], [N, C, W].
// Bindings: 0 uniform, 1 gy, 2 gate_t, 3 gate_h, 4 gate_w, 5 gx.

struct Params {
  n: u32,
  nc: u32,
  t: u32,
  h: u32,
  w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> gate_t: array<f32>;
@group(0) @binding(3) var<storage, read> gate_h: array<f32>;
@group(0) @binding(4) var<storage, read> gate_w: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;

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
  let through_w = gy[i] * gate_w[nc * params.w + wi];
  gx[i] = (through_w * gate_h[nc * params.h + hi]) * gate_t[slice];
}
