// Per-pixel flow magnitude, [N, 2, H, W] -> [N, H, W]: sqrt(u^2 + v^2).
// Bindings: 0 uniform Params, 1 flow [N, 2, H, W], 2 out [N, H, W].

struct Params {
  n: u32,
  plane: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> flow: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

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
  let image = i / params.plane;
  let at = 2u * image * params.plane + i % params.plane;
  out[i] = length(vec2<f32>(flow[at], flow[at + params.plane]));
}
