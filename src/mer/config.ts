/**
 * Model and training presets, validated with zod. `paper` is the full
 * Inception-v1 I3D trunk with Coordinate Attention after every Mixed block
 * and the optimisers and epochs of the MPFNet code; `compact` is the same
 * graph with fewer channels and a smaller input, sized for a 2-core CPU
 * rasterizer.
 */
import { z } from "zod";

const triple = z.tuple([
  z.number().int().positive(),
  z.number().int().positive(),
  z.number().int().positive(),
]);

const unitLayer = z.object({
  type: z.literal("unit"),
  name: z.string().min(1),
  out: z.number().int().positive(),
  kernel: triple,
  stride: triple.default([1, 1, 1]),
});

const poolLayer = z.object({
  type: z.literal("maxpool"),
  name: z.string().min(1),
  kernel: triple,
  stride: triple,
});

/** Inception branches: [b0, b1 reduce, b1, b2 reduce, b2, b3 pool projection]. */
const mixedLayer = z.object({
  type: z.literal("mixed"),
  name: z.string().min(1),
  branches: z.tuple([
    z.number().int().positive(),
    z.number().int().positive(),
    z.number().int().positive(),
    z.number().int().positive(),
    z.number().int().positive(),
    z.number().int().positive(),
  ]),
});

export const layerSchema = z.discriminatedUnion("type", [
  unitLayer,
  poolLayer,
  mixedLayer,
]);
export type LayerConfig = z.infer<typeof layerSchema>;

export const modelSchema = z.object({
  inputChannels: z.number().int().positive(),
  frames: z.number().int().positive(),
  size: z.number().int().positive(),
  layers: z.array(layerSchema).min(1),
  embedding: z.number().int().positive(),
  dropout: z.number().min(0).max(0.95),
  caReduction: z.number().int().positive(),
  caMinChannels: z.number().int().positive(),
  bnEps: z.number().positive(),
  bnMomentum: z.number().positive().max(1),
});
export type ModelConfig = z.infer<typeof modelSchema>;

/**
 * A stage's optimiser: SGD with momentum as the MPFNet code, or Adam with
 * decoupled weight decay (AdamW), which the compact preset uses to converge
 * within its few epochs.
 */
const sgd = z.object({
  optimizer: z.enum(["sgd", "adamw"]).default("sgd"),
  lr: z.number().positive(),
  momentum: z.number().min(0).max(1),
  weightDecay: z.number().min(0),
});

export const presetSchema = z.object({
  name: z.string().min(1),
  description: z.string(),
  model: modelSchema,
  preprocess: z.object({
    /** Side of the square frames fed to the flow, in pixels. */
    size: z.number().int().positive(),
    /** Magnification factor of the main input's apex. */
    alpha: z.number().positive(),
    /** Frames from onset to magnified apex (L). */
    frames: z.number().int().min(3),
    /** Round the quantised flow to 8-bit levels as the authors' code did. */
    roundFlow: z.boolean(),
    /**
     * Frames tried as the apex of clips without an annotated apex (SMIC);
     * 0 takes the middle frame between onset and offset.
     */
    apexCandidates: z.number().int().nonnegative(),
    /** TV-L1 pyramid scales, warps and inner iterations. */
    tvl1: z.object({
      scales: z.number().int().positive(),
      warps: z.number().int().positive(),
      innerIterations: z.number().int().positive(),
    }),
  }),
  /** Training-time augmentation of every stage's batches. */
  augment: z.object({
    /** Whether each training input is mirrored left to right with probability 1/2. */
    horizontalFlip: z.boolean(),
  }).default({ horizontalFlip: false }),
  pltn: sgd.extend({
    epochs: z.number().int().positive(),
    classesPerBatch: z.number().int().positive(),
    samplesPerClass: z.number().int().positive(),
    margin: z.number().positive(),
    /**
     * Whether the triplet loss uses squared Euclidean distances (the
     * method's formula) or plain ones (the authors' code).
     */
    squaredDistance: z.boolean().default(true),
  }),
  plsm: sgd.extend({
    epochs: z.number().int().positive(),
    batch: z.number().int().positive(),
    stepSize: z.number().int().positive(),
    gamma: z.number().positive(),
    /** m0 of the balancing rule m_c = min(10, ceil(m0 * n_max / n_c)). */
    factorsBase: z.number().int().positive(),
  }),
  fusion: sgd.extend({
    epochs: z.number().int().positive(),
    episodesPerEpoch: z.number().int().positive(),
    shots: z.number().int().positive(),
    queriesPerClass: z.number().int().positive(),
    temperature: z.number().positive(),
  }),
});
export type Preset = z.infer<typeof presetSchema>;

/** Reads and validates a preset file; errors name the file, the field and the value. */
export function parsePreset(text: string, file: string): Preset {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `Preset ${file} is not valid JSON: ${(error as Error).message}`,
    );
  }
  const parsed = presetSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) =>
      `${i.path.join(".")}: ${i.message}`
    );
    throw new Error(`Preset ${file} is invalid:\n  ${lines.join("\n  ")}`);
  }
  return parsed.data;
}
