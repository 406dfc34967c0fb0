/// <reference lib="dom" />
/**
 * The notebook page: a column of editable TypeScript or JavaScript cells,
 * each run as the body of an async function with the framework (`mpfnet`),
 * Observable Plot and the output helpers in scope, and its output shown
 * below it. Cells share state through the `nb` object.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { mpfnet } from "./api.ts";
import { heatmap, image, render, table } from "./output.ts";
import { CELL_LANGUAGES, type CellLanguage, compileCell } from "./transpile.ts";

/**
 * A cell's source is one string or a list of lines (as Jupyter stores it).
 * A cell without `language` is JavaScript, because files written before
 * TypeScript cells existed have no such field.
 */
export interface NotebookCell {
  source: string | string[];
  language?: CellLanguage;
}

export interface NotebookFile {
  format: "mpfnet-notebook";
  version: 1;
  title?: string;
  cells: NotebookCell[];
}

export type CellStatus = "idle" | "running" | "ok" | "error";

/** The language of a cell added with the "Add cell" button. */
export const DEFAULT_LANGUAGE: CellLanguage = "typescript";

const LANGUAGE_LABELS: Record<CellLanguage, string> = {
  typescript: "TypeScript",
  javascript: "JavaScript",
};

const CELL_PARAMETERS = [
  "mpfnet",
  "Plot",
  "nb",
  "display",
  "table",
  "heatmap",
  "image",
];

/** Checks a parsed notebook file and returns it with its cells normalised. */
export function parseNotebook(value: unknown, source: string): NotebookFile {
  const file = value as Partial<NotebookFile> | null;
  if (
    file === null || typeof file !== "object" ||
    file.format !== "mpfnet-notebook"
  ) {
    throw new Error(
      `${source} is not an MPFNet notebook: expected a JSON object with ` +
        `"format": "mpfnet-notebook"`,
    );
  }
  if (file.version !== 1) {
    throw new Error(
      `${source} has notebook version ${String(file.version)}; ` +
        "this page reads version 1",
    );
  }
  if (!Array.isArray(file.cells)) {
    throw new Error(`${source} has no "cells" array`);
  }
  const cells = file.cells.map((cell, i) => {
    const text = cell?.source;
    const valid = typeof text === "string" ||
      (Array.isArray(text) && text.every((line) => typeof line === "string"));
    if (!valid) {
      throw new Error(
        `${source}: cell ${i + 1} has no "source" string or list of lines`,
      );
    }
    const language = cell.language ?? "javascript";
    if (!CELL_LANGUAGES.includes(language)) {
      throw new Error(
        `${source}: cell ${i + 1} has an invalid "language" ` +
          `${JSON.stringify(language)}; expected one of ` +
          CELL_LANGUAGES.map((name) => `"${name}"`).join(", "),
      );
    }
    return {
      source: Array.isArray(text) ? text.join("\n") : text,
      language,
    };
  });
  return { format: "mpfnet-notebook", version: 1, title: file.title, cells };
}

export class Notebook {
  readonly root: HTMLElement;
  /** State shared by all cells of this page. */
  readonly nb: Record<string, unknown> = {};
  title = "notebook";
  #running = false;

  constructor(root: HTMLElement) {
    this.root = root;
  }

  get cells(): HTMLElement[] {
    return [...this.root.querySelectorAll<HTMLElement>(".cell")];
  }

  /** Replaces the cells with those of a notebook file. */
  load(file: NotebookFile): void {
    this.title = file.title ?? "notebook";
    this.root.replaceChildren();
    for (const cell of file.cells) {
      this.addCell(
        Array.isArray(cell.source) ? cell.source.join("\n") : cell.source,
        cell.language ?? "javascript",
      );
    }
  }

  toJSON(): NotebookFile {
    return {
      format: "mpfnet-notebook",
      version: 1,
      title: this.title,
      cells: this.cells.map((cell) => ({
        language: cellLanguage(cell),
        source: cell.querySelector("textarea")!.value.split("\n"),
      })),
    };
  }

