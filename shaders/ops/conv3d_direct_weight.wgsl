// Conv3d weight gradient computed directly from x and gy, for small
// problems:
//   partial[c, co, k] = sum over output positions (n, od, oh, ow) of chunk c
//     of gy[n, co, od, oh, ow] * x[n, ci, od*SD + kd - PD, oh*SH + kh - PH,
//                                  ow*SW + kw - PW]
// where k = (ci, kd, kh, kw) flattened as in w, and taps on the zero padding
// add nothing. The positions of each sample are taken in groups of 4
// consecutive flattened (od, oh, ow), and the chunks split the list of
// groups of all samples; conv3d_sum_partials.wgsl adds the chunks when there
// are several (two passes, no float atomics). Each invocation accumulates 8
// output channels (4 with NARROW) times 4 consecutive k.
// Layout NCDHW. Bindings: 0 uniform, 1 x [N, Cin, D, H, W],
// 2 gy [N, Cout, Do, Ho, Wo], as vec4 with GY_VEC4 (Do*Ho*Wo a multiple
// of 4), 3 partial [chunks, Cout, Cin*KD*KH*KW].

struct Params {
  // Invocations in all: chunks * co_blocks * k_blocks.
  invocations: u32,
  k_blocks: u32,
  co_blocks: u32,
  // Groups of 4 positions per sample, ceil(Do * Ho * Wo / 4), and in all.
  sample_groups: u32,
  groups: u32,
  groups_per_chunk: u32,
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
#if GY_VEC4
@group(0) @binding(2) var<storage, read> gy: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> gy: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

#if NARROW
const CO_BLOCK: u32 = 4u;
#else
const CO_BLOCK: u32 = 8u;
#endif

// One tap of the block: its offset in x from the receptive-field origin of
// a position in channel 0, and its (kd, kh, kw).
struct Tap {
  offset: i32,
  k: vec3<i32>,
}

fn tap(k: u32) -> Tap {
  let size = params.kernel_size;
  let total = params.c_in * size.x * size.y * size.z;
  let q = min(k, total - 1u);
  let kw = q % size.z;
  let kh = (q / size.z) % size.y;
  let kd = (q / (size.z * size.y)) % size.x;
  let ci = q / (size.z * size.y * size.x);
  let in = params.in_size;
  let offset = ((ci * in.x + kd) * in.y + kh) * in.z + kw;
  return Tap(i32(offset), vec3<i32>(i32(kd), i32(kh), i32(kw)));
}

// Receptive-field origin (od*SD - PD, oh*SH - PH, ow*SW - PW) of the
// flattened output position p.
fn origin(p: u32) -> vec3<i32> {
  let out = params.out_size;
  let ow = p % out.z;
  let oh = (p / out.z) % out.y;
  let od = p / (out.z * out.y);
  return vec3<i32>(vec3<u32>(od, oh, ow) * params.stride.xyz) -
    params.pad_before.xyz;
}

// x at tap t for the 4 positions with origins o (rows d, h, w) and flat
// origin offsets base, or 0 where the tap falls on padding or a position
// does not exist (valid false).
fn gather(t: Tap, od: vec4<i32>, oh: vec4<i32>, ow: vec4<i32>, base: vec4<i32>, valid: vec4<bool>) -> vec4<f32> {
  let size = params.in_size;
  let ok = valid &
    (vec4<u32>(od + t.k.x) < vec4<u32>(size.x)) &
    (vec4<u32>(oh + t.k.y) < vec4<u32>(size.y)) &
    (vec4<u32>(ow + t.k.z) < vec4<u32>(size.z));
  let index = vec4<u32>(select(vec4<i32>(0), base + t.offset, ok));
  return select(
    vec4<f32>(0.0),
    vec4<f32>(x[index.x], x[index.y], x[index.z], x[index.w]),
    ok,
  );
}

#if !GY_VEC4
fn load4(index: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(gy[index.x], gy[index.y], gy[index.z], gy[index.w]);
}
#endif

fn store(chunk: u32, co: u32, k0: u32, sums: vec4<f32>) {
  let size = params.kernel_size;
  let total = params.c_in * size.x * size.y * size.z;
  if (co >= params.c_out) {
    return;
  }
  let start = (chunk * params.c_out + co) * total;
  for (var j = 0u; j < 4u; j++) {
    if (k0 + j < total) {
      partial[start + k0 + j] = sums[j];
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
  let k0 = (t % params.k_blocks) * 4u;
  let rest = t / params.k_blocks;
  let co0 = (rest % params.co_blocks) * CO_BLOCK;
  let chunk = rest / params.co_blocks;

  let t0 = tap(k0);
  let t1 = tap(k0 + 1u);
  let t2 = tap(k0 + 2u);
  let t3 = tap(k0 + 3u);
  let out = params.out_size;
  let positions = out.x * out.y * out.z;
  let in = params.in_size;
  let x_sample = i32(params.c_in * in.x * in.y * in.z);
  let last_co = params.c_out - 1u;
#if GY_VEC4
  let gy_channel = positions / 4u;
#else
  let gy_channel = positions;
#endif
  let g0 = min(co0, last_co) * gy_channel;
  let g1 = min(co0 + 1u, last_co) * gy_channel;
  let g2 = min(co0 + 2u, last_co) * gy_channel;
  let g3 = min(co0 + 3u, last_co) * gy_channel;
#if !NARROW
  let g4 = min(co0 + 4u, last_co) * gy_channel;
  let g5 = min(co0 + 5u, last_co) * gy_channel;
  let g6 = min(co0 + 6u, last_co) * gy_channel;
  let g7 = min(co0 + 7u, last_co) * gy_channel;
#endif

  var r0 = vec4<f32>(0.0);
  var r1 = vec4<f32>(0.0);
  var r2 = vec4<f32>(0.0);
  var r3 = vec4<f32>(0.0);
  var r4 = vec4<f32>(0.0);
  var r5 = vec4<f32>(0.0);
  var r6 = vec4<f32>(0.0);
  var r7 = vec4<f32>(0.0);
  let first = chunk * params.groups_per_chunk;
  let end = min(first + params.groups_per_chunk, params.groups);
  for (var group = first; group < end; group++) {
    let n = group / params.sample_groups;
    let p0 = (group % params.sample_groups) * 4u;
    let valid = vec4<u32>(p0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(positions);
    let o0 = origin(p0);
    let o1 = origin(min(p0 + 1u, positions - 1u));
    let o2 = origin(min(p0 + 2u, positions - 1u));
    let o3 = origin(min(p0 + 3u, positions - 1u));
    let od = vec4<i32>(o0.x, o1.x, o2.x, o3.x);
    let oh = vec4<i32>(o0.y, o1.y, o2.y, o3.y);
    let ow = vec4<i32>(o0.z, o1.z, o2.z, o3.z);
    let base = i32(n) * x_sample + (od * i32(in.y) + oh) * i32(in.z) + ow;
    let x0 = gather(t0, od, oh, ow, base, valid);
    let x1 = gather(t1, od, oh, ow, base, valid);
    let x2 = gather(t2, od, oh, ow, base, valid);
    let x3 = gather(t3, od, oh, ow, base, valid);

    let gy_sample = n * params.c_out * gy_channel;
#if GY_VEC4
    let gi = gy_sample + p0 / 4u;
    let y0 = gy[g0 + gi];
    let y1 = gy[g1 + gi];
    let y2 = gy[g2 + gi];
    let y3 = gy[g3 + gi];
#if !NARROW
    let y4 = gy[g4 + gi];
    let y5 = gy[g5 + gi];
    let y6 = gy[g6 + gi];
    let y7 = gy[g7 + gi];
#endif
#else
    // Positions past the end of the sample read the next channel or sample
    // (clamped to the end of gy), which the zero x of those positions
    // cancels.
    let last = arrayLength(&gy) - 1u;
    let gi = vec4<u32>(gy_sample + p0) + vec4<u32>(0u, 1u, 2u, 3u);
    let y0 = load4(min(g0 + gi, vec4<u32>(last)));
    let y1 = load4(min(g1 + gi, vec4<u32>(last)));
    let y2 = load4(min(g2 + gi, vec4<u32>(last)));
    let y3 = load4(min(g3 + gi, vec4<u32>(last)));
#if !NARROW
    let y4 = load4(min(g4 + gi, vec4<u32>(last)));
    let y5 = load4(min(g5 + gi, vec4<u32>(last)));
    let y6 = load4(min(g6 + gi, vec4<u32>(last)));
    let y7 = load4(min(g7 + gi, vec4<u32>(last)));
#endif
#endif
    r0 += vec4<f32>(dot(y0, x0), dot(y0, x1), dot(y0, x2), dot(y0, x3));
    r1 += vec4<f32>(dot(y1, x0), dot(y1, x1), dot(y1, x2), dot(y1, x3));
    r2 += vec4<f32>(dot(y2, x0), dot(y2, x1), dot(y2, x2), dot(y2, x3));
    r3 += vec4<f32>(dot(y3, x0), dot(y3, x1), dot(y3, x2), dot(y3, x3));
#if !NARROW
    r4 += vec4<f32>(dot(y4, x0), dot(y4, x1), dot(y4, x2), dot(y4, x3));
    r5 += vec4<f32>(dot(y5, x0), dot(y5, x1), dot(y5, x2), dot(y5, x3));
    r6 += vec4<f32>(dot(y6, x0), dot(y6, x1), dot(y6, x2), dot(y6, x3));
    r7 += vec4<f32>(dot(y7, x0), dot(y7, x1), dot(y7, x2), dot(y7, x3));
#endif
  }

  store(chunk, co0, k0, r0);
  store(chunk, co0 + 1u, k0, r1);
  store(chunk, co0 + 2u, k0, r2);
  store(chunk, co0 + 3u, k0, r3);
#if !NARROW
  store(chunk, co0 + 4u, k0, r4);
  store(chunk, co0 + 5u, k0, r5);
  store(chunk, co0 + 6u, k0, r6);
  store(chunk, co0 + 7u, k0, r7);
#endif
}
