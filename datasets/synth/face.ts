/**
 * Per-subject synthetic faces: geometry, skin tone, texture and lighting,
 * rendered once into a floating-point base image that the frames warp.
 *
 * Coordinates are normalized to the image side (0..1, y down). All edges
 * are smoothed over about a pixel and the skin texture has no detail finer
 * than about 2 pixels, so that sub-pixel warps of the base image move it
 * without aliasing.
 *
 * @module
 */

import { deriveSeed, Random } from "./random.ts";

export type Color = [number, number, number];

export interface FaceGeometry {
  /** Face oval center and radii. */
  centerX: number;
  centerY: number;
  radiusX: number;
  radiusY: number;
  /** Eye centers at centerX +- eyeOffsetX, eyeY; eye half-axes. */
  eyeY: number;
  eyeOffsetX: number;
  eyeRadiusX: number;
  eyeRadiusY: number;
  irisRadius: number;
  /** Brow centers at centerX +- eyeOffsetX, browY; arch height. */
  browY: number;
  browHalfLength: number;
  browThickness: number;
  browArch: number;
  /** Nose tip height and half-width of the nose wings. */
  noseY: number;
  noseHalfWidth: number;
  /** Mouth center height, half-width and lip half-thickness. */
  mouthY: number;
  mouthHalfWidth: number;
  lipThickness: number;
  hairlineY: number;
  skin: Color;
  hair: Color;
  lips: Color;
  iris: Color;
  background: Color;
  /** Unit vector towards the light, z out of the image. */
  light: [number, number, number];
  ambient: number;
  diffuse: number;
  /** Relative amplitude of the skin texture. */
  texture: number;
  textureSeed: number;
}

function mix(a: Color, b: Color, t: number): Color {
  return [
    a[0] + (b[0] - a[0]) * t,
    a[1] + (b[1] - a[1]) * t,
    a[2] + (b[2] - a[2]) * t,
  ];
}

/** Draws a subject's face. The same seed gives the same face. */
export function randomFace(seed: number): FaceGeometry {
  const random = new Random(seed);
  const centerX = 0.5 + random.normal(0, 0.012);
  const centerY = 0.53 + random.normal(0, 0.012);
  const eyeY = random.uniform(0.4, 0.44);
  const eyeRadiusY = random.uniform(0.024, 0.032);
  const skin = mix(
    [0.96, 0.8, 0.7],
    [0.5, 0.34, 0.25],
    random.next() ** 1.3,
  );
  const hairShade = random.uniform(0.08, 0.35);
  const lightAngle = random.uniform(-0.9, 0.9);
  const lightTilt = random.uniform(-0.6, 0.2);
  const lightLength = Math.hypot(lightAngle, lightTilt, 1.4);
  return {
    centerX,
    centerY,
    radiusX: random.uniform(0.39, 0.45),
    radiusY: random.uniform(0.5, 0.55),
    eyeY,
    eyeOffsetX: random.uniform(0.15, 0.18),
    eyeRadiusX: random.uniform(0.06, 0.072),
    eyeRadiusY,
    irisRadius: eyeRadiusY * random.uniform(0.9, 1.05),
    browY: eyeY - random.uniform(0.07, 0.095),
    browHalfLength: random.uniform(0.07, 0.085),
    browThickness: random.uniform(0.011, 0.018),
    browArch: random.uniform(0.006, 0.018),
    noseY: random.uniform(0.6, 0.65),
    noseHalfWidth: random.uniform(0.035, 0.048),
    mouthY: random.uniform(0.75, 0.79),
    mouthHalfWidth: random.uniform(0.1, 0.13),
    lipThickness: random.uniform(0.016, 0.026),
    hairlineY: random.uniform(0.08, 0.17),
    skin,
    hair: [hairShade, hairShade * 0.8, hairShade * 0.65],
    lips: [skin[0] * 0.95, skin[1] * 0.68, skin[2] * 0.7],
    iris: mix([0.35, 0.22, 0.12], [0.3, 0.4, 0.45], random.next() * 0.5),
    background: mix(
      [0.2, 0.2, 0.22],
      [0.55, 0.55, 0.5],
      random.next(),
    ),
    light: [
      lightAngle / lightLength,
      lightTilt / lightLength,
      1.4 / lightLength,
    ],
    ambient: random.uniform(0.5, 0.62),
    diffuse: random.uniform(0.38, 0.5),
    texture: random.uniform(0.06, 0.1),
    textureSeed: deriveSeed(seed, "texture"),
  };
}

