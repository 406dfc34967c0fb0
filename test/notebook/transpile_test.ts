/**
 * The notebook's cell compiler in Deno: TypeScript cells lose their types
 * and run, keep their line numbers, and report a syntax error with its
 * line. JavaScript cells run as written.
 */
import assert from "node:assert/strict";
import {
  CellSyntaxError,
  compileCell,
  transpileCell,
} from "../../notebook/transpile.ts";

const TYPED_CELL = [
  'import type { Tensor } from "../src/tensor.ts";',
  "interface Row {",
  "  name: string;",
  "  value: number;",
  "}",
  "type Pair<T> = [T, T];",
  "enum Axis { T, H, W }",
  "function first<T>(items: readonly T[]): T {",
  "  return items[0];",
  "}",
  "const rows: Row[] = [{ name: base as string, value: 2 }];",
  "const pair: Pair<number> = [rows[0].value, Axis.W];",
  "const shape = (nb.shape ?? []) as Tensor['shape'];",
  "const total = await Promise.resolve<number>(pair[0] + pair[1]);",
  "return `${first<Row>(rows).name}:${total}:${shape.length}`;",
].join("\n");

Deno.test("transpileCell runs TypeScript with types", async () => {
  const cell = compileCell(TYPED_CELL, "typescript", ["base", "nb"]);
  assert.equal(await cell("grad", { shape: [1, 2, 3] }), "grad:4:3");
});

Deno.test("transpileCell strips every type construct", () => {
  const code = transpileCell(TYPED_CELL, "typescript");
  const typeOnly = [
    "import type",
    "interface",
    "type Pair",
    ": Row[]",
    " as ",
    "<number>",
    "<Row>",
  ];
  for (const text of typeOnly) {
    assert.ok(!code.includes(text), `"${text}" left in:\n${code}`);
  }
});

Deno.test("transpileCell keeps line numbers", () => {
  const code = transpileCell(TYPED_CELL, "typescript");
  const lines = code.split("\n");
  assert.equal(lines.length, TYPED_CELL.split("\n").length);
  assert.match(lines[14], /^return `\$\{first\(rows\)\.name\}/);
});

Deno.test("transpileCell keeps modern JavaScript syntax", () => {
  const source = "const a: number | undefined = nb?.a ?? 1_000;";
  assert.equal(
    transpileCell(source, "typescript"),
    "const a = nb?.a ?? 1_000;",
  );
});

Deno.test("transpileCell reports a syntax error line", () => {
  const source = [
    "const a: number = 1;",
    "const b: string = 'x';",
    "const c: = 3;",
    "return a;",
  ].join("\n");
  let caught: unknown;
  try {
    transpileCell(source, "typescript");
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CellSyntaxError, `got ${caught}`);
  assert.ok(caught instanceof SyntaxError);
  assert.equal(caught.name, "SyntaxError");
  assert.equal(caught.line, 3);
  assert.equal(caught.column, 10);
  assert.equal(caught.message, "Unexpected token at line 3, column 10");
});

Deno.test("compileCell raises TypeScript syntax errors", () => {
  assert.throws(
    () => compileCell("const a = 1;\nlet x: number = ;", "typescript", []),
    (error: unknown) =>
      error instanceof CellSyntaxError && /at line 2,/.test(error.message),
  );
});

Deno.test("compileCell runs JavaScript unchanged", async () => {
  const source = "const n = await Promise.resolve(x);\nreturn n * 2;";
  assert.equal(transpileCell(source, "javascript"), source);
  assert.equal(await compileCell(source, "javascript", ["x"])(21), 42);
});

Deno.test("compileCell rejects types in JavaScript", () => {
  assert.throws(
    () => compileCell("const x: number = 1;", "javascript", []),
    SyntaxError,
  );
});
