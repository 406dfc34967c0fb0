/**
 * One WebGPU device with its buffer pool, pipeline cache and batched command
 * submission. Dispatches are recorded into one compute pass and submitted in
 * batches. Readback happens only when data are awaited, and several readbacks
 * share one sync, because each sync costs about 11 ms in Deno 2.9.
 */
import { BufferPool, type PoolStats } from "./buffer_pool.ts";
import { PipelineCache, type PipelineCacheStats } from "./pipeline_cache.ts";
import type { KernelSpec } from "./shader.ts";

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;
const UPLOAD_USAGE = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const READ_USAGE = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
const UNIFORM_USAGE = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
const UNIFORM_CHUNK_BYTES = 64 * 1024;
const MAX_WORKGROUPS_PER_DIMENSION = 65535;
/** Dispatches timed per submit in profile mode (two timestamps each). */
const PROFILE_SLOTS = 256;

/** A buffer bound to one storage binding, with the bytes that are used. */
export interface Binding {
  buffer: GPUBuffer;
  bytes: number;
}

export interface Dispatch {
  /** Operator and kernel, e.g. "conv3d.backward_input", named in errors. */
  op: string;
  kernel: KernelSpec;
  /** Packed uniform struct bound at binding 0, when the kernel has one. */
  uniforms?: Uint8Array<ArrayBuffer>;
  /** Storage buffers bound at bindings 1, 2, ... in order. */
  bindings: Binding[];
  /**
   * Workgroup count: a number is folded into a 2D grid above 65535; a
   * triple is used as given and checked against the limit.
   */
  workgroups: number | [number, number, number];
  /** Shapes involved, named in limit errors, e.g. "x [1,16,10,64,64]". */
  shapes?: string;
}

export interface AdapterSummary {
  description: string;
  vendor: string;
  isFallbackAdapter: boolean;
  backend: string;
  /** LP_NUM_THREADS for Mesa's llvmpipe, null on other adapters. */
  llvmpipeThreads: string | null;
}

export interface RuntimeStats {
  dispatches: number;
  submits: number;
  syncs: number;
  pool: PoolStats;
  pipelines: PipelineCacheStats;
}

export interface RuntimeOptions {
  /** Dispatches recorded before an automatic submit. */
  dispatchesPerSubmit?: number;
  /** Log the adapter once to stderr (default true). */
  log?: boolean;
  /** Bytes kept in the buffer pool's free lists. */
  poolCapBytes?: number;
  /** Print every specialized shader to stderr (default: MPFNET_DEBUG_SHADERS=1). */
  printShaders?: boolean;
  /**
   * Time every dispatch with timestamp queries (one compute pass each, so
   * slower); `profileReport()` returns the GPU time per operator.
   */
  profile?: boolean;
}

function envFlag(name: string): boolean {
  const deno =
    (globalThis as { Deno?: { env: { get(k: string): string | undefined } } })
      .Deno;
  try {
    return deno?.env.get(name) === "1";
  } catch {
    return false;
  }
}

/** Folds a workgroup count into a grid whose dimensions stay within 65535. */
export function foldWorkgroups(count: number): [number, number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIMENSION) return [Math.max(count, 1), 1, 1];
  const rows = Math.ceil(count / MAX_WORKGROUPS_PER_DIMENSION);
  const columns = Math.ceil(count / rows);
  if (rows > MAX_WORKGROUPS_PER_DIMENSION) {
    throw new Error(`Workgroup count ${count} exceeds 65535 x 65535`);
  }
  return [columns, rows, 1];
}

function backendName(): string {
  const deno =
    (globalThis as { Deno?: { env: { get(k: string): string | undefined } } })
      .Deno;
  if (!deno) return "browser";
  try {
    return deno.env.get("DENO_WEBGPU_BACKEND") ?? "default";
  } catch {
    return "unknown";
  }
}

/**
 * Sets LP_NUM_THREADS, the thread count of Mesa's llvmpipe rasterizer, to
 * twice the CPU count (at most 16) when it is unset, and returns the value
 * in effect. llvmpipe's own default is one thread per CPU; on 2 cores a
 * compact training step (bench/step.ts) took about 15 % less time with 4.
 * Other adapters ignore the variable.
 */
