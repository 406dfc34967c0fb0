import assert from "node:assert/strict";
import { join } from "node:path";
import { runScript } from "../helpers.ts";

const deno = runScript;

/** Returns the first folder named `name` under `root`, depth first. */
function findFolder(root: string, name: string): string | undefined {
  for (const entry of Deno.readDirSync(root)) {
    if (!entry.isDirectory) continue;
    const path = join(root, entry.name);
    if (entry.name === name) return path;
    const found = findFolder(path, name);
    if (found) return found;
  }
  return undefined;
}

Deno.test("train help lists every option", async () => {
  const { code, stdout } = await deno(["experiments/train.ts", "--help"]);
  assert.equal(code, 0);
  for (
    const flag of [
      "--data",
      "--variant",
      "--no-prior",
      "--features",
      "--fold",
      "--resume",
      "--smoke",
    ]
  ) {
    assert.match(stdout, new RegExp(flag));
  }
});

Deno.test("train rejects bad options", async () => {
  const unknown = await deno(["experiments/train.ts", "ck+"]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /Unknown dataset 'ck\+'; choose one of smic, casme2, samm, megc2019/,
  );

  const variant = await deno([
    "experiments/train.ts",
    "smic",
    "--variant",
    "q",
  ]);
  assert.equal(variant.code, 2);
  assert.match(variant.stderr, /--variant/);

  const seed = await deno(["experiments/train.ts", "smic", "--seed", "x1"]);
  assert.equal(seed.code, 2);
  assert.match(seed.stderr, /--seed expects a number, got 'x1'/);

  const hex = await deno(["experiments/train.ts", "smic", "--seed", "0x10"]);
  assert.equal(hex.code, 2);
  assert.match(hex.stderr, /--seed expects a number, got '0x10'/);

  const name = await deno(["experiments/train.ts", "smic", "--name", "../up"]);
  assert.equal(name.code, 2);
  assert.match(name.stderr, /--name: a folder name of letters/);

  // A negative number after its option reaches the range check.
  const negative = await deno(["experiments/train.ts", "smic", "--seed", "-1"]);
  assert.equal(negative.code, 2);
  assert.match(negative.stderr, /--seed: .*>=0 \(got -1\)/);
});

