// y = a OP b with NumPy broadcasting, up to rank 8, row-major.
// OP: 0 add, 1 sub, 2 mul, 3 div. The host coalesces the dimensions first,
// so equal shapes reach this kernel as rank 1 with strides 1 and 1 (a flat
// index), and a per-channel operand of an NCDHW tensor as rank 2 or 3.
// a_strides and b_strides are the strides of a and b aligned to y's shape,
// 0 along broadcast dimensions.
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
  // Unravel from the innermost dimension. The outermost index is what remains,
  // so rank 1 needs no division.
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
