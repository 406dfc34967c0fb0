/**
 * Tensors on the GPU: a pooled storage buffer, a shape (NCDHW for volumes),
 * a dtype, and the autograd fields. GPU memory is freed explicitly with
 * `dispose()` or by a `scope`, never by the garbage collector.
 */
import { type Binding, runtime } from "./gpu/runtime.ts";
import type { Node } from "./autograd.ts";

export type DType = "f32" | "i32";
export type Shape = readonly number[];

let nextId = 1;

/** Tensors created inside the innermost open scope. */
const scopes: Set<Tensor>[] = [];

/** Checks that a shape is a list of non-negative integers. */
export function checkShape(shape: Shape, what = "shape"): void {
  if (!Array.isArray(shape)) {
    throw new Error(
      `${what} must be an array of integers, got ${String(shape)}`,
    );
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(
        `${what} [${shape.join(", ")}] has an invalid dimension ${d}`,
      );
    }
  }
}

export function sizeOf(shape: Shape): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** Set on tensors whose gradient should be computed. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor, null for leaves. */
  gradFn: Node | null = null;
  /** Index of this tensor among the outputs of `gradFn`. */
  outputIndex = 0;
  /** Called with the gradient of this tensor once backward has computed it. */
  readonly gradHooks: ((grad: Tensor) => void)[] = [];
  name: string | undefined;
  #buffer: GPUBuffer | null;

  constructor(
    shape: Shape,
    dtype: DType = "f32",
    buffer?: GPUBuffer,
    name?: string,
  ) {
    checkShape(shape);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.name = name;
    this.#buffer = buffer ??
      runtime().createBuffer(
        this.size * 4,
        name ?? `tensor${formatShape(shape)}`,
      );
    scopes.at(-1)?.add(this);
  }

  get buffer(): GPUBuffer {
    if (!this.#buffer) {
      throw new Error(
        `Tensor ${this.describe()} was used after dispose(); keep it with ` +
          "keep() or return it from its scope",
      );
    }
    return this.#buffer;
  }

  get bytes(): number {
    return this.size * 4;
  }

  get disposed(): boolean {
    return this.#buffer === null;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Returns the storage binding of this tensor for a dispatch. */
  binding(): Binding {
    return { buffer: this.buffer, bytes: this.bytes };
  }

  describe(): string {
    return `${this.name ?? `#${this.id}`} ${this.dtype}${
      formatShape(this.shape)
    }`;
  }

  /** Returns the buffer to the pool. Disposing twice is allowed. */
  dispose(): void {
    if (!this.#buffer) return;
    runtime().releaseBuffer(this.#buffer);
    this.#buffer = null;
    for (const scope of scopes) scope.delete(this);
  }

  /** Removes this tensor from every open scope, so no scope disposes it. */
  keep(): this {
    for (const scope of scopes) scope.delete(this);
    return this;
  }

  /** Reads the values back (one sync). */
  async data(): Promise<Float32Array | Int32Array> {
    const [bytes] = await runtime().read([this.binding()]);
    return this.dtype === "i32"
      ? new Int32Array(bytes)
      : new Float32Array(bytes);
  }

  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new Error(
        `item() needs a tensor with one element, got ${this.describe()}`,
      );
    }
    return (await this.data())[0];
  }

  toString(): string {
    return `Tensor(${this.describe()})`;
  }
}

/** Reads several tensors back with one sync. */
export async function readAll(
  tensors: Tensor[],
): Promise<(Float32Array | Int32Array)[]> {
  const buffers = await runtime().read(tensors.map((t) => t.binding()));
  return buffers.map((bytes, i) =>
    tensors[i].dtype === "i32" ? new Int32Array(bytes) : new Float32Array(bytes)
  );
}

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== "object") return;
  if (value instanceof Tensor) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectTensors(item, into, depth + 1);
  } else if (value instanceof Map) {
    for (const item of value.values()) collectTensors(item, into, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) {
      collectTensors(item, into, depth + 1);
    }
  }
}

function closeScope(created: Set<Tensor>, result: unknown): void {
  const index = scopes.lastIndexOf(created);
  if (index !== scopes.length - 1) {
    throw new Error("Scopes must close in the order they were opened");
  }
  scopes.pop();
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  for (const tensor of created) {
    if (kept.has(tensor)) {
      scopes.at(-1)?.add(tensor);
    } else {
      tensor.dispose();
    }
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it, except those in its
 * result (a tensor, or arrays and plain objects of tensors) and those marked
 * with `keep()`. The result moves to the enclosing scope.
 */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  scopes.push(created);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    closeScope(created, undefined);
    throw error;
  }
  if (result instanceof Promise) {
    closeScope(created, undefined);
    throw new Error("scope() got an async function; use scopeAsync()");
  }
  closeScope(created, result);
  return result;
}

/**
 * Runs an async `fn` as `scope` does. Scopes are a stack, so async scopes
 * must not interleave: await one before opening another at the same level.
 */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const created = new Set<Tensor>();
  scopes.push(created);
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    closeScope(created, undefined);
    throw error;
  }
  closeScope(created, result);
  return result;
}

/** Number of tensors tracked by open scopes (for leak checks). */
export function trackedTensorCount(): number {
  let count = 0;
  for (const s of scopes) count += s.size;
  return count;
}

// ---- creation ----

function checkData(data: ArrayLike<number>, shape: Shape): void {
  checkShape(shape);
  const size = sizeOf(shape);
  if (data.length !== size) {
    throw new Error(
      `Data of length ${data.length} does not match shape ${
        formatShape(shape)
      } ` +
        `(${size} elements)`,
    );
  }
}

/** Uploads host values as a new tensor. */
export function tensor(
  data: ArrayLike<number>,
  shape: Shape,
  dtype: DType = "f32",
  name?: string,
): Tensor {
  checkData(data, shape);
  const t = new Tensor(shape, dtype, undefined, name);
  const host = dtype === "i32"
    ? Int32Array.from(data)
    : Float32Array.from(data);
  runtime().upload(t.buffer, host as ArrayBufferView<ArrayBuffer>);
  return t;
}

/** Creates a tensor with uninitialised contents, for kernel outputs. */
export function empty(
  shape: Shape,
  dtype: DType = "f32",
  name?: string,
): Tensor {
  return new Tensor(shape, dtype, undefined, name);
}

export function zeros(
  shape: Shape,
  dtype: DType = "f32",
  name?: string,
): Tensor {
  const t = new Tensor(shape, dtype, undefined, name);
  runtime().clear(t.buffer, t.bytes);
  return t;
}

export function full(shape: Shape, value: number, name?: string): Tensor {
  return tensor(
    new Float32Array(sizeOf(shape)).fill(value),
    shape,
    "f32",
    name,
  );
}

export function ones(shape: Shape, name?: string): Tensor {
  return full(shape, 1, name);
}
