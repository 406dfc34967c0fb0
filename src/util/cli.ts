/**
 * Command-line helpers shared by the scripts in experiments/ and bench/.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Error for a command line the script cannot run, with the reason and the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Joins an option that takes a value and a following negative number
 * ("--seed", "-1") into "--seed=-1". parseArgs would otherwise reject the
 * pair as ambiguous, and the value would never reach the range checks.
 */
export function attachNegativeNumbers(
  args: readonly string[],
  options: ParseArgsConfig["options"],
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    const spec = options && Object.hasOwn(options, name)
      ? options[name]
      : undefined;
    const next = args[i + 1];
    if (
      spec?.type === "string" && next !== undefined && /^-\.?\d/.test(next)
    ) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/**
 * parseArgs with negative numbers accepted after their option (see
 * attachNegativeNumbers), and its errors (unknown option, missing value)
 * turned into a UsageError whose message ends with `usage`.
 */
export function parseCommandLine<T extends ParseArgsConfig>(
  config: T & { args: readonly string[] },
  usage: string,
): ReturnType<typeof parseArgs<T>> {
  try {
    const args = attachNegativeNumbers(config.args, config.options);
    return parseArgs({ ...config, args } as T);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      throw new UsageError(`${(error as Error).message}\n\n${usage}`);
    }
    throw error;
  }
}

/**
 * Runs a script's main function and exits with its status. A UsageError
 * prints its message and exits with 2, any other error prints "error:" and
 * its message (no stack trace) and exits with 1.
 */
export async function runMain(
  main: () => Promise<number | void>,
): Promise<never> {
  let status: number | void;
  try {
    status = await main();
  } catch (error) {
    report(error);
  }
  Deno.exit(status ?? 0);
}

function report(error: unknown): never {
  if (error instanceof UsageError) {
    console.error(error.message);
    Deno.exit(2);
  }
  console.error(
    `error: ${error instanceof Error ? error.message : String(error)}`,
  );
  Deno.exit(1);
}

/**
 * For scripts that run at the top level: an uncaught error prints as
 * runMain prints it (a message, no stack trace) and sets the same exit
 * status. Call it first, before anything can throw.
 */
export function exitOnErrors(): void {
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    report(event.error);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    report(event.reason);
  });
}
