/**
 * Renders the frames of one synthetic clip by backward warping the
 * subject's base face: frame(p) = base(T^-1(p) - drift(t) - a(t) D(q)),
 * where D is the clip's action-unit displacement field and a(t) rises from
 * 0 at the onset to 1 at the apex and falls back to 0 at the offset.
 *
 * Distractors make a classifier depend on local motion (optical flow)
 * rather than raw frame differences. They are slow sub-pixel head drift and
 * sway, a per-clip shift and scale of the crop, blinks in clips of every
 * class, a weak unrelated twitch in some clips, lighting flicker and sensor
 * noise.
 *
 * @module
 */

import {
  type ActionUnit,
  addDisplacementField,
  emotionActionUnits,
  twitchActionUnit,
} from "./action_units.ts";
import type { FaceGeometry } from "./face.ts";
import type { ClipPlan } from "./plan.ts";
import { Random, standardNormalTable } from "./random.ts";

/** Everything that changes from frame to frame in one clip. */
export interface ClipMotion {
  /** Action units of the expression. */
  units: ActionUnit[];
  /** Peak displacement of the expression, in pixels. */
  peakPixels: number;
  /** Expression activation per frame, 0..1. */
  activation: Float32Array;
  /** Twitch displacement field scale per frame (0 when absent). */
  twitch: Float32Array;
  twitchUnit: ActionUnit | null;
  twitchPeakPixels: number;
  /** Head translation per frame, in pixels. */
  driftX: Float32Array;
  driftY: Float32Array;
  /** Eyelid closure per frame, 0 open .. 1 closed. */
  blink: Float32Array;
  /** Brightness factor per frame. */
  gain: Float32Array;
  /** Crop shift (pixels) and scale of this clip relative to the base. */
  shiftX: number;
  shiftY: number;
  scale: number;
  /** Sensor noise standard deviation, in 8-bit levels. */
  noise: number;
}

/** Rises from 0 at `start` to 1 at `peak` and falls to 0 at `end`
 * (raised-cosine halves). */
function raisedCosine(t: number, start: number, peak: number, end: number) {
  if (t <= start || t >= end) return 0;
  if (t <= peak) {
    return peak === start
      ? 1
      : 0.5 - 0.5 * Math.cos(Math.PI * (t - start) / (peak - start));
  }
  return 0.5 + 0.5 * Math.cos(Math.PI * (t - peak) / (end - peak));
}

