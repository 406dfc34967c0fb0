/**
 * The notebook server: serves the page on 127.0.0.1 and rejects request
 * paths that leave the notebook folder, in raw and percent-encoded forms
 * and through symbolic links. Requests go over a raw TCP socket because
 * fetch() would normalise "../" before sending.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { serveNotebook } from "../../experiments/notebook.ts";

const SECRET = "secret outside the notebook folder";

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

async function rawGet(port: number, path: string): Promise<RawResponse> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
  await connection.write(new TextEncoder().encode(request));
  const text = await new Response(connection.readable).text();
  const [head, ...rest] = text.split("\r\n\r\n");
  const status = Number(head.split(" ")[1]);
  return { status, headers: head, body: rest.join("\r\n\r\n") };
}

Deno.test({
  name: "notebook server rejects paths outside",
  sanitizeResources: false,
  fn: async () => {
    const parent = await Deno.makeTempDir({ prefix: "notebook_server_" });
    const root = join(parent, "notebook");
    await Deno.mkdir(join(root, "examples"), { recursive: true });
    await Deno.writeTextFile(
      join(root, "index.html"),
      "<!doctype html><title>page</title>",
    );
    await Deno.writeTextFile(join(root, "examples", "a.json"), "{}");
    await Deno.writeTextFile(join(parent, "secret.txt"), SECRET);
    await Deno.symlink(join(parent, "secret.txt"), join(root, "link.txt"));

    const controller = new AbortController();
    let port = 0;
    let hostname = "";
    const server = serveNotebook({
      port: 0,
      root,
      signal: controller.signal,
      onListen: (address) => {
        port = address.port;
        hostname = address.hostname;
      },
    });
    try {
      assert.equal(hostname, "127.0.0.1");

      const page = await rawGet(port, "/");
      assert.equal(page.status, 200);
      assert.match(page.body, /<title>page<\/title>/);
      assert.match(page.headers, /content-type: text\/html/i);
      assert.equal((await rawGet(port, "/examples/a.json")).status, 200);
      assert.equal((await rawGet(port, "/missing.js")).status, 404);

      const escapes = [
        "/../secret.txt",
        "/examples/../../secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/examples/..%2f..%2fsecret.txt",
        "/%252e%252e%252fsecret.txt",
        "/..%5csecret.txt",
        "/%2e%2e%5csecret.txt",
        "/link.txt",
        "/%00/../secret.txt",
        "/%E0%A4%A",
      ];
      for (const path of escapes) {
        const response = await rawGet(port, path);
        assert.ok(
          [400, 403, 404].includes(response.status),
          `${path} returned ${response.status}`,
        );
        assert.ok(!response.body.includes(SECRET), `${path} leaked the file`);
      }
      assert.equal((await rawGet(port, "/..%2fsecret.txt")).status, 403);
      assert.equal((await rawGet(port, "/link.txt")).status, 403);
    } finally {
      controller.abort();
      await server.finished;
      await Deno.remove(parent, { recursive: true });
    }
  },
});
