/// <reference lib="dom" />
/**
 * Bundle entry of the browser notebook: wires the page's buttons to a
 * `Notebook` and loads the notebook named by `?notebook=` (default
 * examples/tour.json, relative to the page).
 *
 * @module
 */
import { mpfnet } from "./api.ts";
import { Notebook, parseNotebook } from "./cells.ts";

const notebook = new Notebook(document.getElementById("cells")!);
const status = document.getElementById("status")!;

function showStatus(text: string, isError = false): void {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function runAll(): Promise<void> {
  showStatus("running ...");
  const started = performance.now();
  const result = await notebook.runAll();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  showStatus(
    result === "error"
      ? `stopped at an error after ${seconds} s`
      : `all cells ran in ${seconds} s`,
    result === "error",
  );
}

async function loadFromUrl(path: string): Promise<void> {
  const response = await fetch(path);
  if (!response.ok) {
    throw new Error(`Loading ${path} failed: HTTP ${response.status}`);
  }
  notebook.load(parseNotebook(await response.json(), path));
  document.title = `${notebook.title} - MPFNet notebook`;
}

document.getElementById("run-all")!.addEventListener(
  "click",
  () => void runAll(),
);
document.getElementById("add-cell")!.addEventListener(
  "click",
  () => notebook.addCell().querySelector("textarea")!.focus(),
);
document.getElementById("save")!.addEventListener(
  "click",
  () => notebook.save(),
);
const upload = document.getElementById("upload") as HTMLInputElement;
upload.addEventListener("change", async () => {
  const file = upload.files?.[0];
  if (!file) return;
  try {
    notebook.load(parseNotebook(JSON.parse(await file.text()), file.name));
    showStatus(`loaded ${file.name}`);
  } catch (error) {
    showStatus(`${(error as Error).message}`, true);
  }
  upload.value = "";
});

// Tests and the console drive the page through these.
Object.assign(globalThis, { mpfnet, notebook });

const path = new URLSearchParams(location.search).get("notebook") ??
  "examples/tour.json";
loadFromUrl(path).then(
  () => {
    showStatus(`loaded ${path}`);
    document.body.dataset.state = "idle";
  },
  (error) => {
    showStatus((error as Error).message, true);
    document.body.dataset.state = "idle";
  },
);
