/**
 * Chapter 4 against Synapse: programs that share a session file (through
 * `JsonFileStorage` and `FileLock`) after a crashed holder left its lock
 * file behind. A regression test: when the takeover of a stale lock was
 * not exclusive, two programs could both take it over and send the same
 * refresh token; Synapse then invalidated one of the new access tokens, and
 * its program, answered `401 M_UNKNOWN_TOKEN`, took it for a logout and
 * wiped the shared session.
 *
 * The programs (`stale_lock_child.ts`) reach Synapse through a logging
 * proxy on 127.0.0.1, which records method, path and status of each
 * request and a hash of each `/refresh`'s refresh token, never the token.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFile, stat, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Client } from "../../../mod.ts";
import { FileLock } from "../../../src/file_lock.ts";
import { JsonFileStorage } from "../../../src/file_storage.ts";
import {
  assertNoSecrets,
  inDir,
  PAST_EXPIRY_MS,
  sleep,
  URL_,
  users,
} from "./support.ts";

/** How many programs share the session file. */
const PROGRAMS = 4;
/** How many rounds, each with its own user and session file. */
const ROUNDS = 5;
/** The programs' `staleMs`: short, to keep the test fast. */
const STALE_MS = 300;
const CHILD = "scripts/synapse/suite/stale_lock_child.ts";

/** One request that went through the proxy; no bodies, no tokens. */
interface Proxied {
  method: string;
  path: string;
  status: number;
  /** For a `/refresh`: a hash of the refresh token it sent. */
  refreshTokenHash?: string;
}

