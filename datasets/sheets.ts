/**
 * Reads the coding sheets (xlsx) through ExcelJS, finds the header row of a
 * sheet that starts with preamble rows, and writes sheets through SheetJS.
 *
 * SheetJS writes no timestamps, so generated sheets are reproducible byte
 * for byte, while ExcelJS stamps the time into the zip entries. Reading
 * goes through ExcelJS because the SheetJS release on npm (0.18.5, the
 * last one published there) has known flaws when reading crafted files
 * (CVE-2023-30533, CVE-2024-22363). Writing is not affected by them.
 *
 * @module
 */

import ExcelJS from "exceljs";
import * as XLSX from "xlsx";
import { DatasetError } from "./types.ts";

/** A cell value as the loaders see it; an empty cell is null. */
export type Cell = string | number | boolean | null;

export interface SheetRows {
  /** Path of the workbook. */
  file: string;
  /** Name of the worksheet the rows come from. */
  sheet: string;
  /** Rows from the first row of the sheet, so row i is sheet row i + 1. */
  rows: Cell[][];
}

/** Reads every worksheet of an xlsx file as rows of plain cell values. */
export async function readWorkbook(path: string): Promise<SheetRows[]> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DatasetError(
      `Cannot read coding sheet ${path}: ${(error as Error).message}`,
    );
  }
  const workbook = new ExcelJS.Workbook();
  try {
    await workbook.xlsx.load(bytes.buffer as ArrayBuffer);
  } catch (error) {
    throw new DatasetError(
      `Cannot parse coding sheet ${path}: ${(error as Error).message}; ` +
        "open it in a spreadsheet program and save it again as .xlsx",
    );
  }
  return workbook.worksheets.map((worksheet) => {
    const rows: Cell[][] = [];
    for (let r = 1; r <= worksheet.rowCount; r++) {
      const row = worksheet.getRow(r);
      const cells: Cell[] = [];
      for (let c = 1; c <= worksheet.columnCount; c++) {
        cells.push(plainCell(row.getCell(c).value));
      }
      rows.push(cells);
    }
    return { file: path, sheet: worksheet.name, rows };
  });
}

/** Reduces an ExcelJS cell value (rich text, formula, link, date) to a
 * plain value. */
function plainCell(value: ExcelJS.CellValue): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value.trim() === "" ? null : value;
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (value instanceof Date) return value.toISOString();
  if ("richText" in value) {
    return plainCell(value.richText.map((run) => run.text).join(""));
  }
  if ("formula" in value || "sharedFormula" in value) {
    const result = (value as ExcelJS.CellFormulaValue).result;
    if (result === undefined || typeof result === "object") {
      return result instanceof Date ? result.toISOString() : null;
    }
    return plainCell(result);
  }
  if ("hyperlink" in value) return plainCell(value.text);
  if ("error" in value) return value.error;
  return null;
}

/** Lower-cases a header name and drops spaces and underscores, so that
 * "Onset Frame", "OnsetFrame" and "onset_frame" compare equal. */
export function normalizeHeaderName(name: Cell): string {
  if (name === null) return "";
  return String(name).toLowerCase().replace(/[\s_]+/g, "");
}

export interface HeaderLocation {
  sheet: SheetRows;
  /** 0-based index of the header row in `sheet.rows`. */
  headerIndex: number;
  /** Column index of each normalized header name. */
  columns: Map<string, number>;
}

/**
 * Finds the first row, in any worksheet, that contains every required
 * column name. Preamble rows above the header are passed over, so the
 * header's position is never assumed. Throws a DatasetError listing the
 * required names when no row matches.
 */
export function findHeaderRow(
  sheets: readonly SheetRows[],
  required: readonly string[],
): HeaderLocation {
  const wanted = required.map(normalizeHeaderName);
  for (const sheet of sheets) {
    for (let index = 0; index < sheet.rows.length; index++) {
      const names = sheet.rows[index].map(normalizeHeaderName);
      if (!wanted.every((name) => names.includes(name))) continue;
      const columns = new Map<string, number>();
      names.forEach((name, column) => {
        if (name !== "" && !columns.has(name)) columns.set(name, column);
      });
      return { sheet, headerIndex: index, columns };
    }
  }
  const file = sheets[0]?.file ?? "(no worksheet)";
  throw new DatasetError(
    `No header row with the columns ${required.join(", ")} found in ` +
      `${file}; check that this is the dataset's coding sheet`,
  );
}

/**
 * Writes rows to a one-sheet xlsx file. The bytes depend only on the rows
 * (SheetJS writes no timestamps), which keeps generated datasets
 * reproducible.
 */
export async function writeSheet(
  path: string,
  sheetName: string,
  rows: readonly (readonly Cell[])[],
): Promise<void> {
  const worksheet = XLSX.utils.aoa_to_sheet(rows.map((row) => [...row]));
  const workbook = XLSX.utils.book_new();
  XLSX.utils.book_append_sheet(workbook, worksheet, sheetName);
  const bytes = XLSX.write(workbook, {
    type: "array",
    bookType: "xlsx",
    compression: true,
  }) as ArrayBuffer;
  await Deno.writeFile(path, new Uint8Array(bytes));
}
