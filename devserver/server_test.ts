/**
 * Tests of the development homeserver: each behaviour seen on Synapse 1.160,
 * the library's own `Client` logging in against it, and every answer it
 * gives checked against the Matrix specification's schemas.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { Client, MatrixError } from "../mod.ts";
import { JsonFileStorage } from "../src/file_storage.ts";
import { loadSpec, skipUnlessSpec } from "../scripts/spec/schemas.ts";
import {
  createHomeserver,
  fetchOf,
  type Homeserver,
  type HomeserverOptions,
} from "./server.ts";
import {
  type Answer,
  assertError,
  assertFitsSpec,
  BASE,
  call,
  type CallOptions,
  fakeClock,
} from "./test_support.ts";

/** A server with alice (password "secret", alice@example.org, a phone). */
function server(options: HomeserverOptions = {}): Homeserver {
  return createHomeserver({
    seed: 1,
    users: [{
      localpart: "alice",
      password: "secret",
      emails: ["alice@example.org"],
      phones: ["491711234567"],
    }],
    ...options,
  });
}

function passwordLogin(
  hs: Homeserver,
  fields: Record<string, unknown> = {},
): Promise<Answer> {
  return call(hs, "POST", "/_matrix/client/v3/login", {
    json: {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "alice" },
      password: "secret",
      ...fields,
    },
  });
}

describe("devserver: discovery and login flows", () => {
  it("serves .well-known with a base_url ending in /", async () => {
    const hs = server({ baseUrl: "http://localhost:8008" });
    const answer = await call(hs, "GET", "/.well-known/matrix/client");
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      "m.homeserver": { base_url: "http://localhost:8008/" },
    });
  });

  it("lists Synapse's versions, r0.0.1 to v1.12", async () => {
    const { status, body } = await call(
      hs1(),
      "GET",
      "/_matrix/client/versions",
    );
    assert.equal(status, 200);
    const versions = body.versions as string[];
    assert.equal(versions[0], "r0.0.1");
    assert.equal(versions.at(-1), "v1.12");
  });

  it("offers CAS and SSO, then m.login.token (get_login_token) and m.login.password", async () => {
    const { status, body } = await call(
      hs1(),
      "GET",
      "/_matrix/client/v3/login",
    );
    assert.equal(status, 200);
    assert.deepEqual(body.flows, [
      { type: "m.login.cas" },
      { type: "m.login.sso", identity_providers: [{ id: "cas", name: "CAS" }] },
      { type: "m.login.token", get_login_token: true },
      { type: "m.login.password" },
    ]);
  });

  it("answers an unknown endpoint 404 and a wrong method 405, M_UNRECOGNIZED", async () => {
    const hs = hs1();
    assertError(
      await call(hs, "GET", "/_matrix/client/v3/nothing"),
      404,
      "M_UNRECOGNIZED",
    );
    assertError(
      await call(hs, "PUT", "/_matrix/client/v3/login"),
      405,
      "M_UNRECOGNIZED",
    );
  });
});

function hs1(): Homeserver {
  return server();
}

