/// <reference lib="dom" />
/**
 * Runs the example notebook in headless Chromium on its WebGPU adapter
 * (SwiftShader). Every example cell, JavaScript or TypeScript, must finish
 * without an error and draw its plots, and a throwing cell or a TypeScript
 * syntax error must show its error in that cell. Saving and loading must
 * round-trip the cells and their languages, and a file without languages
 * must load as JavaScript. Leaves a screenshot in test/out/notebook.png.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { chromium, type Page } from "playwright-core";
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

function cellLanguages(page: Page): Promise<string[]> {
  return page.$$eval(
    ".cell select.language",
    (selects) => selects.map((select) => (select as HTMLSelectElement).value),
  );
}

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
            language:
              (cell.querySelector("select.language") as HTMLSelectElement)
                .value,
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
      const typescriptCells = cells.filter((c) => c.language === "typescript");
      assert.ok(
        typescriptCells.length >= 2,
        `expected TypeScript example cells, got ${typescriptCells.length}`,
      );
      for (const cell of cells) {
        console.log(`  ${cell.seconds} s  ${cell.language}  ${cell.source}`);
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
      assert.equal(
        await failing.locator("select.language").inputValue(),
        "typescript",
        "a new cell should default to TypeScript",
      );
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

      // A TypeScript syntax error is reported in its cell with its line.
      await page.click("#add-cell");
      const invalid = page.locator(".cell").last();
      await invalid.locator("textarea").fill(
        "const a: number = 1;\nconst b: = a;\nreturn b;",
      );
      await invalid.locator("button.run").click();
      await page.waitForSelector(".cell:last-child[data-status=error]");
      assert.equal(
        await invalid.locator("pre.error").textContent(),
        "SyntaxError: Unexpected token at line 2, column 10",
      );
      assert.equal(await page.locator("pre.error").count(), 2);

      // Save downloads the cells as JSON, Load reads them back.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#save"),
      ]);
      const saved = join(root, "saved.json");
      await download.saveAs(saved);
      const file = JSON.parse(await Deno.readTextFile(saved));
      assert.equal(file.format, "mpfnet-notebook");
      assert.equal(file.cells.length, cellCount + 2);
      assert.match(file.cells.at(-2).source.join("\n"), /deliberate failure/);
      const savedLanguages = file.cells.map(
        (cell: { language: string }) => cell.language,
      );
      assert.deepEqual(savedLanguages, [
        ...cells.map((cell) => cell.language),
        "typescript",
        "typescript",
      ]);
      await page.evaluate(() => document.querySelector(".cell")!.remove());
      await page.setInputFiles("#upload", saved);
      await page.waitForFunction(
        (count) => document.querySelectorAll(".cell").length === count,
        cellCount + 2,
      );
      assert.deepEqual(await cellLanguages(page), savedLanguages);

      // A file without "language" fields loads its cells as JavaScript.
      const legacy = join(root, "legacy.json");
      await Deno.writeTextFile(
        legacy,
        JSON.stringify({
          format: "mpfnet-notebook",
          version: 1,
          cells: [{ source: "return 6 * 7;" }, { source: ["nb.x = 1;"] }],
        }),
      );
      await page.setInputFiles("#upload", legacy);
      await page.waitForFunction(() =>
        document.querySelectorAll(".cell").length === 2
      );
      assert.deepEqual(await cellLanguages(page), ["javascript", "javascript"]);
      await page.locator(".cell button.run").first().click();
      await page.waitForSelector(".cell:first-child[data-status=ok]");
      assert.equal(
        await page.locator(".cell").first().locator(".output pre")
          .textContent(),
        "42",
      );

      // An unknown language is rejected with the cell and the value.
      const unknown = join(root, "unknown.json");
      await Deno.writeTextFile(
        unknown,
        JSON.stringify({
          format: "mpfnet-notebook",
          version: 1,
          cells: [{ language: "python", source: "print(1)" }],
        }),
      );
      await page.setInputFiles("#upload", unknown);
      await page.waitForSelector("#status.error");
      assert.match(
        await page.locator("#status").textContent() ?? "",
        /cell 1 has an invalid "language" "python"/,
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
