// Elementwise activations, y = f(x), on flat f32 arrays of length n.
// OP: 0 relu, 1 relu6 (min(max(x, 0), 6)), 2 hardSwish (x * relu6(x + 3) / 6),
// 3 sigmoid. Bindings: 0 uniform {n}, 1 x, 2 y.

override OP: u32 = 0u;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn activate(v: f32) -> f32 {
  switch OP {
    case 0u: {
      return max(v, 0.0);
    }
    case 1u: {
      return min(max(v, 0.0), 6.0);
    }
    case 2u: {
      return v * min(max(v + 3.0, 0.0), 6.0) / 6.0;
    }
    default: {
      // Written to avoid exp overflow for large |v|.
      if (v >= 0.0) {
        return 1.0 / (1.0 + exp(-v));
      }
      let e = exp(v);
      return e / (1.0 + e);
    }
  }
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
  y[i] = activate(x[i]);
}
