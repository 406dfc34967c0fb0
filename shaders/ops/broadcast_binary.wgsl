// y = a OP b with NumPy broadcasting, up to rank 8, row-major.
// OP: 0 add, 1 sub, 2 mul, 3 div. a_strides and b_strides are the strides of
// a and b aligned to y's shape, 0 along broadcast dimensions.
// Bindings: 0 uniform, 1 a, 2 b, 3 y.

override OP: u32 = 0u;

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
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

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
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let size = at8(params.shape, u32(d));
    let k = rest % size;
    rest = rest / size;
    ia += k * at8(params.a_strides, u32(d));
    ib += k * at8(params.b_strides, u32(d));
  }
  let va = a[ia];
  let vb = b[ib];
  switch OP {
    case 0u: {
      y[i] = va + vb;
    }
    case 1u: {
      y[i] = va - vb;
    }
    case 2u: {
      y[i] = va * vb;
    }
    default: {
      y[i] = va / vb;
    }
  }
}
