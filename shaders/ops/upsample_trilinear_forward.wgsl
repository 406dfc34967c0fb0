// Trilinear resize of an NCDHW f32 volume to out_size, with the sampling of
// PyTorch's F.interpolate(mode="trilinear"). Per axis the source coordinate
// of output o is scale * o when align_corners is 1, with
// scale = (in - 1) / (out - 1) (0 for out = 1). Otherwise it is
// max(scale * (o + 0.5) - 0.5, 0) with scale = in / out. The samples are
// i0 = floor(source) and i1 = min(i0 + 1, in - 1) with weights 1 - l and l,
// where l = source - i0. One invocation per output element.
// Bindings: 0 uniform, 1 x, 2 y.

struct Params {
  n: u32,
  align_corners: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  scale: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

struct Linear {
  i0: u32,
  i1: u32,
  w0: f32,
  w1: f32,
}

fn linear_weights(o: u32, size: u32, scale: f32) -> Linear {
  var source = scale * f32(o);
  if (params.align_corners == 0u) {
    source = max(scale * (f32(o) + 0.5) - 0.5, 0.0);
  }
  let i0 = min(u32(floor(source)), size - 1u);
  let i1 = min(i0 + 1u, size - 1u);
  let w1 = clamp(source - f32(i0), 0.0, 1.0);
  return Linear(i0, i1, 1.0 - w1, w1);
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let o = flat_workgroup(wid, nwg) * 64u + lid;
  if (o >= params.n) {
    return;
  }
  let in_size = params.in_size;
  let out_size = params.out_size;
  let ow = o % out_size.z;
  let oh = (o / out_size.z) % out_size.y;
  let od = (o / (out_size.z * out_size.y)) % out_size.x;
  let plane = o / (out_size.x * out_size.y * out_size.z);
  let base = plane * in_size.x * in_size.y * in_size.z;
  let d = linear_weights(od, in_size.x, params.scale.x);
  let h = linear_weights(oh, in_size.y, params.scale.y);
  let w = linear_weights(ow, in_size.z, params.scale.z);

  let row00 = base + (d.i0 * in_size.y + h.i0) * in_size.z;
  let row01 = base + (d.i0 * in_size.y + h.i1) * in_size.z;
  let row10 = base + (d.i1 * in_size.y + h.i0) * in_size.z;
  let row11 = base + (d.i1 * in_size.y + h.i1) * in_size.z;
  let plane0 = h.w0 * (w.w0 * x[row00 + w.i0] + w.w1 * x[row00 + w.i1]) +
    h.w1 * (w.w0 * x[row01 + w.i0] + w.w1 * x[row01 + w.i1]);
  let plane1 = h.w0 * (w.w0 * x[row10 + w.i0] + w.w1 * x[row10 + w.i1]) +
    h.w1 * (w.w0 * x[row11 + w.i0] + w.w1 * x[row11 + w.i1]);
  y[o] = d.w0 * plane0 + d.w1 * plane1;
}
