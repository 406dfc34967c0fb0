import assert from "node:assert/strict";
import { sizeClass } from "../../src/gpu/buffer_pool.ts";
import { foldWorkgroups } from "../../src/gpu/runtime.ts";
import {
  PRELUDE_LINES,
  specialize,
  specializeWithLines,
} from "../../src/gpu/shader.ts";
import { UniformLayout } from "../../src/gpu/uniforms.ts";
import { empty, readAll, scope, tensor, zeros } from "../../src/tensor.ts";
import { relu } from "../../src/ops/mod.ts";
import { gpuTest } from "../helpers.ts";

Deno.test("uniform layout follows WGSL alignment", () => {
  const layout = new UniformLayout([
    ["n", "u32"],
    ["scale", "f32"],
    ["pair", "vec2<u32>"],
    ["x", "u32"],
    ["v", "vec4<f32>"],
    ["shape", "array<vec4<u32>,2>"],
  ]);
  const offsets = Object.fromEntries(
    layout.fields.map((f) => [f.name, f.offset]),
  );
  assert.deepEqual(offsets, {
    n: 0,
    scale: 4,
    pair: 8,
    x: 16,
    v: 32,
    shape: 48,
  });
  assert.equal(layout.byteSize, 80);
  const bytes = layout.pack({
    n: 7,
    scale: 0.5,
    pair: [1, 2],
    x: 3,
    v: [1, 2, 3, 4],
    shape: [5, 6],
  });
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0, true), 7);
  assert.equal(view.getFloat32(4, true), 0.5);
  assert.equal(view.getUint32(12, true), 2);
  assert.equal(view.getUint32(52, true), 6);
  assert.equal(view.getUint32(56, true), 0);
});

Deno.test("uniform packing rejects bad values", () => {
  const layout = new UniformLayout([["n", "u32"]]);
  assert.throws(() => layout.pack({ n: -1 }), /must be a u32, got -1/);
  assert.throws(() => layout.pack({}), /'n' \(u32\) has no value/);
});

Deno.test("workgroup grid folds above 65535", () => {
  assert.deepEqual(foldWorkgroups(10), [10, 1, 1]);
  const [x, y, z] = foldWorkgroups(65536 * 3 + 5);
  assert.ok(x <= 65535);
  assert.ok(y <= 65535);
  assert.equal(z, 1);
  assert.ok(x * y >= 65536 * 3 + 5);
  assert.ok(x * (y - 1) < 65536 * 3 + 5, "no whole row of idle workgroups");
});

Deno.test("size classes bound the slack at 25%", () => {
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(4096), 4096);
  for (const bytes of [5000, 70_000, 1_234_567, 99_999_999]) {
    const size = sizeClass(bytes);
    assert.ok(size >= bytes, `${bytes} -> ${size}`);
    assert.ok(size <= bytes * 1.25, `${bytes} -> ${size}`);
  }
});

Deno.test("#if switches specialize kernels", () => {
  const source = "a\n#if FAST\nfast\n#else\nslow\n#endif\nz";
  const fast = specialize({ file: "x.wgsl", source, defines: { FAST: true } });
  assert.match(fast, /fast/);
  assert.doesNotMatch(fast, /slow/);
  assert.throws(
    () => specialize({ file: "x.wgsl", source }),
    /x.wgsl uses '#if FAST' but the kernel was built without a value/,
  );
});

gpuTest("shader compile errors name the file and line", async (rt) => {
  const source =
    "@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = undefined_name;\n}\n";
  const message = await rt.pipelines.check({
    file: "shaders/ops/broken.wgsl",
    source,
  });
  assert.ok(message, "a compile error is reported");
  assert.match(message!, /shaders\/ops\/broken\.wgsl:3:/);
  assert.ok(PRELUDE_LINES > 1);
});

gpuTest(
  "compile errors after an inactive block name the file's line",
  async (rt) => {
    const source = [
      "@compute @workgroup_size(1)", // 1
      "fn main() {", // 2
      "#if FAST", // 3
      "  let a = 1.0;", // 4
      "  let b = 2.0;", // 5
      "#else", // 6
      "  let c = 3.0;", // 7
      "#endif", // 8
      "  let x: f32 = undefined_name;", // 9
      "}", // 10
    ].join("\n");
    const message = await rt.pipelines.check({
      file: "shaders/ops/broken.wgsl",
      source,
      defines: { FAST: false },
    });
    assert.ok(message, "a compile error is reported");
    assert.match(message!, /shaders\/ops\/broken\.wgsl:9:/);

    // The resolved text keeps no line tags.
    const { code, sourceLines } = specializeWithLines({
      file: "x.wgsl",
      source,
      defines: { FAST: true },
    });
    assert.doesNotMatch(code, /@line/);
    assert.ok(sourceLines.includes(4));
    assert.ok(!sourceLines.includes(7));
  },
);

