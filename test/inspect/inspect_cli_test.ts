import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type InspectResult,
  main,
  parseInspectOptions,
  runInspection,
} from "../../experiments/inspect.ts";
import { saveSafetensors } from "../../src/io/safetensors.ts";
import { CaI3d } from "../../src/mer/ca_i3d.ts";
import { RunLog } from "../../src/util/log.ts";
import { gpuTest } from "../helpers.ts";
import { tinyPreset } from "../mer/tiny_preset.ts";

async function tinyPresetFile(dir: string): Promise<string> {
  const path = join(dir, "tiny.json");
  await Deno.writeTextFile(path, JSON.stringify(tinyPreset()));
  return path;
}

async function readResult(out: string): Promise<InspectResult> {
  return JSON.parse(await Deno.readTextFile(join(out, "inspect.json")));
}

gpuTest("inspect writes JSON and SVG", async () => {
  const dir = await Deno.makeTempDir({ prefix: "inspect_test_" });
  try {
    const preset = await tinyPresetFile(dir);
    const out = join(dir, "out");
    const code = await main(["--preset", preset, "--out", out, "--bins", "8"]);
    assert.equal(code, 0);
    const result = await readResult(out);
    assert.match(result.input, /synthetic/);
    assert.ok(Number.isFinite(result.lossValue));
    const paths = result.step.parameters.map((s) => s.path);
    assert.ok(paths.includes("encoder.conv3d_1a.conv3d.weight"), paths.join());
    assert.ok(paths.includes("head.weight"), paths.join());
    for (const s of result.step.parameters) {
      assert.ok(s.norm > 0, `${s.path} norm ${s.norm}`);
      assert.equal(s.nan, 0);
      // Zero-initialised biases have no update ratio (||w|| = 0).
      if (s.parameter === "weight") {
        assert.notEqual(s.updateRatio, null, `${s.path} update ratio`);
        assert.ok(s.updateRatio! > 0, `${s.path} update ratio`);
      }
      const total = s.histogram!.counts.reduce((a, c) => a + c, 0);
      assert.equal(total, s.count, `${s.path} histogram total`);
    }
    const svg = await Deno.readTextFile(join(out, "gradient_norms.svg"));
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /encoder\.conv3d_1a\.conv3d\.weight/);
    assert.match(svg, /gradient L2 norm/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("inspect layer pattern filters", async () => {
  const dir = await Deno.makeTempDir({ prefix: "inspect_test_" });
  try {
    const preset = await tinyPresetFile(dir);
    const out = join(dir, "out");
    const code = await main([
      "--preset",
      preset,
      "--out",
      out,
      "--loss",
      "triplet",
      "--layer",
      "mixed_4b\\..*\\.bn\\.",
      "--json",
    ]);
    assert.equal(code, 0);
    const result = await readResult(out);
    const paths = result.step.parameters.map((s) => s.path);
    assert.ok(paths.length > 0, "some parameters match");
    for (const path of paths) {
      assert.match(path, /^encoder\.mixed_4b\..*\.bn\./);
    }
    assert.equal(result.layer, "mixed_4b\\..*\\.bn\\.");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("inspect loads a checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "inspect_test_" });
  try {
    const preset = await tinyPresetFile(dir);
    const model = new CaI3d(tinyPreset().model, 9);
    const checkpoint = join(dir, "pltn.safetensors");
    await saveSafetensors(checkpoint, model.stateDict());
    const weight = model.stateDict().get("conv3d_1a.conv3d.weight")!;
    const saved = (await weight.data()) as Float32Array;
    const savedNorm = Math.sqrt(saved.reduce((a, v) => a + v * v, 0));
    model.dispose();
    const out = join(dir, "out");
    const code = await main([
      "--preset",
      preset,
      "--checkpoint",
      checkpoint,
      "--out",
      out,
      "--json",
    ]);
    assert.equal(code, 0);
    const result = await readResult(out);
    assert.equal(result.checkpoint, checkpoint);
    // Plain SGD: ratio = lr ||g|| / ||w||, so ||w|| shows which weights ran.
    const conv = result.step.parameters.find((s) =>
      s.path === "encoder.conv3d_1a.conv3d.weight"
    )!;
    const weightNorm = result.lr * conv.norm / conv.updateRatio!;
    assert.ok(
      Math.abs(weightNorm - savedNorm) <= 1e-3 * savedNorm,
      `weight norm ${weightNorm}, saved ${savedNorm}`,
    );

    // The same checkpoint into the compact graph fails with the mismatch.
    const mismatch = await main([
      "--checkpoint",
      checkpoint,
      "--out",
      join(dir, "mismatch"),
    ]);
    assert.equal(mismatch, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("inspect nan check names operator", async () => {
  const dir = await Deno.makeTempDir({ prefix: "inspect_test_" });
  try {
    const preset = await tinyPresetFile(dir);
    const parsed = parseInspectOptions(["--preset", preset, "--nan"]);
    assert.notEqual(parsed, "help");
    if (parsed === "help") return;
    const log = new RunLog();
    const clean = await runInspection(parsed, log);
    assert.equal(clean.firstNonFinite, null);

    const p = tinyPreset().model;
    const input = new Float32Array(4 * p.inputChannels * p.frames * p.size ** 2)
      .fill(0.5);
    input[123] = NaN;
    const poisoned = await runInspection({ ...parsed, input }, log);
    assert.match(
      poisoned.firstNonFinite!,
      /^conv3d forward in encoder\.conv3d_1a\.conv3d$/,
    );
    assert.ok(poisoned.step.parameters.some((s) => s.nan > 0));
    log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inspect rejects bad options", () => {
  assert.throws(
    () => parseInspectOptions(["--dataset", "ck+"]),
    /Unknown dataset 'ck\+'/,
  );
  assert.throws(
    () => parseInspectOptions(["--data", "x"]),
    /--data requires --dataset/,
  );
  assert.throws(
    () => parseInspectOptions(["--layer", "("]),
    /not a valid regular expression/,
  );
  assert.throws(() => parseInspectOptions(["--batch", "0"]), /--batch/);
  assert.throws(() => parseInspectOptions(["--loss", "mse"]), /--loss/);
  assert.equal(parseInspectOptions(["--help"]), "help");
});
