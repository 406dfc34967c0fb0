// Second pass of the training-mode batch-norm statistics: merges the
// per-chunk (count, mean, m2) triples of batch_norm_partial_stats.wgsl with
// Chan et al.'s pairwise update, one thread per channel, and writes the batch
// mean and invstd = 1 / sqrt(biased variance + eps). With UPDATE_RUNNING it
// also updates the running statistics in place as PyTorch does:
// running = (1 - momentum) * running + momentum * batch, where the running
// variance takes the unbiased batch variance m2 / (count - 1).
// Bindings: 0 uniform, 1 partials, 2 mean, 3 invstd, and with UPDATE_RUNNING
// 4 running_mean, 5 running_var (read_write). All per-channel arrays have C
// entries.

struct Params {
  channels: u32,
  chunks: u32,
  count: u32,
  eps: f32,
  momentum: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> invstd_out: array<f32>;
#if UPDATE_RUNNING
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;
#endif

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let c = flat_workgroup(wid, nwg) * 64u + lid;
  if (c >= params.channels) {
    return;
  }
  var total = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var k = 0u; k < params.chunks; k++) {
    let at = 3u * (c * params.chunks + k);
    let seen = partials[at];
    if (seen == 0.0) {
      continue;
    }
    let merged = total + seen;
    let delta = partials[at + 1u] - mean;
    mean += delta * (seen / merged);
    m2 += partials[at + 2u] + delta * delta * (total * seen / merged);
    total = merged;
  }
  let variance = m2 / f32(params.count);
  mean_out[c] = mean;
  invstd_out[c] = 1.0 / sqrt(variance + params.eps);
#if UPDATE_RUNNING
  let unbiased = m2 / f32(params.count - 1u);
  let keep = 1.0 - params.momentum;
  running_mean[c] = keep * running_mean[c] + params.momentum * mean;
  running_var[c] = keep * running_var[c] + params.momentum * unbiased;
#endif
}
