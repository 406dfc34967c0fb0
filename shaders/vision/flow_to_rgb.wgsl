// Colour-wheel picture of a flow field, [N, 2, H, W] -> [N, 3, H, W] RGB in
// 0..255: hue = the flow's angle atan2(v, u) in [0, 360) degrees, full
// saturation, value = the magnitude min-max normalised per image (0 when the
// magnitude is constant), as OpenCV's HSV flow pictures are made.
// Bindings: 0 uniform Params, 1 flow [N, 2, H, W], 2 magnitude_range [N, 2]
// (minimum and maximum magnitude), 3 out [N, 3, H, W].

struct Params {
  n: u32,
  plane: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> flow: array<f32>;
@group(0) @binding(2) var<storage, read> magnitude_range: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const PI: f32 = 3.14159265358979;

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
  let plane = params.plane;
  let image = i / plane;
  let at = i % plane;
  let u = flow[2u * image * plane + at];
  let v = flow[(2u * image + 1u) * plane + at];
  var angle = atan2(v, u) * 180.0 / PI;
  if (angle < 0.0) {
    angle += 360.0;
  }
  let low = magnitude_range[2u * image];
  let high = magnitude_range[2u * image + 1u];
  var value = 0.0;
  if (high > low) {
    value = (length(vec2<f32>(u, v)) - low) / (high - low);
  }
  // HSV to RGB with saturation 1: chroma = value.
  let sector = angle / 60.0;
  let x = value * (1.0 - abs(sector % 2.0 - 1.0));
  var rgb = vec3<f32>(0.0);
  if (sector < 1.0) {
    rgb = vec3<f32>(value, x, 0.0);
  } else if (sector < 2.0) {
    rgb = vec3<f32>(x, value, 0.0);
  } else if (sector < 3.0) {
    rgb = vec3<f32>(0.0, value, x);
  } else if (sector < 4.0) {
    rgb = vec3<f32>(0.0, x, value);
  } else if (sector < 5.0) {
    rgb = vec3<f32>(x, 0.0, value);
  } else {
    rgb = vec3<f32>(value, 0.0, x);
  }
  let base = 3u * image * plane + at;
  out[base] = 255.0 * rgb.x;
  out[base + plane] = 255.0 * rgb.y;
  out[base + 2u * plane] = 255.0 * rgb.z;
}