describe("devserver: password login", () => {
  it("accepts m.id.user with a localpart or a full user ID", async () => {
    const hs = server();
    for (const user of ["alice", "@alice:localhost:8008", "ALICE"]) {
      const { status, body } = await passwordLogin(hs, {
        identifier: { type: "m.id.user", user },
      });
      assert.equal(status, 200);
      assert.equal(body.user_id, "@alice:localhost:8008");
      assert.equal(typeof body.access_token, "string");
      assert.equal(typeof body.device_id, "string");
    }
  });

  it("accepts the deprecated top-level user", async () => {
    const { status, body } = await call(
      server(),
      "POST",
      "/_matrix/client/v3/login",
      {
        json: { type: "m.login.password", user: "alice", password: "secret" },
      },
    );
    assert.equal(status, 200);
    assert.equal(body.user_id, "@alice:localhost:8008");
  });

  it("puts well_known, with a base_url ending in /, in every login response", async () => {
    const { body } = await passwordLogin(server());
    assert.deepEqual(body.well_known, {
      "m.homeserver": { base_url: "http://localhost:8008/" },
    });
  });

  it("finds a user by email, ignoring case", async () => {
    const { status, body } = await passwordLogin(server(), {
      identifier: {
        type: "m.id.thirdparty",
        medium: "email",
        address: "Alice@EXAMPLE.org",
      },
    });
    assert.equal(status, 200);
    assert.equal(body.user_id, "@alice:localhost:8008");
  });

  it("finds a user by m.id.phone with the spec's phone key (and Synapse's number)", async () => {
    const hs = server();
    for (const key of ["phone", "number"]) {
      const { status, body } = await passwordLogin(hs, {
        identifier: {
          type: "m.id.phone",
          country: "DE",
          [key]: "0171 1234567",
        },
      });
      assert.equal(status, 200, key);
      assert.equal(body.user_id, "@alice:localhost:8008");
    }
  });

  it("answers 403 M_FORBIDDEN to a wrong password, an unknown user or an unknown email", async () => {
    const hs = server();
    assertError(
      await passwordLogin(hs, { password: "wrong" }),
      403,
      "M_FORBIDDEN",
    );
    assertError(
      await passwordLogin(hs, {
        identifier: { type: "m.id.user", user: "bob" },
      }),
      403,
      "M_FORBIDDEN",
    );
    assertError(
      await passwordLogin(hs, {
        identifier: {
          type: "m.id.thirdparty",
          medium: "email",
          address: "x@example.org",
        },
      }),
      403,
      "M_FORBIDDEN",
    );
  });

  it("answers malformed identifiers with Synapse's errcodes (found by the differential check)", async () => {
    const hs = server();
    const url = "/_matrix/client/v3/login";
    const cases: [unknown, string][] = [
      ["abc", "M_MISSING_PARAM"],
      [{ user: "alice" }, "M_MISSING_PARAM"],
      [{ type: "m.id.user" }, "M_UNKNOWN"],
      [{ type: "m.id.thirdparty", medium: "email" }, "M_UNKNOWN"],
      [{ type: "m.id.phone", phone: "0171 1234567" }, "M_INVALID_PARAM"],
      [{ type: "m.id.unknown" }, "M_UNKNOWN"],
    ];
    for (const [identifier, errcode] of cases) {
      assertError(
        await call(hs, "POST", url, {
          json: { type: "m.login.password", identifier, password: "x" },
        }),
        400,
        errcode,
      );
    }
  });

  it("answers malformed bodies with 400: M_NOT_JSON, M_BAD_JSON, M_UNKNOWN", async () => {
    const hs = server();
    const url = "/_matrix/client/v3/login";
    assertError(
      await call(hs, "POST", url, { raw: "{not json" }),
      400,
      "M_NOT_JSON",
    );
    assertError(
      await call(hs, "POST", url, { json: [1, 2] }),
      400,
      "M_BAD_JSON",
    );
    // As Synapse 1.160: the identifier is read before the login type.
    assertError(
      await call(hs, "POST", url, {
        json: {
          type: "m.login.magic",
          identifier: { type: "m.id.user", user: "alice" },
        },
      }),
      400,
      "M_UNKNOWN",
    );
    assertError(
      await call(hs, "POST", url, { json: { type: "m.login.magic" } }),
      400,
      "M_INVALID_PARAM",
    );
    assertError(
      await call(hs, "POST", url, {
        json: { type: "m.login.password", password: "x" },
      }),
      400,
      "M_INVALID_PARAM",
    );
    assertError(
      await call(hs, "POST", url, {
        json: { type: "m.login.password", identifier: { user: "alice" } },
      }),
      400,
      "M_INVALID_PARAM", // the password's type is checked first
    );
  });

  it("refuses a body over the size limit with 413 M_TOO_LARGE", async () => {
    const hs = server({ maxBodyBytes: 100 });
    assertError(
      await passwordLogin(hs, { padding: "x".repeat(200) }),
      413,
      "M_TOO_LARGE",
    );
  });

  it("gives no refresh token and no expiry when refresh tokens are off", async () => {
    const { body } = await passwordLogin(server(), { refresh_token: true });
    assert.equal(body.refresh_token, undefined);
    assert.equal(body.expires_in_ms, undefined);
  });

  it("gives refresh_token and expires_in_ms only when asked and configured", async () => {
    const hs = server({ accessTokenLifetimeMs: 5000 });
    const asked = await passwordLogin(hs, { refresh_token: true });
    assert.equal(typeof asked.body.refresh_token, "string");
    assert.equal(asked.body.expires_in_ms, 5000);
    const notAsked = await passwordLogin(hs);
    assert.equal(notAsked.body.refresh_token, undefined);
    assert.equal(notAsked.body.expires_in_ms, undefined);
  });

  it("ends a device's old tokens when it logs in again with its device_id", async () => {
    const hs = server();
    const first = await passwordLogin(hs, {
      device_id: "LAPTOP",
      initial_device_display_name: "Alice's laptop",
    });
    assert.equal(first.body.device_id, "LAPTOP");
    const second = await passwordLogin(hs, {
      device_id: "LAPTOP",
      initial_device_display_name: "ignored: the device exists",
    });
    assert.equal(second.body.device_id, "LAPTOP");
    const old = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: first.body.access_token as string,
    });
    assertError(old, 401, "M_UNKNOWN_TOKEN");
    const current = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: second.body.access_token as string,
    });
    assert.equal(current.status, 200);
    assert.deepEqual(hs.devices("@alice:localhost:8008"), [
      { deviceId: "LAPTOP", displayName: "Alice's laptop" },
    ]);
  });

  it("gives the same tokens and device IDs for the same seed", async () => {
    const a = await passwordLogin(server({ seed: 42 }));
    const b = await passwordLogin(server({ seed: 42 }));
    const c = await passwordLogin(server({ seed: 43 }));
    assert.equal(a.body.access_token, b.body.access_token);
    assert.equal(a.body.device_id, b.body.device_id);
    assert.notEqual(a.body.access_token, c.body.access_token);
  });

  it("answers an unknown login token 403 M_FORBIDDEN", async () => {
    const answer = await call(server(), "POST", "/_matrix/client/v3/login", {
      json: { type: "m.login.token", token: "whatever" },
    });
    assertError(answer, 403, "M_FORBIDDEN");
  });
});

