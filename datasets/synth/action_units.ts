/**
 * Facial action units (FACS) as smooth local displacement fields, and the
 * action units each emotion of the datasets shows.
 *
 * Each action unit moves skin near a few facial points (brows, lids,
 * cheeks, nose, mouth corners, chin) with a Gaussian falloff. Directions
 * follow the FACS descriptions, in image coordinates (y down):
 *
 * - AU1 raises the inner brows and AU2 the outer brows.
 * - AU4 lowers the brows and draws them together.
 * - AU5 raises the upper lids, AU7 tightens the lower lids.
 * - AU6 raises the cheeks, AU9 wrinkles the nose.
 * - AU10 raises the upper lip, AU17 raises the chin, AU26 drops the jaw.
 * - AU12 pulls the lip corners up and out, AU15 pulls them down.
 * - AU14 presses the corners in (a dimple, mostly sideways in the image).
 * - AU20 stretches the lips sideways.
 *
 * @module
 */

import type { FaceGeometry } from "./face.ts";
import type { Random } from "./random.ts";

/** An action unit, optionally on one side ("R14": the subject's right,
 * which is the left half of the image). */
export interface ActionUnit {
  unit: number;
  side?: "L" | "R";
}

/** One Gaussian blob of motion, in normalized coordinates. */
interface MotionBlob {
  x: number;
  y: number;
  /** Direction; the longest blob of a unit has length 1. */
  dx: number;
  dy: number;
  sigma: number;
}

/** Returns the motion blobs of an action unit on a face. */
export function actionUnitBlobs(
  face: FaceGeometry,
  actionUnit: ActionUnit,
): MotionBlob[] {
  // Image side of each face half: the subject's right is image left.
  const sides = actionUnit.side === "R"
    ? [-1]
    : actionUnit.side === "L"
    ? [1]
    : [-1, 1];
  const blobs: MotionBlob[] = [];
  const { centerX } = face;
  for (const side of sides) {
    const eyeX = centerX + side * face.eyeOffsetX;
    const inner = eyeX - side * face.browHalfLength * 0.7;
    const outer = eyeX + side * face.browHalfLength * 0.7;
    const cornerX = centerX + side * face.mouthHalfWidth;
    switch (actionUnit.unit) {
      case 1:
        blobs.push({ x: inner, y: face.browY, dx: 0, dy: -1, sigma: 0.045 });
        break;
      case 2:
        blobs.push({ x: outer, y: face.browY, dx: 0, dy: -1, sigma: 0.045 });
        break;
      case 4:
        blobs.push({
          x: inner,
          y: face.browY,
          dx: -side * 0.55,
          dy: 0.83,
          sigma: 0.045,
        });
        break;
      case 5:
        blobs.push({
          x: eyeX,
          y: face.eyeY - face.eyeRadiusY,
          dx: 0,
          dy: -1,
          sigma: 0.025,
        });
        break;
      case 6:
        blobs.push({
          x: eyeX,
          y: face.eyeY + 0.085,
          dx: side * 0.25,
          dy: -0.97,
          sigma: 0.055,
        });
        blobs.push({
          x: eyeX,
          y: face.eyeY + face.eyeRadiusY,
          dx: 0,
          dy: -0.5,
          sigma: 0.022,
        });
        break;
      case 7:
        blobs.push({
          x: eyeX,
          y: face.eyeY + face.eyeRadiusY,
          dx: 0,
          dy: -1,
          sigma: 0.025,
        });
        break;
      case 9:
        blobs.push({
          x: centerX + side * face.noseHalfWidth * 0.8,
          y: face.noseY - 0.05,
          dx: -side * 0.3,
          dy: -0.95,
          sigma: 0.035,
        });
        break;
      case 10:
        blobs.push({
          x: centerX + side * face.mouthHalfWidth * 0.4,
          y: face.mouthY - face.lipThickness,
          dx: 0,
          dy: -1,
          sigma: 0.035,
        });
        break;
      case 12:
        blobs.push({
          x: cornerX,
          y: face.mouthY,
          dx: side * 0.6,
          dy: -0.8,
          sigma: 0.04,
        });
        break;
      case 14:
        blobs.push({
          x: cornerX,
          y: face.mouthY,
          dx: side * 0.95,
          dy: 0.1,
          sigma: 0.03,
        });
        break;
      case 15:
        blobs.push({ x: cornerX, y: face.mouthY, dx: 0, dy: 1, sigma: 0.04 });
        break;
      case 17:
        blobs.push({
          x: centerX + side * 0.03,
          y: face.mouthY + 0.085,
          dx: 0,
          dy: -1,
          sigma: 0.045,
        });
        break;
      case 20:
        blobs.push({
          x: cornerX,
          y: face.mouthY,
          dx: side * 0.99,
          dy: 0.12,
          sigma: 0.04,
        });
        break;
      case 26:
        blobs.push({
          x: centerX + side * 0.04,
          y: face.mouthY + 0.06,
          dx: 0,
          dy: 1,
          sigma: 0.07,
        });
        break;
      default:
        throw new RangeError(`Action unit ${actionUnit.unit} is not modeled`);
    }
  }
  return blobs;
}

