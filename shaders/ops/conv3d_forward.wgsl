// Conv3d forward pass (and, with the flipped weight matrix, the input
// gradient) as an implicit GEMM over an unfolded input (conv3d_unfold.wgsl):
//   y[n, m, od, oh, ow] = bias[m] + sum over c, kd, kh, kw of
//     wt[(c, kd, kh, kw), m] * xq[n, c, od*SD + kd, oh*SH + kh, kw, ow].
// Each invocation accumulates a register block of 16 output channels times
// 4 vec4 blocks of 4 consecutive positions of a row. The 4 blocks of one
// invocation lie 64 blocks apart, so neighbouring invocations read
// neighbouring memory. Each tap then costs 8 vec4 loads for 256
// multiply-adds. On llvmpipe the loads, not the arithmetic, bound the speed:
// on the conv3d benchmark shape a variant without the loads ran about twice
// as fast.
// NOTE: 64 vec4 accumulators suit CPU rasterizers, but a discrete GPU has
// fewer registers per thread and would likely run faster with a smaller
// block and workgroup tiling (not measured).
// Layout NCDHW. Bindings: 0 uniform, 1 xq [N, C, Dq, Hq, KW, Wq] as vec4,
// 2 wt [C*KD*KH*KW, M padded to 16] as vec4, 3 y [N, M, Do, Ho, Wo],
// 4 bias [M] (BIAS).

struct Params {
  // vec4 blocks per output row: ceil(Wo / 4) = Wq / 4.
  row_blocks: u32,
  // N * Do * Ho * row_blocks.
  n_blocks: u32,
  channels: u32,
  m: u32,
  // Blocks of 16 rows of wt (M padded / 16).
  m_blocks: u32,
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
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif

const WG: u32 = 64u;

// One output channel of the block at its 4 position vectors.
struct Row {
  p0: vec4<f32>,
  p1: vec4<f32>,
  p2: vec4<f32>,
  p3: vec4<f32>,
}

fn multiply_add(row: Row, weight: f32, x: Row) -> Row {
  return Row(
    fma(vec4<f32>(weight), x.p0, row.p0),
    fma(vec4<f32>(weight), x.p1, row.p1),
    fma(vec4<f32>(weight), x.p2, row.p2),
    fma(vec4<f32>(weight), x.p3, row.p3),
  );
}

// vec4 index in xq of tap (c 0, kd 0, kh 0, kw 0) for position block b;
// blocks past the end read the last one.
fn input_base(b: u32) -> u32 {
  let q = min(b, params.n_blocks - 1u);
  let owb = q % params.row_blocks;
  var rest = q / params.row_blocks;
  let oh = rest % params.out_size.y;
  rest = rest / params.out_size.y;
  let od = rest % params.out_size.x;
  let n = rest / params.out_size.x;
  let size = params.in_size;
  let h = (n * params.channels * size.x + od * params.stride.x) * size.y + oh * params.stride.y;
  return h * params.kernel_size.z * params.row_blocks + owb;
}

fn store_block(m: u32, b: u32, value: vec4<f32>) {
  if (m >= params.m || b >= params.n_blocks) {
    return;
  }
#if BIAS
  let v = value + bias[m];
#else
  let v = value;
#endif
  let out = params.out_size;
  let owb = b % params.row_blocks;
  let row = b / params.row_blocks;
  let oh = row % out.y;
  let od = (row / out.y) % out.x;
  let n = row / (out.y * out.x);
  let start = (((n * params.m + m) * out.x + od) * out.y + oh) * out.z;
  for (var c = 0u; c < 4u; c++) {
    let ow = owb * 4u + c;
    if (ow < out.z) {
      y[start + ow] = v[c];
    }
  }
}

fn store_row(m: u32, b0: u32, row: Row) {
  store_block(m, b0, row.p0);
  store_block(m, b0 + WG, row.p1);
  store_block(m, b0 + 2u * WG, row.p2);
  store_block(m, b0 + 3u * WG, row.p3);
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let group = flat_workgroup(wid, nwg);
  let m_block = group % params.m_blocks;
  let b0 = (group / params.m_blocks) * (4u * WG) + lid;
  let x0 = input_base(b0);
  let x1 = input_base(b0 + WG);
  let x2 = input_base(b0 + 2u * WG);
  let x3 = input_base(b0 + 3u * WG);
  // Strides in vec4 units of one tap step along kw, kh, kd and c.
  let k = params.kernel_size;
  let step_w = params.row_blocks;
  let step_h = k.z * step_w;
  let step_d = params.in_size.y * step_h;
  let step_c = params.in_size.x * step_d;
  let wt_row = params.m_blocks * 4u;

  var r0 = Row();
  var r1 = Row();
  var r2 = Row();
  var r3 = Row();
  var r4 = Row();
  var r5 = Row();
  var r6 = Row();
  var r7 = Row();
  var r8 = Row();
  var r9 = Row();
  var r10 = Row();
  var r11 = Row();
  var r12 = Row();
  var r13 = Row();
  var r14 = Row();
  var r15 = Row();
  var wk = m_block * 4u;
  for (var c = 0u; c < params.channels; c++) {
    for (var kd = 0u; kd < k.x; kd++) {
      for (var kh = 0u; kh < k.y; kh++) {
        var xo = c * step_c + kd * step_d + kh * step_h;
        for (var kw = 0u; kw < k.z; kw++) {
          let x = Row(xq[x0 + xo], xq[x1 + xo], xq[x2 + xo], xq[x3 + xo]);
          let w0 = wt[wk];
          let w1 = wt[wk + 1u];
          let w2 = wt[wk + 2u];
          let w3 = wt[wk + 3u];
          r0 = multiply_add(r0, w0.x, x);
          r1 = multiply_add(r1, w0.y, x);
          r2 = multiply_add(r2, w0.z, x);
          r3 = multiply_add(r3, w0.w, x);
          r4 = multiply_add(r4, w1.x, x);
          r5 = multiply_add(r5, w1.y, x);
          r6 = multiply_add(r6, w1.z, x);
          r7 = multiply_add(r7, w1.w, x);
          r8 = multiply_add(r8, w2.x, x);
          r9 = multiply_add(r9, w2.y, x);
          r10 = multiply_add(r10, w2.z, x);
          r11 = multiply_add(r11, w2.w, x);
          r12 = multiply_add(r12, w3.x, x);
          r13 = multiply_add(r13, w3.y, x);
          r14 = multiply_add(r14, w3.z, x);
          r15 = multiply_add(r15, w3.w, x);
          xo += step_w;
          wk += wt_row;
        }
      }
    }
  }

  let m0 = m_block * 16u;
  store_row(m0, b0, r0);
  store_row(m0 + 1u, b0, r1);
  store_row(m0 + 2u, b0, r2);
  store_row(m0 + 3u, b0, r3);
  store_row(m0 + 4u, b0, r4);
  store_row(m0 + 5u, b0, r5);
  store_row(m0 + 6u, b0, r6);
  store_row(m0 + 7u, b0, r7);
  store_row(m0 + 8u, b0, r8);
  store_row(m0 + 9u, b0, r9);
  store_row(m0 + 10u, b0, r10);
  store_row(m0 + 11u, b0, r11);
  store_row(m0 + 12u, b0, r12);
  store_row(m0 + 13u, b0, r13);
  store_row(m0 + 14u, b0, r14);
  store_row(m0 + 15u, b0, r15);
}