describe("devserver: rate limits", () => {
  it("answers the 4th failed login in a burst 429, with Retry-After and retry_after_ms", async () => {
    const clock = fakeClock();
    // The per-address limit raised, as the reference Synapse setup does.
    const hs = server({
      rateLimit: { address: { burst: 1000, perSecond: 1000 } },
      clock: clock.now,
    });
    for (let i = 0; i < 3; i++) {
      assertError(
        await passwordLogin(hs, { password: "wrong" }),
        403,
        "M_FORBIDDEN",
      );
    }
    const limited = await passwordLogin(hs, { password: "wrong" });
    assertError(limited, 429, "M_LIMIT_EXCEEDED");
    assert.equal(limited.body.error, "Too Many Requests");
    const ms = limited.body.retry_after_ms as number;
    assert.ok(ms > 0);
    assert.equal(
      limited.headers.get("Retry-After"),
      String(Math.ceil(ms / 1000)),
    );
    // Even the right password waits, as on Synapse.
    assertError(await passwordLogin(hs), 429, "M_LIMIT_EXCEEDED");
    clock.advance(ms);
    assert.equal((await passwordLogin(hs)).status, 200);
  });

  it("answers the 6th login in a row 429 with Retry-After of about 330 s (rc_login.address), right password or not", async () => {
    const clock = fakeClock();
    const hs = server({
      rateLimit: { account: { burst: 1000, perSecond: 1000 } },
      clock: clock.now,
    });
    assertError(
      await passwordLogin(hs, { password: "wrong" }),
      403,
      "M_FORBIDDEN",
    );
    for (let i = 0; i < 4; i++) {
      assert.equal((await passwordLogin(hs)).status, 200);
      clock.advance(1000);
    }
    const limited = await passwordLogin(hs);
    assertError(limited, 429, "M_LIMIT_EXCEEDED");
    const seconds = Number(limited.headers.get("Retry-After"));
    assert.ok(seconds >= 320 && seconds <= 334, `Retry-After: ${seconds}`);
    // A refused attempt is not counted: once the wait is over, one more works.
    clock.advance(seconds * 1000);
    assert.equal((await passwordLogin(hs)).status, 200);
    assertError(await passwordLogin(hs), 429, "M_LIMIT_EXCEEDED");
  });

  it("answers the 6th successful login of one user 429 (rc_login.account), not another user's", async () => {
    const clock = fakeClock();
    const hs = server({
      rateLimit: { address: { burst: 1000, perSecond: 1000 } },
      clock: clock.now,
    });
    hs.addUser({ localpart: "bob", password: "pw" });
    for (let i = 0; i < 5; i++) {
      assert.equal((await passwordLogin(hs)).status, 200);
    }
    assertError(await passwordLogin(hs), 429, "M_LIMIT_EXCEEDED");
    const bob = await call(hs, "POST", "/_matrix/client/v3/login", {
      json: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "bob" },
        password: "pw",
      },
    });
    assert.equal(bob.status, 200);
  });

  it("does not limit failed logins unless asked", async () => {
    const hs = server();
    for (let i = 0; i < 10; i++) {
      assertError(
        await passwordLogin(hs, { password: "wrong" }),
        403,
        "M_FORBIDDEN",
      );
    }
  });
});

