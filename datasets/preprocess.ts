/**
 * MPFNet's per-clip preprocessing on the GPU, with an on-disk cache:
 *
 * 1. decode the onset and apex frames. SMIC codes no apex, so with
 *    `apexCandidates` 0 the middle frame between onset and offset is the
 *    apex, as public loaders do. Otherwise the apex is the frame with the
 *    largest mean TV-L1 magnitude against the onset (brightness matched,
 *    mean flow removed) among that many frames of the clip's central half,
 *    or the middle frame when the flow finds no motion;
 * 2. resize to the working size (area), scale the apex's brightness to the
 *    onset's mean (lighting flicker between the two frames otherwise shows
 *    up as flow, which magnification multiplies), and align the onset to
 *    the apex by an estimated translation;
 * 3. magnify the onset-to-apex motion by alpha and interpolate L frames from
 *    the onset to the magnified apex along the flow (the classical
 *    counterparts of the learned models the authors used);
 * 4. TV-L1 flow (u, v) and absolute frame difference per consecutive pair:
 *    a [5, L - 1, S, S] tensor, area-resized to the model's input size.
 *
 * Features are cached per (clip, alpha) in files keyed by the frame files'
 * paths, sizes and modification times and by every setting, written under a
 * temporary name and renamed. A changed setting or file recomputes only the
 * entries it affects.
 */
import { join } from "node:path";
import { writeAtomically } from "../src/io/safetensors.ts";
import { noGrad } from "../src/autograd.ts";
import { runtime } from "../src/gpu/runtime.ts";
import { permute, reshape } from "../src/ops/mod.ts";
import { readAll, scope, type Tensor, tensor } from "../src/tensor.ts";
import {
  estimateApexIndex,
  estimateTranslation,
  flowToRgb,
  interpolateFrames,
  magnify,
  matchBrightness,
  MOTION_TVL1,
  motionFeatures,
  resize,
  toGray,
  translateBy,
  tvl1Flow,
  type Tvl1Options,
} from "../src/vision/mod.ts";
import { type DecodedImage, decodeImage } from "./images.ts";
import { type ClipRecord, middleFrame } from "./types.ts";

/** Bump when the pipeline's output changes for the same settings. */
const PIPELINE_VERSION = 4;

export interface PreprocessSettings {
  /** Side of the square frames the flow runs on, in pixels. */
  workSize: number;
  /** Side of the model's input, in pixels (features are area-resized). */
  inputSize: number;
  /** Frames from onset to magnified apex (L). */
  frames: number;
  /** Round the quantised flow to 8-bit levels as the authors' code. */
  roundFlow: boolean;
  tvl1: Tvl1Options;
  /**
   * Frames tried as the apex of clips without an annotated apex; 0 takes
   * the middle frame.
   */
  apexCandidates: number;
}

export interface ClipFeatures {
  /** [5, L - 1, S, S] per alpha. */
  byAlpha: Map<number, Float32Array>;
  apex: number;
  apexSource: "annotated" | "repaired" | "estimated" | "middle";
  fromCache: number;
}

async function fileStamp(path: string): Promise<string> {
  const info = await Deno.stat(path);
  return `${path}:${info.size}:${info.mtime?.getTime() ?? 0}`;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("").slice(0, 32);
}

/** Uploads a decoded frame as [C, H, W] in 0..255 (planar, via a GPU permute). */
async function loadFrame(path: string): Promise<Tensor> {
  const image = await decodeImage(path);
  return noGrad(() => {
    const interleaved = tensor(image.data, [
      image.height,
      image.width,
      image.channels,
    ]);
    return permute(interleaved, [2, 0, 1]);
  });
}

function frameIndex(record: ClipRecord, frameNumber: number): number {
  const index = record.frameNumbers.indexOf(frameNumber);
  if (index < 0) {
    throw new Error(
      `Frame ${frameNumber} of ${record.subject}/${record.clip} is not among its files ` +
        `(${record.source.folder}); check the sheet's onset and apex`,
    );
  }
  return index;
}

/**
 * Returns the frame indices among which the apex of a clip without one is
 * estimated: up to `count`, spread evenly over the central half of the span
 * from onset to offset (the onset alone when the span is empty).
 */
