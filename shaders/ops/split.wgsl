// Reads one piece out of a whole tensor along an axis: the forward of split
// (one dispatch per output) and the backward of concat. With the shapes
// viewed as [outer, axis, inner], piece element (o, k, j) is whole element
// (o, offset + k, j).
// Values are copied as raw 32-bit words, so f32 and i32 tensors both work.
// Bindings: 0 uniform, 1 whole, 2 piece.

struct Params {
  n: u32,
  piece_axis: u32,
  whole_axis: u32,
  offset: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> whole: array<u32>;
@group(0) @binding(2) var<storage, read_write> piece: array<u32>;

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
  piece[i] = whole[(o * params.whole_axis + params.offset) * params.inner + rest];
}
