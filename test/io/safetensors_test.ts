/**
 * safetensors checkpoints: round trips, byte-exact agreement with the
 * format as the safetensors library writes it, rejection of corrupted
 * files, the write-then-rename behaviour, and loading into modules.
 */
import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  loadSafetensors,
  loadStateInto,
  saveSafetensors,
} from "../../src/io/safetensors.ts";
import { Unit3d } from "../../src/nn/unit3d.ts";
import { readAll, tensor } from "../../src/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import { gpuTest } from "../helpers.ts";

const encoder = new TextEncoder();

/** Builds a file by hand: u64 little-endian header length, header, data. */
function fileBytes(header: string, data: number[] = []): Uint8Array {
  const json = encoder.encode(header);
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  return bytes;
}

/** Little-endian bytes of f32 values. */
function f32Bytes(values: number[]): number[] {
  return [...new Uint8Array(Float32Array.from(values).buffer)];
}

function host(
  dtype: "f32" | "i32",
  shape: number[],
  values: number[],
): HostTensor {
  const data = dtype === "f32"
    ? Float32Array.from(values)
    : Int32Array.from(values);
  return { dtype, shape, data };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "safetensors-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("safetensors bytes match the reference layout", () => {
  // One F32 tensor "attn0" of shape [1, 1, 2, 3] holding 0..5: a 65-byte
  // header padded with 7 spaces to 72, as the safetensors library writes it.
  const header =
    '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header.length, 65);
  const expected = fileBytes(
    header + " ".repeat(7),
    f32Bytes([0, 1, 2, 3, 4, 5]),
  );
  assert.deepEqual([...expected.subarray(0, 8)], [72, 0, 0, 0, 0, 0, 0, 0]);
  const tensors = new Map([[
    "attn0",
    host("f32", [1, 1, 2, 3], [0, 1, 2, 3, 4, 5]),
  ]]);
  assert.deepEqual(encodeSafetensors(tensors), expected);

  // Metadata only: '{"__metadata__":{"framework":"pt"}}' is 35 bytes, padded to 40.
  const metadataOnly = fileBytes(
    '{"__metadata__":{"framework":"pt"}}' + " ".repeat(5),
  );
  assert.deepEqual(
    encodeSafetensors(new Map(), { framework: "pt" }),
    metadataOnly,
  );
  assert.deepEqual(
    encodeSafetensors(new Map()),
    fileBytes("{}" + " ".repeat(6)),
  );
});

Deno.test("safetensors orders F32 before I32, then by name", () => {
  const tensors = new Map([
    ["b.count", host("i32", [2], [7, -1])],
    ["a.steps", host("i32", [], [3])],
    ["z.weight", host("f32", [2], [1.5, -2])],
    ["10", host("f32", [1], [0.25])],
  ]);
  const header = '{"__metadata__":{"epoch":"3"},' +
    '"10":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
    '"z.weight":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},' +
    '"a.steps":{"dtype":"I32","shape":[],"data_offsets":[12,16]},' +
    '"b.count":{"dtype":"I32","shape":[2],"data_offsets":[16,24]}}';
  const padding = " ".repeat((8 - (header.length % 8)) % 8);
  const data = [
    ...f32Bytes([0.25, 1.5, -2]),
    ...new Uint8Array(Int32Array.from([3, 7, -1]).buffer),
  ];
  assert.deepEqual(
    encodeSafetensors(tensors, { epoch: "3" }),
    fileBytes(header + padding, data),
  );
});

Deno.test("safetensors reads files written by other tools", () => {
  // Keys out of offset order, no padding, unusual spacing, an I64 and an
  // F64 tensor as PyTorch state dicts contain them.
  const i64 = [...new Uint8Array(BigInt64Array.from([5n, -2n]).buffer)];
  const f64 = [...new Uint8Array(Float64Array.from([0.1, -3]).buffer)];
  const header = '{ "bn.num_batches_tracked": {"dtype": "I64", "shape": [2], ' +
    '"data_offsets": [8, 24]}, "w": {"data_offsets": [0, 8], "shape": [2], "dtype": "F32"}, ' +
    '"v": {"dtype": "F64", "shape": [1, 2], "data_offsets": [24, 40]}, ' +
    '"__metadata__": {"format": "pt"} }';
  const bytes = fileBytes(header, [...f32Bytes([1, 2]), ...i64, ...f64]);
  const { tensors, metadata } = decodeSafetensors(bytes, "other.safetensors");
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual(tensors.get("w"), host("f32", [2], [1, 2]));
  assert.deepEqual(
    tensors.get("bn.num_batches_tracked"),
    host("i32", [2], [5, -2]),
  );
  assert.deepEqual(tensors.get("v"), host("f32", [1, 2], [0.1, -3]));
});

