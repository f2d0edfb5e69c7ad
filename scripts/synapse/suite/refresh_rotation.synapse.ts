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
  field,
  frozenClock,
  inDir,
  newClient,
  PAST_EXPIRY_MS,
  raw,
  rawLogin,
  sleep,
  URL_,
  users,
} from "./support.ts";

const WHOAMI = "/_matrix/client/v3/account/whoami";
const REFRESH = "/_matrix/client/v3/refresh";

/** A raw refresh with `refreshToken`. */
function refresh(refreshToken: string) {
  return raw("POST", REFRESH, { json: { refresh_token: refreshToken } });
}

/** An error answer's status, errcode and soft_logout, to compare at once. */
function refusal(answer: { status: number; body: Record<string, unknown> }) {
  return {
    status: answer.status,
    errcode: answer.body.errcode,
    soft_logout: answer.body.soft_logout,
  };
}

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

  it("a refresh repeated with the old refresh token before the new pair is used succeeds (the old token stays valid until the new pair is used)", async () => {
    const gina = await users.user("gina");
    const login = await rawLogin(gina, { refresh_token: true });
    const r1 = field(login, "refresh_token");
    const first = await refresh(r1);
    assert.equal(first.status, 200, `first refresh: ${first.body.errcode}`);
    // As a client would whose first answer was lost: the same token again.
    const second = await refresh(r1);
    assert.equal(second.status, 200, `second refresh: ${second.body.errcode}`);
    assert.equal(typeof second.body.access_token, "string");
    assert.equal(typeof second.body.refresh_token, "string");
  });

  it("the worse ordering: a second refresh with the old token before the first's new pair is used deletes the first's new tokens", async () => {
    // Synapse's replace_refresh_token gives the old refresh token its new
    // successor and deletes the one before (with its access token); see its
    // RefreshAuthTests.test_refresh_token_invalidation.
    const hana = await users.user("hana");
    const r1 = field(
      await rawLogin(hana, { refresh_token: true }),
      "refresh_token",
    );
    const pairA = await refresh(r1);
    assert.equal(pairA.status, 200, `refresh A: ${pairA.body.errcode}`);
    const pairB = await refresh(r1); // before A is used
    assert.equal(pairB.status, 200, `refresh B: ${pairB.body.errcode}`);
    const whoamiA = await raw("GET", WHOAMI, {
      token: field(pairA.body, "access_token"),
    });
    assert.equal(whoamiA.status, 401);
    assert.equal(whoamiA.body.errcode, "M_UNKNOWN_TOKEN");
    assert.notEqual(whoamiA.body.soft_logout, true);
    const refreshA = await refresh(field(pairA.body, "refresh_token"));
    assert.deepEqual(refusal(refreshA), {
      status: 401,
      errcode: "M_UNKNOWN_TOKEN",
      soft_logout: undefined,
    });
    // B, the pair that came last, is the session now.
    const whoamiB = await raw("GET", WHOAMI, {
      token: field(pairB.body, "access_token"),
    });
    assert.equal(whoamiB.status, 200);
    assert.equal(whoamiB.body.user_id, hana.userId);
  });

  it("Synapse's refresh errors never carry soft_logout: an old refresh token after the new pair was used (403), an unknown one (401)", async () => {
    const ivan = await users.user("ivan");
    const r1 = field(
      await rawLogin(ivan, { refresh_token: true }),
      "refresh_token",
    );
    const pair = await refresh(r1);
    assert.equal(pair.status, 200, `refresh: ${pair.body.errcode}`);
    const used = await raw("GET", WHOAMI, {
      token: field(pair.body, "access_token"),
    });
    assert.equal(used.status, 200);
    const old = await refresh(r1);
    assert.deepEqual(refusal(old), {
      status: 403,
      errcode: "M_FORBIDDEN",
      soft_logout: undefined,
    });
    assert.equal(old.body.error, "refresh token isn't valid anymore");
    const unknown = await refresh("syr_not_a_real_token");
    assert.deepEqual(refusal(unknown), {
      status: 401,
      errcode: "M_UNKNOWN_TOKEN",
      soft_logout: undefined,
    });
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
