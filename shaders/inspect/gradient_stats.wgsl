// Statistics of one f32 tensor in one workgroup: writes row `slot` of
// stats [rows, 12] as {0 sum, 1 sum of squares, 2 max |x|, 3 NaN count,
// 4 Inf count, 5 sum of (x - mean)^2, 6 min, 7 max}, over finite elements
// except the counts. With HISTOGRAM, row `slot` of histogram [rows, bins]
// receives the counts of finite elements in equal bins over [min, max].
// Bindings: 0 uniform {n, slot, bins}, 1 values, 2 stats, 3 histogram (u32).

struct Params {
  n: u32,
  slot: u32,
  bins: u32,
}

const WORKGROUP = 256u;
const MAX_BINS = 256u;
const LARGEST = 3.402823e38;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
#if HISTOGRAM
@group(0) @binding(3) var<storage, read_write> histogram: array<u32>;
var<workgroup> bin_counts: array<atomic<u32>, MAX_BINS>;
#endif

var<workgroup> sums: array<f32, WORKGROUP>;
var<workgroup> squares: array<f32, WORKGROUP>;
var<workgroup> max_abs: array<f32, WORKGROUP>;
var<workgroup> mins: array<f32, WORKGROUP>;
var<workgroup> maxs: array<f32, WORKGROUP>;
var<workgroup> nans: array<u32, WORKGROUP>;
var<workgroup> infs: array<u32, WORKGROUP>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  var square = 0.0;
  var largest_abs = 0.0;
  var low = LARGEST;
  var high = -LARGEST;
  var nan_count = 0u;
  var inf_count = 0u;
  for (var i = lid; i < params.n; i += WORKGROUP) {
    let x = values[i];
    if (is_not_finite(x)) {
      // Exponent all ones: a zero mantissa is +-Inf, anything else NaN.
      if ((bitcast<u32>(x) & 0x007fffffu) == 0u) {
        inf_count += 1u;
      } else {
        nan_count += 1u;
      }
      continue;
    }
    sum += x;
    square += x * x;
    largest_abs = max(largest_abs, abs(x));
    low = min(low, x);
    high = max(high, x);
  }
  sums[lid] = sum;
  squares[lid] = square;
  max_abs[lid] = largest_abs;
  mins[lid] = low;
  maxs[lid] = high;
  nans[lid] = nan_count;
  infs[lid] = inf_count;
#if HISTOGRAM
  for (var b = lid; b < MAX_BINS; b += WORKGROUP) {
    atomicStore(&bin_counts[b], 0u);
  }
#endif
  workgroupBarrier();
  for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      sums[lid] += sums[lid + stride];
      squares[lid] += squares[lid + stride];
      max_abs[lid] = max(max_abs[lid], max_abs[lid + stride]);
      mins[lid] = min(mins[lid], mins[lid + stride]);
      maxs[lid] = max(maxs[lid], maxs[lid + stride]);
      nans[lid] += nans[lid + stride];
      infs[lid] += infs[lid + stride];
    }
    workgroupBarrier();
  }

  // Second pass: squared deviations from the mean, which keeps the
  // variance accurate where E[x^2] - E[x]^2 would cancel in f32.
  let total_squares = squares[0];
  let finite = params.n - nans[0] - infs[0];
  let mean = select(0.0, sums[0] / f32(finite), finite > 0u);
  let range_low = mins[0];
  let width = maxs[0] - mins[0];
  var deviation = 0.0;
  for (var i = lid; i < params.n; i += WORKGROUP) {
    let x = values[i];
    if (is_not_finite(x)) {
      continue;
    }
    deviation += (x - mean) * (x - mean);
#if HISTOGRAM
    var bin = 0u;
    if (width > 0.0) {
      let position = (x - range_low) / width * f32(params.bins);
      bin = min(u32(max(position, 0.0)), params.bins - 1u);
    }
    atomicAdd(&bin_counts[bin], 1u);
#endif
  }
  workgroupBarrier();
  squares[lid] = deviation;
  workgroupBarrier();
  for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      squares[lid] += squares[lid + stride];
    }
    workgroupBarrier();
  }

#if HISTOGRAM
  for (var b = lid; b < params.bins; b += WORKGROUP) {
    histogram[params.slot * params.bins + b] = atomicLoad(&bin_counts[b]);
  }
#endif
  if (lid == 0u) {
    let row = params.slot * 12u;
    stats[row] = sums[0];
    stats[row + 1u] = total_squares;
    stats[row + 2u] = max_abs[0];
    stats[row + 3u] = f32(nans[0]);
    stats[row + 4u] = f32(infs[0]);
    stats[row + 5u] = squares[0];
    stats[row + 6u] = select(0.0, mins[0], finite > 0u);
    stats[row + 7u] = select(0.0, maxs[0], finite > 0u);
  }
}
