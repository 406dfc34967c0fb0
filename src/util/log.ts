/**
 * Run logging: stage lines to stderr and to the run's log file, and
 * progress bars (cli-progress) with the time left, drawn only on a
 * terminal.
 */
import cliProgress from "cli-progress";

export class RunLog {
  #file: Deno.FsFile | null = null;
  #bar: cliProgress.SingleBar | null = null;
  #barLabel = "";
  readonly #encoder = new TextEncoder();

  /** Appends every following line to `path` as well. */
  async open(path: string): Promise<void> {
    this.#file = await Deno.open(path, { append: true, create: true });
  }

  line(text: string): void {
    const stamped = `${new Date().toISOString().slice(11, 19)} ${text}`;
    this.#stopBar();
    console.error(stamped);
    this.#file?.writeSync(this.#encoder.encode(stamped + "\n"));
  }

  /** Shows `done` of `total` for `label`, with the estimated time left. */
  progress(label: string, done: number, total: number): void {
    if (!Deno.stderr.isTerminal()) return;
    if (!this.#bar || this.#barLabel !== label) {
      this.#stopBar();
      this.#bar = new cliProgress.SingleBar(
        {
          format: `${
            label.padEnd(22)
          } [{bar}] {value}/{total} | {eta_formatted} left`,
          stream: process.stderr,
          hideCursor: false,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(total, 0);
      this.#barLabel = label;
    }
    this.#bar.setTotal(total);
    this.#bar.update(done);
    if (done >= total) this.#stopBar();
  }

  #stopBar(): void {
    this.#bar?.stop();
    this.#bar = null;
    this.#barLabel = "";
  }

  close(): void {
    this.#stopBar();
    this.#file?.close();
    this.#file = null;
  }
}
