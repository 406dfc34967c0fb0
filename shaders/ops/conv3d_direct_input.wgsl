// Conv3d input gradient computed directly as a gather, for small problems:
//   gx[n, ci, id, ih, iw] = sum over co and the taps (kd, kh, kw) with
//     id + PD - kd = od * SD (and likewise for h, w), 0 <= od < Do, ... of
//     w[co, ci, kd, kh, kw] * gy[n, co, od, oh, ow].
// Along each axis only the taps k = r + S*m with r = (i + P) mod S are
// visited, so a strided convolution does no work on the zeros that the
// transposed-convolution form inserts. Input positions are grouped by their
// phase (i mod S per axis), which fixes r, and each invocation computes 8
// input channels (4 with NARROW) at 4 consecutive positions of one phase
// grid of one sample, flattened over (d, h, w).
// Layout NCDHW. Bindings: 0 uniform, 1 gy [N, Cout, Do, Ho, Wo],
// 2 w [Cout, Cin, KD, KH, KW], 3 gx [N, Cin, D, H, W].

struct Params {
  // Invocations in all: N * ci_blocks * phases * position_blocks.
  invocations: u32,
  // Blocks of 4 positions per phase grid: ceil(prod(ceil(in / S)) / 4).
  position_blocks: u32,
  ci_blocks: u32,
  c_in: u32,
  c_out: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  stride: vec4<u32>,
  pad_before: vec4<u32>,
  kernel_size: vec4<u32>,
  // Phase grid size ceil(in / S) per axis.
  grid_size: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

#if NARROW
const CI_BLOCK: u32 = 4u;
#else
const CI_BLOCK: u32 = 8u;
#endif

// Input position (id, ih, iw) of grid position p of the phase.
fn position(p: u32, phase: vec3<u32>) -> vec3<u32> {
  let grid = params.grid_size;
  let c = p % grid.z;
  let b = (p / grid.z) % grid.y;
  let a = p / (grid.z * grid.y);
  return phase + vec3<u32>(a, b, c) * params.stride.xyz;
}

fn store(n: u32, ci: u32, index: vec4<u32>, valid: vec4<bool>, value: vec4<f32>) {
  if (ci >= params.c_in) {
    return;
  }
  let start = (n * params.c_in + ci) * params.in_size.x * params.in_size.y *
    params.in_size.z;
  for (var j = 0u; j < 4u; j++) {
    if (valid[j]) {
      gx[start + index[j]] = value[j];
    }
  }
}

// True where 0 <= t < size, per position (a negative t wraps to a large u32).
fn inside(t: vec4<i32>, size: u32) -> vec4<bool> {
  return vec4<u32>(t) < vec4<u32>(size);
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  if (t >= params.invocations) {
    return;
  }
  let p0 = (t % params.position_blocks) * 4u;
  var rest = t / params.position_blocks;
  let s = params.stride.xyz;
  let phases = s.x * s.y * s.z;
  let phase_index = rest % phases;
  rest = rest / phases;
  let ci0 = (rest % params.ci_blocks) * CI_BLOCK;
  let n = rest / params.ci_blocks;
  let phase = vec3<u32>(
    phase_index / (s.y * s.z),
    (phase_index / s.z) % s.y,
    phase_index % s.z,
  );

  let grid = params.grid_size;
  let last = grid.x * grid.y * grid.z - 1u;
  let i0 = position(min(p0, last), phase);
  let i1 = position(min(p0 + 1u, last), phase);
  let i2 = position(min(p0 + 2u, last), phase);
  let i3 = position(min(p0 + 3u, last), phase);
  let size = params.in_size.xyz;
  let valid = vec4<bool>(
    p0 <= last && all(i0 < size),
    p0 + 1u <= last && all(i1 < size),
    p0 + 2u <= last && all(i2 < size),
    p0 + 3u <= last && all(i3 < size),
  );

  // Per axis: the first tap r of this phase and q = (i + P - r) / S, the
  // output position that tap r reads; tap r + S*m reads q - m.
  let pad = params.pad_before.xyz;
  let r = (phase + pad) % s;
  let qd = vec4<i32>(vec4<u32>(i0.x, i1.x, i2.x, i3.x) + pad.x - r.x) / i32(s.x);
  let qh = vec4<i32>(vec4<u32>(i0.y, i1.y, i2.y, i3.y) + pad.y - r.y) / i32(s.y);
  let qw = vec4<i32>(vec4<u32>(i0.z, i1.z, i2.z, i3.z) + pad.z - r.z) / i32(s.z);
  let out = vec3<i32>(params.out_size.xyz);
  let k = params.kernel_size.xyz;
  // Taps of this phase per axis, and the union over the 4 positions of the
  // m with 0 <= q - m < out.
  let m_count = vec3<i32>((k + s - 1u - r) / s);
  let q_min = vec3<i32>(
    min(min(qd.x, qd.y), min(qd.z, qd.w)),
    min(min(qh.x, qh.y), min(qh.z, qh.w)),
    min(min(qw.x, qw.y), min(qw.z, qw.w)),
  );
  let q_max = vec3<i32>(
    max(max(qd.x, qd.y), max(qd.z, qd.w)),
    max(max(qh.x, qh.y), max(qh.z, qh.w)),
    max(max(qw.x, qw.y), max(qw.z, qw.w)),
  );
  let m_low = max(vec3<i32>(0), q_min - out + 1);
  let m_high = min(m_count, q_max + 1);

  let taps = k.x * k.y * k.z;
  let last_ci = params.c_in - 1u;
  let w0 = min(ci0, last_ci) * taps;
  let w1 = min(ci0 + 1u, last_ci) * taps;
  let w2 = min(ci0 + 2u, last_ci) * taps;
  let w3 = min(ci0 + 3u, last_ci) * taps;
#if !NARROW
  let w4 = min(ci0 + 4u, last_ci) * taps;
  let w5 = min(ci0 + 5u, last_ci) * taps;
  let w6 = min(ci0 + 6u, last_ci) * taps;
  let w7 = min(ci0 + 7u, last_ci) * taps;
#endif

  var r0 = vec4<f32>(0.0);
  var r1 = vec4<f32>(0.0);
  var r2 = vec4<f32>(0.0);
  var r3 = vec4<f32>(0.0);
  var r4 = vec4<f32>(0.0);
  var r5 = vec4<f32>(0.0);
  var r6 = vec4<f32>(0.0);
  var r7 = vec4<f32>(0.0);
  let out_plane = params.out_size.y * params.out_size.z;
  let out_volume = params.out_size.x * out_plane;
  for (var co = 0u; co < params.c_out; co++) {
    let gy_channel = i32((n * params.c_out + co) * out_volume);
    for (var md = m_low.x; md < m_high.x; md++) {
      let od = qd - md;
      let ok_d = inside(od, params.out_size.x);
      let g_d = gy_channel + od * i32(out_plane);
      let kd = r.x + u32(md) * s.x;
      for (var mh = m_low.y; mh < m_high.y; mh++) {
        let oh = qh - mh;
        let ok_dh = ok_d & inside(oh, params.out_size.y);
        let g_dh = g_d + oh * i32(params.out_size.z);
        let kh = r.y + u32(mh) * s.y;
        for (var mw = m_low.z; mw < m_high.z; mw++) {
          let ow = qw - mw;
          let ok = ok_dh & inside(ow, params.out_size.z);
          let gi = vec4<u32>(select(vec4<i32>(0), g_dh + ow, ok));
          let g = select(
            vec4<f32>(0.0),
            vec4<f32>(gy[gi.x], gy[gi.y], gy[gi.z], gy[gi.w]),
            ok,
          );
          let kw = r.z + u32(mw) * s.z;
          let tap = (kd * k.y + kh) * k.z + kw;
          let wi = co * params.c_in * taps + tap;
          r0 = fma(vec4<f32>(w[w0 + wi]), g, r0);
          r1 = fma(vec4<f32>(w[w1 + wi]), g, r1);
          r2 = fma(vec4<f32>(w[w2 + wi]), g, r2);
          r3 = fma(vec4<f32>(w[w3 + wi]), g, r3);
#if !NARROW
          r4 = fma(vec4<f32>(w[w4 + wi]), g, r4);
          r5 = fma(vec4<f32>(w[w5 + wi]), g, r5);
          r6 = fma(vec4<f32>(w[w6 + wi]), g, r6);
          r7 = fma(vec4<f32>(w[w7 + wi]), g, r7);
#endif
        }
      }
    }
  }

  let plane = size.y * size.z;
  let index = vec4<u32>(
    i0.x * plane + i0.y * size.z + i0.z,
    i1.x * plane + i1.y * size.z + i1.z,
    i2.x * plane + i2.y * size.z + i2.z,
    i3.x * plane + i3.y * size.z + i3.z,
  );
  store(n, ci0, index, valid, r0);
  store(n, ci0 + 1u, index, valid, r1);
  store(n, ci0 + 2u, index, valid, r2);
  store(n, ci0 + 3u, index, valid, r3);
#if !NARROW
  store(n, ci0 + 4u, index, valid, r4);
  store(n, ci0 + 5u, index, valid, r5);
  store(n, ci0 + 6u, index, valid, r6);
  store(n, ci0 + 7u, index, valid, r7);
#endif
}
