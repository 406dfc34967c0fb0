// Local gradient of y = a OP b for one operand, at y's full (broadcast)
// shape; the caller sums it down to the operand's shape with reduce_sum.
// OP: 0 add, 1 sub, 2 mul, 3 div. SIDE: 0 for a, 1 for b.
//   d(a+b) = 1, 1; d(a-b) = 1, -1; d(ab) = b, a; d(a/b) = 1/b, -a/b^2.
// Shapes and strides are coalesced on the host as for broadcast_binary.wgsl.
// Bindings: 0 uniform, 1 a, 2 b, 3 gy, 4 g (y-shaped output).

override OP: u32 = 0u;
override SIDE: u32 = 0u;

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> g: array<f32>;

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
  var ia = 0u;
  var ib = 0u;
  for (var d = params.rank - 1u; d > 0u; d--) {
    let size = params.shape[d / 4u][d % 4u];
    let k = rest % size;
    rest = rest / size;
    ia += k * params.a_strides[d / 4u][d % 4u];
    ib += k * params.b_strides[d / 4u][d % 4u];
  }
  ia += rest * params.a_strides[0].x;
  ib += rest * params.b_strides[0].x;
  var local = 1.0;
  if (OP == 1u && SIDE == 1u) {
    local = -1.0;
  } else if (OP == 2u) {
    local = select(b[ib], a[ia], SIDE == 1u);
  } else if (OP == 3u) {
    let va = a[ia];
    let vb = b[ib];
    local = select(1.0 / vb, -va / (vb * vb), SIDE == 1u);
  }
  g[i] = gy[i] * local;
}