function smoothstep(edge0: number, edge1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - edge0) / (edge1 - edge0)));
  return t * t * (3 - 2 * t);
}

/** Value noise on an integer lattice, smooth between lattice points. */
function latticeNoise(x: number, y: number, seed: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const sx = fx * fx * (3 - 2 * fx);
  const sy = fy * fy * (3 - 2 * fy);
  const v00 = latticeValue(x0, y0, seed);
  const v10 = latticeValue(x0 + 1, y0, seed);
  const v01 = latticeValue(x0, y0 + 1, seed);
  const v11 = latticeValue(x0 + 1, y0 + 1, seed);
  const top = v00 + (v10 - v00) * sx;
  const bottom = v01 + (v11 - v01) * sx;
  return top + (bottom - top) * sy;
}

/** Hashes a lattice point to a value in [-1, 1]. */
function latticeValue(x: number, y: number, seed: number): number {
  let h = Math.imul(x, 0x27d4eb2d) ^ Math.imul(y, 0x165667b1) ^ seed;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  h ^= h >>> 15;
  return (h >>> 0) / 2147483647.5 - 1;
}

/**
 * Sums noise octaves whose lattice spacing is given in pixels of a
 * `size`-pixel image: from large blotches down to 2 pixels (pores).
 */
function skinTexture(
  u: number,
  v: number,
  size: number,
  seed: number,
): number {
  const octaves: [number, number][] = [
    [size / 5, 0.45],
    [size / 12, 0.3],
    [Math.max(3, size / 40), 0.25],
    [2, 0.3],
  ];
  let sum = 0;
  octaves.forEach(([spacing, amplitude], index) => {
    const scale = size / spacing;
    sum += amplitude *
      latticeNoise(
        u * scale + index * 17.3,
        v * scale - index * 9.1,
        seed + index,
      );
  });
  return sum;
}

/** Blends `color` over `pixel` with opacity `alpha`, in place. */
function blend(pixel: Color, color: Color, alpha: number): void {
  if (alpha <= 0) return;
  pixel[0] += (color[0] - pixel[0]) * alpha;
  pixel[1] += (color[1] - pixel[1]) * alpha;
  pixel[2] += (color[2] - pixel[2]) * alpha;
}

function scaled(color: Color, factor: number): Color {
  return [color[0] * factor, color[1] * factor, color[2] * factor];
}

/**
 * Renders the face into an interleaved float image of `size` x `size`
 * pixels with `channels` channels (3 RGB, 1 luminance), values 0..1.
 */
export function renderBaseFace(
  face: FaceGeometry,
  size: number,
  channels: 1 | 3,
): Float32Array {
  const image = new Float32Array(size * size * channels);
  const pixel: Color = [0, 0, 0];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      shadeFacePixel(face, (x + 0.5) / size, (y + 0.5) / size, size, pixel);
      const index = (y * size + x) * channels;
      if (channels === 3) {
        image[index] = pixel[0];
        image[index + 1] = pixel[1];
        image[index + 2] = pixel[2];
      } else {
        image[index] = 0.299 * pixel[0] + 0.587 * pixel[1] +
          0.114 * pixel[2];
      }
    }
  }
  return image;
}

