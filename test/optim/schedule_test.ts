/**
 * stepLr and cosineLr: known values, and PyTorch 1.13's StepLR and
 * CosineAnnealingLR (closed form and the recursive form that
 * `scheduler.step()` follows) from test/fixtures/torch_optim.py.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { cosineLr, type LrSchedule, stepLr } from "../../src/optim/schedule.ts";
import { assertClose } from "../helpers.ts";

const scheduleSchema = z.object({
  label: z.string(),
  kind: z.enum(["step", "cosine"]),
  options: z.object({
    baseLr: z.number(),
    stepSize: z.number().optional(),
    gamma: z.number().optional(),
    total: z.number().optional(),
    minLr: z.number().optional(),
  }),
  recursive: z.array(z.number()),
  closedForm: z.array(z.number()),
});

const FIXTURE = new URL("../fixtures/torch_optim/optim.json", import.meta.url);
const schedules = z.object({ schedules: z.array(scheduleSchema) })
  .parse(JSON.parse(Deno.readTextFileSync(FIXTURE))).schedules;

function build(s: z.infer<typeof scheduleSchema>): LrSchedule {
  const { baseLr, stepSize, gamma, total, minLr } = s.options;
  return s.kind === "step"
    ? stepLr(baseLr, { stepSize: stepSize!, gamma })
    : cosineLr(baseLr, { total: total!, minLr });
}

Deno.test("stepLr known values", () => {
  const schedule = stepLr(0.001, { stepSize: 10, gamma: 0.1 });
  assert.equal(schedule(0), 0.001);
  assert.equal(schedule(9), 0.001);
  assertClose([schedule(10)], [1e-4], { atol: 0, rtol: 1e-15 }, "epoch 10");
  assertClose([schedule(25)], [1e-5], { atol: 0, rtol: 1e-15 }, "epoch 25");
  assert.equal(stepLr(0.5, { stepSize: 3 })(3), 0.05, "default gamma 0.1");
});

Deno.test("cosineLr known values", () => {
  const schedule = cosineLr(0.1, { total: 100 });
  assert.equal(schedule(0), 0.1);
  assertClose([schedule(50)], [0.05], { atol: 1e-17, rtol: 1e-15 }, "half way");
  assertClose([schedule(100)], [0], { atol: 1e-17, rtol: 0 }, "end");
  assertClose([schedule(25)], [0.05 * (1 + Math.SQRT1_2)], {
    atol: 0,
    rtol: 1e-15,
  }, "quarter");
  const floored = cosineLr(0.1, { total: 10, minLr: 0.01 });
  assertClose(
    [floored(10)],
    [0.01],
    { atol: 0, rtol: 1e-15 },
    "minLr at the end",
  );
  const expected = 0.01 + 0.09 * (1 + Math.SQRT1_2) / 2;
  assertClose(
    [floored(2.5)],
    [expected],
    { atol: 0, rtol: 1e-15 },
    "fractional step",
  );
});

Deno.test("schedules match PyTorch", () => {
  assert.ok(schedules.length >= 4, "the fixture lost schedules");
  for (const s of schedules) {
    const schedule = build(s);
    const ours = s.closedForm.map((_, epoch) => schedule(epoch));
    assertClose(
      ours,
      s.closedForm,
      { atol: 1e-18, rtol: 1e-14 },
      `${s.label} closed form`,
    );
    // The recursive form accumulates rounding epoch by epoch.
    assertClose(
      ours,
      s.recursive,
      { atol: 1e-15, rtol: 1e-9 },
      `${s.label} recursive form`,
    );
  }
});

Deno.test("schedules reject invalid options", () => {
  assert.throws(
    () => stepLr(0.1, { stepSize: 0 }),
    /stepLr: stepSize must be a positive integer, got 0/,
  );
  assert.throws(
    () => stepLr(0.1, { stepSize: 2.5 }),
    /stepSize must be a positive integer/,
  );
  assert.throws(
    () => stepLr(-0.1, { stepSize: 2 }),
    /stepLr: baseLr must be a positive/,
  );
  assert.throws(
    () => cosineLr(0.1, { total: 0 }),
    /cosineLr: total must be a positive/,
  );
  assert.throws(
    () => cosineLr(0.1, { total: 5, minLr: 0.2 }),
    /minLr must be in \[0, baseLr = 0.1\]/,
  );
  assert.throws(
    () => stepLr(0.1, { stepSize: 2 })(-1),
    /the epoch must be a finite number >= 0, got -1/,
  );
  assert.throws(
    () => cosineLr(0.1, { total: 2 })(Number.NaN),
    /the epoch must be a finite number/,
  );
});