gpuTest("pipelines are cached by specialization", (rt) => {
  const before = rt.pipelines.stats();
  scope(() => {
    relu(tensor([1, -1], [2]));
    relu(tensor([2, -2, 3], [3]));
  });
  const after = rt.pipelines.stats();
  assert.ok(after.hits >= before.hits + 1, "second relu reuses the pipeline");
  assert.ok(after.misses - before.misses <= 1);
});

gpuTest("buffers return to the pool on dispose", async (rt) => {
  await rt.sync();
  const start = rt.pool.stats();
  const t = zeros([1000]);
  assert.equal(rt.pool.stats().liveBytes, start.liveBytes + 4096);
  t.dispose();
  t.dispose();
  const end = rt.pool.stats();
  assert.equal(end.liveBytes, start.liveBytes);
  const again = zeros([1000]);
  assert.equal(rt.pool.stats().reused, end.reused + 1);
  again.dispose();
});

gpuTest("a disposed tensor cannot be used", () => {
  const t = tensor([1, 2], [2], "f32", "probe");
  t.dispose();
  assert.throws(() => relu(t), /probe f32\[2\] was used after dispose\(\)/);
});

gpuTest("several readbacks share one sync", async (rt) => {
  const tensors = [
    tensor([1], [1]),
    tensor([2, 3], [2]),
    tensor([4, 5, 6], [3], "i32"),
  ];
  const before = rt.stats().syncs;
  const values = await readAll(tensors);
  assert.equal(rt.stats().syncs, before + 1);
  assert.deepEqual([...values[1]], [2, 3]);
  assert.ok(values[2] instanceof Int32Array);
  tensors.forEach((t) => t.dispose());
});

gpuTest("bindings above the limit are rejected", (rt) => {
  const big = empty([4]);
  assert.throws(
    () =>
      rt.dispatch({
        op: "probe.op",
        kernel: { file: "shaders/ops/accumulate.wgsl", source: "" },
        bindings: [{
          buffer: big.buffer,
          bytes: rt.limits.maxStorageBufferBindingSize + 4,
        }],
        workgroups: 1,
        shapes: "x [huge]",
      }),
    /probe\.op: binding 1 needs .* above the adapter's maxStorageBufferBindingSize .* \(shapes x \[huge\]\)/,
  );
  big.dispose();
});

gpuTest("scopes dispose what they do not return", async (rt) => {
  await rt.sync();
  const live = rt.pool.stats().liveBytes;
  const kept = scope(() => {
    const a = tensor([1, 2, 3], [3]);
    const b = relu(a);
    relu(b);
    return b;
  });
  await rt.sync();
  assert.equal(rt.pool.stats().liveBytes, live + 256);
  assert.deepEqual([...(await kept.data())], [1, 2, 3]);
  kept.dispose();
  assert.equal(rt.pool.stats().liveBytes, live);
});

gpuTest("tensor creation checks data and shape", () => {
  assert.throws(
    () => tensor([1, 2, 3], [2, 2]),
    /length 3 does not match shape \[2,2\]/,
  );
  assert.throws(() => tensor([1], [1.5]), /invalid dimension 1.5/);
});

gpuTest("every WGSL file compiles", async (rt) => {
  const root = new URL("../../shaders/", import.meta.url);
  const failures: string[] = [];
  const visit = async (dir: URL, prefix: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isDirectory) {
        await visit(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`);
        continue;
      }
      if (!entry.name.endsWith(".wgsl") || prefix === "") continue;
      const source = Deno.readTextFileSync(new URL(entry.name, dir));
      // Kernels with #if switches are compiled in each variant by the
      // operator tests; here every switch is off.
      const defines = Object.fromEntries(
        [...source.matchAll(/#(?:el)?if\s+!?(\w+)/g)].map((m) => [m[1], false]),
      );
      const file = `shaders/${prefix}${entry.name}`;
      const error = await rt.pipelines.check({ file, source, defines });
      if (error) failures.push(error);
    }
  };
  await visit(root, "");
  assert.deepEqual(failures, []);
});
