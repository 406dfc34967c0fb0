// Adam (and AdamW with DECOUPLED) update of one parameter tensor in place,
// PyTorch 1.13's rule with the bias corrections folded in on the host:
//   AdamW: param = param * (1 - lr * weight_decay)
//   Adam:  g = grad + weight_decay * param
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   param = param - step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// with step_size = lr / (1 - beta1^t). The operation order follows
// PyTorch's CPU kernels (mul_, add_, addcmul_, addcdiv_).
// Bindings: 0 uniform Params, 1 param, 2 grad, 3 exp_avg (m), 4 exp_avg_sq
// (v); param, m and v are read_write. Flat f32 arrays of length n.

struct Params {
  n: u32,
  first_step: u32,
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  eps: f32,
  weight_decay: f32,
  decay_factor: f32,
  step_size: f32,
  bias_correction2_sqrt: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;

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
  var p = param[i];
  var g = grad[i];
#if DECOUPLED
  p = p * params.decay_factor;
#else
  if (params.weight_decay != 0.0) {
    g = g + params.weight_decay * p;
  }
#endif
  // The state starts at zero; reading it on the first step would use the
  // uninitialised contents of a fresh buffer.
  var m = 0.0;
  var v = 0.0;
  if (params.first_step == 0u) {
    m = exp_avg[i] * params.beta1;
    v = exp_avg_sq[i] * params.beta2;
  }
  m = m + params.one_minus_beta1 * g;
  v = v + params.one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  let denom = sqrt(v) / params.bias_correction2_sqrt + params.eps;
  param[i] = p + (-params.step_size * m) / denom;
}
