// Zero-padded, stride-applied unfolding of the W axis of an NCDHW volume,
// the layout that the conv3d GEMM kernels read with vec4 loads and no
// bounds checks:
//   xq[nc, d, h, kw, ow] = x[nc, src(d), src(h), src(ow * SW + kw)]
// where, per axis, src(t) = (t - offset) / dilation when t - offset is a
// non-negative multiple of dilation inside x, and xq is 0 elsewhere. A
// negative offset crops. Dilation 1 unfolds the zero-padded input of the
// forward pass, and dilation = stride spreads the output gradient for the
// input gradient of a strided convolution. Rows of xq are padded to a
// multiple of 4 elements so vec4 loads never straddle rows.
// Bindings: 0 uniform (total counts vec4 elements of xq), 1 x [N*C, D, H, W],
// 2 xq [N*C, Dq, Hq, KW, Wq].

struct Params {
  total: u32,
  taps_w: u32,
  stride_w: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  offset: vec4<i32>,
  dilation: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xq: array<vec4<f32>>;

// Index along one axis of x for position t of the padded volume, or -1 when
// t falls on padding.
fn source_index(t: u32, axis: u32) -> i32 {
  let shifted = i32(t) - params.offset[axis];
  let step = i32(params.dilation[axis]);
  if (shifted < 0 || shifted % step != 0) {
    return -1;
  }
  let index = shifted / step;
  if (index >= i32(params.in_size[axis])) {
    return -1;
  }
  return index;
}

// One invocation writes 4 consecutive elements of a row of xq.
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
  let out = params.out_size;
  let row_blocks = out.z / 4u;
  let owb = i % row_blocks;
  var rest = i / row_blocks;
  let kw = rest % params.taps_w;
  rest = rest / params.taps_w;
  let h = rest % out.y;
  rest = rest / out.y;
  let d = rest % out.x;
  let nc = rest / out.x;
  let sd = source_index(d, 0u);
  let sh = source_index(h, 1u);
  var value = vec4<f32>(0.0);
  if (sd >= 0 && sh >= 0) {
    let size = params.in_size;
    let row = ((nc * size.x + u32(sd)) * size.y + u32(sh)) * size.z;
    for (var c = 0u; c < 4u; c++) {
      let sw = source_index((owb * 4u + c) * params.stride_w + kw, 2u);
      if (sw >= 0) {
        value[c] = x[row + u32(sw)];
      }
    }
  }
  xq[i] = value;
}
