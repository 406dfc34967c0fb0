/**
 * Test helpers for the notebook: a throwaway copy of the page with a fresh
 * bundle, so tests never touch notebook/dist/, and a Chromium launcher with
 * the flags that enable WebGPU headless on SwiftShader.
 */
import { join } from "node:path";
import { buildNotebook, NOTEBOOK_ROOT } from "../../experiments/notebook.ts";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Copies the page and its example notebooks into a temp folder and bundles main.ts there. */
export async function buildTestSite(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "notebook_site_" });
  for (const file of ["index.html", "style.css"]) {
    await Deno.copyFile(join(NOTEBOOK_ROOT, file), join(root, file));
  }
  await Deno.mkdir(join(root, "examples"));
  for await (const entry of Deno.readDir(join(NOTEBOOK_ROOT, "examples"))) {
    await Deno.copyFile(
      join(NOTEBOOK_ROOT, "examples", entry.name),
      join(root, "examples", entry.name),
    );
  }
  await buildNotebook(join(root, "dist", "main.js"));
  return root;
}

/**
 * Chromium flags for WebGPU in headless mode, as root, with no network
 * chatter. Playwright adds `--user-data-dir` itself: pass a fresh folder to
 * `chromium.launchPersistentContext`.
 */
export function chromiumArgs(): string[] {
  return [
    "--headless=new",
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--use-webgpu-adapter=swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ];
}

/** Throws with the install command when Debian's chromium is missing. */
export async function requireChromium(): Promise<void> {
  try {
    await Deno.stat(CHROMIUM_PATH);
  } catch {
    throw new Error(
      `${CHROMIUM_PATH} not found; the notebook tests need Debian's ` +
        "chromium: run apt-get update && apt-get install -y chromium " +
        "(as root), or rerun tools/deno, which installs it when run as root",
    );
  }
}
