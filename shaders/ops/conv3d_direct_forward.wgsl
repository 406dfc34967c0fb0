// Conv3d forward pass computed directly from x and w, for small problems:
//   y[n, co, od, oh, ow] = bias[co] + sum over ci, kd, kh, kw of
//     w[co, ci, kd, kh, kw] * x[n, ci, od*SD + kd - PD, oh*SH + kh - PH,
//                                ow*SW + kw - PW]
// with taps on the zero padding skipped. Each invocation computes 8 output
// channels (4 with NARROW) at 4 consecutive output positions of one sample,
// flattened over (od, oh, ow) so that W = 1 volumes fill the block. The tap
// loops run over the union of the taps valid for the 4 positions.
// Layout NCDHW. Bindings: 0 uniform, 1 x [N, Cin, D, H, W],
// 2 w [Cout, Cin, KD, KH, KW], 3 y [N, Cout, Do, Ho, Wo], 4 bias [Cout] (BIAS).

struct Params {
  // Invocations in all: N * co_blocks * position_blocks.
  invocations: u32,
  // Blocks of 4 output positions per sample: ceil(Do * Ho * Wo / 4).
  position_blocks: u32,
  co_blocks: u32,
  c_in: u32,
  c_out: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  stride: vec4<u32>,
  pad_before: vec4<i32>,
  kernel_size: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif

#if NARROW
const CO_BLOCK: u32 = 4u;
#else
const CO_BLOCK: u32 = 8u;
#endif

// Origin of the receptive field (od*SD - PD, oh*SH - PH, ow*SW - PW) of the
// flattened output position p.
fn origin(p: u32) -> vec3<i32> {
  let out = params.out_size;
  let ow = p % out.z;
  let oh = (p / out.z) % out.y;
  let od = p / (out.z * out.y);
  return vec3<i32>(vec3<u32>(od, oh, ow) * params.stride.xyz) -
    params.pad_before.xyz;
}

// True where 0 <= t < size, per position (a negative t wraps to a large u32).
fn inside(t: vec4<i32>, size: u32) -> vec4<bool> {
  return vec4<u32>(t) < vec4<u32>(size);
}

fn store(n: u32, co: u32, p0: u32, value: vec4<f32>) {
  if (co >= params.c_out) {
    return;
  }
#if BIAS
  let v = value + bias[co];
#else
  let v = value;
#endif
  let out = params.out_size;
  let positions = out.x * out.y * out.z;
  let start = (n * params.c_out + co) * positions;
  for (var j = 0u; j < 4u; j++) {
    if (p0 + j < positions) {
      y[start + p0 + j] = v[j];
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
  let p0 = (t % params.position_blocks) * 4u;
  let rest = t / params.position_blocks;
  let co0 = (rest % params.co_blocks) * CO_BLOCK;
  let n = rest / params.co_blocks;

  let out = params.out_size;
  let last = out.x * out.y * out.z - 1u;
  let o0 = origin(min(p0, last));
  let o1 = origin(min(p0 + 1u, last));
  let o2 = origin(min(p0 + 2u, last));
  let o3 = origin(min(p0 + 3u, last));
  let od = vec4<i32>(o0.x, o1.x, o2.x, o3.x);
  let oh = vec4<i32>(o0.y, o1.y, o2.y, o3.y);
  let ow = vec4<i32>(o0.z, o1.z, o2.z, o3.z);

  // Union over the 4 positions of the taps that fall inside x.
  let size = vec3<i32>(params.in_size.xyz);
  let k = vec3<i32>(params.kernel_size.xyz);
  let low = vec3<i32>(
    max(0, -max(max(od.x, od.y), max(od.z, od.w))),
    max(0, -max(max(oh.x, oh.y), max(oh.z, oh.w))),
    max(0, -max(max(ow.x, ow.y), max(ow.z, ow.w))),
  );
  let high = vec3<i32>(
    min(k.x, size.x - min(min(od.x, od.y), min(od.z, od.w))),
    min(k.y, size.y - min(min(oh.x, oh.y), min(oh.z, oh.w))),
    min(k.z, size.z - min(min(ow.x, ow.y), min(ow.z, ow.w))),
  );

  let taps = params.kernel_size.x * params.kernel_size.y * params.kernel_size.z;
  // Distance in w between two output channels.
  let co_step = params.c_in * taps;
  let last_co = params.c_out - 1u;
  let w0 = min(co0, last_co) * co_step;
  let w1 = min(co0 + 1u, last_co) * co_step;
  let w2 = min(co0 + 2u, last_co) * co_step;
  let w3 = min(co0 + 3u, last_co) * co_step;
#if !NARROW
  let w4 = min(co0 + 4u, last_co) * co_step;
  let w5 = min(co0 + 5u, last_co) * co_step;
  let w6 = min(co0 + 6u, last_co) * co_step;
  let w7 = min(co0 + 7u, last_co) * co_step;
#endif

  var r0 = vec4<f32>(0.0);
  var r1 = vec4<f32>(0.0);
  var r2 = vec4<f32>(0.0);
  var r3 = vec4<f32>(0.0);
  var r4 = vec4<f32>(0.0);
  var r5 = vec4<f32>(0.0);
  var r6 = vec4<f32>(0.0);
  var r7 = vec4<f32>(0.0);
  let plane = params.in_size.y * params.in_size.z;
  let volume = params.in_size.x * plane;
  for (var ci = 0u; ci < params.c_in; ci++) {
    let x_channel = (n * params.c_in + ci) * volume;
    let w_channel = ci * taps;
    for (var kd = low.x; kd < high.x; kd++) {
      let id = od + kd;
      let ok_d = inside(id, params.in_size.x);
      let x_d = vec4<i32>(i32(x_channel)) + id * i32(plane);
      for (var kh = low.y; kh < high.y; kh++) {
        let ih = oh + kh;
        let ok_dh = ok_d & inside(ih, params.in_size.y);
        let x_dh = x_d + ih * i32(params.in_size.z);
        var wi = w_channel + u32((kd * k.y + kh) * k.z + low.z);
        for (var kw = low.z; kw < high.z; kw++) {
          let iw = ow + kw;
          let ok = ok_dh & inside(iw, params.in_size.z);
          let xi = vec4<u32>(select(vec4<i32>(0), x_dh + iw, ok));
          let xv = select(
            vec4<f32>(0.0),
            vec4<f32>(x[xi.x], x[xi.y], x[xi.z], x[xi.w]),
            ok,
          );
          r0 = fma(vec4<f32>(w[w0 + wi]), xv, r0);
          r1 = fma(vec4<f32>(w[w1 + wi]), xv, r1);
          r2 = fma(vec4<f32>(w[w2 + wi]), xv, r2);
          r3 = fma(vec4<f32>(w[w3 + wi]), xv, r3);
#if !NARROW
          r4 = fma(vec4<f32>(w[w4 + wi]), xv, r4);
          r5 = fma(vec4<f32>(w[w5 + wi]), xv, r5);
          r6 = fma(vec4<f32>(w[w6 + wi]), xv, r6);
          r7 = fma(vec4<f32>(w[w7 + wi]), xv, r7);
#endif
          wi += 1u;
        }
      }
    }
  }

  store(n, co0, p0, r0);
  store(n, co0 + 1u, p0, r1);
  store(n, co0 + 2u, p0, r2);
  store(n, co0 + 3u, p0, r3);
#if !NARROW
  store(n, co0 + 4u, p0, r4);
  store(n, co0 + 5u, p0, r5);
  store(n, co0 + 6u, p0, r6);
  store(n, co0 + 7u, p0, r7);
#endif
}
