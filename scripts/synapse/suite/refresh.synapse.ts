/**
 * Chapter 4 against Synapse, whose refreshable access tokens live 5 s:
 * renewal before and after a real expiry, rotation, one refresh for many
 * requests, and the example.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  calls,
  frozenClock,
  newClient,
  PAST_EXPIRY_MS,
  raw,
  sleep,
  users,
} from "./support.ts";

describe("synapse: refresh tokens (chapter 4)", () => {
  it("POST /r0/tokenrefresh, the refresh of the 2015 drafts, is 403 M_FORBIDDEN 'tokenrefresh is no longer supported.'; v2_alpha/tokenrefresh, Citadel's path, is 404 M_UNRECOGNIZED", async () => {
    // Chapter 7: Thales Citadel renews tokens at v2_alpha/tokenrefresh, the
    // refresh of the specification's drafts until r0.3.0. Today's Synapse
    // keeps the route (r0, v3, unstable) only to refuse it, before looking
    // at the body, and does not route v2_alpha at all: Citadel's refresh
    // and /v3/refresh are not interchangeable.
    const json = { refresh_token: "not-a-token" };
    for (
      const path of ["r0", "v3", "unstable"].map((v) => `${v}/tokenrefresh`)
    ) {
      const answer = await raw("POST", `/_matrix/client/${path}`, { json });
      assert.equal(answer.status, 403, path);
      assert.equal(answer.body.errcode, "M_FORBIDDEN", path);
      assert.equal(
        answer.body.error,
        "tokenrefresh is no longer supported.",
        path,
      );
    }
    const citadel = await raw("POST", "/_matrix/client/v2_alpha/tokenrefresh", {
      json,
    });
    assert.equal(citadel.status, 404);
    assert.equal(citadel.body.errcode, "M_UNRECOGNIZED");
  });

  it("after a real expiry, the next request renews the token first, then succeeds", async () => {
    const alice = await users.user("alice");
    const { client, log } = newClient();
    await client.loginWithPassword(alice.userId, alice.password);
    await sleep(PAST_EXPIRY_MS);
    assert.equal((await client.whoami()).userId, alice.userId);
    assert.deepEqual(calls(log, "/refresh"), ["POST 200"]);
    assert.deepEqual(calls(log, "/whoami"), ["GET 200"]);
    assert.equal(client.sessionState, "logged_in");
  });

  it("a token expired on the server but not for the client: 401 M_UNKNOWN_TOKEN with soft_logout, one refresh, the request again", async () => {
    const bob = await users.user("bob");
    // The client's clock stands still, so it never renews ahead of time.
    const { client, log } = newClient({ clock: frozenClock() });
    await client.loginWithPassword(bob.userId, bob.password);
    await sleep(PAST_EXPIRY_MS);
    assert.equal((await client.whoami()).userId, bob.userId);
    assert.deepEqual(calls(log, "/whoami"), ["GET 401", "GET 200"]);
    assert.deepEqual(calls(log, "/refresh"), ["POST 200"]);
  });

  it("Synapse marks an expired token soft_logout: true, an unknown one false", async () => {
    const carol = await users.user("carol");
    const login = await raw("POST", "/_matrix/client/v3/login", {
      json: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: carol.localpart },
        password: carol.password,
        refresh_token: true,
      },
    });
    assert.equal(login.status, 200);
    await sleep(PAST_EXPIRY_MS);
    const expired = await raw("GET", "/_matrix/client/v3/account/whoami", {
      token: login.body.access_token as string,
    });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(expired.body.soft_logout, true);
    const unknown = await raw("GET", "/_matrix/client/v3/account/whoami", {
      token: "syt_not_a_token",
    });
    assert.equal(unknown.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(unknown.body.soft_logout, false);
  });
});
