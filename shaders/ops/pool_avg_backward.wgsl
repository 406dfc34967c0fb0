// Gradient of average pooling (pool_avg_forward.wgsl) as a gather, one
// invocation per input element: gx sums gy / divisor over the outputs whose
// window contains the element, in increasing output order (no atomics).
// Bindings: 0 uniform, 1 gy, 2 gx. NCDHW f32.

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
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;

// Outputs o whose window [o*stride - pad, o*stride - pad + kernel - 1]
// contains input coordinate i, as the half-open range [first, end).
fn window_range(i: u32, pad: u32, kernel: u32, stride: u32, count: u32) -> vec2<u32> {
  let a = i + pad;
  var first = 0u;
  if (a + 1u > kernel) {
    first = (a + 1u - kernel + stride - 1u) / stride;
  }
  let end = min(a / stride + 1u, count);
  return vec2<u32>(first, max(first, end));
}

// The forward's divisor of output (od, oh, ow).
fn divisor_of(o: vec3<u32>) -> f32 {
  let in_size = vec3<i32>(params.in_size.xyz);
  let start = vec3<i32>(o * params.stride.xyz) - vec3<i32>(params.pad_before.xyz);
  let padded_end = min(
    start + vec3<i32>(params.kernel.xyz),
    in_size + vec3<i32>(params.pad_after.xyz),
  );
  if (params.count_include_pad == 1u) {
    let extent = padded_end - start;
    return f32(extent.x * extent.y * extent.z);
  }
  let extent = min(padded_end, in_size) - max(start, vec3<i32>(0));
  return f32(extent.x * extent.y * extent.z);
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
  let rd = window_range(id, params.pad_before.x, params.kernel.x, params.stride.x, out_size.x);
  let rh = window_range(ih, params.pad_before.y, params.kernel.y, params.stride.y, out_size.y);
  let rw = window_range(iw, params.pad_before.z, params.kernel.z, params.stride.z, out_size.z);

  var acc = 0.0;
  for (var od = rd.x; od < rd.y; od++) {
    for (var oh = rh.x; oh < rh.y; oh++) {
      for (var ow = rw.x; ow < rw.y; ow++) {
        let o = out_base + (od * out_size.y + oh) * out_size.z + ow;
        acc += gy[o] / divisor_of(vec3<u32>(od, oh, ow));
      }
    }
  }
  gx[i] = acc;
}
