// Conv3d forward pass, or input gradient (GATHER), computed directly along
// rows of a source volume whose rows hold a multiple of 4 elements:
// - forward: source x, target y, and
//     y[n, co, od, oh, ow] = bias[co] + sum over ci, kd, kh, kw of
//       w[co, ci, kd, kh, kw] * x[n, ci, od*SD + kd - PD, oh*SH + kh - PH,
//                                  ow*SW + kw - PW];
// - GATHER: source gy, target gx, and gx[n, ci, id, ih, iw] = sum over co
//   and the taps k = r + S*m (r = (i + P) mod S per axis, so strided
//   convolutions visit no inserted zeros) of w[co, ci, kd, kh, kw] *
//   gy[n, co, (id + PD - kd) / SD, ...].
// Along D and H each target coordinate visits taps m in a range where the
// source coordinate a + b*m lies inside the source and the weight tap is
// c + e*m (the flipped tap for GATHER). Along W each invocation computes 4
// target positions (8 with WIDE) w_phase + w_step * (w0 + j), loads the
// aligned vec4 blocks of the source row that cover them once per (channel,
// D tap, H tap), and takes all TAPS_W taps from registers: position j and
// tap u read source element w0 * w_scale + w_offset + STEP_W * j + u, whose
// offset within its vec4 block is the constant ALIGN. The input gradient of
// a convolution with stride SW runs as SW dispatches, one per W phase.
// Each invocation computes 8 target channels.
// Layout NCDHW. Bindings: 0 uniform, 1 source [N, Cs, Ds, Hs, Ws] as vec4,
// 2 weight matrix [Cs*KD*KH*KW, Ct padded to 8] as vec4 (flipped taps for
// GATHER), 3 result [N, Ct, Dt, Ht, Wt] (y or gx), 4 bias [Ct] (BIAS).

