/**
 * Colour to grayscale with the weights of OpenCV's float RGB2GRAY and
 * BGR2GRAY conversions: gray = 0.299 R + 0.587 G + 0.114 B.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { add, div, mean, mul } from "../ops/mod.ts";
import { empty, scope, type Tensor } from "../tensor.ts";
import { planeLayout } from "./image.ts";
import graySource from "../../shaders/vision/rgb_to_gray.wgsl" with {
  type: "text",
};

/** Channel order of a colour image. The dataset loaders produce RGB. */
export type ChannelOrder = "rgb" | "bgr";

const grayLayout = new UniformLayout([
  ["n", "u32"],
  ["plane", "u32"],
  ["weights", "vec4<f32>"],
]);

/**
 * Converts [3, H, W] (or [N, 3, H, W]) images in 0..255 to [H, W] (or
 * [N, H, W]) luma. `order` names the channel order: "rgb" (the default,
 * what the loaders give) or "bgr" (OpenCV's own order).
 */
export function toGray(image: Tensor, order: ChannelOrder = "rgb"): Tensor {
  const { height, width } = planeLayout(image, "toGray");
  const channelAxis = image.rank - 3;
  if (image.rank < 3 || image.shape[channelAxis] !== 3) {
    throw new Error(
      `toGray expects [3, H, W] or [N, 3, H, W], got ${image.describe()}`,
    );
  }
  if (order !== "rgb" && order !== "bgr") {
    throw new Error(`toGray: order must be "rgb" or "bgr", got ${order}`);
  }
  const shape = [...image.shape.slice(0, channelAxis), height, width];
  const out = empty(shape, "f32", "toGray");
  const weights = order === "rgb"
    ? [0.299, 0.587, 0.114, 0]
    : [0.114, 0.587, 0.299, 0];
  runtime().dispatch({
    op: "vision.toGray",
    kernel: { file: "shaders/vision/rgb_to_gray.wgsl", source: graySource },
    uniforms: grayLayout.pack({ n: out.size, plane: height * width, weights }),
    bindings: [image.binding(), out.binding()],
    workgroups: Math.ceil(out.size / 256),
    shapes: `image ${image.describe()}`,
  });
  return out;
}

/**
 * Scales `image` so that its mean equals the mean of `reference` (both in
 * 0..255, any shape): a global gain correction for lighting flicker and
 * exposure changes between two frames of a clip, which TV-L1 would
 * otherwise report as motion. Runs on the GPU without a readback; an
 * all-zero image is returned unchanged.
 */
export function matchBrightness(image: Tensor, reference: Tensor): Tensor {
  return scope(() => {
    const target = mean(reference);
    // The tiny offset keeps an all-black frame finite.
    const current = add(mean(image), 1e-6);
    return mul(image, div(target, current));
  });
}
