/**
 * Chapter 4 against Synapse, continued: rotation of the refresh token, one
 * refresh for many requests, and the example (a file of its own, so that
 * it runs beside refresh.synapse.ts: each waits for real expiries).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MatrixError } from "../../../mod.ts";
import {
  assertNoSecrets,
  calls,
  CopyableStorage,
  example,
  frozenClock,
  inDir,
  newClient,
  PAST_EXPIRY_MS,
  sleep,
  URL_,
  users,
} from "./support.ts";

describe("synapse: refresh tokens, rotation (chapter 4)", () => {
  it("rotation: once the new pair is used, the old refresh token is 403 M_FORBIDDEN, and a client still holding it is logged out", async () => {
    const dave = await users.user("dave");
    const storage = new CopyableStorage();
    const { client } = newClient({ storage });
    const loggedIn = Date.now();
    await client.loginWithPassword(dave.userId, dave.password);
    const stale = storage.copy(); // a copy of the session, as a backup would be
    // Past half the token's life, the next request renews it and uses the new one.
    await sleep(3_000);
    await client.whoami();
    // The copy's access token works until it expires; then its client must
    // refresh, with the refresh token that rotation has spent.
    await sleep(loggedIn + PAST_EXPIRY_MS - Date.now());
    const old = newClient({ storage: stale });
    await old.client.restore();
    const error = await old.client.whoami().then(
      () => assert.fail("the old refresh token worked"),
      (e) => e,
    );
    assert.ok(error instanceof MatrixError, String(error));
    assert.equal(error.status, 403);
    assert.equal(error.errcode, "M_FORBIDDEN");
    assert.deepEqual(calls(old.log, "/refresh"), ["POST 403"]);
    assert.equal(old.client.sessionState, "logged_out");
    // The rotated session is untouched.
    assert.equal((await client.whoami()).userId, dave.userId);
  });

  it("parallel requests at expiry make exactly one refresh", async () => {
    const erin = await users.user("erin");
    const { client, log } = newClient({ clock: frozenClock() });
    await client.loginWithPassword(erin.userId, erin.password);
    await sleep(PAST_EXPIRY_MS);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => client.whoami()),
    );
    assert.ok(answers.every((a) => a.userId === erin.userId));
    assert.deepEqual(calls(log, "/refresh"), ["POST 200"]);
    assert.equal(
      calls(log, "/whoami").filter((c) => c === "GET 200").length,
      8,
    );
  });

  it("examples/refresh.ts renews the token on Synapse and prints no token", async () => {
    const frank = await users.user("frank");
    await inDir(async (dir) => {
      const run = await example("refresh.ts", [
        frank.localpart,
        "--homeserver",
        URL_,
        "--session",
        join(dir, "session.json"),
        "--until-refreshes",
        "2",
      ], {
        dir,
        envNames: ["MATRIX_PASSWORD"],
        env: { MATRIX_PASSWORD: frank.password },
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Logged in as ${frank.userId}`));
      assert.match(run.stdout, /Renewed the access token \(renewal 2\)/);
      assert.match(run.stdout, /Stopped; the session stays saved/);
      assertNoSecrets(run.stdout + run.stderr, frank.password);
    });
  });
});