describe("devserver: access tokens", () => {
  const whoami = "/_matrix/client/v3/account/whoami";

  it("answers whoami with the user and device IDs", async () => {
    const hs = server();
    const login = await passwordLogin(hs);
    const { status, body } = await call(hs, "GET", whoami, {
      token: login.body.access_token as string,
    });
    assert.equal(status, 200);
    assert.equal(body.user_id, "@alice:localhost:8008");
    assert.equal(body.device_id, login.body.device_id);
  });

  it("answers no token 401 M_MISSING_TOKEN", async () => {
    assertError(await call(server(), "GET", whoami), 401, "M_MISSING_TOKEN");
  });

  it("accepts the access token in the access_token query parameter, as Synapse does (the first one, when repeated)", async () => {
    const hs = server();
    const token = (await passwordLogin(hs)).body.access_token as string;
    const q = encodeURIComponent(token);
    const answer = await call(hs, "GET", `${whoami}?access_token=${q}`);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.user_id, "@alice:localhost:8008");
    assert.equal(
      (await call(hs, "GET", `${whoami}?access_token=${q}&access_token=x`))
        .status,
      200,
    );
    for (const query of [`x&access_token=${q}`, "", "garbage"]) {
      const refused = await call(hs, "GET", `${whoami}?access_token=${query}`);
      assertError(refused, 401, "M_UNKNOWN_TOKEN");
      assert.equal(refused.body.soft_logout, false);
    }
    // Any authenticated endpoint: logout too.
    const out = await call(
      hs,
      "POST",
      `/_matrix/client/v3/logout?access_token=${q}`,
    );
    assert.equal(out.status, 200);
    assertError(
      await call(hs, "GET", `${whoami}?access_token=${q}`),
      401,
      "M_UNKNOWN_TOKEN",
    );
  });

  it("refuses a token in both the header and the query 401 M_MISSING_TOKEN 'Mixing Authorization headers and access_token query parameters.', even the same one", async () => {
    const hs = server();
    const token = (await passwordLogin(hs)).body.access_token as string;
    for (const query of [encodeURIComponent(token), "x", ""]) {
      const answer = await call(hs, "GET", `${whoami}?access_token=${query}`, {
        token,
      });
      assertError(answer, 401, "M_MISSING_TOKEN");
      assert.equal(
        answer.body.error,
        "Mixing Authorization headers and access_token query parameters.",
      );
    }
  });

  it("reads the Authorization header as Synapse does: 'Bearer TOKEN' with one space, else 401 M_MISSING_TOKEN 'Invalid Authorization header.'", async () => {
    const hs = server();
    const token = (await passwordLogin(hs)).body.access_token as string;
    const withHeader = (value: string) =>
      hs.handler(
        new Request(BASE + whoami, { headers: { Authorization: value } }),
      );
    assert.equal((await withHeader(`Bearer ${token}`)).status, 200);
    for (
      const value of [
        `bearer ${token}`,
        `Bearer  ${token}`,
        `Bearer ${token} x`,
        "Bearer",
        "Basic abc",
        "",
      ]
    ) {
      const response = await withHeader(value);
      assert.equal(response.status, 401, value);
      assert.deepEqual(await response.json(), {
        errcode: "M_MISSING_TOKEN",
        error: "Invalid Authorization header.",
      });
    }
  });

  it("with accessTokenInQuery: false, refuses a token in the query string 401 M_MISSING_TOKEN, saying to use the header, and ignores one beside the header", async () => {
    const hs = server({ accessTokenInQuery: false });
    const token = (await passwordLogin(hs)).body.access_token as string;
    const q = encodeURIComponent(token);
    const answer = await call(hs, "GET", `${whoami}?access_token=${q}`);
    assertError(answer, 401, "M_MISSING_TOKEN");
    assert.match(answer.body.error as string, /Authorization header/);
    const both = await call(hs, "GET", `${whoami}?access_token=x`, { token });
    assert.equal(both.status, 200, both.text);
    assert.ok(!JSON.stringify(hs.log).includes(token));
  });

  it("answers an unknown token 401 M_UNKNOWN_TOKEN, soft_logout false", async () => {
    const answer = await call(server(), "GET", whoami, { token: "garbage" });
    assertError(answer, 401, "M_UNKNOWN_TOKEN");
    assert.equal(answer.body.soft_logout, false);
  });

  it("answers an expired token 401 M_UNKNOWN_TOKEN 'Access token has expired', soft_logout true", async () => {
    const clock = fakeClock();
    const hs = server({ accessTokenLifetimeMs: 5000, clock: clock.now });
    const login = await passwordLogin(hs, { refresh_token: true });
    clock.advance(5000);
    const answer = await call(hs, "GET", whoami, {
      token: login.body.access_token as string,
    });
    assertError(answer, 401, "M_UNKNOWN_TOKEN");
    assert.equal(answer.body.error, "Access token has expired");
    assert.equal(answer.body.soft_logout, true);
  });

  it("never expires tokens when refresh tokens are off", async () => {
    const clock = fakeClock();
    const hs = server({ clock: clock.now });
    const login = await passwordLogin(hs, { refresh_token: true });
    clock.advance(365 * 24 * 3600 * 1000);
    const answer = await call(hs, "GET", whoami, {
      token: login.body.access_token as string,
    });
    assert.equal(answer.status, 200);
  });

  it("logs nothing secret", async () => {
    const hs = server();
    const login = await passwordLogin(hs);
    await call(hs, "GET", `${whoami}?access_token=x`);
    const logged = JSON.stringify(hs.log);
    assert.ok(!logged.includes(login.body.access_token as string));
    assert.ok(!logged.includes("secret"));
    assert.deepEqual(hs.log.map((e) => e.status), [200, 401]);
    assert.equal(hs.log[1].errcode, "M_UNKNOWN_TOKEN");
    hs.clearLog();
    assert.equal(hs.log.length, 0);
  });

  it("never logs a token sent in the query string, only that one was sent (tokenInQuery)", async () => {
    const entries: unknown[] = [];
    const hs = server({ onRequest: (entry) => entries.push(entry) });
    const token = (await passwordLogin(hs)).body.access_token as string;
    const q = encodeURIComponent(token);
    assert.equal(
      (await call(hs, "GET", `${whoami}?access_token=${q}`)).status,
      200,
    );
    await call(
      hs,
      "POST",
      `/_matrix/client/v1/login/get_token?access_token=${q}`,
      {
        json: {},
      },
    );
    await call(hs, "GET", `${whoami}?access_token=${q}`, { token });
    assert.equal(
      (await call(hs, "POST", `/_matrix/client/v3/logout?access_token=${q}`))
        .status,
      200,
    );
    for (const log of [hs.log, entries]) {
      const text = JSON.stringify(log);
      assert.ok(!text.includes(token), "the token was logged");
      assert.ok(!text.includes(q), "the token was logged");
      assert.ok(!text.includes("access_token="), "a query string was logged");
    }
    assert.deepEqual(hs.log, [
      { method: "POST", path: "/_matrix/client/v3/login", status: 200 },
      { method: "GET", path: whoami, status: 200, tokenInQuery: true },
      {
        method: "POST",
        path: "/_matrix/client/v1/login/get_token",
        status: 401,
        tokenInQuery: true,
      },
      {
        method: "GET",
        path: whoami,
        status: 401,
        errcode: "M_MISSING_TOKEN",
        tokenInQuery: true,
      },
      {
        method: "POST",
        path: "/_matrix/client/v3/logout",
        status: 200,
        tokenInQuery: true,
      },
    ]);
  });
});

