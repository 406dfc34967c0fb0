// Gradient of global average pooling: gx[i] = gy[i / count] * scale, where
// count = D*H*W and scale = 1 / count. Bindings: 0 uniform, 1 gy ([N, C]),
// 2 gx (NCDHW f32).

struct Params {
  n: u32,
  count: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 64u + lid;
  if (i >= params.n) {
    return;
  }
  gx[i] = gy[i / params.count] * params.scale;
}
