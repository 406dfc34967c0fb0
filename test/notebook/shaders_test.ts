/**
 * The page bundle must carry the WGSL files themselves. Every .wgsl module
 * in the notebook's import graph appears verbatim as a string in the
 * bundle, and every WGSL-looking string in the bundle is one of those
 * files. So no shader is copied, forked or rewritten for the browser.
 */
import assert from "node:assert/strict";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildNotebook, NOTEBOOK_ROOT } from "../../experiments/notebook.ts";

const REPO_ROOT = resolve(NOTEBOOK_ROOT, "..");

interface InfoModule {
  specifier: string;
}

/** Lists the .wgsl files in the import graph of notebook/main.ts (deno info). */
async function importedShaders(): Promise<string[]> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(NOTEBOOK_ROOT, "main.ts")],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await command.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout));
  return (info.modules as InfoModule[])
    .map((module) => module.specifier)
    .filter((specifier) =>
      specifier.startsWith("file:") && specifier.endsWith(".wgsl")
    )
    .map((specifier) => fileURLToPath(specifier))
    .sort();
}

const SIMPLE_ESCAPES: Record<string, string> = {
  n: "\n",
  r: "\r",
  t: "\t",
  b: "\b",
  f: "\f",
  v: "\v",
  0: "\0",
};

/** Decodes the body of a JavaScript string or template literal. */
function decodeLiteral(body: string): string {
  return body.replace(
    /\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\r?\n|[\s\S])/g,
    (_, escape: string) => {
      if (escape.startsWith("u{")) {
        return String.fromCodePoint(parseInt(escape.slice(2, -1), 16));
      }
      if (escape.length > 1 && (escape[0] === "u" || escape[0] === "x")) {
        return String.fromCharCode(parseInt(escape.slice(1), 16));
      }
      if (escape.endsWith("\n")) return ""; // a line continuation
      return SIMPLE_ESCAPES[escape] ?? escape;
    },
  );
}

/**
 * Decodes the string literals the bundler emits for text imports
 * (`var name = "...";`, with single quotes or a template literal when the
 * text contains double quotes).
 */
function bundledStrings(bundle: string): string[] {
  const literal =
    /var [\w$]+ = (?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\[\s\S])*)`);/g;
  const strings: string[] = [];
  for (const match of bundle.matchAll(literal)) {
    strings.push(decodeLiteral(match[1] ?? match[2] ?? match[3]));
  }
  return strings;
}

async function listWgsl(folder: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    const path = join(folder, entry.name);
    if (entry.isDirectory) files.push(...await listWgsl(path));
    else if (entry.name.endsWith(".wgsl")) files.push(path);
  }
  return files;
}

Deno.test("notebook bundle inlines shaders verbatim", async () => {
  const dir = await Deno.makeTempDir({ prefix: "notebook_bundle_" });
  try {
    const bundlePath = join(dir, "main.js");
    await buildNotebook(bundlePath);
    const bundle = await Deno.readTextFile(bundlePath);
    const strings = new Set(bundledStrings(bundle));

    const used = await importedShaders();
    assert.ok(
      used.length >= 40,
      `expected the framework's shaders in the import graph, got ${used.length}`,
    );
    const missing: string[] = [];
    const texts = new Set<string>();
    for (const path of used) {
      const text = await Deno.readTextFile(path);
      texts.add(text);
      if (!strings.has(text)) missing.push(relative(REPO_ROOT, path));
    }
    assert.deepEqual(
      missing,
      [],
      `shader files not found verbatim in the bundle: ${missing.join(", ")}`,
    );

    // Any WGSL entry point in a bundled string must come from a used file.
    const forked = [...strings].filter((s) =>
      /@compute|@group\(\d+\)/.test(s) && !texts.has(s)
    );
    assert.deepEqual(
      forked.map((s) => s.slice(0, 120)),
      [],
      "the bundle contains WGSL that matches no file under shaders/",
    );

    const all = await listWgsl(join(REPO_ROOT, "shaders"));
    const unused = all.filter((path) => !used.includes(path));
    console.log(
      `${used.length} of ${all.length} shader files bundled verbatim; ` +
        `not imported by the page: ${
          unused.map((path) => relative(REPO_ROOT, path)).join(", ") || "none"
        }`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