/** Computes the color of the face at (u, v) into `pixel`. */
function shadeFacePixel(
  face: FaceGeometry,
  u: number,
  v: number,
  size: number,
  pixel: Color,
): void {
  // One pixel in normalized units, the width of every soft edge.
  const edge = 1.2 / size;
  const background = scaled(face.background, 0.85 + 0.3 * v);
  pixel[0] = background[0];
  pixel[1] = background[1];
  pixel[2] = background[2];

  const nx = (u - face.centerX) / face.radiusX;
  const ny = (v - face.centerY) / face.radiusY;
  const radius = Math.hypot(nx, ny);
  const faceCoverage = smoothstep(
    1 + edge / face.radiusX,
    1 - edge / face.radiusX,
    radius,
  );
  const texture = skinTexture(u, v, size, face.textureSeed);

  // Lambert shading of an ellipsoid.
  const nz = Math.sqrt(Math.max(0.02, 1 - Math.min(1, radius * radius)));
  const normalLength = Math.hypot(0.8 * nx, 0.8 * ny, nz);
  const lambert = Math.max(
    0,
    (0.8 * nx * face.light[0] + 0.8 * ny * face.light[1] +
      nz * face.light[2]) / normalLength,
  );
  const shade = face.ambient + face.diffuse * lambert;

  const skin = scaled(face.skin, shade * (1 + face.texture * texture));
  // Warm cheeks.
  for (const side of [-1, 1]) {
    const dx = u - (face.centerX + side * face.eyeOffsetX * 1.1);
    const dy = v - (face.eyeY + 0.12);
    const blush = 0.06 * Math.exp(-(dx * dx + dy * dy) / (2 * 0.05 ** 2));
    skin[1] *= 1 - blush;
    skin[2] *= 1 - blush;
  }
  blend(pixel, skin, faceCoverage);
  if (faceCoverage <= 0) return;

  // Hair above a curved hairline.
  const hairline = face.hairlineY + 0.06 * nx * nx;
  const hairCoverage = smoothstep(hairline + edge, hairline - edge, v) *
    faceCoverage;
  blend(
    pixel,
    scaled(face.hair, 1 + 0.5 * face.texture * texture),
    hairCoverage,
  );

  for (const side of [-1, 1]) {
    drawEyeSocket(face, u, v, side, pixel);
    drawBrow(face, u, v, side, edge, shade, texture, pixel);
    drawEye(face, u, v, side, edge, shade, pixel);
  }
  drawNose(face, u, v, edge, shade, pixel);
  drawMouth(face, u, v, edge, shade, pixel);
}

function drawEyeSocket(
  face: FaceGeometry,
  u: number,
  v: number,
  side: number,
  pixel: Color,
): void {
  const dx = u - (face.centerX + side * face.eyeOffsetX);
  const dy = v - (face.eyeY - 0.01);
  const shadow = 0.12 *
    Math.exp(-(dx * dx) / (2 * 0.06 ** 2) - (dy * dy) / (2 * 0.035 ** 2));
  pixel[0] *= 1 - shadow;
  pixel[1] *= 1 - shadow;
  pixel[2] *= 1 - shadow;
}

function drawBrow(
  face: FaceGeometry,
  u: number,
  v: number,
  side: number,
  edge: number,
  shade: number,
  texture: number,
  pixel: Color,
): void {
  const t = (u - (face.centerX + side * face.eyeOffsetX)) /
    face.browHalfLength;
  if (Math.abs(t) > 1.3) return;
  // Outer ends (side * t > 0) are thinner and lower than the inner ends.
  const outer = side * t;
  const curveY = face.browY - face.browArch * (1 - t * t) +
    0.25 * face.browThickness * outer;
  const thickness = face.browThickness * (1 - 0.35 * Math.max(0, outer));
  const across = smoothstep(
    thickness + edge,
    thickness - edge,
    Math.abs(v - curveY),
  );
  const along = smoothstep(1.05, 0.9, Math.abs(t));
  const color = scaled(face.hair, shade * (1.1 + 0.8 * texture));
  blend(pixel, color, 0.85 * across * along);
}

function drawEye(
  face: FaceGeometry,
  u: number,
  v: number,
  side: number,
  edge: number,
  shade: number,
  pixel: Color,
): void {
  const eyeX = face.centerX + side * face.eyeOffsetX;
  const dx = (u - eyeX) / face.eyeRadiusX;
  const dy = (v - face.eyeY) / face.eyeRadiusY;
  const radius = Math.hypot(dx, dy);
  if (radius > 1.6) return;
  const scale = Math.min(face.eyeRadiusX, face.eyeRadiusY);
  const inside = smoothstep(1 + edge / scale, 1 - edge / scale, radius);
  const sclera: Color = scaled([0.9, 0.88, 0.85], shade);
  blend(pixel, sclera, inside);
  const irisDistance = Math.hypot(u - eyeX, v - face.eyeY);
  const iris = smoothstep(
    face.irisRadius + edge,
    face.irisRadius - edge,
    irisDistance,
  ) * inside;
  blend(pixel, scaled(face.iris, shade), iris);
  const pupilRadius = face.irisRadius * 0.45;
  const pupil =
    smoothstep(pupilRadius + edge, pupilRadius - edge, irisDistance) *
    inside;
  blend(pixel, [0.04, 0.03, 0.03], pupil);
  // Lash line along the upper half of the outline.
  const outline = smoothstep(1.5 * edge / scale, 0, Math.abs(radius - 1)) *
    smoothstep(0.3, -0.2, dy);
  blend(pixel, scaled(face.hair, 0.6), 0.8 * outline);
}

