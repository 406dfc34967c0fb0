/**
 * Onset-to-apex alignment by a global translation. MPFNet's code shifted the
 * onset frame so that its nose-landmark centroid met the apex's. Without
 * landmarks the shift is estimated by image registration instead, with
 * coarse-to-fine Lucas-Kanade on a translation-only model
 * (shaders/vision/lk_translation.wgsl). Each dispatch runs one Gauss-Newton
 * step and keeps the estimate on the GPU. translate.wgsl applies the shift
 * with bilinear sampling and replicated borders.
 */
import { runtime } from "../gpu/runtime.ts";
import { UniformLayout } from "../gpu/uniforms.ts";
import { empty, scope, type Tensor, tensor, zeros } from "../tensor.ts";
import {
  checkInteger,
  checkNumber,
  checkSameShape,
  planeLayout,
} from "./image.ts";
import { resize } from "./resize.ts";
import lkSource from "../../shaders/vision/lk_translation.wgsl" with {
  type: "text",
};
import translateSource from "../../shaders/vision/translate.wgsl" with {
  type: "text",
};

export interface TranslationOptions {
  /** Pyramid levels, each half the size of the one below (default 3). */
  levels?: number;
  /** Gauss-Newton steps per level (default 10). */
  iterations?: number;
  /** Pixels left out along each edge of the reference (default 2). */
  margin?: number;
}

const lkLayout = new UniformLayout([
  ["h", "u32"],
  ["w", "u32"],
  ["margin", "u32"],
  ["level_scale", "vec2<f32>"],
]);
const translateLayout = new UniformLayout([
  ["planes", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["scale", "f32"],
]);

/** Levels stop before a side drops under this many pixels. */
const MIN_LEVEL_SIZE = 16;

function grayPlane(image: Tensor, op: string): { h: number; w: number } {
  const { planes, height, width } = planeLayout(image, op);
  if (planes !== 1) {
    throw new Error(
      `${op} expects one grayscale image [H, W] or [1, H, W], got ` +
        `${image.describe()}; convert colour frames with toGray first`,
    );
  }
  return { h: height, w: width };
}

/**
 * Estimates the translation (dx, dy) in pixels that carries `reference` onto
 * `moving`: moving(x, y) ~ reference(x - dx, y - dy). Both are grayscale
 * images of one size ([H, W] or [1, H, W], 0..255). Returns a [2] tensor on
 * the GPU, so `translateBy` can apply it without a readback.
 *
 * @example
 * ```ts
 * const shift = estimateTranslation(apex, onset); // onset = apex moved by shift
 * const aligned = translateBy(onset, shift, -1); // onset moved back onto apex
 * ```
 */
export function estimateTranslation(
  reference: Tensor,
  moving: Tensor,
  options: TranslationOptions = {},
): Tensor {
  checkSameShape(reference, moving, "estimateTranslation");
  const { h, w } = grayPlane(reference, "estimateTranslation");
  const levels = options.levels ?? 3;
  const iterations = options.iterations ?? 10;
  const margin = options.margin ?? 2;
  checkInteger(levels, "levels", 1, 16, "estimateTranslation");
  checkInteger(iterations, "iterations", 1, 1000, "estimateTranslation");
  checkInteger(margin, "margin", 1, 64, "estimateTranslation");
  if (h <= 2 * margin + 2 || w <= 2 * margin + 2) {
    throw new Error(
      `estimateTranslation: ${h}x${w} images are too small for a margin of ` +
        `${margin} pixels`,
    );
  }

  const shift = zeros([2], "f32", "translation");
  scope(() => {
    const pyramid: {
      reference: Tensor;
      moving: Tensor;
      h: number;
      w: number;
    }[] = [
      { reference, moving, h, w },
    ];
    for (let level = 1; level < levels; level++) {
      const below = pyramid[level - 1];
      const size = {
        height: Math.floor(below.h / 2),
        width: Math.floor(below.w / 2),
      };
      if (size.height < MIN_LEVEL_SIZE || size.width < MIN_LEVEL_SIZE) break;
      pyramid.push({
        reference: resize(below.reference, { ...size, mode: "area" }),
        moving: resize(below.moving, { ...size, mode: "area" }),
        h: size.height,
        w: size.width,
      });
    }
    const rt = runtime();
    for (let level = pyramid.length - 1; level >= 0; level--) {
      const { reference: r, moving: m, h: lh, w: lw } = pyramid[level];
      // An area-halved level maps x to (x + 0.5) * lw / w - 0.5, so a shift
      // scales by lw / w.
      const uniforms = lkLayout.pack({
        h: lh,
        w: lw,
        margin: Math.min(margin, Math.floor((Math.min(lh, lw) - 3) / 2)),
        level_scale: [lw / w, lh / h],
      });
      for (let step = 0; step < iterations; step++) {
        rt.dispatch({
          op: "vision.estimateTranslation",
          kernel: {
            file: "shaders/vision/lk_translation.wgsl",
            source: lkSource,
          },
          uniforms,
          bindings: [r.binding(), m.binding(), shift.binding()],
          workgroups: 1,
          shapes: `level ${lh}x${lw}`,
        });
      }
    }
  });
  return shift;
}

/**
 * Moves the content of every H x W plane of `image` by `scale * shift`
 * pixels ([2] tensor, dx then dy): out(x, y) = image(x - dx, y - dy), with
 * bilinear sampling and replicated borders.
 */
export function translateBy(image: Tensor, shift: Tensor, scale = 1): Tensor {
  const { planes, height, width } = planeLayout(image, "translate");
  if (shift.size !== 2 || shift.dtype !== "f32") {
    throw new Error(
      `translate expects a [2] f32 shift (dx, dy), got ${shift.describe()}`,
    );
  }
  checkNumber(scale, "scale", -1e6, 1e6, "translate");
  const out = empty(image.shape, "f32", "translate");
  runtime().dispatch({
    op: "vision.translate",
    kernel: { file: "shaders/vision/translate.wgsl", source: translateSource },
    uniforms: translateLayout.pack({ planes, h: height, w: width, scale }),
    bindings: [image.binding(), shift.binding(), out.binding()],
    workgroups: Math.ceil(out.size / 256),
    shapes: `image ${image.describe()}`,
  });
  return out;
}

/**
 * Moves the content of every H x W plane of `image` by (dx, dy) pixels:
 * out(x, y) = image(x - dx, y - dy), bilinear, borders replicated.
 */
export function translate(image: Tensor, dx: number, dy: number): Tensor {
  checkNumber(dx, "dx", -1e6, 1e6, "translate");
  checkNumber(dy, "dy", -1e6, 1e6, "translate");
  return scope(() => translateBy(image, tensor([dx, dy], [2]), 1));
}

/**
 * Aligns `moving` to `reference` (same size, grayscale [H, W] or [1, H, W])
 * by the estimated translation and returns the shifted `moving`. For
 * MPFNet's onset-to-apex alignment: `alignTo(apexGray, onsetGray)`; to shift
 * colour frames by the same amount use `estimateTranslation` and
 * `translateBy(frame, shift, -1)`.
 */
export function alignTo(
  reference: Tensor,
  moving: Tensor,
  options: TranslationOptions = {},
): Tensor {
  return scope(() => {
    const shift = estimateTranslation(reference, moving, options);
    return translateBy(moving, shift, -1);
  });
}