  addCell(
    source = "",
    language: CellLanguage = DEFAULT_LANGUAGE,
  ): HTMLElement {
    const cell = document.createElement("section");
    cell.className = "cell";
    cell.dataset.status = "idle";

    const editor = document.createElement("textarea");
    editor.spellcheck = false;
    editor.value = source;
    editor.rows = Math.max(2, source.split("\n").length);
    editor.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.shiftKey) {
        event.preventDefault();
        void this.runCell(cell);
      }
    });

    const run = button("Run", "run", () => void this.runCell(cell));
    const remove = button("Delete", "delete", () => cell.remove());
    const toolbar = document.createElement("div");
    toolbar.className = "toolbar";
    toolbar.append(run, languageSelect(language), remove);

    const output = document.createElement("div");
    output.className = "output";

    cell.append(toolbar, editor, output);
    this.root.append(cell);
    return cell;
  }

  /**
   * Runs one cell: its source, transpiled first if it is TypeScript, is the
   * body of an async function. `display` appends to its output, and a
   * returned value other than undefined is displayed too. An error,
   * including a TypeScript syntax error, is shown in the cell and reported
   * as "error".
   */
  async runCell(cell: HTMLElement): Promise<CellStatus> {
    const output = cell.querySelector<HTMLElement>(".output")!;
    const source = cell.querySelector("textarea")!.value;
    output.replaceChildren();
    cell.dataset.status = "running";
    const started = performance.now();

    const pending: Promise<void>[] = [];
    // Each value gets its place when display() is called, so outputs keep
    // the call order even when a promise resolves late.
    const display = (...values: unknown[]) => {
      for (const value of values) {
        const placeholder = document.createElement("div");
        output.append(placeholder);
        const shown = Promise.resolve(value).then((resolved) => {
          placeholder.replaceWith(render(resolved));
        });
        pending.push(shown);
      }
    };

    let status: CellStatus = "ok";
    try {
      const body = compileCell(source, cellLanguage(cell), CELL_PARAMETERS);
      const result = await body(
        mpfnet,
        Plot,
        this.nb,
        display,
        table,
        heatmap,
        image,
      );
      if (result !== undefined) display(result);
      await Promise.all(pending);
    } catch (error) {
      status = "error";
      const pre = document.createElement("pre");
      pre.className = "error";
      pre.textContent = error instanceof Error
        ? `${error.name}: ${error.message}`
        : `Error: ${String(error)}`;
      output.append(pre);
      console.error(error);
    }
    const seconds = (performance.now() - started) / 1000;
    cell.dataset.status = status;
    cell.dataset.seconds = seconds.toFixed(2);
    return status;
  }

  /** Runs the cells in order and stops at the first error. */
  async runAll(): Promise<CellStatus> {
    if (this.#running) return "running";
    this.#running = true;
    document.body.dataset.state = "running";
    try {
      for (const cell of this.cells) cell.dataset.status = "idle";
      for (const cell of this.cells) {
        cell.scrollIntoView({ block: "nearest" });
        if (await this.runCell(cell) === "error") return "error";
      }
      return "ok";
    } finally {
      this.#running = false;
      document.body.dataset.state = "idle";
    }
  }

  /** Offers the notebook as a JSON file download. */
  save(): void {
    const text = JSON.stringify(this.toJSON(), null, 2) + "\n";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(
      new Blob([text], { type: "application/json" }),
    );
    link.download = `${this.title.replace(/[^\w.-]+/g, "_")}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
}

function languageSelect(language: CellLanguage): HTMLSelectElement {
  const select = document.createElement("select");
  select.className = "language";
  select.title = "Cell language";
  for (const value of CELL_LANGUAGES) {
    select.add(new Option(LANGUAGE_LABELS[value], value));
  }
  select.value = language;
  return select;
}

function cellLanguage(cell: HTMLElement): CellLanguage {
  return cell.querySelector<HTMLSelectElement>("select.language")!
    .value as CellLanguage;
}

function button(
  label: string,
  className: string,
  onClick: () => void,
): HTMLButtonElement {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.className = className;
  element.addEventListener("click", onClick);
  return element;
}