describe("devserver: refresh tokens, rotated as Synapse does", () => {
  async function loggedIn(options: HomeserverOptions = {}) {
    const clock = fakeClock();
    const hs = server({
      accessTokenLifetimeMs: 5000,
      clock: clock.now,
      ...options,
    });
    const login = await passwordLogin(hs, { refresh_token: true });
    return {
      hs,
      clock,
      access: login.body.access_token as string,
      refresh: login.body.refresh_token as string,
    };
  }
  const refresh = (hs: Homeserver, token: string, version = "v3") =>
    call(hs, "POST", `/_matrix/client/${version}/refresh`, {
      json: { refresh_token: token },
    });
  const whoami = (hs: Homeserver, token: string) =>
    call(hs, "GET", "/_matrix/client/v3/account/whoami", { token });

  it("gives a new pair, at /v3/refresh and /v1/refresh", async () => {
    const { hs, refresh: r0 } = await loggedIn();
    const first = await refresh(hs, r0);
    assert.equal(first.status, 200);
    assert.equal(first.body.expires_in_ms, 5000);
    assert.notEqual(first.body.refresh_token, r0);
    const second = await refresh(hs, first.body.refresh_token as string, "v1");
    assert.equal(second.status, 200);
    assert.equal(
      (await whoami(hs, second.body.access_token as string)).status,
      200,
    );
  });

  it("keeps the old refresh token valid until the new access token is used, then 403", async () => {
    const { hs, refresh: r0 } = await loggedIn();
    const lost = await refresh(hs, r0); // a response the client never got
    const again = await refresh(hs, r0);
    assert.equal(again.status, 200);
    // The pair the repeated refresh replaced is gone.
    assertError(
      await whoami(hs, lost.body.access_token as string),
      401,
      "M_UNKNOWN_TOKEN",
    );
    assert.equal(
      (await whoami(hs, again.body.access_token as string)).status,
      200,
    );
    const answer = await refresh(hs, r0);
    assertError(answer, 403, "M_FORBIDDEN");
    assert.equal(answer.body.error, "refresh token isn't valid anymore");
  });

  it("keeps the old access token valid after a refresh until it expires, even once the new one is used", async () => {
    const { hs, clock, access: a0, refresh: r0 } = await loggedIn();
    const pair = await refresh(hs, r0);
    assert.equal((await whoami(hs, a0)).status, 200);
    assert.equal(
      (await whoami(hs, pair.body.access_token as string)).status,
      200,
    );
    assert.equal((await whoami(hs, a0)).status, 200, "after the new one's use");
    clock.advance(5_000);
    const expired = await whoami(hs, a0);
    assertError(expired, 401, "M_UNKNOWN_TOKEN");
    assert.equal(expired.body.soft_logout, true);
  });

  it("ends the old refresh token once the new refresh token is used", async () => {
    const { hs, refresh: r0 } = await loggedIn();
    const next = await refresh(hs, r0);
    assert.equal(
      (await refresh(hs, next.body.refresh_token as string)).status,
      200,
    );
    assertError(await refresh(hs, r0), 403, "M_FORBIDDEN");
  });

  it("answers an unknown refresh token 401 M_UNKNOWN_TOKEN", async () => {
    const { hs } = await loggedIn();
    assertError(await refresh(hs, "syr_nothing"), 401, "M_UNKNOWN_TOKEN");
  });

  it("answers an expired refresh token 403 M_FORBIDDEN", async () => {
    const { hs, clock, access, refresh: r0 } = await loggedIn({
      refreshTokenLifetimeMs: 60_000,
    });
    assert.equal((await whoami(hs, access)).status, 200);
    clock.advance(60_000);
    assertError(await refresh(hs, r0), 403, "M_FORBIDDEN");
  });

  it("never lets an access token outlive its refresh token", async () => {
    const { hs } = await loggedIn({ refreshTokenLifetimeMs: 3000 });
    const login = await passwordLogin(hs, { refresh_token: true });
    assert.equal(login.body.expires_in_ms, 3000);
  });

  it("answers a refresh without refresh_token 400", async () => {
    const { hs } = await loggedIn();
    const answer = await call(hs, "POST", "/_matrix/client/v3/refresh", {
      json: {},
    });
    assertError(answer, 400, "M_INVALID_PARAM");
  });
});

