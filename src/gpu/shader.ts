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

/** Resolves `#if NAME` / `#elif NAME` lines and prepends the prelude. */
export function specialize(spec: KernelSpec): string {
  const defines = spec.defines ?? {};
  const strings: string[] = [];
  const values: boolean[] = [];
  const pattern =
    /^([ \t]*#(?:el)?if[ \t]+)(!?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*$/gm;
  let last = 0;
  for (const match of spec.source.matchAll(pattern)) {
    const name = match[3];
    if (!(name in defines)) {
      throw new Error(
        `${spec.file} uses '#if ${name}' but the kernel was built without ` +
          `a value for '${name}'; pass it in defines`,
      );
    }
    strings.push(spec.source.slice(last, match.index) + match[1]);
    values.push(match[2] === "!" ? !defines[name] : defines[name]);
    last = match.index + match[0].length;
  }
  strings.push(spec.source.slice(last));
  const raw = Object.assign([...strings], { raw: strings });
  const body = values.length > 0
    ? wgsl(raw as unknown as TemplateStringsArray, ...values)
    : spec.source;
  return `${prelude}\n${body}`;
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
 * Formats compilation messages with the line numbers of the original file.
 * NOTE: wgsl-preprocessor drops the lines of inactive `#if` blocks, so in a
 * file with `#if` the numbers after such a block are too small; the message
 * still quotes the offending source line.
 */
export function formatCompilationMessages(
  spec: KernelSpec,
  messages: readonly GPUCompilationMessage[],
): string {
  return messages
    .filter((m) => m.type === "error")
    .map((m) => {
      const line = m.lineNum > PRELUDE_LINES
        ? `${spec.file}:${m.lineNum - PRELUDE_LINES}:${m.linePos}`
        : `shaders/common.wgsl:${m.lineNum}:${m.linePos}`;
      return `${line}: ${m.message.trim()}`;
    })
    .join("\n");
}