Deno.test("safetensors rejects corrupted files", () => {
  const f32 = (offsets: string, shape = "[2]") =>
    `{"dtype":"F32","shape":${shape},"data_offsets":${offsets}}`;
  const data8 = f32Bytes([1, 2]);
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "too short",
      new Uint8Array(5),
      /5 bytes, too short for the 8-byte header length/,
    ],
    [
      "header length beyond the file",
      (() => {
        const b = fileBytes(`{"a":${f32("[0,8]")}}`, data8);
        new DataView(b.buffer).setBigUint64(0, 4000n, true);
        return b;
      })(),
      /header length 4000 runs past the end of the file \(\d+ bytes\)/,
    ],
    [
      "huge header length",
      (() => {
        const b = fileBytes("{}");
        new DataView(b.buffer).setBigUint64(0, 2n ** 60n, true);
        return b;
      })(),
      /exceeds the format's limit of 100 MB/,
    ],
    ["invalid JSON", fileBytes('{"a": {'), /the header is not valid JSON/],
    ["not an object", fileBytes("[1, 2]  "), /the header must start with '\{'/],
    [
      "unknown dtype",
      fileBytes('{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}', [0]),
      /tensor 'a' has the unknown dtype 'Q8'/,
    ],
    [
      "unsupported dtype",
      fileBytes('{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', [
        0,
        0,
      ]),
      /tensor 'a' has dtype F16, which this framework does not read; convert it/,
    ],
    [
      "offsets beyond the data",
      fileBytes(`{"a":${f32("[0,16]", "[4]")}}`, data8),
      /tensor 'a' has data_offsets \[0, 16\] beyond the data section \(8 bytes\)/,
    ],
    [
      "overlapping tensors",
      fileBytes(`{"a":${f32("[0,8]")},"b":${f32("[4,12]")}}`, [
        ...data8,
        ...data8.slice(0, 4),
      ]),
      /tensor 'b' at \[4, 12\] overlaps tensor 'a', which ends at 8/,
    ],
    [
      "gap between tensors",
      fileBytes(`{"a":${f32("[0,4]", "[1]")},"b":${f32("[8,12]", "[1]")}}`, [
        ...data8,
        0,
        0,
        0,
        0,
      ]),
      /bytes \[4, 8\) before tensor 'b' belong to no tensor/,
    ],
    [
      "size against shape",
      fileBytes(`{"a":${f32("[0,8]", "[3]")}}`, data8),
      /tensor 'a' \(F32, shape \[3\]\) needs 12 bytes but data_offsets \[0, 8\] span 8/,
    ],
    [
      "trailing bytes",
      fileBytes(`{"a":${f32("[0,8]")}}`, [...data8, 1, 2, 3, 4]),
      /the data section has 12 bytes but the tensors cover 8/,
    ],
    [
      "end before begin",
      fileBytes(`{"a":${f32("[8,0]")}}`, data8),
      /data_offsets \[8, 0\] with end < begin/,
    ],
    [
      "negative dimension",
      fileBytes(`{"a":${f32("[0,8]", "[-2]")}}`, data8),
      /the entry of tensor 'a' is malformed \(shape\.0: /,
    ],
    [
      "non-string metadata",
      fileBytes('{"__metadata__":{"epoch":3}}'),
      /__metadata__ must map strings to strings/,
    ],
    [
      "invalid UTF-8",
      fileBytes("{}").map((b, i) => (i === 9 ? 0xff : b)),
      /the header is not valid UTF-8/,
    ],
  ];
  for (const [label, bytes, message] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, "runs/x/fold1.safetensors"),
      (error: Error) => {
        assert.match(
          error.message,
          /^Invalid safetensors file runs\/x\/fold1\.safetensors: /,
          label,
        );
        assert.match(error.message, message, label);
        return true;
      },
      label,
    );
  }
});

gpuTest("safetensors round trip through a file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state.safetensors`;
    const weight = tensor([0.5, -1.25, 3e-8, 1e30, -0, 7], [1, 2, 3]);
    const counts = tensor([1, -2, 2147483647], [3], "i32");
    const scalar = tensor([4], []);
    const none = tensor([], [0, 4]);
    const metadata = { optimizer: "SGD", note: "ünïcode ✓" };
    await saveSafetensors(
      path,
      new Map([["w", weight], ["counts", counts], ["s", scalar], [
        "none",
        none,
      ]]),
      metadata,
    );
    const loaded = await loadSafetensors(path);
    assert.deepEqual(loaded.metadata, metadata);
    assert.deepEqual(
      loaded.tensors.get("w"),
      host("f32", [1, 2, 3], [0.5, -1.25, 3e-8, 1e30, -0, 7]),
    );
    assert.deepEqual(
      loaded.tensors.get("counts"),
      host("i32", [3], [1, -2, 2147483647]),
    );
    assert.deepEqual(loaded.tensors.get("s"), host("f32", [], [4]));
    assert.deepEqual(loaded.tensors.get("none"), host("f32", [0, 4], []));
    const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(
      leftovers,
      ["state.safetensors"],
      "a temporary file was left behind",
    );
    for (const t of [weight, counts, scalar, none]) t.dispose();
  });
});

