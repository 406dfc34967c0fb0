// Axis permutation, y = x.permute(dims), up to rank 8, row-major. The output
// index is unravelled with y's shape; x_strides[d] is the stride in x of the
// axis that becomes output axis d (x's strides taken in the order of dims).
// The backward is the same kernel with the inverse permutation.
// Values are copied as raw 32-bit words, so f32 and i32 tensors both work.
// Bindings: 0 uniform, 1 x, 2 y.

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  x_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;

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
  var rest = i;
  var source = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let size = at8(params.shape, u32(d));
    source += (rest % size) * at8(params.x_strides, u32(d));
    rest = rest / size;
  }
  y[i] = x[source];
}
