// Zero padding with optional dilation of NCDHW volumes, the layout change
// that lets every conv3d kernel run as a valid correlation without bounds
// checks: y[nc, t] = x[nc, (t - offset) / dilation] where t - offset is a
// non-negative multiple of dilation inside x, and 0 elsewhere (per axis
// D, H, W). A negative offset crops. Dilation 1 pads the input of the
// forward pass; dilation = stride spreads the output gradient for the
// input gradient of a strided convolution.
// Bindings: 0 uniform, 1 x [N*C, D, H, W], 2 y [N*C, Dp, Hp, Wp].

struct Params {
  total: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  offset: vec4<i32>,
  dilation: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Index along one axis of x for position t of y, or -1 when t is padding.
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
  let w = i % out.z;
  var rest = i / out.z;
  let h = rest % out.y;
  rest = rest / out.y;
  let d = rest % out.x;
  let nc = rest / out.x;
  let sd = source_index(d, 0u);
  let sh = source_index(h, 1u);
  let sw = source_index(w, 2u);
  var value = 0.0;
  if (sd >= 0 && sh >= 0 && sw >= 0) {
    let size = params.in_size;
    value = x[((nc * size.x + u32(sd)) * size.y + u32(sh)) * size.z + u32(sw)];
  }
  y[i] = value;
}
