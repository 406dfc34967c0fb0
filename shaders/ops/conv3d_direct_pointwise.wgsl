// Conv3d forward pass of a pointwise convolution (1x1x1 kernel, stride 1,
// no padding) computed directly from x and w, for Cin and D*H*W multiples
// of 4:
//   y[n, co, p] = bias[co] + sum over ci of w[co, ci] * x[n, ci, p]
// over the flattened positions p = (d, h, w). Each invocation computes 8
// output channels (4 with NARROW) at 4 consecutive positions and reads 4
// input channels per step: 4 vec4 of x and one vec4 of w per output channel.
// Layout NCDHW. Bindings: 0 uniform, 1 x [N, Cin, D*H*W] as vec4,
// 2 w [Cout, Cin] as vec4, 3 y [N, Cout, D*H*W], 4 bias [Cout] (BIAS).

struct Params {
  // Invocations in all: N * co_blocks * position_blocks.
  invocations: u32,
  // Blocks of 4 positions per sample: D * H * W / 4.
  position_blocks: u32,
  co_blocks: u32,
  c_in: u32,
  c_out: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif

#if NARROW
const CO_BLOCK: u32 = 4u;
#else
const CO_BLOCK: u32 = 8u;
#endif

// Adds w[co, ci .. ci + 3] (wv) times x[ci .. ci + 3] at 4 positions.
fn multiply_add(acc: vec4<f32>, wv: vec4<f32>, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(wv.w), x3, fma(vec4<f32>(wv.z), x2,
    fma(vec4<f32>(wv.y), x1, fma(vec4<f32>(wv.x), x0, acc))));
}

fn store(n: u32, co: u32, block: u32, value: vec4<f32>) {
  if (co >= params.c_out) {
    return;
  }
#if BIAS
  let v = value + bias[co];
#else
  let v = value;
#endif
  y[(n * params.c_out + co) * params.position_blocks + block] = v;
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
  let block = t % params.position_blocks;
  let rest = t / params.position_blocks;
  let co0 = (rest % params.co_blocks) * CO_BLOCK;
  let n = rest / params.co_blocks;

  let blocks = params.position_blocks;
  // vec4 rows of w per output channel.
  let w_row = params.c_in / 4u;
  let last_co = params.c_out - 1u;
  let w0 = min(co0, last_co) * w_row;
  let w1 = min(co0 + 1u, last_co) * w_row;
  let w2 = min(co0 + 2u, last_co) * w_row;
  let w3 = min(co0 + 3u, last_co) * w_row;
#if !NARROW
  let w4 = min(co0 + 4u, last_co) * w_row;
  let w5 = min(co0 + 5u, last_co) * w_row;
  let w6 = min(co0 + 6u, last_co) * w_row;
  let w7 = min(co0 + 7u, last_co) * w_row;
#endif

  var r0 = vec4<f32>(0.0);
  var r1 = vec4<f32>(0.0);
  var r2 = vec4<f32>(0.0);
  var r3 = vec4<f32>(0.0);
  var r4 = vec4<f32>(0.0);
  var r5 = vec4<f32>(0.0);
  var r6 = vec4<f32>(0.0);
  var r7 = vec4<f32>(0.0);
  var xi = n * params.c_in * blocks + block;
  for (var q = 0u; q < w_row; q++) {
    let x0 = x[xi];
    let x1 = x[xi + blocks];
    let x2 = x[xi + 2u * blocks];
    let x3 = x[xi + 3u * blocks];
    r0 = multiply_add(r0, w[w0 + q], x0, x1, x2, x3);
    r1 = multiply_add(r1, w[w1 + q], x0, x1, x2, x3);
    r2 = multiply_add(r2, w[w2 + q], x0, x1, x2, x3);
    r3 = multiply_add(r3, w[w3 + q], x0, x1, x2, x3);
#if !NARROW
    r4 = multiply_add(r4, w[w4 + q], x0, x1, x2, x3);
    r5 = multiply_add(r5, w[w5 + q], x0, x1, x2, x3);
    r6 = multiply_add(r6, w[w6 + q], x0, x1, x2, x3);
    r7 = multiply_add(r7, w[w7 + q], x0, x1, x2, x3);
#endif
    xi += 4u * blocks;
  }

  store(n, co0, block, r0);
  store(n, co0 + 1u, block, r1);
  store(n, co0 + 2u, block, r2);
  store(n, co0 + 3u, block, r3);
#if !NARROW
  store(n, co0 + 4u, block, r4);
  store(n, co0 + 5u, block, r5);
  store(n, co0 + 6u, block, r6);
  store(n, co0 + 7u, block, r7);
#endif
}
