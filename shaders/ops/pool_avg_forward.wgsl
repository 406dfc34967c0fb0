// Average pooling over 3D windows of an NCDHW f32 volume, one invocation
// per output element, with PyTorch's divisor: the window clipped to the
// padded input when count_include_pad is 1, else the number of input
// positions in the window. Bindings: 0 uniform, 1 x, 2 y.

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
  let padded_end = min(
    start + vec3<i32>(params.kernel.xyz),
    in_size + vec3<i32>(params.pad_after.xyz),
  );
  let first = max(start, vec3<i32>(0));
  let end = min(padded_end, in_size);
  var divisor = (end.x - first.x) * (end.y - first.y) * (end.z - first.z);
  if (params.count_include_pad == 1u) {
    let extent = padded_end - start;
    divisor = extent.x * extent.y * extent.z;
  }

  var acc = 0.0;
  for (var id = first.x; id < end.x; id++) {
    for (var ih = first.y; ih < end.y; ih++) {
      for (var iw = first.z; iw < end.z; iw++) {
        acc += x[base + u32((id * in_size.y + ih) * in_size.z + iw)];
      }
    }
  }
  y[o] = acc / f32(divisor);
}
