// Conv3d weight gradient computed directly from x and gy, for rows of x and
// gy that hold a multiple of 4 elements:
//   partial[c, co, ci, kd, kh, kw] = sum over the samples n of chunk c and
//     the output positions (od, oh, ow) of gy[n, co, od, oh, ow] *
//     x[n, ci, od*SD + kd - PD, oh*SH + kh - PH, ow*SW + kw - PW]
// Each invocation owns one (ci, kd, kh) and 8 output channels and visits
// only the output rows whose input row lies inside x. For every 4 output
// positions of a row it loads 8 vec4 of gy and the aligned vec4 blocks of x
// that cover all KW taps, and takes every tap from those registers, so KW,
// SW and the alignment ALIGN = (-PW) mod 4 are override constants and the
// tap loop unrolls. conv3d_sum_partials.wgsl adds the chunks when there are
// several (two passes, no float atomics).
// Layout NCDHW. Bindings: 0 uniform, 1 x [N, Cin, D, H, W] as vec4,
// 2 gy [N, Cout, Do, Ho, Wo] as vec4, 3 partial [chunks, Cout, Cin, KD, KH, KW].

struct Params {
  // Invocations in all: chunks * co_blocks * Cin * KD * KH.
  invocations: u32,
  co_blocks: u32,
  samples_per_chunk: u32,
  batch: u32,
  c_in: u32,
  c_out: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  stride: vec4<u32>,
  pad_before: vec4<i32>,
  kernel_size: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

override KW: u32 = 3u;
override SW: u32 = 1u;
override ALIGN: u32 = 3u;
// vec4 blocks of x that cover the taps of 4 output positions, at most 4.
override BLOCKS: u32 = (ALIGN + 3u * SW + KW + 3u) / 4u;

// Sums of one output channel for taps kw = 0..7.
struct Taps {
  low: vec4<f32>,
  high: vec4<f32>,
}

fn store(chunk: u32, co: u32, row: u32, sums: Taps) {
  if (co >= params.c_out) {
    return;
  }
  let k = params.kernel_size;
  let start = (chunk * params.c_out + co) * params.c_in * k.x * k.y * k.z +
    row * KW;
  for (var kw = 0u; kw < KW; kw++) {
    if (kw < 4u) {
      partial[start + kw] = sums.low[kw];
    } else {
      partial[start + kw] = sums.high[kw - 4u];
    }
  }
}

// Adds gy (4 positions) times x at taps 0..KW-1 (from the segment seg).
fn accumulate(sums: Taps, g: vec4<f32>, seg: array<f32, 16>) -> Taps {
  var low = sums.low;
  var high = sums.high;
  for (var kw = 0u; kw < KW; kw++) {
    let xv = vec4<f32>(
      seg[ALIGN + kw],
      seg[ALIGN + kw + SW],
      seg[ALIGN + kw + 2u * SW],
      seg[ALIGN + kw + 3u * SW],
    );
    if (kw < 4u) {
      low[kw] += dot(g, xv);
    } else {
      high[kw - 4u] += dot(g, xv);
    }
  }
  return Taps(low, high);
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
  let k = params.kernel_size;
  // Row (ci, kd, kh) of the weight; neighbouring invocations take
  // neighbouring kh and read overlapping rows of x.
  let rows = params.c_in * k.x * k.y;
  let row = t % rows;
  let rest = t / rows;
  let co0 = (rest % params.co_blocks) * 8u;
  let chunk = rest / params.co_blocks;
  let kh = i32(row % k.y);
  let kd = i32((row / k.y) % k.x);
  let ci = row / (k.y * k.x);

  let in = vec3<i32>(params.in_size.xyz);
  let out = params.out_size;
  let s = vec3<i32>(params.stride.xyz);
  let pad = params.pad_before.xyz;
  // Output rows whose input row od*SD + kd - PD lies inside x, per axis.
  let od_low = max(0, (pad.x - kd + s.x - 1) / s.x);
  let od_high = min(i32(out.x), (in.x + pad.x - kd + s.x - 1) / s.x);
  let oh_low = max(0, (pad.y - kh + s.y - 1) / s.y);
  let oh_high = min(i32(out.y), (in.y + pad.y - kh + s.y - 1) / s.y);

  let x_row_blocks = in.z / 4;
  let gy_row_blocks = out.z / 4u;
  let gy_channel = out.x * out.y * gy_row_blocks;
  let last_co = params.c_out - 1u;
  let c0 = min(co0, last_co) * gy_channel;
  let c1 = min(co0 + 1u, last_co) * gy_channel;
  let c2 = min(co0 + 2u, last_co) * gy_channel;
  let c3 = min(co0 + 3u, last_co) * gy_channel;
  let c4 = min(co0 + 4u, last_co) * gy_channel;
  let c5 = min(co0 + 5u, last_co) * gy_channel;
  let c6 = min(co0 + 6u, last_co) * gy_channel;
  let c7 = min(co0 + 7u, last_co) * gy_channel;

  var r0 = Taps();
  var r1 = Taps();
  var r2 = Taps();
  var r3 = Taps();
  var r4 = Taps();
  var r5 = Taps();
  var r6 = Taps();
  var r7 = Taps();
  let n_first = chunk * params.samples_per_chunk;
  let n_end = min(n_first + params.samples_per_chunk, params.batch);
  for (var n = n_first; n < n_end; n++) {
    let x_channel = i32(n * params.c_in + ci) * in.x;
    let gy_sample = n * params.c_out * gy_channel;
    for (var od = od_low; od < od_high; od++) {
      let id = od * s.x + kd - pad.x;
      for (var oh = oh_low; oh < oh_high; oh++) {
        let ih = oh * s.y + kh - pad.y;
        let x_row = ((x_channel + id) * in.y + ih) * x_row_blocks;
        let gy_row = gy_sample + (u32(od) * out.y + u32(oh)) * gy_row_blocks;
        for (var owb = 0u; owb < gy_row_blocks; owb++) {
          // First x block of the segment, which starts ALIGN elements in.
          let b0 = (i32(owb * 4u * SW) - pad.z - i32(ALIGN)) / 4;
          var seg: array<f32, 16>;
          for (var b = 0u; b < BLOCKS; b++) {
            let block = b0 + i32(b);
            let inside = block >= 0 && block < x_row_blocks;
            let v = select(
              vec4<f32>(0.0),
              x[u32(select(0, x_row + block, inside))],
              inside,
            );
            seg[4u * b] = v.x;
            seg[4u * b + 1u] = v.y;
            seg[4u * b + 2u] = v.z;
            seg[4u * b + 3u] = v.w;
          }
          let gi = gy_row + owb;
          r0 = accumulate(r0, gy[c0 + gi], seg);
          r1 = accumulate(r1, gy[c1 + gi], seg);
          r2 = accumulate(r2, gy[c2 + gi], seg);
          r3 = accumulate(r3, gy[c3 + gi], seg);
          r4 = accumulate(r4, gy[c4 + gi], seg);
          r5 = accumulate(r5, gy[c5 + gi], seg);
          r6 = accumulate(r6, gy[c6 + gi], seg);
          r7 = accumulate(r7, gy[c7 + gi], seg);
        }
      }
    }
  }

  store(chunk, co0, row, r0);
  store(chunk, co0 + 1u, row, r1);
  store(chunk, co0 + 2u, row, r2);
  store(chunk, co0 + 3u, row, r3);
  store(chunk, co0 + 4u, row, r4);
  store(chunk, co0 + 5u, row, r5);
  store(chunk, co0 + 6u, row, r6);
  store(chunk, co0 + 7u, row, r7);
}
