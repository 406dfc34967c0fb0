// Gradient of the trilinear resize (upsample_trilinear_forward.wgsl) as a
// gather, one invocation per input element: gx sums gy(o) * wd * wh * ww
// over the outputs o that sample the element, where each axis weight is the
// forward's weight of this input coordinate (w0 if it is i0, plus w1 if it
// is i1). The candidate outputs per axis come from inverting the source
// coordinate, widened by one on each side. Each candidate's weights are
// recomputed as in the forward, so the gradient is the transpose of the
// forward's f32 map. No atomics. Bindings: 0 uniform, 1 gy, 2 gx.

struct Params {
  n: u32,
  align_corners: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  scale: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;

// Weight of input coordinate i in output coordinate o along one axis.
fn weight_of(o: u32, i: u32, size: u32, scale: f32) -> f32 {
  var source = scale * f32(o);
  if (params.align_corners == 0u) {
    source = max(scale * (f32(o) + 0.5) - 0.5, 0.0);
  }
  let i0 = min(u32(floor(source)), size - 1u);
  let i1 = min(i0 + 1u, size - 1u);
  let w1 = clamp(source - f32(i0), 0.0, 1.0);
  var weight = 0.0;
  if (i0 == i) {
    weight += 1.0 - w1;
  }
  if (i1 == i) {
    weight += w1;
  }
  return weight;
}

// Outputs whose source coordinate lies in [i - 1, i + 1), the only ones
// that can sample input coordinate i, as a half-open range widened by one
// output on each side against f32 rounding.
fn candidate_range(i: u32, count: u32, scale: f32) -> vec2<u32> {
  if (scale == 0.0) {
    return vec2<u32>(0u, count);
  }
  var low = (f32(i) - 1.0) / scale;
  var high = (f32(i) + 1.0) / scale;
  if (params.align_corners == 0u) {
    low = (f32(i) - 0.5) / scale - 0.5;
    high = (f32(i) + 1.5) / scale - 0.5;
  }
  let first = u32(max(floor(low) - 1.0, 0.0));
  let end = u32(clamp(ceil(high) + 1.0, 0.0, f32(count)));
  return vec2<u32>(first, max(first, end));
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 64u + lid;
  if (i >= params.n) {
    return;
  }
  let in_size = params.in_size;
  let out_size = params.out_size;
  let iw = i % in_size.z;
  let ih = (i / in_size.z) % in_size.y;
  let id = (i / (in_size.z * in_size.y)) % in_size.x;
  let plane = i / (in_size.x * in_size.y * in_size.z);
  let out_base = plane * out_size.x * out_size.y * out_size.z;
  let rd = candidate_range(id, out_size.x, params.scale.x);
  let rh = candidate_range(ih, out_size.y, params.scale.y);
  let rw = candidate_range(iw, out_size.z, params.scale.z);

  var acc = 0.0;
  for (var od = rd.x; od < rd.y; od++) {
    let wd = weight_of(od, id, in_size.x, params.scale.x);
    if (wd == 0.0) {
      continue;
    }
    for (var oh = rh.x; oh < rh.y; oh++) {
      let wh = weight_of(oh, ih, in_size.y, params.scale.y);
      if (wh == 0.0) {
        continue;
      }
      for (var ow = rw.x; ow < rw.y; ow++) {
        let ww = weight_of(ow, iw, in_size.z, params.scale.z);
        if (ww != 0.0) {
          let o = out_base + (od * out_size.y + oh) * out_size.z + ow;
          acc += gy[o] * (wd * wh * ww);
        }
      }
    }
  }
  gx[i] = acc;
}