describe("devserver: logout", () => {
  it("ends the device's access and refresh tokens", async () => {
    const hs = server({ accessTokenLifetimeMs: 5000 });
    const login = await passwordLogin(hs, { refresh_token: true });
    const token = login.body.access_token as string;
    const out = await call(hs, "POST", "/_matrix/client/v3/logout", {
      token,
      json: {},
    });
    assert.equal(out.status, 200);
    assert.deepEqual(out.body, {});
    const after = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token,
    });
    assertError(after, 401, "M_UNKNOWN_TOKEN");
    assert.equal(after.body.soft_logout, false);
    const refreshed = await call(hs, "POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: login.body.refresh_token },
    });
    assertError(refreshed, 401, "M_UNKNOWN_TOKEN");
    assert.deepEqual(hs.devices("@alice:localhost:8008"), []);
  });

  it("accepts an expired access token, as Synapse does", async () => {
    const clock = fakeClock();
    const hs = server({ accessTokenLifetimeMs: 5000, clock: clock.now });
    const login = await passwordLogin(hs, { refresh_token: true });
    clock.advance(10_000);
    const out = await call(hs, "POST", "/_matrix/client/v3/logout", {
      token: login.body.access_token as string,
    });
    assert.equal(out.status, 200);
  });

  it("lets a locked account log out, and only log out (spec: M_USER_LOCKED on all but /logout and /logout/all)", async () => {
    const hs = server();
    const alice = "@alice:localhost:8008";
    const one = await passwordLogin(hs);
    const two = await passwordLogin(hs);
    hs.lockUser(alice);
    const refused = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: one.body.access_token as string,
    });
    assertError(refused, 401, "M_USER_LOCKED");
    assert.equal(refused.body.soft_logout, true);
    const out = await call(hs, "POST", "/_matrix/client/v3/logout", {
      token: one.body.access_token as string,
      json: {},
    });
    assert.equal(out.status, 200);
    assert.equal(hs.devices(alice).length, 1);
    const all = await call(hs, "POST", "/_matrix/client/v3/logout/all", {
      token: two.body.access_token as string,
      json: {},
    });
    assert.equal(all.status, 200);
    assert.deepEqual(hs.devices(alice), []);
    hs.lockUser(alice, false);
    const again = await passwordLogin(hs);
    const whoami = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: again.body.access_token as string,
    });
    assert.equal(whoami.status, 200);
  });

  it("logout/all ends every device of the user, and only that user's", async () => {
    const hs = server();
    hs.addUser({ localpart: "bob", password: "hunter2" });
    const a = await passwordLogin(hs);
    const b = await passwordLogin(hs);
    const bob = await passwordLogin(hs, {
      identifier: { type: "m.id.user", user: "bob" },
      password: "hunter2",
    });
    const out = await call(hs, "POST", "/_matrix/client/v3/logout/all", {
      token: a.body.access_token as string,
    });
    assert.equal(out.status, 200);
    for (const login of [a, b]) {
      const answer = await call(
        hs,
        "GET",
        "/_matrix/client/v3/account/whoami",
        {
          token: login.body.access_token as string,
        },
      );
      assertError(answer, 401, "M_UNKNOWN_TOKEN");
    }
    const bobAnswer = await call(
      hs,
      "GET",
      "/_matrix/client/v3/account/whoami",
      {
        token: bob.body.access_token as string,
      },
    );
    assert.equal(bobAnswer.status, 200);
  });
});

