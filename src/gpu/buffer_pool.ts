/**
 * Pool of GPU buffers keyed by size class and usage. Buffers are handed out
 * and returned explicitly; nothing relies on the garbage collector. Pooled
 * bytes above the cap are destroyed.
 */

export interface PoolStats {
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
  created: number;
  reused: number;
  destroyed: number;
  peakLiveBytes: number;
}

/**
 * Rounds a byte count up to its size class: multiples of 256 bytes up to
 * 4 KiB, then four classes per power of two (at most 25% slack).
 */
export function sizeClass(bytes: number): number {
  const min = Math.max(bytes, 4);
  if (min <= 4096) return Math.ceil(min / 256) * 256;
  const power = 2 ** Math.floor(Math.log2(min));
  const step = power / 4;
  return Math.ceil(min / step) * step;
}

export class BufferPool {
  #free = new Map<string, GPUBuffer[]>();
  #overCap: GPUBuffer[] = [];
  #sizes = new WeakMap<GPUBuffer, number>();
  #stats: PoolStats = {
    liveBuffers: 0,
    liveBytes: 0,
    pooledBuffers: 0,
    pooledBytes: 0,
    created: 0,
    reused: 0,
    destroyed: 0,
    peakLiveBytes: 0,
  };

  constructor(
    private readonly device: GPUDevice,
    /** Bytes kept in the free lists before returned buffers are destroyed. */
    public capBytes = 1 << 30,
  ) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${size}:${usage}`;
    const list = this.#free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      this.#stats.reused++;
      this.#stats.pooledBuffers--;
      this.#stats.pooledBytes -= size;
      buffer.label = label;
    } else {
      buffer = this.device.createBuffer({ size, usage, label });
      this.#sizes.set(buffer, size);
      this.#stats.created++;
    }
    this.#stats.liveBuffers++;
    this.#stats.liveBytes += size;
    this.#stats.peakLiveBytes = Math.max(
      this.#stats.peakLiveBytes,
      this.#stats.liveBytes,
    );
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.#sizes.get(buffer);
    if (size === undefined) {
      throw new Error(`Buffer '${buffer.label}' was not created by this pool`);
    }
    this.#stats.liveBuffers--;
    this.#stats.liveBytes -= size;
    if (this.#stats.pooledBytes + size > this.capBytes) {
      // Recorded but unsubmitted commands may still use the buffer, so it
      // is destroyed after the next submit (see destroyReleased).
      this.#overCap.push(buffer);
      return;
    }
    const key = `${size}:${buffer.usage}`;
    let list = this.#free.get(key);
    if (!list) {
      list = [];
      this.#free.set(key, list);
    }
    list.push(buffer);
    this.#stats.pooledBuffers++;
    this.#stats.pooledBytes += size;
  }

  /**
   * Destroys the buffers released above the cap. Called after a submit:
   * WebGPU keeps a destroyed buffer alive for work already submitted.
   */
  destroyReleased(): void {
    for (const buffer of this.#overCap) buffer.destroy();
    this.#stats.destroyed += this.#overCap.length;
    this.#overCap = [];
  }

  /**
   * Destroys every pooled buffer; live buffers are untouched. Pending
   * commands may still use pooled buffers: use Runtime.trimPool, which
   * submits first.
   */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const buffer of list) {
        buffer.destroy();
        this.#stats.destroyed++;
      }
    }
    this.#free.clear();
    this.#stats.pooledBuffers = 0;
    this.#stats.pooledBytes = 0;
  }

  stats(): PoolStats {
    return { ...this.#stats };
  }
}