Deno.test("train reports a missing or malformed dataset", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "nowhere");
    const absent = await deno([
      "experiments/train.ts",
      "smic",
      "--data",
      missing,
      "--out",
      dir,
    ]);
    assert.equal(absent.code, 1);
    assert.match(
      absent.stderr,
      /Dataset folder .*nowhere \(--data\) does not exist/,
    );

    const empty = join(dir, "empty");
    await Deno.mkdir(empty);
    const malformed = await deno([
      "experiments/train.ts",
      "smic",
      "--data",
      empty,
      "--out",
      dir,
    ]);
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /error: .*SMIC/);

    // Subject folders without micro/<emotion>/<clip> folders hold no clips.
    const flat = join(dir, "flat");
    await Deno.mkdir(join(flat, "HS", "s1"), { recursive: true });
    await Deno.writeFile(
      join(flat, "HS", "s1", "image001.bmp"),
      new Uint8Array(8),
    );
    const noClips = await deno([
      "experiments/train.ts",
      "smic",
      "--data",
      flat,
      "--out",
      dir,
    ]);
    assert.equal(noClips.code, 1);
    assert.match(noClips.stderr, /No smic clips found in .*flat/);
    assert.match(noClips.stderr, /SMIC_all_cropped\/HS\/s1\/micro/);

    // Runs that failed before their first fold leave no run folder.
    assert.match(
      noClips.stderr,
      /removed .*: the run failed before its first fold/,
    );
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, ["empty", "flat"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "train smoke run writes a report and resumes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const data = join(dir, "smic");
      const synth = await deno([
        "experiments/data.ts",
        "synth",
        "smic",
        "--out",
        data,
        "--seed",
        "3",
        "--size",
        "48",
      ]);
      assert.equal(synth.code, 0, synth.stderr);

      const out = join(dir, "runs");
      // A fold the smoke set lacks is rejected before preprocessing starts.
      const missingFold = await deno([
        "experiments/train.ts",
        "smic",
        "--data",
        data,
        "--smoke",
        "--fold",
        "1,7",
        "--out",
        join(dir, "rejected"),
      ]);
      assert.equal(missingFold.code, 1);
      assert.match(
        missingFold.stderr,
        /--fold 7 does not exist: the --smoke subset has 3 subjects, so folds 0\.\.2/,
      );
      assert.doesNotMatch(missingFold.stderr, /preprocess: start/);

      const run = await deno([
        "experiments/train.ts",
        "smic",
        "--data",
        data,
        "--smoke",
        "--record-gradients",
        "1",
        "--out",
        out,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /done: 3\/3 folds, accuracy/);
      const [runName] = [...Deno.readDirSync(out)].map((e) => e.name);
      const runDir = join(out, runName);
      const metrics = JSON.parse(
        Deno.readTextFileSync(join(runDir, "metrics.json")),
      );
      assert.equal(metrics.folds, 3);
      assert.equal(
        metrics.overall.count,
        metrics.overall.confusion.flat().reduce(
          (a: number, b: number) => a + b,
          0,
        ),
      );
      const report = Deno.readTextFileSync(join(runDir, "report.md"));
      assert.match(report, /## Confusion matrix/);
      assert.match(report, /mode: SMOKE run/);
      assert.match(report, /wall time in 1 session of train/);
      const fold0 = JSON.parse(
        Deno.readTextFileSync(join(runDir, "folds", "00", "predictions.json")),
      );
      assert.match(fold0.predictions[0].clip, /^s\d+\/s\d+_/);
      assert.equal(fold0.synthetic, true);

      // --name never reuses an existing run folder, and leaves it intact.
      const existing = await deno([
        "experiments/train.ts",
        "smic",
        "--data",
        data,
        "--smoke",
        "--out",
        out,
        "--name",
        runName,
      ]);
      assert.equal(existing.code, 1);
      assert.match(
        existing.stderr,
        /\(--name\) already exists; continue it with --resume/,
      );
      assert.ok(Deno.statSync(join(runDir, "metrics.json")).isFile);

      // predict classifies one of the clips with fold 0's model.
      const clipName = fold0.predictions[0].clip.split("/")[1];
      const clipDir = findFolder(data, clipName);
      assert.ok(clipDir, `clip folder ${clipName} found`);
      const predicted = await deno([
        "experiments/predict.ts",
        runDir,
        clipDir,
        "--out",
        join(dir, "predicted"),
      ]);
      assert.equal(predicted.code, 0, predicted.stderr);
      assert.match(predicted.stdout, /predicted: (negative|positive|surprise)/);
      assert.ok(
        [...Deno.readDirSync(join(dir, "predicted"))].some((e) =>
          e.name.endsWith("-flow.png")
        ),
      );
      const frameFile = join(clipDir, [...Deno.readDirSync(clipDir)][0].name);
      const notFolder = await deno([
        "experiments/predict.ts",
        runDir,
        frameFile,
      ]);
      assert.equal(notFolder.code, 1);
      assert.match(notFolder.stderr, /is a file; CLIP must be the folder/);
      const badApex = await deno([
        "experiments/predict.ts",
        runDir,
        clipDir,
        "--apex",
        "999999",
      ]);
      assert.equal(badApex.code, 1);
      assert.match(
        badApex.stderr,
        /--apex 999999 is not a frame .*nearest frame is \d+/,
      );
      assert.match(report, /## Per-layer gradient norms over training/);
      const gradients = JSON.parse(
        Deno.readTextFileSync(join(runDir, "folds", "00", "gradients.json")),
      );
      assert.ok(gradients.length > 0, "gradient records were written");
      assert.ok(gradients[0].layers.length > 0);
      for (
        const plot of [
          "loss.svg",
          "accuracy.svg",
          "confusion.svg",
          "gradients.svg",
        ]
      ) {
        assert.match(
          Deno.readTextFileSync(join(runDir, "plots", plot)),
          /<svg/,
        );
      }

      // The second predictions file disappears: resume retrains that fold
      // from its checkpoints and ends with the same metrics.
      await Deno.remove(join(runDir, "folds", "01", "predictions.json"));
      await Deno.remove(join(runDir, "folds", "01", "plsm.safetensors"));
      // --record-gradients 0 is the default but not the run's saved 1, so
      // it is reported as ignored.
      const resumed = await deno([
        "experiments/train.ts",
        "smic",
        "--resume",
        runDir,
        "--record-gradients",
        "0",
      ]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(
        resumed.stderr,
        /keeps the run's saved settings; ignored recordGradients=0/,
      );
      assert.match(resumed.stderr, /fold 0 \(.*\): finished earlier/);
      assert.match(resumed.stderr, /fold 1 pltn: reused .*pltn\.safetensors/);
      const again = JSON.parse(
        Deno.readTextFileSync(join(runDir, "metrics.json")),
      );
      assert.deepEqual(again.overall.confusion, metrics.overall.confusion);
      assert.equal(again.overall.accuracy, metrics.overall.accuracy);
      // The resumed session's time is added to the first one's.
      assert.equal(again.sessions, 2);
      assert.ok(again.seconds > metrics.seconds);

      const otherDataset = await deno([
        "experiments/train.ts",
        "casme2",
        "--resume",
        runDir,
      ]);
      assert.equal(otherDataset.code, 1);
      assert.match(
        otherDataset.stderr,
        /is a smic run, but the command names casme2/,
      );

      // Merged folds without metrics.json keep the synthetic label, and an
      // unreadable session record only loses its own time.
      await Deno.remove(join(runDir, "metrics.json"));
      Deno.writeTextFileSync(join(runDir, "sessions", "broken.json"), "{");
      const merged = await deno(["experiments/report.ts", runDir]);
      assert.equal(merged.code, 0, merged.stderr);
      assert.match(merged.stderr, /broken\.json is unreadable/);
      assert.match(merged.stdout, /3 folds: accuracy/);
      assert.match(
        Deno.readTextFileSync(join(runDir, "report.md")),
        /data: SYNTHETIC/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