/** The first 16 hex digits of `text`'s SHA-256. */
async function hash(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(
    new Uint8Array(digest).subarray(0, 8),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Runs `body` with a logging proxy to Synapse on 127.0.0.1 and a free port. */
async function withProxy<T>(
  body: (url: string, log: Proxied[]) => Promise<T>,
): Promise<T> {
  const log: Proxied[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      const bytes = request.body === null
        ? undefined
        : new Uint8Array(await request.arrayBuffer());
      const entry: Proxied = {
        method: request.method,
        path: url.pathname,
        status: 502,
      };
      if (url.pathname.endsWith("/refresh") && bytes !== undefined) {
        try {
          const token =
            JSON.parse(new TextDecoder().decode(bytes)).refresh_token;
          if (typeof token === "string") {
            entry.refreshTokenHash = await hash(token);
          }
        } catch {
          // not JSON: no token to record
        }
      }
      const headers = new Headers(request.headers);
      headers.delete("host");
      try {
        const upstream = await fetch(`${URL_}${url.pathname}${url.search}`, {
          method: request.method,
          headers,
          body: bytes,
          redirect: "manual",
        });
        const answer = await upstream.arrayBuffer();
        const out = new Headers(upstream.headers);
        for (
          const name of [
            "content-encoding",
            "content-length",
            "transfer-encoding",
          ]
        ) {
          out.delete(name);
        }
        entry.status = upstream.status;
        return new Response(answer, { status: upstream.status, headers: out });
      } catch {
        return new Response("proxy: Synapse did not answer", { status: 502 });
      } finally {
        log.push(entry);
      }
    },
  );
  try {
    return await body(`http://127.0.0.1:${server.addr.port}`, log);
  } finally {
    await server.shutdown();
  }
}

/** A running program of `stale_lock_child.ts`. */
interface Program {
  /** Settles once it printed `ready` (or ended). */
  ready: Promise<void>;
  /** Gives it the word to go. */
  go(): Promise<void>;
  /** What it printed, and its exit status. */
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts a program sharing the session file `session` through `proxy`. */
function startProgram(proxy: string, dir: string, session: string): Program {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-net=${new URL(proxy).host}`,
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      CHILD,
      proxy,
      session,
      String(STALE_MS),
    ],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).spawn();
  let stdout = "";
  let isReady!: () => void;
  const ready = new Promise<void>((resolve) => isReady = resolve);
  const reading = (async () => {
    for await (
      const text of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      stdout += text;
      if (/^ready$/m.test(stdout)) isReady();
    }
    isReady();
  })();
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  return {
    ready,
    async go() {
      await writer.write(new TextEncoder().encode("go\n")).catch(() => {});
      await writer.close().catch(() => {});
    },
    done: (async () => {
      const { code } = await child.status;
      await reading;
      return { code, stdout, stderr: await stderr };
    })(),
  };
}

/**
 * Leaves the lock file as a crashed holder would: its content (this
 * version's JSON with the pid of an ended process, or an older version's
 * plain ID), touched a minute ago.
 */
async function plantStaleLock(path: string, older: boolean): Promise<void> {
  const ended = new Deno.Command(Deno.execPath(), {
    args: ["--version"],
    stdout: "null",
  }).spawn();
  await ended.status;
  const owner = crypto.randomUUID();
  await writeFile(
    path,
    older ? owner : JSON.stringify({ owner, pid: ended.pid, host: hostname() }),
    { mode: 0o600 },
  );
  const then = new Date(Date.now() - 60_000);
  await utimes(path, then, then);
}

/** Whether a file exists. */
function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

describe("synapse: a session file shared after a crash (chapter 4)", () => {
  it(`${PROGRAMS} programs sharing a session file at a stale lock left by a crashed holder: one refresh, no refresh token sent twice, the session kept (${ROUNDS} rounds)`, async () => {
    await withProxy(async (proxy, log) => {
      await inDir(async (top) => {
        // Each round's session, logged in through the proxy; the login's
        // well-known advice (Synapse's own address) is declined, so that
        // the programs too go through the proxy.
        const rounds = [];
        for (let n = 1; n <= ROUNDS; n++) {
          const user = await users.user(`stale${n}`);
          const dir = join(top, `round${n}`);
          await Deno.mkdir(dir);
          const session = join(dir, "session.json");
          const client = new Client({
            baseUrl: proxy,
            followWellKnown: false,
            storage: new JsonFileStorage(session),
            lock: new FileLock(`${session}.lock`),
          });
          await client.loginWithPassword(user.userId, user.password);
          const stored = JSON.parse(await readFile(session, "utf8")).session;
          assert.equal(stored?.homeserver, `${proxy}/`);
          assert.equal(typeof stored?.refreshToken, "string");
          rounds.push({ user, dir, session });
        }
        await sleep(PAST_EXPIRY_MS); // every access token has expired

        const problems: string[] = [];
        for (const [i, { user, dir, session }] of rounds.entries()) {
          const lock = `${session}.lock`;
          await plantStaleLock(lock, i % 2 === 1);
          const start = log.length;
          const programs = Array.from(
            { length: PROGRAMS },
            () => startProgram(proxy, dir, session),
          );
          await Promise.all(programs.map((p) => p.ready));
          await Promise.all(programs.map((p) => p.go()));
          const runs = await Promise.all(programs.map((p) => p.done));

          const wrong: string[] = [];
          for (const [k, run] of runs.entries()) {
            assertNoSecrets(run.stdout + run.stderr, user.password);
            const last = run.stdout.trim().split("\n").at(-1) ?? "";
            if (run.code !== 0 || last !== `ok ${user.userId}`) {
              wrong.push(
                `program ${k + 1} (exit ${run.code}): ${
                  last || run.stderr.trim()
                }`,
              );
            }
          }
          const refreshes = log.slice(start).filter((e) =>
            e.method === "POST" && e.path.endsWith("/refresh")
          );
          const renewed = refreshes.filter((e) => e.status === 200).length;
          if (renewed !== 1) {
            wrong.push(
              `${renewed} /refresh answered 200 (${
                refreshes.map((e) => e.status).join(", ") || "none sent"
              })`,
            );
          }
          const sent = new Map<string | undefined, number>();
          for (const e of refreshes) {
            sent.set(
              e.refreshTokenHash,
              (sent.get(e.refreshTokenHash) ?? 0) + 1,
            );
          }
          for (const times of sent.values()) {
            if (times > 1) wrong.push(`one refresh token sent ${times} times`);
          }
          const kept = JSON.parse(await readFile(session, "utf8")).session;
          if (kept?.userId !== user.userId) {
            wrong.push("the session file holds no session any more");
          }
          if (await exists(lock)) wrong.push("the lock file was left behind");
          if (wrong.length) {
            problems.push(`round ${i + 1}: ${wrong.join("; ")}`);
          }
        }
        assert.deepEqual(
          problems,
          [],
          `${problems.length} of ${ROUNDS} rounds went wrong:\n${
            problems.join("\n")
          }`,
        );
      });
    });
  });
});