function defaultLlvmpipeThreads(): string | null {
  const deno = (globalThis as {
    Deno?: {
      env: {
        get(k: string): string | undefined;
        set(k: string, v: string): void;
      };
    };
  }).Deno;
  if (!deno) return null;
  try {
    const fromEnvironment = deno.env.get("LP_NUM_THREADS");
    if (fromEnvironment !== undefined) return fromEnvironment;
    const threads = String(Math.min(16, 2 * navigator.hardwareConcurrency));
    deno.env.set("LP_NUM_THREADS", threads);
    return threads;
  } catch {
    // Without --allow-env llvmpipe keeps its own default.
    return null;
  }
}

export class Runtime {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly limits: GPUSupportedLimits;
  dispatchesPerSubmit: number;

  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #pending = 0;
  #transient: GPUBuffer[] = [];
  #uniformChunks: {
    buffer: GPUBuffer;
    data: Uint8Array<ArrayBuffer>;
    used: number;
  }[] = [];
  #freeUniformChunks: GPUBuffer[] = [];
  #errors: string[] = [];
  #lost: string | null = null;
  #lastOp = "(none)";
  #counters = { dispatches: 0, submits: 0, syncs: 0 };
  #profiler: {
    querySet: GPUQuerySet;
    resolve: GPUBuffer;
    ops: string[];
    pending: { read: GPUBuffer; ops: string[] }[];
    totals: Map<string, { ms: number; count: number }>;
  } | null = null;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    options: RuntimeOptions,
  ) {
    this.limits = device.limits;
    this.pool = new BufferPool(device, options.poolCapBytes);
    this.pipelines = new PipelineCache(device);
    this.dispatchesPerSubmit = options.dispatchesPerSubmit ?? 64;
    this.pipelines.printShaders = options.printShaders ??
      envFlag("MPFNET_DEBUG_SHADERS");
    if (options.profile && device.features.has("timestamp-query")) {
      this.#profiler = {
        querySet: device.createQuerySet({
          type: "timestamp",
          count: 2 * PROFILE_SLOTS,
        }),
        resolve: device.createBuffer({
          size: 16 * PROFILE_SLOTS,
          usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        }),
        ops: [],
        pending: [],
        totals: new Map(),
      };
      this.dispatchesPerSubmit = Math.min(
        this.dispatchesPerSubmit,
        PROFILE_SLOTS,
      );
    }
    device.lost.then((info) => {
      this.#lost = `WebGPU device lost (${info.reason}): ${info.message}; ` +
        `last operator: ${this.#lastOp}`;
      console.error(this.#lost);
    });
    device.addEventListener("uncapturederror", (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.#errors.push(
        `${error.message.trim()} (last operator: ${this.#lastOp})`,
      );
    });
  }

  /** Requests an adapter and a device with the limits the kernels need. */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    if (!("gpu" in navigator)) {
      throw new Error("WebGPU is not available (navigator.gpu is missing)");
    }
    // Mesa reads the variable when the adapter is created.
    const llvmpipeThreads = defaultLlvmpipeThreads();
    const adapter = await navigator.gpu.requestAdapter({
      powerPreference: "high-performance",
    });
    if (!adapter) {
      throw new Error(
        "No WebGPU adapter found. On Debian install mesa-vulkan-drivers and " +
          "libvulkan1 (or libegl1 libegl-mesa0 libgl1-mesa-dri for " +
          "DENO_WEBGPU_BACKEND=gl), or run through tools/deno, which does it.",
      );
    }
    const info = adapter.info;
    const summary: AdapterSummary = {
      description: info.description || info.device || "unknown adapter",
      vendor: info.vendor,
      isFallbackAdapter:
        (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
          (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
          false,
      backend: backendName(),
      llvmpipeThreads: null,
    };
    if (/llvmpipe/i.test(summary.description)) {
      summary.llvmpipeThreads = llvmpipeThreads;
    }
    const a = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
      maxBufferSize: a.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(
        a.maxStorageBuffersPerShaderStage,
        10,
      ),
      maxComputeInvocationsPerWorkgroup: Math.min(
        a.maxComputeInvocationsPerWorkgroup,
        256,
      ),
      maxComputeWorkgroupSizeX: Math.min(a.maxComputeWorkgroupSizeX, 256),
      maxComputeWorkgroupSizeY: Math.min(a.maxComputeWorkgroupSizeY, 256),
      maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    };
    const requiredFeatures: GPUFeatureName[] = [];
    if (options.profile && adapter.features.has("timestamp-query")) {
      requiredFeatures.push("timestamp-query");
    }
    const device = await adapter.requestDevice({
      requiredLimits,
      requiredFeatures,
    });
    if (options.log ?? true) {
      const threads = summary.llvmpipeThreads
        ? `, LP_NUM_THREADS ${summary.llvmpipeThreads}`
        : "";
      console.error(
        `WebGPU adapter: ${summary.description} (fallback: ${summary.isFallbackAdapter}, ` +
          `backend: ${summary.backend}${threads})`,
      );
    }
    return new Runtime(device, summary, options);
  }

  /** Creates a storage buffer (at least 4 bytes) from the pool. */
  createBuffer(bytes: number, label: string): GPUBuffer {
    const max = this.limits.maxBufferSize;
    if (bytes > max) {
      throw new Error(
        `${label}: buffer of ${bytes} bytes exceeds maxBufferSize ${max}`,
      );
    }
    return this.pool.acquire(Math.max(bytes, 4), STORAGE_USAGE, label);
  }

  releaseBuffer(buffer: GPUBuffer): void {
    this.pool.release(buffer);
  }

  /** Submits pending work, then destroys every pooled (free) buffer. */
  trimPool(): void {
    this.flush();
    this.pool.trim();
  }

  /** Records a copy of host data into `buffer`, ordered with the dispatches. */
  upload(
    buffer: GPUBuffer,
    data: ArrayBufferView<ArrayBuffer>,
    offset = 0,
  ): void {
    const bytes = Math.ceil(data.byteLength / 4) * 4;
    if (bytes === 0) return;
    const staging = this.pool.acquire(
      bytes,
      UPLOAD_USAGE,
      `upload:${buffer.label}`,
    );
    this.device.queue.writeBuffer(
      staging,
      0,
      data.buffer,
      data.byteOffset,
      data.byteLength,
    );
    this.#endPass();
    this.#commandEncoder().copyBufferToBuffer(
      staging,
      0,
      buffer,
      offset,
      bytes,
    );
    this.#transient.push(staging);
  }

  /** Records a zero fill of the first `bytes` bytes of `buffer`. */
  clear(buffer: GPUBuffer, bytes: number): void {
    const size = Math.ceil(bytes / 4) * 4;
    if (size === 0) return;
    this.#endPass();
    this.#commandEncoder().clearBuffer(buffer, 0, size);
  }

  /** Records a buffer-to-buffer copy. */
  copy(
    source: GPUBuffer,
    destination: GPUBuffer,
    bytes: number,
    sourceOffset = 0,
    destinationOffset = 0,
  ): void {
    const size = Math.ceil(bytes / 4) * 4;
    if (size === 0) return;
    this.#endPass();
    this.#commandEncoder().copyBufferToBuffer(
      source,
      sourceOffset,
      destination,
      destinationOffset,
      size,
    );
  }

  /** Records one compute dispatch. */
  dispatch(d: Dispatch): void {
    this.#throwIfFailed();
    this.#lastOp = d.op;
    const maxBinding = this.limits.maxStorageBufferBindingSize;
    for (const [index, binding] of d.bindings.entries()) {
      if (binding.bytes > maxBinding) {
        throw new Error(
          `${d.op}: binding ${
            index + 1
          } needs ${binding.bytes} bytes, above the ` +
            `adapter's maxStorageBufferBindingSize ${maxBinding}` +
            (d.shapes ? ` (shapes ${d.shapes})` : "") +
            "; use a smaller batch or input size",
        );
      }
    }
    if (d.bindings.length > this.limits.maxStorageBuffersPerShaderStage) {
      throw new Error(
        `${d.op}: ${d.bindings.length} storage bindings exceed the limit ` +
          `${this.limits.maxStorageBuffersPerShaderStage}`,
      );
    }
    const grid = typeof d.workgroups === "number"
      ? foldWorkgroups(d.workgroups)
      : d.workgroups;
    for (const count of grid) {
      if (count > MAX_WORKGROUPS_PER_DIMENSION) {
        throw new Error(
          `${d.op}: dispatch grid [${grid}] exceeds 65535 workgroups per dimension` +
            (d.shapes ? ` (shapes ${d.shapes})` : ""),
        );
      }
    }
    if (grid[0] * grid[1] * grid[2] === 0) return;

    const pipeline = this.pipelines.get(d.kernel);
    const entries: GPUBindGroupEntry[] = [];
    if (d.uniforms) {
      entries.push({ binding: 0, resource: this.#uniformSlot(d.uniforms) });
    }
    d.bindings.forEach((binding, index) => {
      entries.push({
        binding: index + 1,
        resource: {
          buffer: binding.buffer,
          offset: 0,
          size: Math.max(4, Math.ceil(binding.bytes / 4) * 4),
        },
      });
    });
    const bindGroup = this.device.createBindGroup({
      label: d.op,
      layout: pipeline.getBindGroupLayout(0),
      entries,
    });
    const profiler = this.#profiler;
    let pass: GPUComputePassEncoder;
    if (profiler) {
      this.#endPass();
      const slot = profiler.ops.length;
      profiler.ops.push(d.op);
      pass = this.#commandEncoder().beginComputePass({
        timestampWrites: {
          querySet: profiler.querySet,
          beginningOfPassWriteIndex: 2 * slot,
          endOfPassWriteIndex: 2 * slot + 1,
        },
      });
      this.#pass = pass;
    } else {
      pass = this.#computePass();
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    if (profiler) this.#endPass();
    this.#counters.dispatches++;
    this.#pending++;
    if (this.#pending >= this.dispatchesPerSubmit) this.flush();
  }

  /** Submits the recorded commands. */
  flush(): void {
    this.#throwIfFailed();
    if (!this.#encoder) return;
    this.#endPass();
    const profiler = this.#profiler;
    if (profiler && profiler.ops.length > 0) {
      const count = profiler.ops.length;
      const read = this.device.createBuffer({
        size: 16 * count,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      this.#encoder.resolveQuerySet(
        profiler.querySet,
        0,
        2 * count,
        profiler.resolve,
        0,
      );
      this.#encoder.copyBufferToBuffer(
        profiler.resolve,
        0,
        read,
        0,
        16 * count,
      );
      profiler.pending.push({ read, ops: profiler.ops });
      profiler.ops = [];
    }
    const commands = this.#encoder.finish();
    this.#encoder = null;
    for (const chunk of this.#uniformChunks) {
      this.device.queue.writeBuffer(
        chunk.buffer,
        0,
        chunk.data.buffer,
        0,
        chunk.used,
      );
      this.#freeUniformChunks.push(chunk.buffer);
    }
    this.#uniformChunks = [];
    this.device.queue.submit([commands]);
    this.#counters.submits++;
    this.#pending = 0;
    // Queue operations run in order, so a buffer written by a later
    // writeBuffer is only touched after this submit has run.
    for (const buffer of this.#transient) this.pool.release(buffer);
    this.#transient = [];
    this.pool.destroyReleased();
  }

  /** Reads several buffers back with one sync. */
  async read(buffers: Binding[]): Promise<ArrayBuffer[]> {
    const staging = buffers.map((b) => {
      const bytes = Math.max(4, Math.ceil(b.bytes / 4) * 4);
      const target = this.pool.acquire(
        bytes,
        READ_USAGE,
        `read:${b.buffer.label}`,
      );
      this.copy(b.buffer, target, bytes);
      return { target, bytes };
    });
    this.flush();
    this.#counters.syncs++;
    try {
      await Promise.all(
        staging.map((s) => s.target.mapAsync(GPUMapMode.READ, 0, s.bytes)),
      );
    } catch (error) {
      this.#throwIfFailed();
      throw error;
    }
    this.#throwIfFailed();
    const results = staging.map((s, index) => {
      const copy = s.target.getMappedRange(0, s.bytes).slice(
        0,
        buffers[index].bytes,
      );
      s.target.unmap();
      this.pool.release(s.target);
      return copy;
    });
    return results;
  }

  /** Waits until the submitted work has finished and reports errors. */
  async sync(): Promise<void> {
    this.flush();
    this.#counters.syncs++;
    await this.device.queue.onSubmittedWorkDone();
    this.#throwIfFailed();
  }

  /**
   * GPU milliseconds per operator since the last call, slowest first
   * (profile mode only; empty otherwise).
   */
  async profileReport(): Promise<{ op: string; ms: number; count: number }[]> {
    const profiler = this.#profiler;
    if (!profiler) return [];
    this.flush();
    const pending = profiler.pending.splice(0);
    await Promise.all(pending.map((p) => p.read.mapAsync(GPUMapMode.READ)));
    for (const p of pending) {
      const stamps = new BigUint64Array(p.read.getMappedRange());
      p.ops.forEach((op, i) => {
        const ns = Number(stamps[2 * i + 1] - stamps[2 * i]);
        const entry = profiler.totals.get(op) ?? { ms: 0, count: 0 };
        entry.ms += ns / 1e6;
        entry.count++;
        profiler.totals.set(op, entry);
      });
      p.read.unmap();
      p.read.destroy();
    }
    const report = [...profiler.totals].map(([op, v]) => ({ op, ...v }));
    profiler.totals.clear();
    return report.sort((a, b) => b.ms - a.ms);
  }

  stats(): RuntimeStats {
    return {
      ...this.#counters,
      pool: this.pool.stats(),
      pipelines: this.pipelines.stats(),
    };
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.device.destroy();
  }

  #throwIfFailed(): void {
    if (this.#lost) throw new Error(this.#lost);
    const compile = this.pipelines.compileErrors;
    if (compile.length > 0) {
      const text = compile.splice(0).join("\n");
      throw new Error(`WGSL compilation failed:\n${text}`);
    }
    if (this.#errors.length > 0) {
      const text = this.#errors.splice(0).join("\n");
      throw new Error(`WebGPU error: ${text}`);
    }
  }

  #commandEncoder(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    return this.#encoder;
  }

  #computePass(): GPUComputePassEncoder {
    if (!this.#pass) this.#pass = this.#commandEncoder().beginComputePass();
    return this.#pass;
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  #uniformSlot(data: Uint8Array<ArrayBuffer>): GPUBufferBinding {
    const align = this.limits.minUniformBufferOffsetAlignment;
    const size = Math.ceil(data.byteLength / 16) * 16;
    let chunk = this.#uniformChunks.at(-1);
    if (
      !chunk ||
      Math.ceil(chunk.used / align) * align + size > UNIFORM_CHUNK_BYTES
    ) {
      const buffer = this.#freeUniformChunks.pop() ??
        this.device.createBuffer({
          size: UNIFORM_CHUNK_BYTES,
          usage: UNIFORM_USAGE,
          label: "uniforms",
        });
      chunk = { buffer, data: new Uint8Array(UNIFORM_CHUNK_BYTES), used: 0 };
      this.#uniformChunks.push(chunk);
    }
    const offset = Math.ceil(chunk.used / align) * align;
    chunk.data.set(data, offset);
    chunk.used = offset + size;
    return { buffer: chunk.buffer, offset, size };
  }
}

let current: Runtime | null = null;
let pending: Promise<Runtime> | null = null;

/** Creates the shared runtime once; later calls return the same one. */
export function initRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  if (current) return Promise.resolve(current);
  if (!pending) {
    pending = Runtime.create(options).then((rt) => {
      current = rt;
      return rt;
    });
  }
  return pending;
}

/** The shared runtime; `await initRuntime()` must have run first. */
export function runtime(): Runtime {
  if (!current) {
    throw new Error(
      "The WebGPU runtime is not initialised; call `await initRuntime()` first",
    );
  }
  return current;
}
