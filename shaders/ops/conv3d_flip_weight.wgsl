// Weight of the transposed convolution that computes a conv3d input
// gradient: flipped[ci, co, kd, kh, kw] = w[co, ci, KD-1-kd, KH-1-kh, KW-1-kw].
// Bindings: 0 uniform, 1 w [Cout, Cin, KD, KH, KW], 2 flipped [Cin, Cout, KD, KH, KW].

struct Params {
  total: u32,
  c_in: u32,
  c_out: u32,
  kernel_size: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> flipped: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.total) {
    return;
  }
  let k = params.kernel_size;
  let volume = k.x * k.y * k.z;
  let tap = i % volume;
  let co = (i / volume) % params.c_out;
  let ci = i / (volume * params.c_out);
  let source_tap = volume - 1u - tap;
  flipped[i] = w[(co * params.c_in + ci) * volume + source_tap];
}
