/**
 * Seeded pseudo-random numbers for the synthetic datasets. Every stream is
 * derived from the user's seed and a name (dataset, subject, clip), so the
 * output does not depend on generation order.
 *
 * @module
 */

/** Hashes text and numbers to a 32-bit seed (FNV-1a, then a murmur3
 * finalizer so that nearby inputs give unrelated seeds). */
export function deriveSeed(...parts: (string | number)[]): number {
  let hash = 0x811c9dc5;
  const text = parts.join("\u0000");
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Mulberry32 generator: 32-bit state, period 2^32, fast and adequate
 * for rendering (not for cryptography). */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a uniform 32-bit unsigned integer. */
  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Returns a uniform number in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Returns a uniform number in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Returns a uniform integer in [low, high], both included. */
  integer(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** Returns a normal sample (Box-Muller). */
  normal(mean = 0, deviation = 1): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean +
      deviation * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Shuffles in place (Fisher-Yates) and returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/** Size of the table of standard normal samples used for sensor noise. */
export const gaussianTableSize = 1 << 16;

let gaussianTable: Float32Array | null = null;

/** Returns a fixed table of standard normal samples; indexing it with
 * random 16-bit numbers is much faster than Box-Muller per pixel. */
export function standardNormalTable(): Float32Array {
  if (gaussianTable === null) {
    const random = new Random(0x9e3779b9);
    gaussianTable = new Float32Array(gaussianTableSize);
    for (let i = 0; i < gaussianTableSize; i++) {
      gaussianTable[i] = random.normal();
    }
  }
  return gaussianTable;
}