/** Draws the motion of one clip; `pixelScale` is size / 128. */
export function planMotion(
  plan: ClipPlan,
  fps: number,
  pixelScale: number,
): ClipMotion {
  const random = new Random(plan.seed);
  const frames = plan.lastFrame - plan.firstFrame + 1;
  const onset = plan.onset - plan.firstFrame;
  const apex = plan.apex - plan.firstFrame;
  const offset = plan.offset - plan.firstFrame;

  const units = emotionActionUnits(plan.emotion, random);
  // Micro intensity: at most about one pixel at a 128-pixel face.
  const peakPixels = random.uniform(0.45, 1.0) * pixelScale;
  const activation = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    activation[i] = raisedCosine(i, onset, apex, offset);
  }

  const twitch = new Float32Array(frames);
  let twitchUnit: ActionUnit | null = null;
  let twitchPeakPixels = 0;
  if (random.chance(0.3)) {
    twitchUnit = twitchActionUnit(random);
    twitchPeakPixels = random.uniform(0.15, 0.3) * pixelScale;
    const length = random.integer(6, Math.max(6, frames));
    const start = random.integer(-Math.floor(length / 2), frames - 1);
    const peak = start + length * random.uniform(0.3, 0.6);
    for (let i = 0; i < frames; i++) {
      twitch[i] = raisedCosine(i, start, peak, start + length);
    }
  }

  // Head motion: a constant drift plus a slow sway, a few hundredths of a
  // pixel per frame.
  const driftX = new Float32Array(frames);
  const driftY = new Float32Array(frames);
  const velocityX = random.normal(0, 0.03) * pixelScale;
  const velocityY = random.normal(0, 0.02) * pixelScale;
  const swayAmplitude = random.uniform(0.1, 0.5) * pixelScale;
  const swayHertz = random.uniform(0.3, 1.5);
  const swayPhase = random.uniform(0, 2 * Math.PI);
  const swayAngle = random.uniform(0, 2 * Math.PI);
  for (let i = 0; i < frames; i++) {
    const sway = swayAmplitude *
      Math.sin(2 * Math.PI * swayHertz * i / fps + swayPhase);
    driftX[i] = velocityX * i + sway * Math.cos(swayAngle);
    driftY[i] = velocityY * i + sway * Math.sin(swayAngle);
  }

  // Blinks: about 0.1 s, closing faster than opening, in 30 % of clips.
  const blink = new Float32Array(frames);
  if (random.chance(0.3)) {
    const length = Math.max(4, Math.round(fps * random.uniform(0.08, 0.15)));
    const start = random.integer(-Math.floor(length / 2), frames - 2);
    const peak = start + 0.35 * length;
    const closure = random.uniform(0.5, 1);
    for (let i = 0; i < frames; i++) {
      blink[i] = closure * raisedCosine(i, start, peak, start + length);
    }
  }

  // Flicker: a beat of the mains frequency against the frame rate.
  const gain = new Float32Array(frames);
  const exposure = random.uniform(0.95, 1.05);
  const flickerAmplitude = random.uniform(0.003, 0.012);
  const flickerHertz = random.uniform(3, 12);
  const flickerPhase = random.uniform(0, 2 * Math.PI);
  for (let i = 0; i < frames; i++) {
    gain[i] = exposure *
      (1 + flickerAmplitude *
          Math.sin(2 * Math.PI * flickerHertz * i / fps + flickerPhase) +
        random.normal(0, 0.002));
  }

  return {
    units,
    peakPixels,
    activation,
    twitch,
    twitchUnit,
    twitchPeakPixels,
    driftX,
    driftY,
    blink,
    gain,
    shiftX: random.uniform(-1.5, 1.5) * pixelScale,
    shiftY: random.uniform(-1.5, 1.5) * pixelScale,
    scale: random.uniform(0.98, 1.02),
    noise: random.uniform(1.0, 2.2),
  };
}

/** Per-clip precomputed data for renderFrame. */
export interface ClipRenderer {
  size: number;
  channels: 1 | 3;
  base: Float32Array;
  face: FaceGeometry;
  motion: ClipMotion;
  /** Displacement fields (dx, dy interleaved, pixels) in base coordinates. */
  expressionField: Float32Array;
  twitchField: Float32Array | null;
  /** 1 where either field is non-zero near a base pixel, so that the
   * renderer skips the field lookups elsewhere. */
  fieldMask: Uint8Array;
  /** Eyelid color per eye (image-left eye first), per channel. */
  lidColors: Float32Array[];
  noiseState: number;
}

export function prepareClip(
  base: Float32Array,
  face: FaceGeometry,
  motion: ClipMotion,
  size: number,
  channels: 1 | 3,
  seed: number,
): ClipRenderer {
  const expressionField = new Float32Array(2 * size * size);
  addDisplacementField(
    expressionField,
    face,
    motion.units,
    motion.peakPixels,
    size,
  );
  let twitchField: Float32Array | null = null;
  if (motion.twitchUnit !== null) {
    twitchField = new Float32Array(2 * size * size);
    addDisplacementField(
      twitchField,
      face,
      [motion.twitchUnit],
      motion.twitchPeakPixels,
      size,
    );
  }
  const fieldMask = maskNonZero(expressionField, size);
  if (twitchField !== null) {
    const twitchMask = maskNonZero(twitchField, size);
    for (let i = 0; i < fieldMask.length; i++) fieldMask[i] |= twitchMask[i];
  }
  // The lid takes the skin color just above the eye.
  const lidColors = [-1, 1].map((side) => {
    const x = Math.round((face.centerX + side * face.eyeOffsetX) * size);
    const y = Math.round((face.eyeY - 1.8 * face.eyeRadiusY) * size);
    const index = (clampIndex(y, size) * size + clampIndex(x, size)) *
      channels;
    return base.slice(index, index + channels);
  });
  return {
    size,
    channels,
    base,
    face,
    motion,
    expressionField,
    twitchField,
    fieldMask,
    lidColors,
    noiseState: (seed ^ 0x5bd1e995) >>> 0 || 1,
  };
}

