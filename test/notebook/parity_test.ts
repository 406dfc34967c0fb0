/**
 * The same forward and backward step of a Coordinate Attention block in
 * Deno (its WebGPU adapter) and in headless Chromium (SwiftShader) gives the
 * same loss and gradients within atol 1e-4, rtol 1e-3.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { serveNotebook } from "../../experiments/notebook.ts";
import {
  coordinateAttentionStep,
  type StepResult,
} from "../../notebook/checks.ts";
import { initRuntime } from "../../src/gpu/runtime.ts";
import { assertClose } from "../helpers.ts";
import {
  buildTestSite,
  CHROMIUM_PATH,
  chromiumArgs,
  requireChromium,
} from "./site.ts";

const TOLERANCE = { atol: 1e-4, rtol: 1e-3 };

async function runInChromium(): Promise<StepResult> {
  const root = await buildTestSite();
  const userDataDir = await Deno.makeTempDir({ prefix: "chromium_" });
  const controller = new AbortController();
  let port = 0;
  const server = serveNotebook({
    port: 0,
    root,
    signal: controller.signal,
    onListen: (address) => port = address.port,
  });
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    args: chromiumArgs(),
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector("body[data-state=idle]");
    return await page.evaluate(async () => {
      // deno-lint-ignore no-explicit-any
      const api = (globalThis as any).mpfnet;
      await api.initRuntime({ log: false });
      return await api.checks.coordinateAttentionStep();
    });
  } finally {
    await browser.close();
    controller.abort();
    await server.finished;
    await Deno.remove(root, { recursive: true });
    await Deno.remove(userDataDir, { recursive: true });
  }
}

Deno.test({
  name: "CA block step matches in Chromium",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await requireChromium();
    await initRuntime({ log: false });
    const deno = await coordinateAttentionStep();
    const browser = await runInChromium();

    assert.ok(Number.isFinite(deno.loss), `Deno loss ${deno.loss}`);
    assertClose([browser.loss], [deno.loss], TOLERANCE, "loss");
    assert.deepEqual(
      Object.keys(browser.gradients).sort(),
      Object.keys(deno.gradients).sort(),
    );
    assert.ok(Object.keys(deno.gradients).length > 10);
    let worst = Math.abs(browser.loss - deno.loss);
    for (const [name, expected] of Object.entries(deno.gradients)) {
      expected.forEach((g, i) => {
        worst = Math.max(worst, Math.abs(browser.gradients[name][i] - g));
      });
      assert.ok(
        expected.some((g) => g !== 0),
        `gradient of ${name} is all zeros in Deno`,
      );
      assertClose(browser.gradients[name], expected, TOLERANCE, name);
    }
    console.log(
      `loss ${deno.loss.toFixed(6)} (Deno) vs ${browser.loss.toFixed(6)} ` +
        `(Chromium); largest absolute difference ${worst.toExponential(2)}`,
    );
  },
});
