// Motion features of consecutive frame pairs, [5, T, H, W]. Channels 0 and
// 1 are the flow (u, v) of pair t, mapped from [-bound, bound] pixels to
// [0, 1] by clamp((f + bound) * 255 / (2 * bound), 0, 255) / 255 and
// rounded to the 8-bit level first when round_flow is 1. Channels 2 to 4
// are the absolute difference |frame[t + 1] - frame[t]| / 255 of each
// colour channel, and a single channel is repeated three times.
// Bindings: 0 uniform Params, 1 flows [T, 2, H, W], 2 frames [T + 1, C, H, W]
// (0..255), 3 out [5, T, H, W].

struct Params {
  steps: u32,
  channels: u32,
  plane: u32,
  round_flow: u32,
  bound: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> flows: array<f32>;
@group(0) @binding(2) var<storage, read> frames: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn quantize(f: f32) -> f32 {
  var level = (f + params.bound) * 255.0 / (2.0 * params.bound);
  if (params.round_flow == 1u) {
    level = round(level);
  }
  return clamp(level, 0.0, 255.0) / 255.0;
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  let plane = params.plane;
  let per_channel = params.steps * plane;
  if (i >= per_channel) {
    return;
  }
  let t = i / plane;
  let at = i % plane;
  out[i] = quantize(flows[2u * t * plane + at]);
  out[per_channel + i] = quantize(flows[(2u * t + 1u) * plane + at]);
  let c = params.channels;
  for (var k = 0u; k < 3u; k++) {
    let channel = min(k, c - 1u);
    let before = frames[(t * c + channel) * plane + at];
    let after = frames[((t + 1u) * c + channel) * plane + at];
    out[(2u + k) * per_channel + i] = abs(after - before) / 255.0;
  }
}
