// Flow-based warping for motion magnification and frame interpolation.
// flow [2, H, W] is the forward flow F from src0 to src1 in pixels (u, v),
// scaled by gain. For an output time t, the trajectory x -> x + t * gain *
// F(x) through each output pixel y is found by the fixed-point iteration
// G <- gain * F(y - t * G), G0 = gain * F(y), which converges while
// t * gain * |dF/dx| < 1. Then
// out[c, y] = a0 * src0[c](y - s0 * G) + a1 * src1[c](y + s1 * G)
// with bilinear sampling and replicated borders.
// Bindings: 0 uniform Params, 1 flow [2, H, W], 2 src0 [C, H, W],
// 3 src1 [C, H, W], 4 out [C, H, W].

struct Params {
  channels: u32,
  h: u32,
  w: u32,
  iterations: u32,
  gain: f32,
  t: f32,
  a0: f32,
  s0: f32,
  a1: f32,
  s1: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> flow: array<f32>;
@group(0) @binding(2) var<storage, read> src0: array<f32>;
@group(0) @binding(3) var<storage, read> src1: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

struct Taps {
  i00: u32,
  i01: u32,
  i10: u32,
  i11: u32,
  ax: f32,
  ay: f32,
}

// Bilinear taps at (x, y) with replicated borders, as plane offsets.
fn taps(x: f32, y: f32) -> Taps {
  let fx = floor(x);
  let fy = floor(y);
  let last_x = i32(params.w) - 1;
  let last_y = i32(params.h) - 1;
  let x0 = u32(clamp(i32(fx), 0, last_x));
  let x1 = u32(clamp(i32(fx) + 1, 0, last_x));
  let y0 = u32(clamp(i32(fy), 0, last_y));
  let y1 = u32(clamp(i32(fy) + 1, 0, last_y));
  return Taps(
    y0 * params.w + x0,
    y0 * params.w + x1,
    y1 * params.w + x0,
    y1 * params.w + x1,
    x - fx,
    y - fy,
  );
}

fn flow_at(k: Taps, base: u32) -> f32 {
  let top = flow[base + k.i00] + k.ax * (flow[base + k.i01] - flow[base + k.i00]);
  let bottom = flow[base + k.i10] + k.ax * (flow[base + k.i11] - flow[base + k.i10]);
  return top + k.ay * (bottom - top);
}

fn src0_at(k: Taps, base: u32) -> f32 {
  let top = src0[base + k.i00] + k.ax * (src0[base + k.i01] - src0[base + k.i00]);
  let bottom = src0[base + k.i10] + k.ax * (src0[base + k.i11] - src0[base + k.i10]);
  return top + k.ay * (bottom - top);
}

fn src1_at(k: Taps, base: u32) -> f32 {
  let top = src1[base + k.i00] + k.ax * (src1[base + k.i01] - src1[base + k.i00]);
  let bottom = src1[base + k.i10] + k.ax * (src1[base + k.i11] - src1[base + k.i10]);
  return top + k.ay * (bottom - top);
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  let plane = params.h * params.w;
  if (i >= plane) {
    return;
  }
  let x = f32(i % params.w);
  let y = f32(i / params.w);
  var g = params.gain * vec2<f32>(flow[i], flow[plane + i]);
  for (var k = 0u; k < params.iterations; k++) {
    let at = taps(x - params.t * g.x, y - params.t * g.y);
    g = params.gain * vec2<f32>(flow_at(at, 0u), flow_at(at, plane));
  }
  let back = taps(x - params.s0 * g.x, y - params.s0 * g.y);
  let ahead = taps(x + params.s1 * g.x, y + params.s1 * g.y);
  for (var c = 0u; c < params.channels; c++) {
    var value = params.a0 * src0_at(back, c * plane);
    if (params.a1 != 0.0) {
      value += params.a1 * src1_at(ahead, c * plane);
    }
    out[c * plane + i] = value;
  }
}