/** Marks pixels within one pixel of a non-zero field value. */
function maskNonZero(field: Float32Array, size: number): Uint8Array {
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const index = y * size + x;
      if (field[2 * index] === 0 && field[2 * index + 1] === 0) continue;
      for (let ny = Math.max(0, y - 1); ny <= Math.min(size - 1, y + 1); ny++) {
        for (
          let nx = Math.max(0, x - 1);
          nx <= Math.min(size - 1, x + 1);
          nx++
        ) {
          mask[ny * size + nx] = 1;
        }
      }
    }
  }
  return mask;
}

function clampIndex(value: number, size: number): number {
  return Math.min(size - 1, Math.max(0, value));
}

/** Samples two interleaved channels bilinearly at (x, y), clamped. */
function sampleField(
  field: Float32Array,
  size: number,
  x: number,
  y: number,
  out: Float64Array,
): void {
  const cx = Math.min(size - 1.001, Math.max(0, x));
  const cy = Math.min(size - 1.001, Math.max(0, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const fx = cx - x0;
  const fy = cy - y0;
  const i00 = 2 * (y0 * size + x0);
  const i10 = i00 + 2;
  const i01 = i00 + 2 * size;
  const i11 = i01 + 2;
  for (let c = 0; c < 2; c++) {
    const top = field[i00 + c] + (field[i10 + c] - field[i00 + c]) * fx;
    const bottom = field[i01 + c] + (field[i11 + c] - field[i01 + c]) * fx;
    out[c] = top + (bottom - top) * fy;
  }
}

/**
 * Renders frame `index` (0 = first frame of the folder) as 8-bit samples,
 * interleaved gray or RGB.
 */
export function renderFrame(
  clip: ClipRenderer,
  index: number,
): Uint8Array {
  const { size, channels, base, motion, fieldMask } = clip;
  const { expressionField, twitchField } = clip;
  const shiftX = motion.shiftX;
  const shiftY = motion.shiftY;
  const activation = motion.activation[index];
  const twitch = motion.twitch[index];
  const driftX = motion.driftX[index];
  const driftY = motion.driftY[index];
  const gain = motion.gain[index];
  const center = (size - 1) / 2;
  const inverseScale = 1 / motion.scale;
  const linear = new Float32Array(size * size * channels);
  const displacement = new Float64Array(2);

  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // Base coordinates of this pixel before the expression moves it.
      let qx = center + (x - center - shiftX) * inverseScale - driftX;
      let qy = center + (y - center - shiftY) * inverseScale - driftY;
      let dx = 0;
      let dy = 0;
      const nearest = clampIndex(Math.round(qy), size) * size +
        clampIndex(Math.round(qx), size);
      const moving = fieldMask[nearest] === 1;
      if (moving && activation > 0) {
        sampleField(expressionField, size, qx, qy, displacement);
        dx += activation * displacement[0];
        dy += activation * displacement[1];
      }
      if (moving && twitch > 0 && twitchField !== null) {
        sampleField(twitchField, size, qx, qy, displacement);
        dx += twitch * displacement[0];
        dy += twitch * displacement[1];
      }
      qx -= dx;
      qy -= dy;

      // Bilinear sample of the base face, clamped at the border.
      const cx = Math.min(size - 1.001, Math.max(0, qx));
      const cy = Math.min(size - 1.001, Math.max(0, qy));
      const x0 = Math.floor(cx);
      const y0 = Math.floor(cy);
      const fx = cx - x0;
      const fy = cy - y0;
      const i00 = (y0 * size + x0) * channels;
      const i10 = i00 + channels;
      const i01 = i00 + size * channels;
      const i11 = i01 + channels;
      const out = (y * size + x) * channels;
      for (let c = 0; c < channels; c++) {
        const top = base[i00 + c] + (base[i10 + c] - base[i00 + c]) * fx;
        const bottom = base[i01 + c] + (base[i11 + c] - base[i01 + c]) * fx;
        linear[out + c] = (top + (bottom - top) * fy) * gain;
      }
    }
  }

  if (motion.blink[index] > 0) drawBlink(clip, index, linear);
  return quantize(clip, linear);
}

