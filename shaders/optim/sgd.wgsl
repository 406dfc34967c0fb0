// SGD update of one parameter tensor in place, PyTorch 1.13's rule:
//   d = grad + weight_decay * param
//   buf = d on the first step, else momentum * buf + (1 - dampening) * d
//   d = d + momentum * buf with NESTEROV, else d = buf (both only with MOMENTUM)
//   param = param - lr * d
// Bindings: 0 uniform Params, 1 param (read_write), 2 grad, 3 momentum
// buffer (read_write, only with MOMENTUM). Flat f32 arrays of length n.

struct Params {
  n: u32,
  first_step: u32,
  lr: f32,
  weight_decay: f32,
  momentum: f32,
  one_minus_dampening: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
#if MOMENTUM
@group(0) @binding(3) var<storage, read_write> momentum_buffer: array<f32>;
#endif

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
  let p = param[i];
  var d = grad[i];
  if (params.weight_decay != 0.0) {
    d = d + params.weight_decay * p;
  }
#if MOMENTUM
  var buf = d;
  if (params.first_step == 0u) {
    buf = momentum_buffer[i] * params.momentum + params.one_minus_dampening * d;
  }
  momentum_buffer[i] = buf;
#if NESTEROV
  d = d + params.momentum * buf;
#else
  d = buf;
#endif
#endif
  param[i] = p - params.lr * d;
}
