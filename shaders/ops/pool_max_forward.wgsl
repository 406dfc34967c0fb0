// Max pooling over 3D windows of an NCDHW f32 volume, one invocation per
// output element. Window positions in the padding are skipped (a `found`
// flag instead of a minus-infinity initial value), so padding never wins.
// Ties keep the first maximum in scan order (d, then h, then w) because only
// a strictly greater value replaces the current one; a NaN always replaces
// it, so NaN propagates as in PyTorch's CPU kernel.
// Bindings: 0 uniform, 1 x, 2 y, 3 indices (only with SAVE_INDICES): the
// i32 offset d*H*W + h*W + w of each maximum within its input volume, the
// layout of PyTorch's max_pool3d indices.

struct Params {
  n: u32,
  count_include_pad: u32,
  in_size: vec4<u32>,
  out_size: vec4<u32>,
  kernel: vec4<u32>,
  stride: vec4<u32>,
  pad_before: vec4<u32>,
  pad_after: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#if SAVE_INDICES
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;
#endif

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
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
  let out_size = params.out_size;
  let in_size = vec3<i32>(params.in_size.xyz);
  let ow = o % out_size.z;
  let oh = (o / out_size.z) % out_size.y;
  let od = (o / (out_size.z * out_size.y)) % out_size.x;
  let plane = o / (out_size.x * out_size.y * out_size.z);
  let base = plane * params.in_size.x * params.in_size.y * params.in_size.z;
  let start = vec3<i32>(vec3<u32>(od, oh, ow) * params.stride.xyz) -
    vec3<i32>(params.pad_before.xyz);
  let kernel = vec3<i32>(params.kernel.xyz);

  var found = false;
  var best = 0.0;
  var best_offset = -1;
  for (var kd = 0; kd < kernel.x; kd++) {
    let id = start.x + kd;
    if (id < 0 || id >= in_size.x) {
      continue;
    }
    for (var kh = 0; kh < kernel.y; kh++) {
      let ih = start.y + kh;
      if (ih < 0 || ih >= in_size.y) {
        continue;
      }
      for (var kw = 0; kw < kernel.z; kw++) {
        let iw = start.z + kw;
        if (iw < 0 || iw >= in_size.z) {
          continue;
        }
        let offset = (id * in_size.y + ih) * in_size.z + iw;
        let v = x[base + u32(offset)];
        if (!found || v > best || is_nan(v)) {
          found = true;
          best = v;
          best_offset = offset;
        }
      }
    }
  }
  y[o] = best;
#if SAVE_INDICES
  indices[o] = best_offset;
#endif
}