struct Params {
  invocations: u32,
  // Blocks of target positions along W: ceil(w_count / 4 or 8).
  w_blocks: u32,
  ct_blocks: u32,
  c_source: u32,
  c_target: u32,
  // Target W positions of this dispatch: w_phase + w_step * w, w < w_count.
  w_phase: u32,
  w_step: u32,
  w_count: u32,
  w_scale: i32,
  w_offset: i32,
  // Weight tap along W of tap u: w_tap + w_tap_step * u.
  w_tap: i32,
  w_tap_step: i32,
  source_size: vec4<u32>,
  target_size: vec4<u32>,
  kernel_size: vec4<u32>,
  stride: vec4<u32>,
  pad_before: vec4<i32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> source: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> result: array<f32>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif

override TAPS_W: u32 = 3u;
override STEP_W: u32 = 1u;
override ALIGN: u32 = 3u;
#if WIDEST
const POSITIONS: u32 = 16u;
#elif WIDE
const POSITIONS: u32 = 8u;
#else
const POSITIONS: u32 = 4u;
#endif
// vec4 blocks of the source segment of one invocation, at most 8.
override BLOCKS: u32 = (ALIGN + (POSITIONS - 1u) * STEP_W + TAPS_W + 3u) / 4u;

// Taps m in [low, high) of one axis: source coordinate a + b*m, weight tap
// c + e*m.
struct AxisTaps {
  a: i32,
  b: i32,
  c: i32,
  e: i32,
  low: i32,
  high: i32,
}

fn axis_taps(o: u32, axis: u32) -> AxisTaps {
  let k = i32(params.kernel_size[axis]);
  let size = i32(params.source_size[axis]);
  let pad = params.pad_before[axis];
#if GATHER
  let s = i32(params.stride[axis]);
  let r = (i32(o) + pad) % s;
  let q = (i32(o) + pad - r) / s;
  return AxisTaps(q, -1, k - 1 - r, -s, max(0, q - size + 1), min((k - r + s - 1) / s, q + 1));
#else
  let a = i32(o * params.stride[axis]) - pad;
  return AxisTaps(a, 1, 0, 1, max(0, -a), min(k, size - a));
#endif
}

fn store(n: u32, ct: u32, od: u32, oh: u32, w0: u32, value: vec4<f32>) {
  if (ct >= params.c_target) {
    return;
  }
#if BIAS
  let v = value + bias[ct];
#else
  let v = value;
#endif
  let size = params.target_size;
  let row = (((n * params.c_target + ct) * size.x + od) * size.y + oh) * size.z;
  for (var j = 0u; j < 4u; j++) {
    if (w0 + j < params.w_count) {
      result[row + params.w_phase + params.w_step * (w0 + j)] = v[j];
    }
  }
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
  let size = params.target_size;
  let w0 = (t % params.w_blocks) * POSITIONS;
  var rest = t / params.w_blocks;
  let oh = rest % size.y;
  rest = rest / size.y;
  let od = rest % size.x;
  rest = rest / size.x;
  let ct0 = (rest % params.ct_blocks) * 8u;
  let n = rest / params.ct_blocks;

  let d = axis_taps(od, 0u);
  let h = axis_taps(oh, 1u);
  let source_size = vec3<i32>(params.source_size.xyz);
  let row_blocks = source_size.z / 4;
  // First source block of the segment, which starts ALIGN elements in.
  let b0 = (i32(w0) * params.w_scale + params.w_offset - i32(ALIGN)) / 4;
  let k = vec3<i32>(params.kernel_size.xyz);
  let wt_row = params.ct_blocks * 2u;

  var r0 = vec4<f32>(0.0);
  var r1 = vec4<f32>(0.0);
  var r2 = vec4<f32>(0.0);
  var r3 = vec4<f32>(0.0);
  var r4 = vec4<f32>(0.0);
  var r5 = vec4<f32>(0.0);
  var r6 = vec4<f32>(0.0);
  var r7 = vec4<f32>(0.0);
#if WIDE
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  var s4 = vec4<f32>(0.0);
  var s5 = vec4<f32>(0.0);
  var s6 = vec4<f32>(0.0);
  var s7 = vec4<f32>(0.0);
#endif
#if WIDEST
  var t0 = vec4<f32>(0.0);
  var t1 = vec4<f32>(0.0);
  var t2 = vec4<f32>(0.0);
  var t3 = vec4<f32>(0.0);
  var t4 = vec4<f32>(0.0);
  var t5 = vec4<f32>(0.0);
  var t6 = vec4<f32>(0.0);
  var t7 = vec4<f32>(0.0);
  var u0 = vec4<f32>(0.0);
  var u1 = vec4<f32>(0.0);
  var u2 = vec4<f32>(0.0);
  var u3 = vec4<f32>(0.0);
  var u4 = vec4<f32>(0.0);
  var u5 = vec4<f32>(0.0);
  var u6 = vec4<f32>(0.0);
  var u7 = vec4<f32>(0.0);
#endif
  for (var c = 0u; c < params.c_source; c++) {
    let channel = i32(n * params.c_source + c) * source_size.x;
    for (var md = d.low; md < d.high; md++) {
      let sd = channel + d.a + d.b * md;
      let kd = d.c + d.e * md;
      for (var mh = h.low; mh < h.high; mh++) {
        let row = ((sd * source_size.y) + h.a + h.b * mh) * row_blocks;
        let kh = h.c + h.e * mh;
        var seg: array<f32, 64>;
        for (var b = 0u; b < BLOCKS; b++) {
          let block = b0 + i32(b);
          let inside = block >= 0 && block < row_blocks;
          let v = select(
            vec4<f32>(0.0),
            source[u32(select(0, row + block, inside))],
            inside,
          );
          seg[4u * b] = v.x;
          seg[4u * b + 1u] = v.y;
          seg[4u * b + 2u] = v.z;
          seg[4u * b + 3u] = v.w;
        }
        let tap_row = (i32(c) * k.x + kd) * k.y + kh;
        for (var u = 0u; u < TAPS_W; u++) {
          let tap = tap_row * k.z + params.w_tap + params.w_tap_step * i32(u);
          let wq = u32(tap) * wt_row + ct0 / 4u;
          let wa = wt[wq];
          let wb = wt[wq + 1u];
          let xv = vec4<f32>(
            seg[ALIGN + u],
            seg[ALIGN + u + STEP_W],
            seg[ALIGN + u + 2u * STEP_W],
            seg[ALIGN + u + 3u * STEP_W],
          );
          r0 = fma(vec4<f32>(wa.x), xv, r0);
          r1 = fma(vec4<f32>(wa.y), xv, r1);
          r2 = fma(vec4<f32>(wa.z), xv, r2);
          r3 = fma(vec4<f32>(wa.w), xv, r3);
          r4 = fma(vec4<f32>(wb.x), xv, r4);
          r5 = fma(vec4<f32>(wb.y), xv, r5);
          r6 = fma(vec4<f32>(wb.z), xv, r6);
          r7 = fma(vec4<f32>(wb.w), xv, r7);
#if WIDE
          let xu = vec4<f32>(
            seg[ALIGN + u + 4u * STEP_W],
            seg[ALIGN + u + 5u * STEP_W],
            seg[ALIGN + u + 6u * STEP_W],
            seg[ALIGN + u + 7u * STEP_W],
          );
          s0 = fma(vec4<f32>(wa.x), xu, s0);
          s1 = fma(vec4<f32>(wa.y), xu, s1);
          s2 = fma(vec4<f32>(wa.z), xu, s2);
          s3 = fma(vec4<f32>(wa.w), xu, s3);
          s4 = fma(vec4<f32>(wb.x), xu, s4);
          s5 = fma(vec4<f32>(wb.y), xu, s5);
          s6 = fma(vec4<f32>(wb.z), xu, s6);
          s7 = fma(vec4<f32>(wb.w), xu, s7);
#endif
#if WIDEST
          let xt = vec4<f32>(
            seg[ALIGN + u + 8u * STEP_W],
            seg[ALIGN + u + 9u * STEP_W],
            seg[ALIGN + u + 10u * STEP_W],
            seg[ALIGN + u + 11u * STEP_W],
          );
          t0 = fma(vec4<f32>(wa.x), xt, t0);
          t1 = fma(vec4<f32>(wa.y), xt, t1);
          t2 = fma(vec4<f32>(wa.z), xt, t2);
          t3 = fma(vec4<f32>(wa.w), xt, t3);
          t4 = fma(vec4<f32>(wb.x), xt, t4);
          t5 = fma(vec4<f32>(wb.y), xt, t5);
          t6 = fma(vec4<f32>(wb.z), xt, t6);
          t7 = fma(vec4<f32>(wb.w), xt, t7);
          let xw = vec4<f32>(
            seg[ALIGN + u + 12u * STEP_W],
            seg[ALIGN + u + 13u * STEP_W],
            seg[ALIGN + u + 14u * STEP_W],
            seg[ALIGN + u + 15u * STEP_W],
          );
          u0 = fma(vec4<f32>(wa.x), xw, u0);
          u1 = fma(vec4<f32>(wa.y), xw, u1);
          u2 = fma(vec4<f32>(wa.z), xw, u2);
          u3 = fma(vec4<f32>(wa.w), xw, u3);
          u4 = fma(vec4<f32>(wb.x), xw, u4);
          u5 = fma(vec4<f32>(wb.y), xw, u5);
          u6 = fma(vec4<f32>(wb.z), xw, u6);
          u7 = fma(vec4<f32>(wb.w), xw, u7);
#endif
        }
      }
    }
  }

  store(n, ct0, od, oh, w0, r0);
  store(n, ct0 + 1u, od, oh, w0, r1);
  store(n, ct0 + 2u, od, oh, w0, r2);
  store(n, ct0 + 3u, od, oh, w0, r3);
  store(n, ct0 + 4u, od, oh, w0, r4);
  store(n, ct0 + 5u, od, oh, w0, r5);
  store(n, ct0 + 6u, od, oh, w0, r6);
  store(n, ct0 + 7u, od, oh, w0, r7);
#if WIDE
  store(n, ct0, od, oh, w0 + 4u, s0);
  store(n, ct0 + 1u, od, oh, w0 + 4u, s1);
  store(n, ct0 + 2u, od, oh, w0 + 4u, s2);
  store(n, ct0 + 3u, od, oh, w0 + 4u, s3);
  store(n, ct0 + 4u, od, oh, w0 + 4u, s4);
  store(n, ct0 + 5u, od, oh, w0 + 4u, s5);
  store(n, ct0 + 6u, od, oh, w0 + 4u, s6);
  store(n, ct0 + 7u, od, oh, w0 + 4u, s7);
#endif
#if WIDEST
  store(n, ct0, od, oh, w0 + 8u, t0);
  store(n, ct0 + 1u, od, oh, w0 + 8u, t1);
  store(n, ct0 + 2u, od, oh, w0 + 8u, t2);
  store(n, ct0 + 3u, od, oh, w0 + 8u, t3);
  store(n, ct0 + 4u, od, oh, w0 + 8u, t4);
  store(n, ct0 + 5u, od, oh, w0 + 8u, t5);
  store(n, ct0 + 6u, od, oh, w0 + 8u, t6);
  store(n, ct0 + 7u, od, oh, w0 + 8u, t7);
  store(n, ct0, od, oh, w0 + 12u, u0);
  store(n, ct0 + 1u, od, oh, w0 + 12u, u1);
  store(n, ct0 + 2u, od, oh, w0 + 12u, u2);
  store(n, ct0 + 3u, od, oh, w0 + 12u, u3);
  store(n, ct0 + 4u, od, oh, w0 + 12u, u4);
  store(n, ct0 + 5u, od, oh, w0 + 12u, u5);
  store(n, ct0 + 6u, od, oh, w0 + 12u, u6);
  store(n, ct0 + 7u, od, oh, w0 + 12u, u7);
#endif
}
