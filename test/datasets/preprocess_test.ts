import assert from "node:assert/strict";
import { join } from "node:path";
import { synthesize } from "../../datasets/mod.ts";
import {
  Preprocessor,
  type PreprocessSettings,
} from "../../datasets/preprocess.ts";
import { loadSmic } from "../../datasets/smic.ts";
import { middleFrame } from "../../datasets/types.ts";
import { gpuTest } from "../helpers.ts";

const settings: PreprocessSettings = {
  workSize: 16,
  inputSize: 16,
  frames: 5,
  roundFlow: false,
  tvl1: { nscales: 1, warps: 1, innerIterations: 5 },
  apexCandidates: 3,
};

gpuTest("preprocessing cache recomputes only what changed", async () => {
  const root = await Deno.makeTempDir();
  try {
    const data = join(root, "smic");
    await synthesize("smic", data, { seed: 5, size: 32 });
    const { clips } = await loadSmic(data, {});
    const [first, second] = clips;
    const cache = join(root, "cache");
    const pre = new Preprocessor(settings, cache);

    const a = await pre.clip(first, [1, 5]);
    assert.equal(a.fromCache, 0);
    assert.equal(a.byAlpha.get(5)!.length, 5 * 4 * 16 * 16);
    assert.equal(
      a.apexSource === "estimated" || a.apexSource === "middle",
      true,
    );
    const b = await pre.clip(second, [5]);
    assert.equal(b.fromCache, 0);

    const again = await pre.clip(first, [1, 5]);
    assert.equal(again.fromCache, 2);
    assert.deepEqual(again.byAlpha.get(5), a.byAlpha.get(5));
    assert.equal(again.apex, a.apex);

    const more = await pre.clip(first, [1, 5, 10]);
    assert.equal(more.fromCache, 2, "only the new alpha is computed");

    const changed = new Preprocessor({ ...settings, roundFlow: true }, cache);
    assert.equal(
      (await changed.clip(first, [5])).fromCache,
      0,
      "a changed setting recomputes",
    );

    // A rewritten onset frame (new modification time) invalidates its clip only.
    const onsetPath = first.framePaths[first.frameNumbers.indexOf(first.onset)];
    await Deno.utime(onsetPath, new Date(), new Date(Date.now() + 5000));
    assert.equal((await pre.clip(first, [5])).fromCache, 0);
    assert.equal((await pre.clip(second, [5])).fromCache, 1);

    const leftovers = [...Deno.readDirSync(cache)].filter((e) =>
      e.name.includes(".tmp")
    );
    assert.deepEqual(leftovers, [], "no temporary files remain");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

gpuTest("with no apex candidates the middle frame is the apex", async () => {
  const root = await Deno.makeTempDir();
  try {
    const data = join(root, "smic");
    await synthesize("smic", data, { seed: 6, size: 32 });
    const { clips } = await loadSmic(data, {});
    const [clip] = clips;
    const pre = new Preprocessor(
      { ...settings, apexCandidates: 0 },
      join(root, "cache"),
    );
    const first = await pre.clip(clip, [5]);
    assert.equal(first.apexSource, "middle");
    assert.equal(first.apex, middleFrame(clip));
    const again = await pre.clip(clip, [5]);
    assert.equal(again.fromCache, 1);
    assert.equal(again.apexSource, "middle");
    assert.equal(again.apex, first.apex);
    // The middle frame is part of the cache key: rewriting it recomputes.
    const middlePath = clip.framePaths[clip.frameNumbers.indexOf(first.apex)];
    await Deno.utime(middlePath, new Date(), new Date(Date.now() + 5000));
    assert.equal((await pre.clip(clip, [5])).fromCache, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
