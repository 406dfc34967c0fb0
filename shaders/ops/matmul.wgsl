// General matrix product C = op(A) op(B), plus bias[col] on every row when
// BIAS is set. Row-major f32. op(A) is [M, K]: A is stored [M, K], or [K, M]
// with TRANS_A. op(B) is [K, N]: B is stored [K, N], or [N, K] with TRANS_B.
// Register blocking: invocation t computes the 4x4 block of C at block row
// t / blocks_n and block column t % blocks_n. It uses no workgroup memory
// and no barriers, because barriers are expensive on CPU rasterizers such as
// llvmpipe. A_VEC4 and B_VEC4 read their operand as vec4 along its
// contiguous axis, which the caller sets only when that axis has a length
// divisible by 4. Rows and columns past the edge are read clamped and never
// written, and k past K contributes zero.
// Bindings: 0 uniform, 1 A, 2 B, 3 C, 4 bias (only with BIAS).

struct Params {
  m: u32,
  n: u32,
  k: u32,
  blocks_n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
#if A_VEC4
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
#endif
#if B_VEC4
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>;
#endif

#if !A_VEC4
// Element op(A)[r, kk], zero when kk >= K; r must be below M.
fn a_scalar(r: u32, kk: u32) -> f32 {
  let kc = min(kk, params.k - 1u);
#if TRANS_A
  let value = a[kc * params.m + r];
#else
  let value = a[r * params.k + kc];
#endif
  return select(0.0, value, kk < params.k);
}
#endif

#if !B_VEC4
// Element op(B)[kk, col], zero when kk >= K; col must be below N.
fn b_scalar(kk: u32, col: u32) -> f32 {
  let kc = min(kk, params.k - 1u);
#if TRANS_B
  let value = b[col * params.k + kc];
#else
  let value = b[kc * params.n + col];
#endif
  return select(0.0, value, kk < params.k);
}
#endif

// Column i of the result is op(A)[row(r0 + i), k0 .. k0 + 3].
fn a_block(r0: u32, k0: u32) -> mat4x4<f32> {
  let last = params.m - 1u;
  let r = vec4<u32>(r0, min(r0 + 1u, last), min(r0 + 2u, last), min(r0 + 3u, last));
#if A_VEC4
#if TRANS_A
  // M % 4 == 0, so rows r0 .. r0 + 3 are all in range; column j of the
  // loaded block is op(A)[r0 .. r0 + 3, k0 + j].
  let kc = min(vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u), vec4<u32>(params.k - 1u));
  let valid = vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u) < vec4<u32>(params.k);
  let q = params.m / 4u;
  let zero = vec4<f32>(0.0);
  let loaded = mat4x4<f32>(
    select(zero, a[kc.x * q + r0 / 4u], valid.x),
    select(zero, a[kc.y * q + r0 / 4u], valid.y),
    select(zero, a[kc.z * q + r0 / 4u], valid.z),
    select(zero, a[kc.w * q + r0 / 4u], valid.w),
  );
  return transpose(loaded);
#else
  // K % 4 == 0, so k0 .. k0 + 3 are all in range.
  let q = params.k / 4u;
  return mat4x4<f32>(
    a[r.x * q + k0 / 4u],
    a[r.y * q + k0 / 4u],
    a[r.z * q + k0 / 4u],
    a[r.w * q + k0 / 4u],
  );
#endif
#else
  var block: mat4x4<f32>;
  for (var i = 0u; i < 4u; i++) {
    block[i] = vec4<f32>(
      a_scalar(r[i], k0),
      a_scalar(r[i], k0 + 1u),
      a_scalar(r[i], k0 + 2u),
      a_scalar(r[i], k0 + 3u),
    );
  }
  return block;
#endif
}

// Column j of the result is op(B)[k0 + j, col(c0) .. col(c0 + 3)].
fn b_block(k0: u32, c0: u32) -> mat4x4<f32> {
  let last = params.n - 1u;
  let cols = vec4<u32>(c0, min(c0 + 1u, last), min(c0 + 2u, last), min(c0 + 3u, last));
#if B_VEC4
#if TRANS_B
  // K % 4 == 0, so k0 .. k0 + 3 are all in range; column m of the loaded
  // block is op(B)[k0 .. k0 + 3, col(c0 + m)].
  let q = params.k / 4u;
  let loaded = mat4x4<f32>(
    b[cols.x * q + k0 / 4u],
    b[cols.y * q + k0 / 4u],
    b[cols.z * q + k0 / 4u],
    b[cols.w * q + k0 / 4u],
  );
  return transpose(loaded);
#else
  // N % 4 == 0, so columns c0 .. c0 + 3 are all in range.
  let kc = min(vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u), vec4<u32>(params.k - 1u));
  let valid = vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u) < vec4<u32>(params.k);
  let q = params.n / 4u;
  let zero = vec4<f32>(0.0);
  return mat4x4<f32>(
    select(zero, b[kc.x * q + c0 / 4u], valid.x),
    select(zero, b[kc.y * q + c0 / 4u], valid.y),
    select(zero, b[kc.z * q + c0 / 4u], valid.z),
    select(zero, b[kc.w * q + c0 / 4u], valid.w),
  );
#endif
#else
  var block: mat4x4<f32>;
  for (var j = 0u; j < 4u; j++) {
    block[j] = vec4<f32>(
      b_scalar(k0 + j, cols.x),
      b_scalar(k0 + j, cols.y),
      b_scalar(k0 + j, cols.z),
      b_scalar(k0 + j, cols.w),
    );
  }
  return block;
#endif
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  let blocks_m = (params.m + 3u) / 4u;
  if (t >= blocks_m * params.blocks_n) {
    return;
  }
  let r0 = (t / params.blocks_n) * 4u;
  let c0 = (t % params.blocks_n) * 4u;

  // Column i of acc is C[r0 + i, c0 .. c0 + 3]; column i of bm * am is
  // sum_j op(A)[r0 + i, k0 + j] * op(B)[k0 + j, c0 .. c0 + 3].
  var acc = mat4x4<f32>();
  for (var k0 = 0u; k0 < params.k; k0 += 4u) {
    acc += b_block(k0, c0) * a_block(r0, k0);
  }

#if BIAS
  let last = params.n - 1u;
  let shift = vec4<f32>(
    bias[c0],
    bias[min(c0 + 1u, last)],
    bias[min(c0 + 2u, last)],
    bias[min(c0 + 3u, last)],
  );
#else
  let shift = vec4<f32>(0.0);
#endif
  for (var i = 0u; i < 4u; i++) {
    let row = r0 + i;
    if (row >= params.m) {
      break;
    }
    let values = acc[i] + shift;
    for (var j = 0u; j < 4u; j++) {
      if (c0 + j < params.n) {
        c[row * params.n + c0 + j] = values[j];
      }
    }
  }
}
