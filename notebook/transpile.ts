/**
 * Turns a cell's source into the async function that runs it. TypeScript
 * cells are transpiled with sucrase, which strips the types without checking
 * them and keeps every statement on its original line. JavaScript cells run
 * as written. Needs no DOM, so Deno tests import it directly.
 *
 * @module
 */
import { transform } from "sucrase";

export type CellLanguage = "typescript" | "javascript";

export const CELL_LANGUAGES: readonly CellLanguage[] = [
  "typescript",
  "javascript",
];

/** A syntax error in a TypeScript cell, with its 1-based line and column. */
export class CellSyntaxError extends SyntaxError {
  readonly line: number;
  readonly column: number;

  constructor(message: string, line: number, column: number) {
    super(`${message} at line ${line}, column ${column}`);
    this.name = "SyntaxError";
    this.line = line;
    this.column = column;
  }
}

/** The position that sucrase's parser attaches to the errors it raises. */
interface SucraseSyntaxError extends SyntaxError {
  loc?: { line: number; column: number };
}

export type CellFunction = (...values: unknown[]) => Promise<unknown>;

const AsyncFunction = Object.getPrototypeOf(async function () {})
  .constructor as new (...args: string[]) => CellFunction;

/**
 * Transpiles a cell's source to JavaScript. TypeScript loses its annotations,
 * interfaces, `as` casts, generics and `import type` lines, and enums and
 * parameter properties become plain JavaScript. Other syntax passes
 * unchanged because the page runs in a browser that supports it. Throws
 * a `CellSyntaxError` naming the line when the TypeScript does not parse.
 */
export function transpileCell(source: string, language: CellLanguage): string {
  if (language === "javascript") return source;
  try {
    return transform(source, {
      transforms: ["typescript"],
      disableESTransforms: true,
    }).code;
  } catch (error) {
    const loc = (error as SucraseSyntaxError).loc;
    if (!(error instanceof SyntaxError) || loc === undefined) throw error;
    // sucrase appends " (line:column)" to the message.
    const message = error.message.replace(/ \(\d+:\d+\)$/, "");
    throw new CellSyntaxError(message, loc.line, loc.column);
  }
}

/**
 * Compiles a cell into an async function whose parameters are `parameters`
 * and whose body is the cell, so the cell may use `await` and `return` at
 * its top level.
 */
export function compileCell(
  source: string,
  language: CellLanguage,
  parameters: readonly string[],
): CellFunction {
  return new AsyncFunction(...parameters, transpileCell(source, language));
}
