// Inverted dropout, y[i] = keep(i) ? x[i] * scale : 0, with
// keep(i) = hash_uniform(seed, i) >= p and scale = 1 / (1 - p) (0 when p = 1).
// The same kernel applied to gy gives the gradient, because the mask is a
// function of (seed, i) alone. pcg_hash and hash_uniform are bit for bit the
// pcgHash and hashUniform of src/util/rng.ts, so the CPU reference rebuilds
// the exact mask.
// Bindings: 0 uniform, 1 x (flat f32), 2 y.

struct Params {
  n: u32,
  seed: u32,
  p: f32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// PCG output permutation (RXS-M-XS) of one 32-bit LCG step; u32 products
// wrap modulo 2^32 as Math.imul does.
fn pcg_hash(input: u32) -> u32 {
  let state = input * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Uniform in [0, 1) on a grid of 2^-24, so every value is exact in f32.
fn hash_uniform(seed: u32, index: u32) -> f32 {
  let h = pcg_hash(pcg_hash(seed) ^ index);
  return f32(h >> 8u) / 16777216.0;
}

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
  let keep = hash_uniform(params.seed, i) >= params.p;
  y[i] = select(0.0, x[i] * params.scale, keep);
}
