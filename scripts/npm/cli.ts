/**
 * The command line of the `scripts/npm/` commands (build, smoke test, Node
 * test run): each takes a few boolean flags and `--help`.
 *
 * @module
 */
import { parseArgs } from "node:util";

/**
 * Reads `args` as the flags `names` (each `--name`) plus `-h`/`--help`.
 * Returns the flags that were given, or the exit status when the command
 * should stop: 0 after printing `help`, 2 after a mistake (named, with the
 * help).
 */
export function readFlags(
  command: string,
  args: string[],
  names: readonly string[],
  help: string,
): Record<string, boolean> | number {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args,
      options: Object.fromEntries([
        ...names.map((name) => [name, { type: "boolean" as const }]),
        ["help", { type: "boolean" as const, short: "h" }],
      ]),
    }));
  } catch (error) {
    console.error(`${command}: ${(error as Error).message}\n\n${help}`);
    return 2;
  }
  if (values.help === true) {
    console.log(help);
    return 0;
  }
  return Object.fromEntries(names.map((name) => [name, values[name] === true]));
}
