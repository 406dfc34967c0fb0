// Centred image gradient for TV-L1, as OpenCV's DualTVL1 computes it:
// dx = (I[x + 1] - I[x - 1]) / 2 inside and the one-sided difference halved
// on the first and last column, likewise dy over rows.
// Bindings: 0 uniform Params, 1 image [B, H, W], 2 gradient [B, 2, H, W]
// (dx plane, then dy plane, per image).

struct Params {
  images: u32,
  h: u32,
  w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradient: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  let plane = params.h * params.w;
  if (i >= params.images * plane) {
    return;
  }
  let b = i / plane;
  let x = i % params.w;
  let y = (i % plane) / params.w;
  let base = b * plane;
  let row = base + y * params.w;
  let left = row + max(x, 1u) - 1u;
  let right = row + min(x + 1u, params.w - 1u);
  let up = base + (max(y, 1u) - 1u) * params.w + x;
  let down = base + min(y + 1u, params.h - 1u) * params.w + x;
  let out = 2u * base + y * params.w + x;
  gradient[out] = 0.5 * (image[right] - image[left]);
  gradient[out + plane] = 0.5 * (image[down] - image[up]);
}
