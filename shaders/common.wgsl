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
// strides up to rank 8 travel this way in uniforms).
fn at8(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  var copy = v;
  return copy[d / 4u][d % 4u];
}
