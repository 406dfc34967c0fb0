import assert from "node:assert/strict";
import {
  attachNegativeNumbers,
  parseCommandLine,
  UsageError,
} from "../../src/util/cli.ts";
import { runScript } from "../helpers.ts";

const options = {
  seed: { type: "string" },
  smoke: { type: "boolean" },
} as const;

Deno.test("attachNegativeNumbers joins negative values", () => {
  assert.deepEqual(
    attachNegativeNumbers(["smic", "--seed", "-1", "--smoke"], options),
    ["smic", "--seed=-1", "--smoke"],
  );
  assert.deepEqual(attachNegativeNumbers(["--seed", "-.5"], options), [
    "--seed=-.5",
  ]);
  // A boolean option never takes the next word, and a flag is not a number.
  assert.deepEqual(attachNegativeNumbers(["--smoke", "-1"], options), [
    "--smoke",
    "-1",
  ]);
  assert.deepEqual(attachNegativeNumbers(["--seed", "-h"], options), [
    "--seed",
    "-h",
  ]);
});

Deno.test("parseCommandLine values and bad options", () => {
  const { values } = parseCommandLine(
    { args: ["--seed", "-3"], options },
    "Usage: x",
  );
  assert.equal(values.seed, "-3");
  assert.throws(
    () => parseCommandLine({ args: ["--sead", "1"], options }, "Usage: x"),
    (error: unknown) =>
      error instanceof UsageError && /--sead/.test(error.message) &&
      error.message.endsWith("Usage: x"),
  );
});

Deno.test("script bad option exits without trace", async () => {
  for (
    const args of [
      ["bench/profile.ts", "--batch", "-3"],
      ["experiments/report.ts", "--bogus"],
    ]
  ) {
    const { code, stderr } = await runScript(args);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /Usage: /);
    assert.doesNotMatch(stderr, /^\s+at /m);
  }
});
