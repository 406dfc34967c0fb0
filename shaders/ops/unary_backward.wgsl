// Gradients of the activations in unary_forward.wgsl, gx = gy * f'(.).
// saved is x for relu, relu6 and hardSwish, and y for sigmoid. Derivatives
// at the kinks follow PyTorch: relu'(0) = 0, relu6'(0) = relu6'(6) = 0,
// hardSwish'(-3) = -0.5, hardSwish'(3) = 1.5.
// Bindings: 0 uniform {n}, 1 saved, 2 gy, 3 gx.

override OP: u32 = 0u;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> saved: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

fn derivative(v: f32) -> f32 {
  switch OP {
    case 0u: {
      return select(0.0, 1.0, v > 0.0);
    }
    case 1u: {
      return select(0.0, 1.0, v > 0.0 && v < 6.0);
    }
    case 2u: {
      if (v < -3.0) {
        return 0.0;
      }
      if (v <= 3.0) {
        return v / 3.0 + 0.5;
      }
      return 1.0;
    }
    default: {
      return v * (1.0 - v);
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
  gx[i] = gy[i] * derivative(saved[i]);
}
