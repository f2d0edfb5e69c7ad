/**
 * Keeps the development homeserver's state (users, devices, tokens) in a
 * JSON file, so that `devserver/main.ts --state FILE` survives a restart.
 * The server itself stays web-standard; the file work is here.
 *
 * ```ts
 * const state = readStateFile("devserver.json"); // undefined the first time
 * const hs = createHomeserver({
 *   state,
 *   onChange: () => writeStateFile("devserver.json", hs.exportState()),
 * });
 * ```
 *
 * The file holds passwords and tokens: it is written with mode 0600, through
 * a temporary file renamed over it, so that a crash never leaves half a file.
 * A file that cannot be read or understood is reported and left alone.
 *
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { type HomeserverState, parseState } from "./server.ts";

/** A state file that cannot be read, understood or written. */
export class StateFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateFileError";
  }
}

/**
 * The state saved in `file`, or `undefined` when there is no such file yet.
 * Throws a {@linkcode StateFileError} that names the file, what is wrong and
 * what to do, when it cannot be read or is not a saved state.
 */
export function readStateFile(file: string): HomeserverState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StateFileError(
      `cannot read the state file ${file}: ${
        (error as Error).message
      }. Check its permissions (and, under Deno, --allow-read).`,
      { cause: error },
    );
  }
  const damaged = (what: string, cause: unknown): StateFileError =>
    new StateFileError(
      `the state file ${file} is damaged (${what}). It was left as it is: ` +
        "repair it, move it away, or start without --state.",
      { cause },
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw damaged(`not JSON: ${(error as Error).message}`, error);
  }
  try {
    return parseState(value);
  } catch (error) {
    throw damaged((error as Error).message, error);
  }
}

/**
 * Writes `state` to `file` atomically, readable by its owner only: to a
 * temporary file in the same folder, then renamed over `file`.
 */
export function writeStateFile(file: string, state: HomeserverState): void {
  const temporary = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${crypto.randomUUID()}.tmp`,
  );
  try {
    fs.writeFileSync(temporary, JSON.stringify(state, null, 2) + "\n", {
      mode: 0o600,
      flag: "wx",
    });
    // The mode above is filtered by the umask; set it for certain.
    fs.chmodSync(temporary, 0o600);
    fs.renameSync(temporary, file);
  } catch (error) {
    try {
      fs.rmSync(temporary, { force: true });
    } catch {
      // Nothing more to do: the error below says what failed.
    }
    throw new StateFileError(
      `cannot write the state file ${file}: ${
        (error as Error).message
      }. Check that its folder exists and is writable (and, under Deno, --allow-write).`,
      { cause: error },
    );
  }
}
