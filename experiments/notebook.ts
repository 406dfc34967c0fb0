/**
 * `tools/deno task notebook [--port N]`: bundles the browser notebook
 * (notebook/main.ts, with every .wgsl text import inlined, so the page runs
 * the same shaders and the same src/ core as Deno) into notebook/dist/ and
 * serves the notebook folder on 127.0.0.1 only.
 */
import { dirname, extname, join, resolve, sep } from "node:path";
import { parseCommandLine, runMain } from "../src/util/cli.ts";

export const NOTEBOOK_ROOT = resolve(import.meta.dirname!, "../notebook");
export const DEFAULT_PORT = 8765;
/** The server binds to loopback only: the page runs arbitrary cell code. */
export const HOSTNAME = "127.0.0.1";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json; charset=utf-8",
};

/**
 * Bundles notebook/main.ts for the browser into `outFile` with
 * `deno bundle --platform browser` and returns the bundle's size in bytes.
 */
export async function buildNotebook(
  outFile = join(NOTEBOOK_ROOT, "dist", "main.js"),
): Promise<number> {
  await Deno.mkdir(dirname(outFile), { recursive: true });
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--output",
      outFile,
      join(NOTEBOOK_ROOT, "main.ts"),
    ],
    cwd: resolve(NOTEBOOK_ROOT, ".."),
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stderr } = await command.output();
  if (code !== 0) {
    throw new Error(
      `deno bundle of notebook/main.ts failed (exit code ${code}):\n` +
        new TextDecoder().decode(stderr),
    );
  }
  return (await Deno.stat(outFile)).size;
}

/**
 * Maps a request path to a file inside `root`, or returns an HTTP status:
 * 400 for an undecodable path, 403 for one that leaves `root`, 404 for a
 * missing file. The check runs after percent-decoding, so "..%2f" and
 * "%2e%2e" are caught, and again after following symbolic links.
 */
export async function resolveRequestPath(
  root: string,
  pathname: string,
): Promise<string | number> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return 400;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return 403;
  const realRoot = await Deno.realPath(root);
  const candidate = resolve(realRoot, "." + decoded);
  if (!isInside(realRoot, candidate)) return 403;

  let real: string;
  try {
    real = await Deno.realPath(candidate);
  } catch {
    return 404;
  }
  if (!isInside(realRoot, real)) return 403;
  const info = await Deno.stat(real);
  if (info.isDirectory) {
    return resolveRequestPath(root, join(decoded, "index.html"));
  }
  return info.isFile ? real : 404;
}

function isInside(root: string, path: string): boolean {
  return path === root ||
    path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Serves the files under `root` (GET and HEAD only). */
export function notebookHandler(
  root = NOTEBOOK_ROOT,
): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    const pathname = new URL(request.url).pathname;
    const resolved = await resolveRequestPath(root, pathname);
    if (typeof resolved === "number") {
      if (resolved !== 404) {
        console.error(
          `Rejected ${request.method} ${pathname} with HTTP ${resolved}`,
        );
      }
      return new Response(`${resolved} ${pathname}\n`, { status: resolved });
    }
    const body = request.method === "HEAD"
      ? null
      : await Deno.readFile(resolved);
    return new Response(body, {
      headers: {
        "content-type": CONTENT_TYPES[extname(resolved)] ??
          "application/octet-stream",
        "cache-control": "no-store",
      },
    });
  };
}

export interface ServeOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  root?: string;
  signal?: AbortSignal;
  onListen?: (address: Deno.NetAddr) => void;
}

/** Serves `root` on 127.0.0.1 and returns the running server. */
export function serveNotebook(
  options: ServeOptions = {},
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: HOSTNAME,
    port: options.port ?? DEFAULT_PORT,
    signal: options.signal,
    onListen: options.onListen ?? (() => {}),
  }, notebookHandler(options.root ?? NOTEBOOK_ROOT));
}

export async function main(args: string[]): Promise<number> {
  const usage = "Usage: tools/deno task notebook [--port N] [--no-build]\n\n" +
    "Bundles notebook/main.ts into notebook/dist/ and serves the notebook\n" +
    `on http://${HOSTNAME}:PORT/ (default port ${DEFAULT_PORT}; 0 picks a free one).\n` +
    "--no-build serves the existing bundle.";
  const { values } = parseCommandLine({
    args,
    options: {
      port: { type: "string", default: String(DEFAULT_PORT) },
      "no-build": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  }, usage);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(
      `Invalid --port ${values.port}: expected an integer from 0 to 65535`,
    );
    return 2;
  }
  if (!values["no-build"]) {
    const started = performance.now();
    const bytes = await buildNotebook();
    console.error(
      `Bundled notebook/main.ts (${(bytes / 1e6).toFixed(2)} MB) in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const server = serveNotebook({
    port,
    onListen: ({ hostname, port }) =>
      console.log(`Notebook: http://${hostname}:${port}/ (Ctrl-C stops it)`),
  });
  await server.finished;
  return 0;
}

if (import.meta.main) await runMain(() => main(Deno.args));
