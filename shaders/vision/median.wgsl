// Median filter of TV-L1 flow fields over a 5x5 (or, with WINDOW_3, 3x3)
// window with replicated borders, as OpenCV's medianBlur does for float
// images. Each image whose convergence state already meets OpenCV's stopping
// rule (squared update sum <= scaled_epsilon) is copied unchanged, because
// OpenCV's outer loop stops before its median step. Workgroup g of image b
// covers elements g * 256 + lid, stepping by groups_per_image * 256, over
// both flow planes. The choice between median and copy is made by loop
// bounds rather than an if, because llvmpipe runs both sides of a branch
// with lane masks but leaves a loop as soon as no lane is active.
// Bindings: 0 uniform Params, 1 flow [B, 2, H, W], 2 state [B, STATE_STRIDE],
// 3 out [B, 2, H, W].

const STATE_STRIDE: u32 = 288u;

struct Params {
  groups_per_image: u32,
  h: u32,
  w: u32,
  scaled_epsilon: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> flow: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// The window's values sit in separate variables, and each line below is one
// compare-exchange (or the half of it whose result is used) of Batcher's
// odd-even merge sort on 16 (or 32) inputs, keeping only the pairs that
// touch real inputs and can reach the median's position (4 of 9, 12 of 25).
// Indices are constants, so the values stay in registers.
fn median_3x3(base: u32, x: i32, y: i32) -> f32 {
  let last_x = i32(params.w) - 1;
  let last_y = i32(params.h) - 1;
  let c0 = u32(clamp(x - 1, 0, last_x));
  let c1 = u32(clamp(x, 0, last_x));
  let c2 = u32(clamp(x + 1, 0, last_x));
  let r0 = base + u32(clamp(y - 1, 0, last_y)) * params.w;
  let r1 = base + u32(clamp(y, 0, last_y)) * params.w;
  let r2 = base + u32(clamp(y + 1, 0, last_y)) * params.w;
  var v0 = flow[r0 + c0];
  var v1 = flow[r0 + c1];
  var v2 = flow[r0 + c2];
  var v3 = flow[r1 + c0];
  var v4 = flow[r1 + c1];
  var v5 = flow[r1 + c2];
  var v6 = flow[r2 + c0];
  var v7 = flow[r2 + c1];
  var v8 = flow[r2 + c2];
  var low: f32;
  low = min(v0, v1); v1 = max(v0, v1); v0 = low;
  low = min(v2, v3); v3 = max(v2, v3); v2 = low;
  low = min(v4, v5); v5 = max(v4, v5); v4 = low;
  low = min(v6, v7); v7 = max(v6, v7); v6 = low;
  low = min(v0, v2); v2 = max(v0, v2); v0 = low;
  low = min(v1, v3); v3 = max(v1, v3); v1 = low;
  low = min(v4, v6); v6 = max(v4, v6); v4 = low;
  low = min(v5, v7); v7 = max(v5, v7); v5 = low;
  low = min(v1, v2); v2 = max(v1, v2); v1 = low;
  low = min(v5, v6); v6 = max(v5, v6); v5 = low;
  low = min(v0, v4); v4 = max(v0, v4); v0 = low;
  low = min(v1, v5); v5 = max(v1, v5); v1 = low;
  low = min(v2, v6); v6 = max(v2, v6); v2 = low;
  v3 = min(v3, v7);
  low = min(v2, v4); v4 = max(v2, v4); v2 = low;
  low = min(v3, v5); v5 = max(v3, v5); v3 = low;
  v2 = max(v1, v2);
  low = min(v3, v4); v4 = max(v3, v4); v3 = low;
  v5 = min(v5, v6);
  v8 = max(v0, v8);
  v4 = min(v4, v8);
  v4 = max(v2, v4);
  v3 = min(v3, v5);
  v4 = max(v3, v4);
  return v4;
}

fn median_5x5(base: u32, x: i32, y: i32) -> f32 {
  let last_x = i32(params.w) - 1;
  let last_y = i32(params.h) - 1;
  let c0 = u32(clamp(x - 2, 0, last_x));
  let c1 = u32(clamp(x - 1, 0, last_x));
  let c2 = u32(clamp(x, 0, last_x));
  let c3 = u32(clamp(x + 1, 0, last_x));
  let c4 = u32(clamp(x + 2, 0, last_x));
  let r0 = base + u32(clamp(y - 2, 0, last_y)) * params.w;
  let r1 = base + u32(clamp(y - 1, 0, last_y)) * params.w;
  let r2 = base + u32(clamp(y, 0, last_y)) * params.w;
  let r3 = base + u32(clamp(y + 1, 0, last_y)) * params.w;
  let r4 = base + u32(clamp(y + 2, 0, last_y)) * params.w;
  var v0 = flow[r0 + c0];
  var v1 = flow[r0 + c1];
  var v2 = flow[r0 + c2];
  var v3 = flow[r0 + c3];
  var v4 = flow[r0 + c4];
  var v5 = flow[r1 + c0];
  var v6 = flow[r1 + c1];
  var v7 = flow[r1 + c2];
  var v8 = flow[r1 + c3];
  var v9 = flow[r1 + c4];
  var v10 = flow[r2 + c0];
  var v11 = flow[r2 + c1];
  var v12 = flow[r2 + c2];
  var v13 = flow[r2 + c3];
  var v14 = flow[r2 + c4];
  var v15 = flow[r3 + c0];
  var v16 = flow[r3 + c1];
  var v17 = flow[r3 + c2];
  var v18 = flow[r3 + c3];
  var v19 = flow[r3 + c4];
  var v20 = flow[r4 + c0];
  var v21 = flow[r4 + c1];
  var v22 = flow[r4 + c2];
  var v23 = flow[r4 + c3];
  var v24 = flow[r4 + c4];
  var low: f32;
  low = min(v0, v1); v1 = max(v0, v1); v0 = low;
  low = min(v2, v3); v3 = max(v2, v3); v2 = low;
  low = min(v4, v5); v5 = max(v4, v5); v4 = low;
  low = min(v6, v7); v7 = max(v6, v7); v6 = low;
  low = min(v8, v9); v9 = max(v8, v9); v8 = low;
  low = min(v10, v11); v11 = max(v10, v11); v10 = low;
  low = min(v12, v13); v13 = max(v12, v13); v12 = low;
  low = min(v14, v15); v15 = max(v14, v15); v14 = low;
  low = min(v16, v17); v17 = max(v16, v17); v16 = low;
  low = min(v18, v19); v19 = max(v18, v19); v18 = low;
  low = min(v20, v21); v21 = max(v20, v21); v20 = low;
  low = min(v22, v23); v23 = max(v22, v23); v22 = low;
  low = min(v0, v2); v2 = max(v0, v2); v0 = low;
  low = min(v1, v3); v3 = max(v1, v3); v1 = low;
  low = min(v4, v6); v6 = max(v4, v6); v4 = low;
  low = min(v5, v7); v7 = max(v5, v7); v5 = low;
  low = min(v8, v10); v10 = max(v8, v10); v8 = low;
  low = min(v9, v11); v11 = max(v9, v11); v9 = low;
  low = min(v12, v14); v14 = max(v12, v14); v12 = low;
  low = min(v13, v15); v15 = max(v13, v15); v13 = low;
  low = min(v16, v18); v18 = max(v16, v18); v16 = low;
  low = min(v17, v19); v19 = max(v17, v19); v17 = low;
  low = min(v20, v22); v22 = max(v20, v22); v20 = low;
  low = min(v21, v23); v23 = max(v21, v23); v21 = low;
  low = min(v1, v2); v2 = max(v1, v2); v1 = low;
  low = min(v5, v6); v6 = max(v5, v6); v5 = low;
  low = min(v9, v10); v10 = max(v9, v10); v9 = low;
  low = min(v13, v14); v14 = max(v13, v14); v13 = low;
  low = min(v17, v18); v18 = max(v17, v18); v17 = low;
  low = min(v21, v22); v22 = max(v21, v22); v21 = low;
  low = min(v0, v4); v4 = max(v0, v4); v0 = low;
  low = min(v1, v5); v5 = max(v1, v5); v1 = low;
  low = min(v2, v6); v6 = max(v2, v6); v2 = low;
  low = min(v3, v7); v7 = max(v3, v7); v3 = low;
  low = min(v8, v12); v12 = max(v8, v12); v8 = low;
  low = min(v9, v13); v13 = max(v9, v13); v9 = low;
  low = min(v10, v14); v14 = max(v10, v14); v10 = low;
  low = min(v11, v15); v15 = max(v11, v15); v11 = low;
  low = min(v16, v20); v20 = max(v16, v20); v16 = low;
  low = min(v17, v21); v21 = max(v17, v21); v17 = low;
  low = min(v18, v22); v22 = max(v18, v22); v18 = low;
  low = min(v19, v23); v23 = max(v19, v23); v19 = low;
  low = min(v2, v4); v4 = max(v2, v4); v2 = low;
  low = min(v3, v5); v5 = max(v3, v5); v3 = low;
  low = min(v10, v12); v12 = max(v10, v12); v10 = low;
  low = min(v11, v13); v13 = max(v11, v13); v11 = low;
  low = min(v18, v20); v20 = max(v18, v20); v18 = low;
  low = min(v19, v21); v21 = max(v19, v21); v19 = low;
  low = min(v1, v2); v2 = max(v1, v2); v1 = low;
  low = min(v3, v4); v4 = max(v3, v4); v3 = low;
  low = min(v5, v6); v6 = max(v5, v6); v5 = low;
  low = min(v9, v10); v10 = max(v9, v10); v9 = low;
  low = min(v11, v12); v12 = max(v11, v12); v11 = low;
  low = min(v13, v14); v14 = max(v13, v14); v13 = low;
  low = min(v17, v18); v18 = max(v17, v18); v17 = low;
  low = min(v19, v20); v20 = max(v19, v20); v19 = low;
  low = min(v21, v22); v22 = max(v21, v22); v21 = low;
  low = min(v0, v8); v8 = max(v0, v8); v0 = low;
  low = min(v1, v9); v9 = max(v1, v9); v1 = low;
  low = min(v2, v10); v10 = max(v2, v10); v2 = low;
  low = min(v3, v11); v11 = max(v3, v11); v3 = low;
  low = min(v4, v12); v12 = max(v4, v12); v4 = low;
  low = min(v5, v13); v13 = max(v5, v13); v5 = low;
  low = min(v6, v14); v14 = max(v6, v14); v6 = low;
  v7 = min(v7, v15);
  low = min(v16, v24); v24 = max(v16, v24); v16 = low;
  low = min(v4, v8); v8 = max(v4, v8); v4 = low;
  low = min(v5, v9); v9 = max(v5, v9); v5 = low;
  low = min(v6, v10); v10 = max(v6, v10); v6 = low;
  low = min(v7, v11); v11 = max(v7, v11); v7 = low;
  low = min(v20, v24); v24 = max(v20, v24); v20 = low;
  low = min(v2, v4); v4 = max(v2, v4); v2 = low;
  low = min(v3, v5); v5 = max(v3, v5); v3 = low;
  low = min(v6, v8); v8 = max(v6, v8); v6 = low;
  low = min(v7, v9); v9 = max(v7, v9); v7 = low;
  low = min(v10, v12); v12 = max(v10, v12); v10 = low;
  low = min(v11, v13); v13 = max(v11, v13); v11 = low;
  low = min(v18, v20); v20 = max(v18, v20); v18 = low;
  low = min(v19, v21); v21 = max(v19, v21); v19 = low;
  low = min(v22, v24); v24 = max(v22, v24); v22 = low;
  low = min(v1, v2); v2 = max(v1, v2); v1 = low;
  low = min(v3, v4); v4 = max(v3, v4); v3 = low;
  low = min(v5, v6); v6 = max(v5, v6); v5 = low;
  low = min(v7, v8); v8 = max(v7, v8); v7 = low;
  low = min(v9, v10); v10 = max(v9, v10); v9 = low;
  low = min(v11, v12); v12 = max(v11, v12); v11 = low;
  v13 = min(v13, v14);
  low = min(v17, v18); v18 = max(v17, v18); v17 = low;
  low = min(v19, v20); v20 = max(v19, v20); v19 = low;
  low = min(v21, v22); v22 = max(v21, v22); v21 = low;
  low = min(v23, v24); v24 = max(v23, v24); v23 = low;
  v16 = max(v0, v16);
  v17 = max(v1, v17);
  v18 = max(v2, v18);
  v19 = max(v3, v19);
  v20 = max(v4, v20);
  v21 = max(v5, v21);
  v6 = min(v6, v22);
  v7 = min(v7, v23);
  v8 = min(v8, v24);
  v16 = max(v8, v16);
  v17 = max(v9, v17);
  v10 = min(v10, v18);
  v11 = min(v11, v19);
  v12 = min(v12, v20);
  v13 = min(v13, v21);
  v10 = max(v6, v10);
  v11 = max(v7, v11);
  v12 = min(v12, v16);
  v13 = min(v13, v17);
  v12 = max(v10, v12);
  v11 = min(v11, v13);
  v12 = max(v11, v12);
  return v12;
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let group = flat_workgroup(wid, nwg);
  let b = group / params.groups_per_image;
  let plane = params.h * params.w;
  let count = 2u * plane;
  let base = 2u * b * plane;
  let first = (group % params.groups_per_image) * 256u + lid;
  let stride = params.groups_per_image * 256u;
  let converged = state[b * STATE_STRIDE] <= params.scaled_epsilon;
  let median_end = select(count, 0u, converged);
  let copy_end = select(0u, count, converged);
  for (var e = first; e < median_end; e += stride) {
    let at = e % plane;
    let x = i32(at % params.w);
    let y = i32(at / params.w);
    let plane_base = base + (e / plane) * plane;
#if WINDOW_3
    out[base + e] = median_3x3(plane_base, x, y);
#else
    out[base + e] = median_5x5(plane_base, x, y);
#endif
  }
  for (var e = first; e < copy_end; e += stride) {
    out[base + e] = flow[base + e];
  }
}