gpuTest("safetensors keeps the old file when saving fails", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/model.safetensors`;
    const original = tensor([1, 2, 3], [3]);
    await saveSafetensors(path, new Map([["w", original]]));
    const before = await Deno.readFile(path);

    // Failure before the write: a tensor that no longer exists.
    const gone = tensor([9], [1]);
    gone.dispose();
    await assert.rejects(
      saveSafetensors(path, new Map([["w", original], ["gone", gone]])),
      /tensor 'gone' was disposed before saving/,
    );
    assert.deepEqual(await Deno.readFile(path), before);

    // Failure at the rename, after the temporary file was written in full:
    // the target is a directory that must survive with its contents.
    const blocked = `${dir}/blocked.safetensors`;
    await Deno.mkdir(blocked);
    await Deno.writeFile(`${blocked}/keep`, before);
    await assert.rejects(
      saveSafetensors(blocked, new Map([["w", original]])),
      /Writing .*blocked\.safetensors failed .*; any earlier file at that path is unchanged/,
    );
    assert.deepEqual(await Deno.readFile(`${blocked}/keep`), before);

    // An existing file is replaced only by a complete new one.
    const updated = tensor([4, 5, 6], [3]);
    await saveSafetensors(path, new Map([["w", updated]]));
    const reloaded = await loadSafetensors(path);
    assert.deepEqual(reloaded.tensors.get("w"), host("f32", [3], [4, 5, 6]));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["blocked.safetensors", "model.safetensors"]);
    original.dispose();
    updated.dispose();
  });
});

gpuTest("safetensors rejects invalid save input", async () => {
  const t = tensor([1], [1]);
  await assert.rejects(
    saveSafetensors(
      "unused.safetensors",
      new Map([["t", t]]),
      { epoch: 3 } as unknown as Record<string, string>,
    ),
    /metadata must map strings to strings .*convert numbers with String\(\)/,
  );
  await assert.rejects(
    saveSafetensors("unused.safetensors", new Map([["__metadata__", t]])),
    /'__metadata__' cannot be a tensor name/,
  );
  await assert.rejects(
    loadSafetensors("/nonexistent/fold.safetensors"),
    /Checkpoint \/nonexistent\/fold\.safetensors not found/,
  );
  t.dispose();
});

gpuTest("loadStateInto restores a module", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/unit.safetensors`;
    const config = { inChannels: 3, outChannels: 4, kernel: 3 };
    const saved = new Unit3d({ ...config, rng: new Rng(1) });
    const target = new Unit3d({ ...config, rng: new Rng(2) });
    await saveSafetensors(path, saved.stateDict(), { stage: "pltn" });
    const result = await loadStateInto(target, path);
    assert.deepEqual(result, {
      missing: [],
      unexpected: [],
      metadata: { stage: "pltn" },
    });
    const names = [...saved.stateDict().keys()];
    assert.deepEqual(names, [
      "conv3d.weight",
      "bn.weight",
      "bn.bias",
      "bn.running_mean",
      "bn.running_var",
    ]);
    const expected = await readAll([...saved.stateDict().values()]);
    const actual = await readAll([...target.stateDict().values()]);
    actual.forEach((values, i) =>
      assert.deepEqual(values, expected[i], names[i])
    );
    saved.dispose();
    target.dispose();
  });
});

gpuTest("loadStateInto lists every mismatch", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/unit.safetensors`;
    const source = new Unit3d({
      inChannels: 3,
      outChannels: 4,
      kernel: 3,
      rng: new Rng(1),
    });
    const state = source.stateDict();
    const extra = tensor([1], [1]);
    state.delete("bn.bias");
    state.set("bn.num_batches_tracked", extra);
    await saveSafetensors(path, state);

    const wider = new Unit3d({
      inChannels: 3,
      outChannels: 5,
      kernel: 3,
      rng: new Rng(2),
    });
    const before = await readAll([...wider.stateDict().values()]);
    await assert.rejects(loadStateInto(wider, path), (error: Error) => {
      const text = error.message;
      assert.match(
        text,
        /^Checkpoint .*unit\.safetensors does not match the model \(6 problems\)/,
      );
      assert.match(text, /missing: bn\.bias/);
      assert.match(text, /unexpected: bn\.num_batches_tracked/);
      assert.match(
        text,
        /conv3d\.weight has shape \[4,3,3,3,3\] in the file but \[5,3,3,3,3\] in the model/,
      );
      assert.match(
        text,
        /bn\.running_var has shape \[4\] in the file but \[5\] in the model/,
      );
      assert.match(text, /pass \{ strict: false \}/);
      return true;
    });
    const after = await readAll([...wider.stateDict().values()]);
    assert.deepEqual(after, before, "a failed load changed the model");

    const same = new Unit3d({
      inChannels: 3,
      outChannels: 4,
      kernel: 3,
      rng: new Rng(2),
    });
    const result = await loadStateInto(same, path, { strict: false });
    assert.deepEqual(result.missing, ["bn.bias"]);
    assert.deepEqual(result.unexpected, ["bn.num_batches_tracked"]);
    const [loadedWeight] = await readAll([same.conv3d.weight]);
    const [sourceWeight] = await readAll([source.conv3d.weight]);
    assert.deepEqual(loadedWeight, sourceWeight);
    for (const m of [source, wider, same]) m.dispose();
    extra.dispose();
  });
});