describe("devserver: the library's Client against it", () => {
  it("logs in with a password and follows well_known", async () => {
    const hs = server();
    const client = new Client({ baseUrl: BASE, fetch: fetchOf(hs) });
    const result = await client.loginWithPassword("alice", "secret", {
      initialDeviceDisplayName: "test",
    });
    assert.equal(result.userId, "@alice:localhost:8008");
    assert.equal(result.homeserver.href, "http://localhost:8008/");
    assert.equal(result.wellKnownIgnored, undefined);
    assert.deepEqual(hs.devices(result.userId), [
      { deviceId: result.deviceId, displayName: "test" },
    ]);
  });

  it("logs in by email and gets an expiry when refresh tokens are on", async () => {
    const hs = server({ accessTokenLifetimeMs: 60_000 });
    const client = new Client({ baseUrl: BASE, fetch: fetchOf(hs) });
    const result = await client.loginWithPassword(
      { email: "ALICE@example.org" },
      "secret",
    );
    assert.equal(result.userId, "@alice:localhost:8008");
    assert.equal(typeof result.expiresAt, "number");
  });

  it("gets MatrixError 403 M_FORBIDDEN for a wrong password", async () => {
    const client = new Client({ baseUrl: BASE, fetch: fetchOf(server()) });
    await assert.rejects(
      client.loginWithPassword("alice", "wrong"),
      (error: unknown) =>
        error instanceof MatrixError && error.status === 403 &&
        error.errcode === "M_FORBIDDEN",
    );
  });

  it("stores a session file whose token works, and reuses its device ID", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devserver-"));
    try {
      const file = path.join(dir, "matrix_session.json");
      const hs = server();
      const first = new Client({
        baseUrl: BASE,
        fetch: fetchOf(hs),
        storage: new JsonFileStorage(file),
      });
      const result = await first.loginWithPassword("alice", "secret");

      const second = new Client({
        baseUrl: BASE,
        fetch: fetchOf(hs),
        storage: new JsonFileStorage(file),
      });
      assert.deepEqual(await second.restore(), {
        userId: result.userId,
        deviceId: result.deviceId,
      });
      const stored = JSON.parse(fs.readFileSync(file, "utf8"));
      const whoami = await call(
        hs,
        "GET",
        "/_matrix/client/v3/account/whoami",
        {
          token: stored.session.accessToken ?? stored.session.access_token,
        },
      );
      assert.equal(whoami.status, 200);
      assert.equal(whoami.body.device_id, result.deviceId);

      // Without a session but with the stored device ID, the next login
      // reuses the device, which ends its old token.
      const storage = new JsonFileStorage(file);
      await storage.delete("session");
      const third = new Client({ baseUrl: BASE, fetch: fetchOf(hs), storage });
      const again = await third.loginWithPassword("alice", "secret");
      assert.equal(again.deviceId, result.deviceId);
      assertError(
        await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
          token: stored.session.accessToken ?? stored.session.access_token,
        }),
        401,
        "M_UNKNOWN_TOKEN",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const spec = await loadSpec();

describe("devserver: every answer fits the Matrix specification", () => {
  it("walks every endpoint, successes and errors", {
    skip: skipUnlessSpec(spec),
  }, async () => {
    const validator = spec.validator!;
    const clock = fakeClock();
    const hs = server({
      accessTokenLifetimeMs: 5000,
      clock: clock.now,
      rateLimit: true,
    });
    const checked: string[] = [];
    // Answers the spec does not list for an operation (Synapse's 403 on
    // refresh, say) are checked against the standard error schema, which the
    // spec gives for a 400 from /login, and collected to be named below.
    const undocumented: string[] = [];
    const check = (method: string, pathname: string, answer: Answer) => {
      // Named by the operation's path, such as /devices/{deviceId}.
      const where = validator.findOperation(method, pathname)?.path ??
        pathname;
      const what = `${method} ${where} ${answer.status}`;
      if (
        assertFitsSpec(validator, method, pathname, answer) === "undocumented"
      ) {
        undocumented.push(what);
      }
      checked.push(what);
    };
    const walkOn = async (
      target: Homeserver,
      method: string,
      pathname: string,
      options: CallOptions = {},
    ) => {
      const answer = await call(target, method, pathname, options);
      check(method, pathname.replace(/\?.*$/, ""), answer);
      return answer;
    };
    const walk = (method: string, pathname: string, options?: CallOptions) =>
      walkOn(hs, method, pathname, options);

    await walk("GET", "/.well-known/matrix/client");
    await walk("GET", "/_matrix/client/versions");
    await walk("GET", "/_matrix/client/v3/login");
    const loginBody = {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "alice" },
      password: "secret",
      refresh_token: true,
    };
    assert.deepEqual(
      validator.requestErrors("POST", "/_matrix/client/v3/login", loginBody),
      [],
    );
    const login = await walk("POST", "/_matrix/client/v3/login", {
      json: loginBody,
    });
    await walk("POST", "/_matrix/client/v3/login", { raw: "nope" });
    await walk("POST", "/_matrix/client/v3/login", {
      json: { type: "m.login.magic" },
    });
    for (let i = 0; i < 4; i++) {
      await walk("POST", "/_matrix/client/v3/login", {
        json: { ...loginBody, password: "x" },
      });
    }
    assert.ok(checked.includes("POST /_matrix/client/v3/login 429"));
    await walk("POST", "/_matrix/client/v3/login", {
      json: { type: "m.login.token", token: "t" },
    });

    const access = login.body.access_token as string;
    await walk("GET", "/_matrix/client/v3/account/whoami", { token: access });
    await walk("GET", "/_matrix/client/v3/account/whoami");
    await walk("GET", "/_matrix/client/v3/account/whoami", {
      token: "garbage",
    });

    const refreshed = await walk("POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: login.body.refresh_token },
    });
    // /v1/refresh is Synapse's older path, not in the specification.
    const v1 = await call(hs, "POST", "/_matrix/client/v1/refresh", {
      json: { refresh_token: refreshed.body.refresh_token },
    });
    check("POST", "/_matrix/client/v3/refresh", v1);
    await walk("POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: "x" },
    });
    await walk("POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: login.body.refresh_token },
    });
    clock.advance(6000);
    await walk("GET", "/_matrix/client/v3/account/whoami", { token: access });

    const other = await passwordLogin(hs, { refresh_token: false });
    await walk("POST", "/_matrix/client/v3/logout", {
      token: other.body.access_token as string,
    });
    await walk("POST", "/_matrix/client/v3/logout/all", { token: access });
    await walk("POST", "/_matrix/client/v3/logout", { token: access });

    // Capabilities and device management, on a server without rate limits
    // (the logins above have met them).
    const open = server();
    const mine = await passwordLogin(open);
    const otherToken = mine.body.access_token as string;
    const walkOpen = (method: string, path: string, options?: CallOptions) =>
      walkOn(open, method, path, options);
    await walkOpen("GET", "/_matrix/client/v3/capabilities", {
      token: otherToken,
    });

    // Device management. Synapse sends null for a device's unknown
    // display_name, last_seen_ts and last_seen_ip, where the specification
    // leaves them out (and types them string and integer): those are the
    // only problems the schemas find.
    const devices = await call(open, "GET", "/_matrix/client/v3/devices", {
      token: otherToken,
    });
    const nulls = validator.responseErrors(
      "GET",
      "/_matrix/client/v3/devices",
      200,
      devices.body,
    );
    assert.ok(nulls.length > 0, JSON.stringify(devices.body));
    assert.ok(
      nulls.every((p) =>
        /^\/devices\/\d+\/(display_name|last_seen_ts|last_seen_ip) must be (string|integer)$/
          .test(p)
      ),
      nulls.join("\n"),
    );
    checked.push("GET /_matrix/client/v3/devices 200");
    const deviceId = mine.body.device_id as string;
    const device = `/_matrix/client/v3/devices/${deviceId}`;
    const one = await call(open, "GET", device, { token: otherToken });
    assert.deepEqual(
      validator.responseErrors("GET", device, 200, one.body),
      ["/display_name must be string"],
    );
    checked.push("GET /_matrix/client/v3/devices/{deviceId} 200");
    await walkOpen("GET", "/_matrix/client/v3/devices/NOPE", {
      token: otherToken,
    });
    await walkOpen("PUT", device, {
      token: otherToken,
      json: { display_name: "Laptop" },
    });
    await walkOpen("PUT", device, {
      token: otherToken,
      json: { display_name: "x".repeat(101) },
    });
    const doomed = (await passwordLogin(open)).body.device_id as string;
    const challenge = await walkOpen(
      "DELETE",
      `/_matrix/client/v3/devices/${doomed}`,
      {
        token: otherToken,
        json: {},
      },
    );
    await walkOpen("DELETE", `/_matrix/client/v3/devices/${doomed}`, {
      token: otherToken,
      json: {
        auth: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: "alice" },
          password: "secret",
          session: challenge.body.session,
        },
      },
    });
    await walkOpen("POST", "/_matrix/client/v3/delete_devices", {
      token: otherToken,
      json: { devices: ["NOPE"] },
    });
    await walkOpen("POST", "/_matrix/client/v3/delete_devices", {
      token: otherToken,
      json: {},
    });

    // What Synapse answers and the spec's lists leave out: 403 for a refresh
    // token that is used up or expired, 401 for logout without a valid token,
    // 400 for a malformed device request; the 404 for an unknown device is
    // listed without a body schema.
    assert.deepEqual([...new Set(undocumented)].sort(), [
      "GET /_matrix/client/v3/devices/{deviceId} 404",
      "POST /_matrix/client/v3/delete_devices 400",
      "POST /_matrix/client/v3/logout 401",
      "POST /_matrix/client/v3/refresh 403",
      "PUT /_matrix/client/v3/devices/{deviceId} 400",
    ]);
    assert.deepEqual(
      [...new Set(checked.map((c) => c.replace(/ \d+$/, "")))].sort(),
      [
        "DELETE /_matrix/client/v3/devices/{deviceId}",
        "GET /.well-known/matrix/client",
        "GET /_matrix/client/v3/account/whoami",
        "GET /_matrix/client/v3/capabilities",
        "GET /_matrix/client/v3/devices",
        "GET /_matrix/client/v3/devices/{deviceId}",
        "GET /_matrix/client/v3/login",
        "GET /_matrix/client/versions",
        "POST /_matrix/client/v3/delete_devices",
        "POST /_matrix/client/v3/login",
        "POST /_matrix/client/v3/logout",
        "POST /_matrix/client/v3/logout/all",
        "POST /_matrix/client/v3/refresh",
        "PUT /_matrix/client/v3/devices/{deviceId}",
      ],
    );
  });
});
