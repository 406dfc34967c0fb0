// Conv3d weight gradient, first pass: an implicit GEMM (M = Cout,
// N = taps k = (ci, kd, kh, kw), reduced over batch * output positions) split
// into chunks of output rows (n, od, oh), each chunk writing its own partial
// sum, which conv3d_sum_partials.wgsl adds (two passes, no float atomics):
//   partial[c, co, k] = sum over rows (n, od, oh) of chunk c and ow of
//     gyq[n, co, od, oh, ow] * xq[n, ci, od*SD + kd, oh*SH + kh, kw, ow].
// Both operands are read as vec4 blocks of 4 positions of a row: the
// unfolded input xq (conv3d_unfold.wgsl) and the output gradient with its
// rows zero-padded to the same multiple of 4. Each invocation accumulates a
// register block of 16 output channels times 16 taps.
// NOTE: 256 accumulators suit CPU rasterizers, but a discrete GPU would
// likely spill them to memory (see conv3d_forward.wgsl).
// Layout NCDHW. Bindings: 0 uniform, 1 xq [N, Cin, Dq, Hq, KW, Wq] as vec4,
// 2 gyq [N, Cout, Do, Ho, Wq] as vec4, 3 partial [chunks, Cout, Cin*KD*KH*KW].

struct Params {
  // Invocations in all: chunks * co_blocks * tap_blocks.
  invocations: u32,
  tap_blocks: u32,
  co_blocks: u32,
  // Output rows N * Do * Ho, split into chunks of rows_per_chunk.
  rows: u32,
  rows_per_chunk: u32,
  c_in: u32,
  c_out: u32,
  // vec4 blocks per row: Wq / 4.
  row_blocks: u32,
  out_size: vec4<u32>,
  // Dq, Hq of the unfolded input.
  in_size: vec4<u32>,
  // SD, SH (the unfolding applied SW).
  stride: vec4<u32>,
  // KD, KH, KW.
  kernel_size: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> xq: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gyq: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

// Sums of one output channel for the 16 taps of the block: t0[c] is tap c,
// t1[c] tap 4 + c, and so on.
struct Taps {
  t0: vec4<f32>,
  t1: vec4<f32>,
  t2: vec4<f32>,
  t3: vec4<f32>,
}

// The 16 taps of the block at one vec4 of positions.
struct Inputs {
  x0: vec4<f32>,
  x1: vec4<f32>,
  x2: vec4<f32>,
  x3: vec4<f32>,
  x4: vec4<f32>,
  x5: vec4<f32>,
  x6: vec4<f32>,
  x7: vec4<f32>,
  x8: vec4<f32>,
  x9: vec4<f32>,
  x10: vec4<f32>,
  x11: vec4<f32>,
  x12: vec4<f32>,
  x13: vec4<f32>,
  x14: vec4<f32>,
  x15: vec4<f32>,
}

fn multiply_add(acc: Taps, g: vec4<f32>, x: Inputs) -> Taps {
  return Taps(
    acc.t0 + vec4<f32>(dot(g, x.x0), dot(g, x.x1), dot(g, x.x2), dot(g, x.x3)),
    acc.t1 + vec4<f32>(dot(g, x.x4), dot(g, x.x5), dot(g, x.x6), dot(g, x.x7)),
    acc.t2 + vec4<f32>(dot(g, x.x8), dot(g, x.x9), dot(g, x.x10), dot(g, x.x11)),
    acc.t3 + vec4<f32>(dot(g, x.x12), dot(g, x.x13), dot(g, x.x14), dot(g, x.x15)),
  );
}

// vec4 offset in xq of tap k (flat over ci, kd, kh, kw) at output row 0;
// taps past the end read the last one.
fn tap_offset(k: u32) -> u32 {
  let size = params.kernel_size;
  let taps = size.x * size.y * size.z;
  let q = min(k, params.c_in * taps - 1u);
  let ci = q / taps;
  let tap = q % taps;
  let kw = tap % size.z;
  let kh = (tap / size.z) % size.y;
  let kd = tap / (size.z * size.y);
  let h = (ci * params.in_size.x + kd) * params.in_size.y + kh;
  return (h * size.z + kw) * params.row_blocks;
}

fn store_tap(chunk: u32, co: u32, k: u32, value: f32) {
  let size = params.kernel_size;
  let k_total = params.c_in * size.x * size.y * size.z;
  if (co >= params.c_out || k >= k_total) {
    return;
  }
  partial[(chunk * params.c_out + co) * k_total + k] = value;
}

fn store_taps(chunk: u32, co: u32, k0: u32, sums: Taps) {
  let all = array<vec4<f32>, 4>(sums.t0, sums.t1, sums.t2, sums.t3);
  for (var q = 0u; q < 4u; q++) {
    for (var c = 0u; c < 4u; c++) {
      store_tap(chunk, co, k0 + 4u * q + c, all[q][c]);
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
  let k0 = (t % params.tap_blocks) * 16u;
  let rest = t / params.tap_blocks;
  let co0 = (rest % params.co_blocks) * 16u;
  let chunk = rest / params.co_blocks;
  let out = params.out_size;
  let row_blocks = params.row_blocks;
  let channel_stride = out.x * out.y * row_blocks;
  let last = params.c_out - 1u;
  let t0 = tap_offset(k0 + 0u);
  let t1 = tap_offset(k0 + 1u);
  let t2 = tap_offset(k0 + 2u);
  let t3 = tap_offset(k0 + 3u);
  let t4 = tap_offset(k0 + 4u);
  let t5 = tap_offset(k0 + 5u);
  let t6 = tap_offset(k0 + 6u);
  let t7 = tap_offset(k0 + 7u);
  let t8 = tap_offset(k0 + 8u);
  let t9 = tap_offset(k0 + 9u);
  let t10 = tap_offset(k0 + 10u);
  let t11 = tap_offset(k0 + 11u);
  let t12 = tap_offset(k0 + 12u);
  let t13 = tap_offset(k0 + 13u);
  let t14 = tap_offset(k0 + 14u);
  let t15 = tap_offset(k0 + 15u);
  let g0 = min(co0 + 0u, last) * channel_stride;
  let g1 = min(co0 + 1u, last) * channel_stride;
  let g2 = min(co0 + 2u, last) * channel_stride;
  let g3 = min(co0 + 3u, last) * channel_stride;
  let g4 = min(co0 + 4u, last) * channel_stride;
  let g5 = min(co0 + 5u, last) * channel_stride;
  let g6 = min(co0 + 6u, last) * channel_stride;
  let g7 = min(co0 + 7u, last) * channel_stride;
  let g8 = min(co0 + 8u, last) * channel_stride;
  let g9 = min(co0 + 9u, last) * channel_stride;
  let g10 = min(co0 + 10u, last) * channel_stride;
  let g11 = min(co0 + 11u, last) * channel_stride;
  let g12 = min(co0 + 12u, last) * channel_stride;
  let g13 = min(co0 + 13u, last) * channel_stride;
  let g14 = min(co0 + 14u, last) * channel_stride;
  let g15 = min(co0 + 15u, last) * channel_stride;

  var r0 = Taps();
  var r1 = Taps();
  var r2 = Taps();
  var r3 = Taps();
  var r4 = Taps();
  var r5 = Taps();
  var r6 = Taps();
  var r7 = Taps();
  var r8 = Taps();
  var r9 = Taps();
  var r10 = Taps();
  var r11 = Taps();
  var r12 = Taps();
  var r13 = Taps();
  var r14 = Taps();
  var r15 = Taps();
  let first = chunk * params.rows_per_chunk;
  let end = min(first + params.rows_per_chunk, params.rows);
  let size = params.in_size;
  for (var r = first; r < end; r++) {
    let oh = r % out.y;
    let od = (r / out.y) % out.x;
    let n = r / (out.y * out.x);
    let h = (n * params.c_in * size.x + od * params.stride.x) * size.y + oh * params.stride.y;
    var xr = h * params.kernel_size.z * row_blocks;
    var gr = ((n * params.c_out * out.x + od) * out.y + oh) * row_blocks;
    for (var owb = 0u; owb < row_blocks; owb++) {
      let x = Inputs(
        xq[xr + t0],
        xq[xr + t1],
        xq[xr + t2],
        xq[xr + t3],
        xq[xr + t4],
        xq[xr + t5],
        xq[xr + t6],
        xq[xr + t7],
        xq[xr + t8],
        xq[xr + t9],
        xq[xr + t10],
        xq[xr + t11],
        xq[xr + t12],
        xq[xr + t13],
        xq[xr + t14],
        xq[xr + t15],
      );
      r0 = multiply_add(r0, gyq[gr + g0], x);
      r1 = multiply_add(r1, gyq[gr + g1], x);
      r2 = multiply_add(r2, gyq[gr + g2], x);
      r3 = multiply_add(r3, gyq[gr + g3], x);
      r4 = multiply_add(r4, gyq[gr + g4], x);
      r5 = multiply_add(r5, gyq[gr + g5], x);
      r6 = multiply_add(r6, gyq[gr + g6], x);
      r7 = multiply_add(r7, gyq[gr + g7], x);
      r8 = multiply_add(r8, gyq[gr + g8], x);
      r9 = multiply_add(r9, gyq[gr + g9], x);
      r10 = multiply_add(r10, gyq[gr + g10], x);
      r11 = multiply_add(r11, gyq[gr + g11], x);
      r12 = multiply_add(r12, gyq[gr + g12], x);
      r13 = multiply_add(r13, gyq[gr + g13], x);
      r14 = multiply_add(r14, gyq[gr + g14], x);
      r15 = multiply_add(r15, gyq[gr + g15], x);
      xr += 1u;
      gr += 1u;
    }
  }

  store_taps(chunk, co0 + 0u, k0, r0);
  store_taps(chunk, co0 + 1u, k0, r1);
  store_taps(chunk, co0 + 2u, k0, r2);
  store_taps(chunk, co0 + 3u, k0, r3);
  store_taps(chunk, co0 + 4u, k0, r4);
  store_taps(chunk, co0 + 5u, k0, r5);
  store_taps(chunk, co0 + 6u, k0, r6);
  store_taps(chunk, co0 + 7u, k0, r7);
  store_taps(chunk, co0 + 8u, k0, r8);
  store_taps(chunk, co0 + 9u, k0, r9);
  store_taps(chunk, co0 + 10u, k0, r10);
  store_taps(chunk, co0 + 11u, k0, r11);
  store_taps(chunk, co0 + 12u, k0, r12);
  store_taps(chunk, co0 + 13u, k0, r13);
  store_taps(chunk, co0 + 14u, k0, r14);
  store_taps(chunk, co0 + 15u, k0, r15);
}
