/// <reference lib="dom" />
/**
 * Runs the example notebook in headless Chromium on its WebGPU adapter
 * (SwiftShader). Every example cell must finish without an error and draw
 * its plots, and a throwing cell must show its error in that cell. Saving
 * and loading must round-trip the cells. Leaves a screenshot in
 * test/out/notebook.png.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { serveNotebook } from "../../experiments/notebook.ts";
import {
  buildTestSite,
  CHROMIUM_PATH,
  chromiumArgs,
  requireChromium,
} from "./site.ts";

const OUT_DIR = resolve(import.meta.dirname!, "../out");

/** Example cells that must draw at least one SVG, by their first comment. */
const PLOT_CELLS = [
  "Per-layer gradient norms",
  "Histogram of the gradient",
  "Coordinate Attention gates",
  "TV-L1 flow of a synthetic pair",
  "A few Adam steps",
];

Deno.test({
  name: "notebook runs example cells in Chromium",
  // Playwright keeps its pipe to the browser open until close() resolves.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await requireChromium();
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
      acceptDownloads: true,
    });
    try {
      const page = browser.pages()[0] ?? await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(error.message));

      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector("body[data-state=idle]");
      const cellCount = await page.locator(".cell").count();
      assert.ok(cellCount >= 7, `expected the example cells, got ${cellCount}`);

      const started = performance.now();
      await page.click("#run-all");
      await page.waitForSelector("body[data-state=idle]", { timeout: 80_000 });
      const seconds = (performance.now() - started) / 1000;
      console.log(`example notebook ran in ${seconds.toFixed(1)} s`);

      const cells = await page.$$eval(
        ".cell",
        (elements) =>
          elements.map((cell) => ({
            status: (cell as HTMLElement).dataset.status,
            seconds: (cell as HTMLElement).dataset.seconds,
            source: cell.querySelector("textarea")!.value.split("\n")[0],
            error: cell.querySelector("pre.error")?.textContent ?? null,
            svgs: cell.querySelectorAll(".output svg").length,
            // Data marks drawn by Observable Plot, axes and grids excluded.
            marks: cell.querySelectorAll(
              [
                "g[aria-label=dot] circle",
                "g[aria-label=bar] rect",
                "g[aria-label=rect] rect",
                "g[aria-label=cell] rect",
                "g[aria-label=vector] path",
                "g[aria-label=line] path",
              ].map((mark) => `.output svg ${mark}`).join(", "),
            ).length,
            figures:
              [...cell.querySelector(".output")!.children].filter((child) =>
                child.matches("svg, figure")
              ).length,
            text: (cell.querySelector(".output") as HTMLElement).innerText,
          })),
      );
      for (const cell of cells) {
        console.log(`  ${cell.seconds} s  ${cell.source}`);
        assert.equal(cell.error, null, `cell "${cell.source}" failed`);
        assert.equal(cell.status, "ok", `cell "${cell.source}" did not finish`);
      }
      for (const title of PLOT_CELLS) {
        const cell = cells.find((c) => c.source.includes(title));
        assert.ok(cell, `no example cell starting with "${title}"`);
        assert.ok(cell.svgs > 0, `cell "${title}" drew no SVG plot`);
        assert.ok(cell.marks > 0, `cell "${title}" drew a plot with no marks`);
      }
      assert.match(cells[0].text, /WebGPU adapter: /);
      const gates = cells.find((c) =>
        c.source.includes("Coordinate Attention")
      );
      assert.equal(gates?.figures, 3, "expected one gate heatmap per axis");

      const losses = await page.$$eval(
        ".cell:last-child .output table td:nth-child(2)",
        (tds) => tds.map((td) => Number(td.textContent)),
      );
      assert.equal(losses.length, 6, "expected six training losses");
      assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
      assert.ok(
        losses[5] < losses[0],
        `training did not lower the loss: ${losses.join(", ")}`,
      );
      await Deno.mkdir(OUT_DIR, { recursive: true });
      await page.screenshot({
        path: join(OUT_DIR, "notebook.png"),
        fullPage: true,
      });

      // A throwing cell shows its message in that cell and nowhere else.
      await page.click("#add-cell");
      const failing = page.locator(".cell").last();
      await failing.locator("textarea").fill(
        'throw new RangeError("deliberate failure in a cell");',
      );
      await failing.locator("button.run").click();
      await page.waitForSelector(".cell:last-child[data-status=error]");
      assert.equal(
        await failing.locator("pre.error").textContent(),
        "RangeError: deliberate failure in a cell",
      );
      assert.equal(await page.locator("pre.error").count(), 1);

      // Save downloads the cells as JSON, Load reads them back.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#save"),
      ]);
      const saved = join(root, "saved.json");
      await download.saveAs(saved);
      const file = JSON.parse(await Deno.readTextFile(saved));
      assert.equal(file.format, "mpfnet-notebook");
      assert.equal(file.cells.length, cellCount + 1);
      assert.match(file.cells.at(-1).source.join("\n"), /deliberate failure/);
      await page.evaluate(() => document.querySelector(".cell")!.remove());
      await page.setInputFiles("#upload", saved);
      await page.waitForFunction(
        (count) => document.querySelectorAll(".cell").length === count,
        cellCount + 1,
      );
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      controller.abort();
      await server.finished;
      await Deno.remove(root, { recursive: true });
      await Deno.remove(userDataDir, { recursive: true });
    }
  },
});
