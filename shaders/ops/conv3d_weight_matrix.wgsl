// Weight of a conv3d GEMM as a K x M matrix with M padded with zeros to a
// multiple of 16 (so the GEMM reads 16 output channels as four vec4 loads).
// - forward (FLIP false): m = co, k = (ci, kd, kh, kw), and
//   wt[k, co] = w[co, ci, kd, kh, kw].
// - input gradient (FLIP true), a transposed convolution: m = ci,
//   k = (co, kd, kh, kw), and wt[k, ci] = w[co, ci, KD-1-kd, KH-1-kh, KW-1-kw].
// Bindings: 0 uniform, 1 w [Cout, Cin, KD, KH, KW], 2 wt [K, M padded].

struct Params {
  total: u32,
  c_in: u32,
  c_out: u32,
  taps: u32,
  m_padded: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> wt: array<f32>;

override FLIP: bool = false;

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
  let m = i % params.m_padded;
  let k = i / params.m_padded;
  let tap = k % params.taps;
  let channel = k / params.taps;
  var value = 0.0;
  if (FLIP) {
    if (m < params.c_in) {
      value = w[(channel * params.c_in + m) * params.taps + params.taps - 1u - tap];
    }
  } else if (m < params.c_out) {
    value = w[(m * params.c_in + channel) * params.taps + tap];
  }
  wt[i] = value;
}
