// Prelude prepended to every kernel. Dispatches above 65535 workgroups are
// folded into a 2D grid by the runtime; kernels recover one flat index.

fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
}

// True when x is NaN or +-Inf (exponent bits all set). A bit test because
// compilers may fold x != x away.
fn is_not_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// Element d of an 8-slot vector held as array<vec4<u32>, 2> (shapes and
// strides up to rank 8 travel this way in uniforms). Selects with constant
// indices, because a dynamic index into an array value makes the compiler
// copy the array to private memory on every call. A kernel can instead index
// its uniform directly, as in params.shape[d / 4u][d % 4u].
fn at8(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  let quad = select(v[0], v[1], d >= 4u);
  let lane = d % 4u;
  let low = select(quad.x, quad.y, lane == 1u);
  let high = select(quad.z, quad.w, lane == 3u);
  return select(low, high, lane >= 2u);
}
