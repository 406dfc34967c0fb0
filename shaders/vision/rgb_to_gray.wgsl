// Luma of colour images, [N, 3, H, W] -> [N, H, W]:
// gray = w0 * c0 + w1 * c1 + w2 * c2, with the weights of OpenCV's
// RGB2GRAY / BGR2GRAY for float images ordered like the input channels.
// Bindings: 0 uniform Params, 1 src [N, 3, H, W], 2 out [N, H, W].

struct Params {
  n: u32,
  plane: u32,
  weights: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.n) {
    return;
  }
  let image = i / params.plane;
  let at = image * 3u * params.plane + i % params.plane;
  let w = params.weights;
  out[i] = w.x * src[at] + w.y * src[at + params.plane] + w.z * src[at + 2u * params.plane];
}