export function apexCandidateFrames(
  record: ClipRecord,
  onsetIndex: number,
  count: number,
): number[] {
  const offsetIndex = frameIndex(record, record.offset);
  const span = offsetIndex - onsetIndex;
  if (span < 1) return [onsetIndex];
  const first = onsetIndex + Math.max(1, Math.round(0.25 * span));
  const last = onsetIndex + Math.max(1, Math.round(0.75 * span));
  const n = Math.min(count, last - first + 1);
  const step = (last - first) / Math.max(n - 1, 1);
  return [
    ...new Set(
      Array.from({ length: n }, (_, k) => first + Math.round(k * step)),
    ),
  ];
}

/** Returns the clip's frame number closest to `frame` (the earlier on a tie). */
function nearestFrame(record: ClipRecord, frame: number): number {
  return record.frameNumbers.reduce((best, f) =>
    Math.abs(f - frame) < Math.abs(best - frame) ? f : best
  );
}

export class Preprocessor {
  constructor(
    readonly settings: PreprocessSettings,
    readonly cacheDir: string,
  ) {}

  #settingsKey(): string {
    return JSON.stringify({ version: PIPELINE_VERSION, ...this.settings });
  }

  async #cachePath(
    record: ClipRecord,
    alpha: number,
    stamps: string[],
  ): Promise<string> {
    const key = await sha256(
      [this.#settingsKey(), `alpha=${alpha}`, ...stamps].join("\n"),
    );
    return join(
      this.cacheDir,
      `${record.subject}_${record.clip}_a${alpha}_${key}.f32`.replace(
        /[\/\\]/g,
        "-",
      ),
    );
  }

  /** Features of a clip for each alpha, from the cache or computed. */
  async clip(
    record: ClipRecord,
    alphas: readonly number[],
  ): Promise<ClipFeatures> {
    await Deno.mkdir(this.cacheDir, { recursive: true });
    const onsetIndex = frameIndex(record, record.onset);
    let apexSource: ClipFeatures["apexSource"] =
      record.apexSource === "repaired" ? "repaired" : "annotated";
    const candidates = this.#apexCandidates(record, onsetIndex);
    let apex = record.apex ?? middleFrame(record);
    if (record.apex === null && candidates.length === 0) {
      apex = nearestFrame(record, apex);
      apexSource = "middle";
    }
    const fixedApex = record.apex !== null || candidates.length === 0;
    // The cache key covers every file the result depends on.
    const stamps = await Promise.all(
      [
        ...new Set([
          onsetIndex,
          ...candidates,
          ...(fixedApex ? [frameIndex(record, apex)] : []),
        ]),
      ]
        .map((i) => fileStamp(record.framePaths[i])),
    );
    const byAlpha = new Map<number, Float32Array>();
    const missing: { alpha: number; path: string }[] = [];
    for (const alpha of alphas) {
      const path = await this.#cachePath(record, alpha, stamps);
      try {
        const bytes = await Deno.readFile(path);
        byAlpha.set(
          alpha,
          new Float32Array(
            bytes.buffer,
            bytes.byteOffset,
            bytes.byteLength / 4,
          ),
        );
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        missing.push({ alpha, path });
      }
    }
    const meta = join(
      this.cacheDir,
      `${record.subject}_${record.clip}_apex_${await sha256(
        [this.#settingsKey(), ...stamps].join("\n"),
      )}.json`.replace(/[\/\\]/g, "-"),
    );
    if (!fixedApex) {
      try {
        const saved = JSON.parse(await Deno.readTextFile(meta));
        apex = saved.apex;
        apexSource = saved.apexSource;
      } catch {
        apexSource = "middle";
      }
    }
    if (missing.length === 0) {
      return { byAlpha, apex, apexSource, fromCache: alphas.length };
    }
    const onset = await this.workFrame(record.framePaths[onsetIndex]);
    if (!fixedApex) {
      const frames = await Promise.all(
        candidates.map((i) => this.workFrame(record.framePaths[i])),
      );
      const { index, meanMagnitudes } = await estimateApexIndex(
        onset,
        frames,
        { ...this.settings.tvl1, ...MOTION_TVL1 },
      );
      frames.forEach((f) => f.dispose());
      if (meanMagnitudes[index] > 0) {
        apex = record.frameNumbers[candidates[index]];
        apexSource = "estimated";
      } else {
        apexSource = "middle";
      }
      await writeAtomically(
        meta,
        new TextEncoder().encode(JSON.stringify({ apex, apexSource })),
      );
    }
    const apexFrame = await this.workFrame(
      record.framePaths[frameIndex(record, apex)],
    );
    const outputs = noGrad(() =>
      scope(() => {
        const gray = (t: Tensor) => (t.shape[0] === 3
          ? toGray(t)
          : reshape(t, [t.shape[1], t.shape[2]]));
        const apexMatched = matchBrightness(apexFrame, onset);
        const apexGray = gray(apexMatched);
        const shift = estimateTranslation(apexGray, gray(onset));
        const aligned = translateBy(onset, shift, -1);
        const alignedGray = gray(aligned);
        // Keys warping: OpenCV's bicubic warp biases sub-pixel motion
        // towards zero, which magnification would multiply.
        const flow = tvl1Flow(alignedGray, apexGray, {
          ...this.settings.tvl1,
          ...MOTION_TVL1,
        });
        return missing.map(({ alpha }) => {
          const magnified = magnify(aligned, apexMatched, alpha, flow);
          const frames = interpolateFrames(
            aligned,
            magnified,
            this.settings.frames,
            flow,
            { flowScale: alpha },
          );
          const channels = aligned.shape[0] === 3 ? "rgb" : "gray";
          const features = motionFeatures(frames, {
            channels,
            roundFlow: this.settings.roundFlow,
            tvl1: this.settings.tvl1,
          });
          const { workSize, inputSize } = this.settings;
          if (inputSize === workSize) {
            return features;
          }
          const [c, t] = features.shape;
          const planes = reshape(features, [c * t, workSize, workSize]);
          const small = resize(planes, {
            height: inputSize,
            width: inputSize,
            mode: "area",
          });
          return reshape(small, [c, t, inputSize, inputSize]);
        });
      })
    );
    onset.dispose();
    apexFrame.dispose();
    const values = await readAll(outputs);
    outputs.forEach((t) => t.dispose());
    for (const [k, { alpha, path }] of missing.entries()) {
      const data = values[k] as Float32Array;
      byAlpha.set(alpha, data);
      await writeAtomically(
        path,
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    }
    runtime().flush();
    return {
      byAlpha,
      apex,
      apexSource,
      fromCache: alphas.length - missing.length,
    };
  }

  /**
   * Renders the onset-to-apex flow of a clip (after alignment) as an RGB
   * picture, with the direction as hue and the normalised magnitude as value.
   */
  async flowPicture(record: ClipRecord, apex: number): Promise<DecodedImage> {
    const onset = await this.workFrame(
      record.framePaths[frameIndex(record, record.onset)],
    );
    const apexFrame = await this.workFrame(
      record.framePaths[frameIndex(record, apex)],
    );
    const picture = noGrad(() =>
      scope(() => {
        const gray = (t: Tensor) => (t.shape[0] === 3
          ? toGray(t)
          : reshape(t, [t.shape[1], t.shape[2]]));
        const apexMatched = matchBrightness(apexFrame, onset);
        const apexGray = gray(apexMatched);
        const shift = estimateTranslation(apexGray, gray(onset));
        const aligned = gray(translateBy(onset, shift, -1));
        const flow = tvl1Flow(aligned, apexGray, {
          ...this.settings.tvl1,
          ...MOTION_TVL1,
        });
        return permute(flowToRgb(flow), [1, 2, 0]);
      })
    );
    onset.dispose();
    apexFrame.dispose();
    const [values] = await readAll([picture]);
    picture.dispose();
    const size = this.settings.workSize;
    return {
      width: size,
      height: size,
      channels: 3,
      data: Uint8Array.from(
        values,
        (v) => Math.max(0, Math.min(255, Math.round(v))),
      ),
    };
  }

  /**
   * Lists candidate apex frames, spread over the central half of the clip.
   * SMIC clips run from onset to offset, so the apex lies inside. Leaving out
   * the ends keeps slow head drift, which is largest at the offset, from
   * winning.
   * NOTE: a clip whose apex lies in its first or last quarter gets a frame
   * near that quarter's edge.
   */
  #apexCandidates(record: ClipRecord, onsetIndex: number): number[] {
    if (record.apex !== null || this.settings.apexCandidates === 0) return [];
    return apexCandidateFrames(
      record,
      onsetIndex,
      this.settings.apexCandidates,
    );
  }

  /** A frame resized (area) to the working size. */
  async workFrame(path: string): Promise<Tensor> {
    const frame = await loadFrame(path);
    const size = this.settings.workSize;
    if (frame.shape[1] === size && frame.shape[2] === size) return frame;
    const resized = noGrad(() =>
      resize(frame, { height: size, width: size, mode: "area" })
    );
    frame.dispose();
    return resized;
  }
}