/** Covers the eyes with the upper lid down to the blink's closure. */
function drawBlink(
  clip: ClipRenderer,
  index: number,
  linear: Float32Array,
): void {
  const { size, channels, face, motion } = clip;
  const closure = motion.blink[index];
  const gain = motion.gain[index];
  const center = (size - 1) / 2;
  const sides = [-1, 1];
  for (let e = 0; e < 2; e++) {
    // Eye center and half-axes in frame pixels (forward transform).
    const baseX = (face.centerX + sides[e] * face.eyeOffsetX) * size - 0.5;
    const baseY = face.eyeY * size - 0.5;
    const eyeX = center + (baseX + motion.driftX[index] - center) *
        motion.scale +
      motion.shiftX;
    const eyeY = center + (baseY + motion.driftY[index] - center) *
        motion.scale +
      motion.shiftY;
    const radiusX = 1.15 * face.eyeRadiusX * size * motion.scale;
    const radiusY = 1.25 * face.eyeRadiusY * size * motion.scale;
    const lidEdge = eyeY - radiusY + 2 * radiusY * closure;
    const lid = clip.lidColors[e];
    const x0 = Math.max(0, Math.floor(eyeX - radiusX - 2));
    const x1 = Math.min(size - 1, Math.ceil(eyeX + radiusX + 2));
    const y0 = Math.max(0, Math.floor(eyeY - radiusY - 2));
    const y1 = Math.min(size - 1, Math.ceil(eyeY + radiusY + 2));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const ex = (x - eyeX) / radiusX;
        const ey = (y - eyeY) / radiusY;
        const inside = Math.min(
          1,
          Math.max(0, (1.08 - Math.hypot(ex, ey)) / 0.16),
        );
        // 1 above the lid edge, 0 below, over about a pixel.
        const covered = Math.min(1, Math.max(0, 0.5 + (lidEdge - y)));
        const alpha = inside * covered;
        // A dark lash line at the moving lid edge.
        const lash = inside * Math.max(0, 1 - Math.abs(y - lidEdge)) * 0.6;
        if (alpha <= 0 && lash <= 0) continue;
        const out = (y * size + x) * channels;
        for (let c = 0; c < channels; c++) {
          const lidValue = lid[c] * 0.93 * gain;
          let value = linear[out + c] + (lidValue - linear[out + c]) * alpha;
          value *= 1 - lash * 0.7;
          linear[out + c] = value;
        }
      }
    }
  }
}

/** Adds sensor noise and rounds to 8 bits. */
function quantize(clip: ClipRenderer, linear: Float32Array): Uint8Array {
  const table = standardNormalTable();
  const noise = clip.motion.noise;
  const output = new Uint8Array(linear.length);
  let state = clip.noiseState;
  for (let i = 0; i < linear.length; i++) {
    // xorshift32: one 32-bit draw gives two 16-bit table indices.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const sample = table[state & 0xffff] * 0.7071 +
      table[state >>> 16] * 0.7071;
    const value = linear[i] * 255 + noise * sample;
    output[i] = Math.round(Math.min(255, Math.max(0, value)));
  }
  clip.noiseState = state;
  return output;
}
