/**
 * Contents of each synthetic dataset (subjects, clips per emotion, frame
 * rate, clip lengths) and the plan of its clips over the subjects.
 *
 * @module
 */

import { deriveSeed, Random } from "./random.ts";

export const synthDatasets = ["smic", "casme2", "samm"] as const;
export type SynthDataset = typeof synthDatasets[number];

export interface SynthSpec {
  dataset: SynthDataset;
  fps: number;
  subjects: readonly string[];
  /** Clips per emotion, as the dataset's sheet or folders spell it. */
  emotionCounts: Readonly<Record<string, number>>;
  /** Frames from onset to offset, both included: [min, max]. */
  clipFrames: readonly [number, number];
  /** Extra frames in the folder before the onset and after the offset. */
  paddingFrames: readonly [number, number];
  grayscale: boolean;
}

function numbered(prefix: string, from: number, to: number, width: number) {
  const ids: string[] = [];
  for (let k = from; k <= to; k++) {
    ids.push(`${prefix}${String(k).padStart(width, "0")}`);
  }
  return ids;
}

/**
 * Class and subject counts of the real datasets: SMIC-HS 16 subjects and
 * 164 clips at 100 fps; CASME II 26 subjects and 255 clips at 200 fps;
 * SAMM 32 subjects (006 to 037) and 159 clips at 200 fps, grayscale.
 * Clips are kept short (at most 30 SMIC frames, 40 at 200 fps, that is
 * 0.2-0.3 s from onset to offset) so that generation is fast.
 */
export const synthSpecs: Readonly<Record<SynthDataset, SynthSpec>> = {
  smic: {
    dataset: "smic",
    fps: 100,
    // SMIC-HS numbers its 16 subject folders with gaps up to s20.
    subjects: [
      "s1",
      "s2",
      "s3",
      "s4",
      "s5",
      "s6",
      "s8",
      "s9",
      "s11",
      "s12",
      "s13",
      "s14",
      "s15",
      "s18",
      "s19",
      "s20",
    ],
    emotionCounts: { negative: 70, positive: 51, surprise: 43 },
    clipFrames: [11, 30],
    paddingFrames: [0, 0],
    grayscale: false,
  },
  casme2: {
    dataset: "casme2",
    fps: 200,
    subjects: numbered("sub", 1, 26, 2),
    emotionCounts: {
      others: 99,
      disgust: 63,
      happiness: 32,
      repression: 27,
      surprise: 25,
      sadness: 7,
      fear: 2,
    },
    clipFrames: [16, 40],
    paddingFrames: [0, 3],
    grayscale: false,
  },
  samm: {
    dataset: "samm",
    fps: 200,
    subjects: numbered("", 6, 37, 3),
    emotionCounts: {
      Anger: 57,
      Other: 26,
      Happiness: 26,
      Surprise: 15,
      Contempt: 12,
      Disgust: 9,
      Fear: 8,
      Sadness: 6,
    },
    clipFrames: [16, 40],
    paddingFrames: [0, 3],
    grayscale: true,
  },
};

/** One clip to generate. Frame numbers are absolute, as in the datasets. */
export interface ClipPlan {
  subject: string;
  clip: string;
  emotion: string;
  /** Number of the first frame in the folder. */
  firstFrame: number;
  onset: number;
  apex: number;
  offset: number;
  /** Number of the last frame in the folder. */
  lastFrame: number;
  /** Seed of everything random in this clip. */
  seed: number;
}

/**
 * Plans every clip of a dataset. Each subject gets at least one clip and
 * the rest fall on subjects with log-normal weights, so a few subjects
 * have many clips and many have few, as in the real datasets.
 */
export function planClips(spec: SynthSpec, seed: number): ClipPlan[] {
  const random = new Random(deriveSeed(seed, spec.dataset, "plan"));
  const emotions = random.shuffle(
    Object.entries(spec.emotionCounts).flatMap(([emotion, count]) =>
      Array.from({ length: count }, () => emotion)
    ),
  );
  const weights = spec.subjects.map(() => Math.exp(0.9 * random.normal()));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const firstRound = random.shuffle([...spec.subjects]);

  const assigned: { subject: string; emotion: string }[] = [];
  emotions.forEach((emotion, index) => {
    let subject: string;
    if (index < firstRound.length) {
      subject = firstRound[index];
    } else {
      let target = random.next() * total;
      let k = 0;
      while (k < weights.length - 1 && target >= weights[k]) {
        target -= weights[k];
        k++;
      }
      subject = spec.subjects[k];
    }
    assigned.push({ subject, emotion });
  });

  const names = new ClipNamer(spec.dataset, random);
  const plans = assigned.map(({ subject, emotion }) => {
    const clip = names.next(subject, emotion);
    return planFrames(spec, subject, clip, emotion, seed, random);
  });
  return plans.sort((a, b) =>
    a.subject.localeCompare(b.subject, "en", { numeric: true }) ||
    a.clip.localeCompare(b.clip, "en", { numeric: true })
  );
}

function planFrames(
  spec: SynthSpec,
  subject: string,
  clip: string,
  emotion: string,
  seed: number,
  random: Random,
): ClipPlan {
  const length = random.integer(spec.clipFrames[0], spec.clipFrames[1]);
  const before = random.integer(spec.paddingFrames[0], spec.paddingFrames[1]);
  const after = random.integer(spec.paddingFrames[0], spec.paddingFrames[1]);
  // Absolute frame numbers as the datasets write them: SMIC six digits,
  // CASME II small unpadded numbers, SAMM five digits.
  const firstFrame = spec.dataset === "smic"
    ? random.integer(1000, 98000)
    : spec.dataset === "casme2"
    ? random.integer(1, 300)
    : random.integer(1000, 9000);
  const onset = firstFrame + before;
  const offset = onset + length - 1;
  // The apex falls between 30 % and 60 % of the way from onset to offset.
  const apex = onset +
    Math.round((length - 1) * random.uniform(0.3, 0.6));
  return {
    subject,
    clip,
    emotion,
    firstFrame,
    onset,
    apex,
    offset,
    lastFrame: offset + after,
    seed: deriveSeed(seed, spec.dataset, subject, clip),
  };
}

const smicAbbreviations: Record<string, string> = {
  negative: "ne",
  positive: "po",
  surprise: "sur",
};

/** Gives clip folder names in each dataset's style, unique per subject:
 * s1_ne_01 (SMIC), EP02_01f (CASME II), 006_1_2 (SAMM). */
class ClipNamer {
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();

  constructor(
    private readonly dataset: SynthDataset,
    private readonly random: Random,
  ) {}

  next(subject: string, emotion: string): string {
    for (;;) {
      const name = this.candidate(subject, emotion);
      const key = `${subject}/${name}`;
      if (!this.used.has(key)) {
        this.used.add(key);
        return name;
      }
    }
  }

  private count(key: string): number {
    const value = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, value);
    return value;
  }

  private candidate(subject: string, emotion: string): string {
    const two = (value: number) => String(value).padStart(2, "0");
    if (this.dataset === "smic") {
      const abbreviation = smicAbbreviations[emotion];
      return `${subject}_${abbreviation}_${
        two(this.count(`${subject}/${abbreviation}`))
      }`;
    }
    if (this.dataset === "casme2") {
      const episode = this.random.integer(1, 19);
      const take = this.count(`${subject}/${episode}`);
      const suffix = this.random.chance(0.3) ? "f" : "";
      return `EP${two(episode)}_${two(take)}${suffix}`;
    }
    const inducement = this.random.integer(1, 7);
    return `${subject}_${inducement}_${this.count(`${subject}/${inducement}`)}`;
  }
}
