/**
 * Shape checks and stacking shared by the vision kernels. Images are f32
 * tensors with height and width as the last two axes: [H, W] grayscale,
 * [C, H, W] or [N, C, H, W], values in 0..255.
 */
import { runtime } from "../gpu/runtime.ts";
import { empty, formatShape, Tensor } from "../tensor.ts";

/** Height, width and the number of H x W planes of an image tensor. */
export interface PlaneLayout {
  planes: number;
  height: number;
  width: number;
}

/** Checks an f32 tensor of rank 2 to 4 and returns its plane layout. */
export function planeLayout(image: Tensor, op: string): PlaneLayout {
  if (!(image instanceof Tensor)) {
    throw new Error(`${op} expects a Tensor, got ${String(image)}`);
  }
  if (image.dtype !== "f32") {
    throw new Error(`${op} expects an f32 image, got ${image.describe()}`);
  }
  if (image.rank < 2 || image.rank > 4) {
    throw new Error(
      `${op} expects an image [H, W], [C, H, W] or [N, C, H, W], got ` +
        `${image.describe()}`,
    );
  }
  const height = image.shape[image.rank - 2];
  const width = image.shape[image.rank - 1];
  if (height < 1 || width < 1) {
    throw new Error(`${op} expects a non-empty image, got ${image.describe()}`);
  }
  return { planes: image.size / (height * width), height, width };
}

/** Checks that two tensors have the same shape. */
export function checkSameShape(a: Tensor, b: Tensor, op: string): void {
  if (
    a.shape.length !== b.shape.length ||
    a.shape.some((d, i) => d !== b.shape[i])
  ) {
    throw new Error(
      `${op}: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} ` +
        "differ; both images must have the same size and channels",
    );
  }
}

/**
 * Copies tensors of one shape into a new tensor [count, ...shape], with
 * buffer copies on the GPU.
 */
export function stack(items: readonly Tensor[], op: string): Tensor {
  if (items.length === 0) throw new Error(`${op}: nothing to stack`);
  for (const item of items) checkSameShape(items[0], item, op);
  const out = empty([items.length, ...items[0].shape], "f32", `${op}.stack`);
  const rt = runtime();
  items.forEach((item, index) => {
    rt.copy(item.buffer, out.buffer, item.bytes, 0, index * item.bytes);
  });
  return out;
}

/** Copies `count` consecutive planes starting at `first` into a new tensor. */
export function slicePlanes(
  source: Tensor,
  first: number,
  count: number,
  shape: readonly number[],
  op: string,
): Tensor {
  const { height, width } = planeLayout(source, op);
  const planeBytes = height * width * 4;
  const out = empty(shape, "f32", `${op}.slice`);
  if (out.bytes !== count * planeBytes) {
    throw new Error(
      `${op}: ${count} planes of ${height}x${width} do not fill shape ` +
        formatShape(shape),
    );
  }
  runtime().copy(
    source.buffer,
    out.buffer,
    out.bytes,
    first * planeBytes,
    0,
  );
  return out;
}

/** Checks a value is a finite number within [low, high]. */
export function checkNumber(
  value: number,
  name: string,
  low: number,
  high: number,
  op: string,
): void {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new Error(`${op}: ${name} must be a finite number, got ${value}`);
  }
  if (value < low || value > high) {
    throw new Error(
      `${op}: ${name} = ${value} is outside [${low}, ${high}]`,
    );
  }
}

/** Checks a value is an integer within [low, high]. */
export function checkInteger(
  value: number,
  name: string,
  low: number,
  high: number,
  op: string,
): void {
  if (!Number.isInteger(value)) {
    throw new Error(`${op}: ${name} must be an integer, got ${value}`);
  }
  checkNumber(value, name, low, high, op);
}
