// Writes one piece into its slice of a whole tensor along an axis: the
// forward of concat (one dispatch per input) and the backward of split.
// With the shapes viewed as [outer, axis, inner], piece element
// (o, k, j) goes to whole element (o, offset + k, j).
// Values are copied as raw 32-bit words, so f32 and i32 tensors both work.
// Bindings: 0 uniform, 1 piece, 2 whole (read_write; other slices untouched).

struct Params {
  n: u32,
  piece_axis: u32,
  whole_axis: u32,
  offset: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> piece: array<u32>;
@group(0) @binding(2) var<storage, read_write> whole: array<u32>;

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
  let slab = params.piece_axis * params.inner;
  let o = i / slab;
  let rest = i - o * slab;
  whole[(o * params.whole_axis + params.offset) * params.inner + rest] = piece[i];
}
