/**
 * The two OAuth 2.0 login programs the bundle size benchmark measures
 * (`oauth_login/matrixlib.ts` and `oauth_login/oauth4webapi.ts`) do the same
 * job: each logs in against the development homeserver's OAuth 2.0 mode with
 * the device grant and with the code grant, learns who it is, renews an
 * expired token, and logs out, which ends the device. So the oauth4webapi
 * side is a real equivalent of the library's, not a strawman. In process:
 * the homeserver's handler is the `fetch`, and a fake clock stands in for
 * the device grant's 5-second polling and the token's lifetime.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Client, type CodeLogin, MemoryStorage } from "../../mod.ts";
import {
  createHomeserver,
  fetchOf,
  type RequestLogEntry,
} from "../../devserver/server.ts";
import {
  oauthApproveDevice,
  oauthAuthorize,
} from "../../devserver/oauth_browser.ts";
import * as ours from "./oauth_login/matrixlib.ts";
import * as theirs from "./oauth_login/oauth4webapi.ts";

const BASE = "http://localhost:8008";
const LIFETIME_MS = 300_000;

/** The same job, whichever program does it. */
interface Program<C, L> {
  connect(setup: {
    homeserver: string;
    storage: MemoryStorage;
    fetch: typeof fetch;
    allowHttp: boolean;
    clock: { now(): number; sleep(ms: number): Promise<void> };
  }): Promise<C>;
  deviceLogin(
    connection: C,
    show: (uri: string, code: string, complete?: string) => void,
  ): Promise<{ userId: string; deviceId: string }>;
  startCodeLogin(connection: C, redirectUri: string): Promise<L>;
  finishCodeLogin(
    connection: C,
    callback: string,
    login: L,
  ): Promise<{ userId: string; deviceId: string }>;
  whoami(connection: C): Promise<string>;
  logout(connection: C): Promise<void>;
}

/**
 * Runs the whole job with `program` against a fresh homeserver; returns the
 * requests the homeserver saw.
 */
async function job<C, L extends { url: string }>(
  program: Program<C, L>,
): Promise<RequestLogEntry[]> {
  let now = Date.parse("2026-12-04T12:00:00Z");
  const log: RequestLogEntry[] = [];
  const hs = createHomeserver({
    users: [{ localpart: "alice", password: "secret" }],
    oauth: "only",
    baseUrl: BASE,
    seed: 5,
    clock: () => now,
    accessTokenLifetimeMs: LIFETIME_MS,
    onRequest: (entry) => log.push(entry),
  });
  const fetch = fetchOf(hs) as typeof globalThis.fetch;
  const browser = { user: "alice", password: "secret", fetch };
  let approval: Promise<unknown> = Promise.resolve();
  const clock = {
    now: () => now,
    // The user answers while the program waits.
    sleep: async (ms: number) => {
      await approval;
      now += ms;
    },
  };
  const connection = await program.connect({
    homeserver: BASE,
    storage: new MemoryStorage(),
    fetch,
    allowHttp: true,
    clock,
  });

  const byDevice = await program.deviceLogin(connection, (uri, code, full) => {
    approval = oauthApproveDevice(full ?? uri, { ...browser, userCode: code });
  });
  assert.equal(await approval, "granted");
  assert.match(byDevice.userId, /^@alice:/);
  assert.deepEqual(hs.devices(byDevice.userId).map((d) => d.deviceId), [
    byDevice.deviceId,
  ]);
  assert.equal(await program.whoami(connection), byDevice.userId);
  now += LIFETIME_MS + 1000;
  assert.equal(await program.whoami(connection), byDevice.userId);
  await program.logout(connection);
  assert.deepEqual(hs.devices(byDevice.userId), []);

  const login = await program.startCodeLogin(
    connection,
    "http://127.0.0.1:41234/callback",
  );
  const callback = await oauthAuthorize(login.url, {
    ...browser,
    deliver: false,
  });
  const byCode = await program.finishCodeLogin(
    connection,
    callback.url.href,
    login,
  );
  assert.equal(byCode.userId, byDevice.userId);
  assert.deepEqual(hs.devices(byCode.userId).map((d) => d.deviceId), [
    byCode.deviceId,
  ]);
  assert.equal(await program.whoami(connection), byCode.userId);
  await program.logout(connection);
  assert.deepEqual(hs.devices(byCode.userId), []);
  return log;
}

/**
 * The requests the homeserver saw, in order. matrixlib asks `/versions` a
 * second time (discovery checks the homeserver; the metadata lookup picks
 * its address), so a repeat of it is left out.
 */
function protocol(log: RequestLogEntry[]): string[] {
  const lines = log.map((e) => `${e.method} ${e.path} ${e.status}`);
  return lines.filter((line, i) =>
    !(line.startsWith("GET /_matrix/client/versions ") &&
      lines.indexOf(line) < i)
  );
}

describe("OAuth 2.0 login programs of the bundle size benchmark", () => {
  it("matrixlib's: device grant, renewal, code grant, logouts", async () => {
    const log = await job<Client, CodeLogin>(
      ours as unknown as Program<Client, CodeLogin>,
    );
    const calls = protocol(log);
    // Three grants (device, refresh, code), two revocations.
    assert.equal(calls.filter((c) => c === "POST /oauth2/token 200").length, 3);
    assert.equal(
      calls.filter((c) => c === "POST /oauth2/revoke 200").length,
      2,
    );
  });

  it("oauth4webapi's does the same job, with the same protocol requests", async () => {
    const log = await job(
      theirs as Program<theirs.Connection, theirs.CodeLogin>,
    );
    const reference = await job<Client, CodeLogin>(
      ours as unknown as Program<Client, CodeLogin>,
    );
    assert.deepEqual(protocol(log), protocol(reference));
  });
});
