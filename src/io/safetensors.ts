/**
 * safetensors checkpoints, the format of Hugging Face's `safetensors`
 * library. A file starts with an 8-byte little-endian header length N and
 * N bytes of JSON header, padded with spaces to a multiple of 8. The header
 * maps each tensor name to its dtype, shape and [begin, end) byte offsets
 * into the data section, and may hold a "__metadata__" map of strings. The
 * raw little-endian data follow with no gaps. Writes go to a temporary file
 * in the same folder that is renamed over the target, so a crash never
 * leaves a half-written checkpoint.
 */
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { runtime } from "../gpu/runtime.ts";
import { type DType, formatShape, readAll, sizeOf, Tensor } from "../tensor.ts";
import type { Module } from "../nn/module.ts";

/** Tensor values on the host, as loaded from a file. */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsContents {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

/** The safetensors library's limit on the header, in bytes. */
const MAX_HEADER_BYTES = 100_000_000;

/** Element sizes of every dtype the format defines (safetensors 0.4). */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/**
 * Dtypes read into tensors: F32 and I32 as they are, F64 rounded to f32 and
 * I64 narrowed to i32 (PyTorch stores BatchNorm's num_batches_tracked as
 * I64), rejected where a value does not fit.
 */
const READABLE = new Set(["F32", "I32", "F64", "I64"]);

const tensorInfo = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([
    z.number().int().nonnegative(),
    z.number().int().nonnegative(),
  ]),
});
type TensorInfo = z.infer<typeof tensorInfo>;

const metadataSchema = z.record(z.string(), z.string());

const REWRITE_HINT =
  "the file is truncated, corrupted or not a safetensors file; " +
  "write it again (saveSafetensors, or safetensors.torch.save_file in Python)";

function invalid(source: string, what: string, fix = REWRITE_HINT): Error {
  return new Error(`Invalid safetensors file ${source}: ${what}; ${fix}`);
}

function zodIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}