function drawNose(
  face: FaceGeometry,
  u: number,
  v: number,
  edge: number,
  shade: number,
  pixel: Color,
): void {
  const dx = u - face.centerX;

  // Shadow along the side of the nose away from the light.
  const top = face.eyeY + 0.03;
  if (v > top && v < face.noseY + 0.01) {
    const progress = (v - top) / (face.noseY - top);
    const ridge = 0.018 + (face.noseHalfWidth - 0.018) * progress;
    const sideShadow = face.light[0] > 0 ? -1 : 1;
    const distance = dx - sideShadow * ridge;
    const strength = 0.1 * (0.5 + 0.5 * progress) *
      Math.exp(-(distance * distance) / (2 * 0.008 ** 2));
    pixel[0] *= 1 - strength;
    pixel[1] *= 1 - strength;
    pixel[2] *= 1 - strength;
  }

  // Highlight on the tip.
  const tipY = v - (face.noseY - 0.015);
  const highlight = 0.07 * shade *
    Math.exp(-(dx * dx + tipY * tipY) / (2 * 0.018 ** 2));
  pixel[0] += highlight;
  pixel[1] += highlight;
  pixel[2] += highlight;

  // Nostrils.
  for (const side of [-1, 1]) {
    const nostrilX = (u - (face.centerX + side * face.noseHalfWidth * 0.55)) /
      0.016;
    const nostrilY = (v - (face.noseY + 0.008)) / 0.008;
    const radius = Math.hypot(nostrilX, nostrilY);
    const coverage = smoothstep(1 + edge / 0.008, 1 - edge / 0.008, radius);
    blend(pixel, scaled(face.skin, 0.3 * shade), 0.8 * coverage);
  }

  // Folds from the nose wings towards the mouth corners.
  for (const side of [-1, 1]) {
    const startX = face.centerX + side * (face.noseHalfWidth + 0.01);
    const endX = face.centerX + side * (face.mouthHalfWidth + 0.015);
    const progress = (v - face.noseY) / (face.mouthY - face.noseY);
    if (progress < 0 || progress > 1.1) continue;
    const foldX = startX + (endX - startX) * progress;
    const distance = u - foldX;
    const strength = 0.04 * Math.exp(-(distance * distance) / (2 * 0.01 ** 2));
    pixel[0] *= 1 - strength;
    pixel[1] *= 1 - strength;
    pixel[2] *= 1 - strength;
  }
}

function drawMouth(
  face: FaceGeometry,
  u: number,
  v: number,
  edge: number,
  shade: number,
  pixel: Color,
): void {
  const t = (u - face.centerX) / face.mouthHalfWidth;
  if (Math.abs(t) > 1.2) return;
  // Lips: an ellipse whose thickness narrows towards the corners.
  const thickness = face.lipThickness * Math.sqrt(Math.max(0, 1 - t * t));
  const dy = v - face.mouthY;
  const lips = smoothstep(thickness + edge, thickness - edge, Math.abs(dy)) *
    smoothstep(1.02, 0.95, Math.abs(t));
  const upper = dy < 0 ? 0.88 : 1.0;
  blend(pixel, scaled(face.lips, shade * upper), lips);
  // The line between the lips, curving down slightly at the corners.
  const lineY = face.mouthY + 0.004 * t * t;
  const line = smoothstep(1.3 * edge, 0, Math.abs(v - lineY)) *
    smoothstep(1.05, 0.9, Math.abs(t));
  blend(pixel, scaled(face.lips, 0.35 * shade), 0.9 * line);
  // Chin shadow below the lower lip.
  const chinY = v - (face.mouthY + face.lipThickness + 0.02);
  const chin = 0.06 * Math.exp(-(chinY * chinY) / (2 * 0.01 ** 2)) *
    Math.exp(-(t * t) / 0.5);
  pixel[0] *= 1 - chin;
  pixel[1] *= 1 - chin;
  pixel[2] *= 1 - chin;
}
