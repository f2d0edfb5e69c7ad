/**
 * One of the programs of `stale_lock.synapse.ts` that share a session file:
 * restores the session, waits for the word to go, calls whoami, and prints
 * one line, `ok USER_ID` or `error NAME: MESSAGE` (never a token).
 *
 * ```console
 * deno run --allow-net=127.0.0.1:PORT --allow-read=DIR --allow-write=DIR \
 *   scripts/synapse/suite/stale_lock_child.ts BASE_URL DIR/session.json STALE_MS
 * ```
 *
 * It prints `ready` once restored, then waits for a line on its standard
 * input, so that the test can start all of them at the same moment.
 *
 * @module
 */
import { Client } from "../../../mod.ts";
import { FileLock } from "../../../src/file_lock.ts";
import { JsonFileStorage } from "../../../src/file_storage.ts";

const [baseUrl, session, staleMs] = Deno.args;
try {
  const client = new Client({
    baseUrl,
    storage: new JsonFileStorage(session),
    lock: new FileLock(`${session}.lock`, {
      staleMs: Number(staleMs),
      timeoutMs: 20_000,
    }),
  });
  if (await client.restore() === undefined) {
    throw new Error(`no session in ${session}`);
  }
  console.log("ready");
  await Deno.stdin.read(new Uint8Array(1)); // the word to go, or the end
  console.log(`ok ${(await client.whoami()).userId}`);
} catch (error) {
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  console.log(`error ${name}: ${message}`);
  Deno.exitCode = 1;
}