/**
 * Adds the displacement field of `units` to `field` (interleaved dx, dy in
 * pixels, `size` x `size`), scaled so that a blob of direction length 1
 * peaks at `peakPixels`. Coordinates are those of the base face image.
 */
export function addDisplacementField(
  field: Float32Array,
  face: FaceGeometry,
  units: readonly ActionUnit[],
  peakPixels: number,
  size: number,
): void {
  for (const unit of units) {
    for (const blob of actionUnitBlobs(face, unit)) {
      const centerX = blob.x * size - 0.5;
      const centerY = blob.y * size - 0.5;
      const sigma = blob.sigma * size;
      const reach = Math.ceil(3 * sigma);
      const x0 = Math.max(0, Math.floor(centerX) - reach);
      const x1 = Math.min(size - 1, Math.ceil(centerX) + reach);
      const y0 = Math.max(0, Math.floor(centerY) - reach);
      const y1 = Math.min(size - 1, Math.ceil(centerY) + reach);
      const inverse = 1 / (2 * sigma * sigma);
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const distance = (x - centerX) ** 2 + (y - centerY) ** 2;
          const weight = peakPixels * Math.exp(-distance * inverse);
          const index = 2 * (y * size + x);
          field[index] += weight * blob.dx;
          field[index + 1] += weight * blob.dy;
        }
      }
    }
  }
}

/** Action unit combinations per emotion (lower-case emotion names). */
const emotionUnits: Readonly<Record<string, readonly ActionUnit[][]>> = {
  happiness: [
    [{ unit: 6 }, { unit: 12 }],
    [{ unit: 12 }],
    [{ unit: 6 }, { unit: 12 }],
  ],
  positive: [[{ unit: 6 }, { unit: 12 }], [{ unit: 12 }]],
  surprise: [
    [{ unit: 1 }, { unit: 2 }],
    [{ unit: 1 }, { unit: 2 }, { unit: 5 }],
    [{ unit: 1 }, { unit: 2 }, { unit: 26 }],
    [{ unit: 1 }, { unit: 2 }, { unit: 5 }, { unit: 26 }],
  ],
  negative: [
    [{ unit: 4 }],
    [{ unit: 9 }],
    [{ unit: 15 }],
    [{ unit: 14 }],
    [{ unit: 4 }, { unit: 7 }],
  ],
  disgust: [[{ unit: 9 }], [{ unit: 4 }, { unit: 9 }], [{ unit: 10 }]],
  repression: [[{ unit: 14 }], [{ unit: 15 }], [{ unit: 17 }], [
    { unit: 15 },
    { unit: 17 },
  ]],
  sadness: [[{ unit: 15 }], [{ unit: 1 }, { unit: 4 }, { unit: 15 }]],
  fear: [[{ unit: 4 }, { unit: 20 }], [{ unit: 1 }, { unit: 4 }]],
  anger: [[{ unit: 4 }], [{ unit: 4 }, { unit: 7 }], [{ unit: 4 }, {
    unit: 17,
  }]],
  contempt: [[{ unit: 14, side: "R" }], [{ unit: 14, side: "L" }], [{
    unit: 12,
    side: "R",
  }]],
  other: [[{ unit: 4 }], [{ unit: 7 }], [{ unit: 10 }], [{ unit: 14 }], [
    { unit: 17 },
  ], [{ unit: 1 }]],
  others: [[{ unit: 4 }], [{ unit: 7 }], [{ unit: 10 }], [{ unit: 14 }], [
    { unit: 17 },
  ], [{ unit: 1 }]],
};

/** Units that appear as weak, unrelated twitches in any clip. */
const twitchUnits: readonly ActionUnit[] = [
  { unit: 4 },
  { unit: 7 },
  { unit: 10 },
  { unit: 14 },
  { unit: 17 },
  { unit: 12, side: "L" },
];

/** Picks the action units of one clip of `emotion`. */
export function emotionActionUnits(
  emotion: string,
  random: Random,
): ActionUnit[] {
  const options = emotionUnits[emotion.toLowerCase()];
  if (options === undefined) {
    throw new RangeError(`No action units defined for emotion '${emotion}'`);
  }
  return [...random.pick(options)];
}

/** Picks a weak action unit unrelated to the clip's emotion. */
export function twitchActionUnit(random: Random): ActionUnit {
  return random.pick(twitchUnits);
}

/** Writes action units as the coding sheets do: "6+12", "R14", "1+2+5". */
export function formatActionUnits(units: readonly ActionUnit[]): string {
  return units.map((unit) => `${unit.side ?? ""}${unit.unit}`).join("+");
}