/** Compares strings by their UTF-8 bytes, as the Rust library sorts names. */
function compareUtf8(a: string, b: string): number {
  const encoder = new TextEncoder();
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

function checkMetadata(
  metadata: Record<string, string> | undefined,
  what: string,
): void {
  if (metadata === undefined) return;
  const parsed = metadataSchema.safeParse(metadata);
  if (!parsed.success) {
    throw new Error(
      `${what}: metadata must map strings to strings (${
        zodIssues(parsed.error)
      }); ` +
        "convert numbers with String() or JSON.stringify()",
    );
  }
}

/**
 * Encodes host tensors in the byte layout that the safetensors library
 * writes: tensors ordered F32 before I32 and by name within a dtype, the
 * header padded with spaces to a multiple of 8 bytes.
 */
export function encodeSafetensors(
  tensors: Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  checkMetadata(metadata, "encodeSafetensors");
  const entries = [...tensors].map(([name, t]) => {
    if (name === "" || name === "__metadata__") {
      throw new Error(`encodeSafetensors: '${name}' cannot be a tensor name`);
    }
    if (t.dtype !== "f32" && t.dtype !== "i32") {
      throw new Error(
        `encodeSafetensors: tensor '${name}' has dtype ${t.dtype}`,
      );
    }
    if (t.data.length !== sizeOf(t.shape)) {
      throw new Error(
        `encodeSafetensors: tensor '${name}' has ${t.data.length} values for shape ` +
          formatShape(t.shape),
      );
    }
    return { name, tensor: t, dtype: t.dtype === "f32" ? "F32" : "I32" };
  });
  // The Rust library sorts by dtype, larger enum value first (F32 > I32),
  // then by name.
  entries.sort((a, b) => {
    if (a.dtype !== b.dtype) return a.dtype === "F32" ? -1 : 1;
    return compareUtf8(a.name, b.name);
  });

  const parts: string[] = [];
  if (metadata !== undefined) {
    const fields = Object.entries(metadata).map(([k, v]) =>
      `${JSON.stringify(k)}:${JSON.stringify(v)}`
    );
    parts.push(`"__metadata__":{${fields.join(",")}}`);
  }
  let offset = 0;
  for (const { name, tensor, dtype } of entries) {
    const end = offset + tensor.data.byteLength;
    const info = `{"dtype":"${dtype}","shape":[${tensor.shape.join(",")}],` +
      `"data_offsets":[${offset},${end}]}`;
    // Built by hand because JSON.stringify moves integer-like keys first.
    parts.push(`${JSON.stringify(name)}:${info}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerBytes = Math.ceil(json.length / 8) * 8;

  const bytes = new Uint8Array(8 + headerBytes + offset);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(headerBytes), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const { tensor } of entries) {
    // NOTE: typed arrays use the platform's byte order; every platform that
    // runs WebGPU in Deno or a browser today is little-endian.
    bytes.set(
      new Uint8Array(
        tensor.data.buffer,
        tensor.data.byteOffset,
        tensor.data.byteLength,
      ),
      at,
    );
    at += tensor.data.byteLength;
  }
  return bytes;
}

function readTensor(
  source: string,
  name: string,
  info: TensorInfo,
  data: Uint8Array,
): HostTensor {
  const [begin, end] = info.data_offsets;
  const bytes = data.slice(begin, end);
  const count = sizeOf(info.shape);
  switch (info.dtype) {
    case "F32":
      return {
        dtype: "f32",
        shape: info.shape,
        data: new Float32Array(bytes.buffer),
      };
    case "I32":
      return {
        dtype: "i32",
        shape: info.shape,
        data: new Int32Array(bytes.buffer),
      };
    case "F64":
      return {
        dtype: "f32",
        shape: info.shape,
        data: Float32Array.from(new Float64Array(bytes.buffer)),
      };
    default: {
      const wide = new BigInt64Array(bytes.buffer);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = wide[i];
        if (v < -2147483648n || v > 2147483647n) {
          throw invalid(
            source,
            `I64 tensor '${name}' holds ${v} at index ${i}, outside the i32 range`,
            "store it as int32 or float32",
          );
        }
        out[i] = Number(v);
      }
      return { dtype: "i32", shape: info.shape, data: out };
    }
  }
}

function parseHeader(
  bytes: Uint8Array,
  source: string,
): { headerBytes: number; header: unknown } {
  if (bytes.length < 8) {
    throw invalid(
      source,
      `${bytes.length} bytes, too short for the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw invalid(
      source,
      `header length ${declared} exceeds the format's limit of 100 MB`,
    );
  }
  const headerBytes = Number(declared);
  if (8 + headerBytes > bytes.length) {
    throw invalid(
      source,
      `header length ${headerBytes} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + headerBytes),
    );
  } catch {
    throw invalid(source, "the header is not valid UTF-8");
  }
  if (!text.startsWith("{")) {
    throw invalid(
      source,
      `the header must start with '{', got ${
        JSON.stringify(text.slice(0, 20))
      }`,
    );
  }
  try {
    return { headerBytes, header: JSON.parse(text) };
  } catch (error) {
    throw invalid(
      source,
      `the header is not valid JSON (${(error as Error).message})`,
    );
  }
}

/**
 * Decodes the bytes of a safetensors file, validating the header: the
 * header length, the JSON, every dtype and shape, and offsets that tile the
 * data section exactly. `source` names the file in errors.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "(bytes)",
): SafetensorsContents {
  const { headerBytes, header } = parseHeader(bytes, source);
  const top = z.record(z.string(), z.unknown()).safeParse(header);
  if (!top.success) throw invalid(source, "the header is not a JSON object");

  let metadata: Record<string, string> = {};
  const infos: [string, TensorInfo][] = [];
  for (const [name, value] of Object.entries(top.data)) {
    if (name === "__metadata__") {
      const parsed = metadataSchema.safeParse(value);
      if (!parsed.success) {
        throw invalid(
          source,
          `__metadata__ must map strings to strings (${
            zodIssues(parsed.error)
          })`,
        );
      }
      metadata = parsed.data;
      continue;
    }
    const parsed = tensorInfo.safeParse(value);
    if (!parsed.success) {
      throw invalid(
        source,
        `the entry of tensor '${name}' is malformed (${
          zodIssues(parsed.error)
        })`,
      );
    }
    const info = parsed.data;
    if (!Object.hasOwn(DTYPE_BYTES, info.dtype)) {
      throw invalid(
        source,
        `tensor '${name}' has the unknown dtype '${info.dtype}'`,
        `the dtypes of the format are ${Object.keys(DTYPE_BYTES).join(", ")}`,
      );
    }
    if (!READABLE.has(info.dtype)) {
      throw invalid(
        source,
        `tensor '${name}' has dtype ${info.dtype}, which this framework does not read`,
        "convert it before saving, e.g. {k: v.float() for k, v in state.items()} " +
          "in PyTorch (F32, I32, F64 and I64 are read)",
      );
    }
    infos.push([name, info]);
  }

  checkOffsets(source, infos, bytes.length - 8 - headerBytes);
  const data = bytes.subarray(8 + headerBytes);
  const tensors = new Map<string, HostTensor>();
  for (const [name, info] of infos) {
    tensors.set(name, readTensor(source, name, info, data));
  }
  return { tensors, metadata };
}

/** Checks that the tensors' byte ranges tile [0, dataBytes) with no gap or overlap. */
function checkOffsets(
  source: string,
  infos: [string, TensorInfo][],
  dataBytes: number,
): void {
  const sorted = [...infos].sort((a, b) =>
    a[1].data_offsets[0] - b[1].data_offsets[0] ||
    a[1].data_offsets[1] - b[1].data_offsets[1]
  );
  let expectedBegin = 0;
  let previous = "";
  for (const [name, info] of sorted) {
    const [begin, end] = info.data_offsets;
    if (end < begin) {
      throw invalid(
        source,
        `tensor '${name}' has data_offsets [${begin}, ${end}] with end < begin`,
      );
    }
    if (end > dataBytes) {
      throw invalid(
        source,
        `tensor '${name}' has data_offsets [${begin}, ${end}] beyond the data section ` +
          `(${dataBytes} bytes)`,
      );
    }
    if (begin < expectedBegin) {
      throw invalid(
        source,
        `tensor '${name}' at [${begin}, ${end}] overlaps tensor '${previous}', ` +
          `which ends at ${expectedBegin}`,
      );
    }
    if (begin > expectedBegin) {
      throw invalid(
        source,
        `bytes [${expectedBegin}, ${begin}) before tensor '${name}' belong to no tensor`,
      );
    }
    const expectedBytes = sizeOf(info.shape) * DTYPE_BYTES[info.dtype];
    if (end - begin !== expectedBytes) {
      throw invalid(
        source,
        `tensor '${name}' (${info.dtype}, shape ${
          formatShape(info.shape)
        }) needs ` +
          `${expectedBytes} bytes but data_offsets [${begin}, ${end}] span ${
            end - begin
          }`,
      );
    }
    expectedBegin = end;
    previous = name;
  }
  if (expectedBegin !== dataBytes) {
    throw invalid(
      source,
      `the data section has ${dataBytes} bytes but the tensors cover ${expectedBegin}`,
    );
  }
}

/** Reads and validates a safetensors file. */
export async function loadSafetensors(
  path: string,
): Promise<SafetensorsContents> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `Checkpoint ${path} not found; check the path or the run folder`,
      );
    }
    throw error;
  }
  return decodeSafetensors(bytes, path);
}

/**
 * Writes tensors (read back from the GPU with one sync) and optional
 * string metadata to `path` in the safetensors format. The file is written
 * under a temporary name in the same folder, flushed to disk and renamed
 * over `path`, so an existing file stays intact if anything fails.
 */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  checkMetadata(metadata, `saveSafetensors ${path}`);
  const names = [...tensors.keys()];
  const list = [...tensors.values()];
  list.forEach((t, i) => {
    if (!(t instanceof Tensor)) {
      throw new Error(
        `saveSafetensors ${path}: '${names[i]}' is not a Tensor (${String(t)})`,
      );
    }
    if (t.disposed) {
      throw new Error(
        `saveSafetensors ${path}: tensor '${
          names[i]
        }' was disposed before saving`,
      );
    }
  });
  const values = await readAll(list);
  const host = new Map<string, HostTensor>();
  names.forEach((name, i) => {
    host.set(name, {
      dtype: list[i].dtype,
      shape: [...list[i].shape],
      data: values[i],
    });
  });
  await writeAtomically(path, encodeSafetensors(host, metadata));
}

