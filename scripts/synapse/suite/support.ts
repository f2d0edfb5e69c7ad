/**
 * What every file of the Synapse suite shares: the homeserver under test
 * (from the environment `scripts/synapse/main.ts test` sets), users made
 * through the shared-secret API, clients with a request log, raw requests,
 * and the book's examples run as programs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Client,
  type ClientOptions,
  type Clock,
  type Fetch,
  systemClock,
} from "../../../mod.ts";
import type { JsonValue, Storage } from "../../../src/storage.ts";
import { type Run, runDeno } from "../../../tests/example_runner.ts";
import { UserFactory } from "../users.ts";

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new Error(
      `${name} is not set: run the suite with \`npm run test:synapse\` (see scripts/synapse/main.ts --help)`,
    );
  }
  return value;
}

/** The homeserver's base URL, without a final `/`. */
export const URL_ = required("MATRIX_TEST_HOMESERVER").replace(/\/$/, "");
/** Its host and port, for `--allow-net`. */
export const HOST = new URL(URL_).host;
/** Makes users on it. */
export const users = new UserFactory({
  url: URL_,
  registrationSecret: required("MATRIX_TEST_REGISTRATION_SECRET"),
});

/** The CAS account for single sign-on, when the CAS provider is known. */
export const CAS = (() => {
  const user = Deno.env.get("MATRIX_TEST_CAS_USER");
  const password = Deno.env.get("MATRIX_TEST_CAS_PASSWORD");
  return user && password ? { user, password } : undefined;
})();
/** Why single sign-on tests are skipped, if they are. */
export const NO_CAS = CAS === undefined
  ? "no CAS account (MATRIX_TEST_CAS_USER, MATRIX_TEST_CAS_PASSWORD)"
  : undefined;

/** One request as the client sent it, and its answer; no bodies. */
export interface Exchange {
  method: string;
  path: string;
  status: number;
}

/** A `fetch` that records method, path and status of each request. */
export function recordingFetch(): { fetch: Fetch; log: Exchange[] } {
  const log: Exchange[] = [];
  const wrapped: Fetch = async (input, init) => {
    const request = new Request(input, init);
    const response = await fetch(request);
    log.push({
      method: request.method,
      path: new URL(request.url).pathname,
      status: response.status,
    });
    return response;
  };
  return { fetch: wrapped, log };
}

/** A storage that can be copied, as a stale backup of a session would be. */
export class CopyableStorage implements Storage {
  #values = new Map<string, string>();
  get(key: string): JsonValue | undefined {
    const text = this.#values.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }
  set(key: string, value: JsonValue): void {
    this.#values.set(key, JSON.stringify(value));
  }
  delete(key: string): void {
    this.#values.delete(key);
  }
  copy(): CopyableStorage {
    const other = new CopyableStorage();
    for (const [k, v] of this.#values) other.#values.set(k, v);
    return other;
  }
}

/** A clock that stands still (sleeps still sleep): the client never sees a token expire. */
export function frozenClock(): Clock {
  const at = Date.now();
  return { now: () => at, sleep: systemClock.sleep };
}

/** A client of the homeserver under test, with its request log. */
export function newClient(
  options: Partial<ClientOptions> = {},
): { client: Client; log: Exchange[] } {
  const recording = recordingFetch();
  const client = new Client({
    baseUrl: URL_,
    fetch: recording.fetch,
    ...options,
  });
  return { client, log: recording.log };
}

/** The requests of `log` to `path` (ending), as `METHOD status`. */
export function calls(log: Exchange[], pathEnd: string): string[] {
  return log.filter((e) => e.path.endsWith(pathEnd)).map((e) =>
    `${e.method} ${e.status}`
  );
}

/**
 * A raw JSON request; the answer's status, body and headers. `text` is a
 * body sent as it is (with the JSON content type), for bodies that are not
 * JSON; `headers` are added as they are (an `Authorization` of one's own).
 */
export async function raw(
  method: string,
  path: string,
  options: {
    json?: unknown;
    text?: string;
    token?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<
  { status: number; body: Record<string, unknown>; headers: Headers }
> {
  const headers: Record<string, string> = {};
  if (options.json !== undefined || options.text !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  if (options.token !== undefined) {
    headers.Authorization = `Bearer ${options.token}`;
  }
  Object.assign(headers, options.headers);
  const response = await fetch(`${URL_}${path}`, {
    method,
    headers,
    body: options.text ??
      (options.json === undefined ? undefined : JSON.stringify(options.json)),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body, headers: response.headers };
}

/**
 * A raw password login of `user` by localpart (`extra` joins the request,
 * such as `refresh_token` or `device_id`); fails unless it is 200. The
 * answer holds tokens: never print it.
 */
export async function rawLogin(
  user: { localpart: string; password: string },
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const login = await raw("POST", "/_matrix/client/v3/login", {
    json: {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: user.localpart },
      password: user.password,
      ...extra,
    },
  });
  assert.equal(login.status, 200, `login: ${login.body.errcode}`);
  return login.body;
}

/** A string field of an answer (a token, an ID), or a failure naming it. */
export function field(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== "string") assert.fail(`the answer has no ${key}`);
  return value;
}

/** Waits `ms` milliseconds of real time (a token's real expiry). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Synapse's refreshable access tokens live 5 s: a little more than that. */
export const PAST_EXPIRY_MS = 5_600;

/** Runs `body` with a scratch directory, removed afterwards. */
export async function inDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "synapse-suite-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs an example against the homeserver, with the network it needs only. */
export function example(
  name: string,
  args: string[],
  options: {
    dir?: string;
    env?: Record<string, string>;
    stdin?: string;
    net?: string[];
    run?: string[];
    envNames?: string[];
  } = {},
): Promise<Run> {
  const permissions = [
    `--allow-net=${[HOST, ...(options.net ?? [])].join(",")}`,
  ];
  if (options.dir !== undefined) {
    permissions.push(`--allow-read=${options.dir}`);
    permissions.push(`--allow-write=${options.dir}`);
  }
  if (options.envNames?.length) {
    permissions.push(`--allow-env=${options.envNames.join(",")}`);
  }
  if (options.run?.length) {
    permissions.push(`--allow-run=${options.run.join(",")}`);
  }
  return runDeno([...permissions, `examples/${name}`, ...args], {
    env: options.env,
    stdin: options.stdin,
  });
}

/** Fails if `text` contains any of the secrets, or anything token-shaped. */
export function assertNoSecrets(text: string, ...secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), "a secret was printed");
  }
  assert.doesNotMatch(text, /sy[tlr]_[A-Za-z0-9]/, "a token was printed");
}
