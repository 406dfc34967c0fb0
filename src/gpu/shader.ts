/**
 * WGSL specialization and compile-error reporting. Kernels are `.wgsl` files
 * imported as text, so Deno and the browser load the same source. `#if NAME`
 * blocks are resolved by wgsl-preprocessor from a kernel's `defines`; numeric
 * specialization uses WGSL `override` constants.
 */
import { wgsl } from "wgsl-preprocessor";
import prelude from "../../shaders/common.wgsl" with { type: "text" };

export interface KernelSpec {
  /** Repository path of the source, shown in errors, e.g. shaders/ops/relu.wgsl. */
  file: string;
  source: string;
  entryPoint?: string;
  /** Values of the `#if NAME` switches in the source. */
  defines?: Record<string, boolean>;
  /** Values of the source's `override` constants. */
  constants?: Record<string, number>;
}

export const PRELUDE_LINES = prelude.split("\n").length;

/** A specialized kernel: its WGSL text and where each line came from. */
export interface SpecializedKernel {
  /** Prelude, newline, resolved source. */
  code: string;
  /**
   * Line number in the kernel's file of each line of the resolved source
   * (after the prelude), or null for what remains of a directive line.
   */
  sourceLines: (number | null)[];
}

const DIRECTIVE = /^[ \t]*#(?:if|elif|else|endif)\b/;
const LINE_MARK = /\/\*@line:(\d+)\*\/$/;

/**
 * Resolves `#if NAME` / `#elif NAME` lines and prepends the prelude. Every
 * other line is tagged with its number before wgsl-preprocessor drops the
 * inactive blocks, and untagged afterwards, so compile errors can name the
 * line of the file.
 */
export function specializeWithLines(spec: KernelSpec): SpecializedKernel {
  const defines = spec.defines ?? {};
  const sourceLines = spec.source.split("\n");
  const marked = sourceLines.map((line, i) =>
    DIRECTIVE.test(line) ? line : `${line}/*@line:${i + 1}*/`
  ).join("\n");
  const strings: string[] = [];
  const values: boolean[] = [];
  const pattern =
    /^([ \t]*#(?:el)?if[ \t]+)(!?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*$/gm;
  let last = 0;
  for (const match of marked.matchAll(pattern)) {
    const name = match[3];
    if (!(name in defines)) {
      throw new Error(
        `${spec.file} uses '#if ${name}' but the kernel was built without ` +
          `a value for '${name}'; pass it in defines`,
      );
    }
    strings.push(marked.slice(last, match.index) + match[1]);
    values.push(match[2] === "!" ? !defines[name] : defines[name]);
    last = match.index + match[0].length;
  }
  if (values.length === 0) {
    return {
      code: `${prelude}\n${spec.source}`,
      sourceLines: sourceLines.map((_, i) => i + 1),
    };
  }
  strings.push(marked.slice(last));
  const raw = Object.assign([...strings], { raw: strings });
  const resolved: string[] = wgsl(
    raw as unknown as TemplateStringsArray,
    ...values,
  )
    .split("\n");
  const lines: (number | null)[] = [];
  const body = resolved.map((line) => {
    const mark = LINE_MARK.exec(line);
    lines.push(mark ? Number(mark[1]) : null);
    return mark ? line.slice(0, mark.index) : line;
  });
  return { code: `${prelude}\n${body.join("\n")}`, sourceLines: lines };
}

/** Resolves `#if NAME` / `#elif NAME` lines and prepends the prelude. */
export function specialize(spec: KernelSpec): string {
  return specializeWithLines(spec).code;
}

/** Key of a compiled pipeline: exactly what the specialized text depends on. */
export function pipelineKey(spec: KernelSpec): string {
  const defines = Object.entries(spec.defines ?? {}).sort();
  const constants = Object.entries(spec.constants ?? {}).sort();
  return JSON.stringify([
    spec.file,
    spec.entryPoint ?? "main",
    defines,
    constants,
  ]);
}

/**
 * Formats compilation messages with the line numbers of the original file,
 * read from `sourceLines` of specializeWithLines.
 */
export function formatCompilationMessages(
  spec: KernelSpec,
  messages: readonly GPUCompilationMessage[],
  sourceLines: readonly (number | null)[],
): string {
  return messages
    .filter((m) => m.type === "error")
    .map((m) => {
      const index = m.lineNum - PRELUDE_LINES - 1;
      const line = m.lineNum > PRELUDE_LINES
        ? `${spec.file}:${sourceLines[index] ?? "?"}:${m.linePos}`
        : `shaders/common.wgsl:${m.lineNum}:${m.linePos}`;
      return `${line}: ${m.message.trim()}`;
    })
    .join("\n");
}
