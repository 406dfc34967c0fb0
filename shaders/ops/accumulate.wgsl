// Gradient accumulation in place: accumulated[i] += source[i] for i < n.
// Bindings: 0 uniform {n}, 1 accumulated (read_write), 2 source. Flat f32 arrays.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> accumulated: array<f32>;
@group(0) @binding(2) var<storage, read> source: array<f32>;

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
  accumulated[i] = accumulated[i] + source[i];
}
