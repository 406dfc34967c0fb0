// Second pass of the conv3d weight gradient: gw[i] = sum over chunks c of
// partial[c, i]. Bindings: 0 uniform, 1 partial [chunks, count], 2 gw [count].

struct Params {
  count: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> gw: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.count) {
    return;
  }
  var total = 0.0;
  for (var c = 0u; c < params.chunks; c++) {
    total += partial[c * params.count + i];
  }
  gw[i] = total;
}