/** Writes `bytes` to a temporary file next to `path`, syncs it, renames it over `path`. */
export async function writeAtomically(
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const suffix = `${Deno.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${suffix}`);
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written));
      }
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw new Error(
      `Writing ${path} failed (${
        (error as Error).message
      }); any earlier file at ` +
        "that path is unchanged",
      { cause: error },
    );
  }
}

export interface LoadStateOptions {
  /**
   * When false, names present on only one side are returned instead of
   * rejected, as PyTorch's `load_state_dict(strict=False)`; shape and dtype
   * mismatches are rejected either way. Default true.
   */
  strict?: boolean;
}

export interface LoadStateResult {
  missing: string[];
  unexpected: string[];
  metadata: Record<string, string>;
}

/**
 * Loads a checkpoint into a module's parameters and buffers in place
 * (`module.stateDict()` names). Every missing and unexpected name and every
 * shape or dtype mismatch is listed in one error, and nothing is written
 * unless all checks pass.
 */
export async function loadStateInto(
  module: Module,
  path: string,
  options: LoadStateOptions = {},
): Promise<LoadStateResult> {
  const strict = options.strict ?? true;
  const { tensors, metadata } = await loadSafetensors(path);
  const state = module.stateDict();

  const missing = [...state.keys()].filter((name) => !tensors.has(name));
  const unexpected = [...tensors.keys()].filter((name) => !state.has(name));
  const problems: string[] = [];
  if (strict && missing.length > 0) {
    problems.push(`missing: ${missing.join(", ")}`);
  }
  if (strict && unexpected.length > 0) {
    problems.push(`unexpected: ${unexpected.join(", ")}`);
  }

  for (const [name, target] of state) {
    const saved = tensors.get(name);
    if (!saved) continue;
    const sameShape = saved.shape.length === target.rank &&
      saved.shape.every((d, i) => d === target.shape[i]);
    if (!sameShape) {
      problems.push(
        `${name} has shape ${formatShape(saved.shape)} in the file but ` +
          `${formatShape(target.shape)} in the model`,
      );
    } else if (saved.dtype !== target.dtype) {
      problems.push(
        `${name} is ${saved.dtype} in the file but ${target.dtype} in the model`,
      );
    }
  }

  if (problems.length > 0) {
    throw new Error(
      `Checkpoint ${path} does not match the model (${problems.length} problems):\n  ` +
        problems.join("\n  ") +
        "\nLoad it into the model configuration it was saved from, or pass " +
        "{ strict: false } to skip names present on one side only",
    );
  }

  const rt = runtime();
  for (const [name, target] of state) {
    const saved = tensors.get(name);
    if (saved) {
      rt.upload(target.buffer, saved.data as Float32Array<ArrayBuffer>);
    }
  }
  return { missing, unexpected, metadata };
}
