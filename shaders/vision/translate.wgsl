// Translation of a stack of planes with bilinear sampling and replicated
// borders, [P, H, W] -> [P, H, W]: out[p, y, x] = src[p](x - dx, y - dy),
// so the content moves by (dx, dy) pixels. (dx, dy) = scale * shift[0..1] is
// read from a storage buffer, so an estimated shift is applied without a
// readback.
// Bindings: 0 uniform Params, 1 src, 2 shift [2], 3 out.

struct Params {
  planes: u32,
  h: u32,
  w: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> shift: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Bilinear sample at (x, y) of the plane starting at base; taps outside
// the image take the nearest edge pixel.
fn sample_replicate(base: u32, x: f32, y: f32) -> f32 {
  let fx = floor(x);
  let fy = floor(y);
  let ax = x - fx;
  let ay = y - fy;
  let last_x = i32(params.w) - 1;
  let last_y = i32(params.h) - 1;
  let x0 = u32(clamp(i32(fx), 0, last_x));
  let x1 = u32(clamp(i32(fx) + 1, 0, last_x));
  let y0 = u32(clamp(i32(fy), 0, last_y));
  let y1 = u32(clamp(i32(fy) + 1, 0, last_y));
  let r0 = base + y0 * params.w;
  let r1 = base + y1 * params.w;
  let top = src[r0 + x0] + ax * (src[r0 + x1] - src[r0 + x0]);
  let bottom = src[r1 + x0] + ax * (src[r1 + x1] - src[r1 + x0]);
  return top + ay * (bottom - top);
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  let plane = params.h * params.w;
  if (i >= params.planes * plane) {
    return;
  }
  let base = (i / plane) * plane;
  let x = f32(i % params.w);
  let y = f32((i % plane) / params.w);
  let dx = params.scale * shift[0];
  let dy = params.scale * shift[1];
  out[i] = sample_replicate(base, x - dx, y - dy);
}
