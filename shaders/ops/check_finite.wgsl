// NaN/Inf check: sets flags[slot] to 1 when any of values[0..n) is NaN or
// +-Inf. Bindings: 0 uniform {n, slot}, 1 values, 2 flags (atomic u32).

struct Params {
  n: u32,
  slot: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> flags: array<atomic<u32>>;

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
  if (is_not_finite(values[i])) {
    atomicStore(&flags[params.slot], 1u);
  }
}
