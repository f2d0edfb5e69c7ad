/**
 * Tests of the development homeserver's `oauth: "both"` mode: the legacy
 * login API through the compatibility layer of matrix-authentication-service
 * (MAS), as matrix.org answers it, beside the OAuth 2.0 API.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { oauthAuthorize } from "./oauth_browser.ts";
import { oauthLogin, oauthServer } from "./oauth_test_support.ts";
import { fetchOf, type Homeserver } from "./server.ts";
import {
  type Answer,
  assertError,
  call,
  type CallOptions,
  fakeClock,
} from "./test_support.ts";

const both = (options = {}) => oauthServer({ oauth: "both", ...options });

function login(
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

const whoami = (hs: Homeserver, token: string) =>
  call(hs, "GET", "/_matrix/client/v3/account/whoami", { token });

/** The start of a single sign-on to `redirectUrl` in the both mode. */
function ssoStart(hs: Homeserver, redirectUrl: string, extra = ""): string {
  return `${hs.baseUrl}_matrix/client/v3/login/sso/redirect?redirectUrl=${
    encodeURIComponent(redirectUrl)
  }${extra}`;
}

describe("devserver OAuth 2.0 'both': MAS's compatibility layer", () => {
  it("lists m.login.password, m.login.sso with oauth_aware_preferred, and m.login.token, as MAS does", async () => {
    const answer = await call(both(), "GET", "/_matrix/client/v3/login");
    assert.deepEqual(answer.body, {
      flows: [
        { type: "m.login.password" },
        {
          type: "m.login.sso",
          oauth_aware_preferred: true,
          "org.matrix.msc3824.delegated_oidc_compatibility": true,
        },
        { type: "m.login.token" },
      ],
    });
  });

  it("logs in with m.id.user (a localpart or a user ID) or the deprecated user; mct_ tokens, no well_known", async () => {
    const hs = both();
    for (
      const fields of [
        {},
        { identifier: { type: "m.id.user", user: "@alice:localhost:8008" } },
        { identifier: undefined, user: "ALICE" },
        {
          identifier: {
            type: "m.id.thirdparty",
            medium: "email",
            address: "x",
          },
          user: "alice",
        },
      ]
    ) {
      const answer = await login(hs, fields);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(Object.keys(answer.body), [
        "access_token",
        "device_id",
        "user_id",
      ]);
      assert.match(answer.body.access_token as string, /^mct_[A-Za-z0-9]{30}_/);
      assert.match(answer.body.device_id as string, /^[A-Za-z0-9]{10}$/);
      assert.equal(answer.body.user_id, "@alice:localhost:8008");
      assert.equal(
        (await whoami(hs, answer.body.access_token as string)).status,
        200,
      );
    }
  });

  it("answers other identifiers 400 M_UNKNOWN, no identifier 400 M_BAD_JSON, a wrong password 403 'Invalid username/password', a locked account 401 M_USER_LOCKED", async () => {
    const hs = both();
    const thirdParty = await login(hs, {
      identifier: { type: "m.id.thirdparty", medium: "email", address: "a@b" },
    });
    assertError(thirdParty, 400, "M_UNKNOWN");
    assert.equal(thirdParty.body.error, "Unsupported login identifier");
    const none = await login(hs, { identifier: undefined });
    assertError(none, 400, "M_BAD_JSON");
    assert.equal(none.body.error, "Missing property 'identifier");
    for (
      const fields of [
        { password: "nope" },
        { identifier: { type: "m.id.user", user: "nobody" } },
        { identifier: { type: "m.id.user", user: "@alice:elsewhere.example" } },
      ]
    ) {
      const answer = await login(hs, fields);
      assertError(answer, 403, "M_FORBIDDEN");
      assert.equal(answer.body.error, "Invalid username/password");
    }
    hs.lockUser("@alice:localhost:8008");
    assertError(await login(hs), 401, "M_USER_LOCKED");
  });

  it("answers fields of the wrong type 400 M_BAD_JSON, a body that is not JSON 400 M_NOT_JSON, another login type 400 M_UNKNOWN 'Invalid login type'", async () => {
    const hs = both();
    for (
      const fields of [
        { password: 1 },
        { identifier: "alice" },
        { identifier: { user: "alice" } },
        { identifier: { type: "m.id.user" } },
        { refresh_token: "yes" },
        { device_id: 5 },
        { initial_device_display_name: [] },
        { type: 3 },
      ]
    ) {
      const answer = await login(hs, fields);
      assertError(answer, 400, "M_BAD_JSON");
      assert.equal(answer.body.error, "JSON fields are not valid");
    }
    for (const body of [[], null, "x"]) {
      assertError(
        await call(hs, "POST", "/_matrix/client/v3/login", { json: body }),
        400,
        "M_BAD_JSON",
      );
    }
    assertError(
      await call(hs, "POST", "/_matrix/client/v3/login", { raw: "{not json" }),
      400,
      "M_NOT_JSON",
    );
    assertError(
      await call(hs, "POST", "/_matrix/client/v3/login", {
        form: { type: "m.login.password" },
      }),
      400,
      "M_NOT_JSON",
    );
    const other = await login(hs, { type: "m.login.cas" });
    assertError(other, 400, "M_UNKNOWN");
    assert.equal(other.body.error, "Invalid login type");
  });

  it("gives a refresh token and expires_in_ms (MAS's compat_token_ttl) only when asked, and ends an existing device's tokens on a login as that device", async () => {
    const clock = fakeClock();
    const hs = both({ clock: clock.now });
    const plain = await login(hs, {
      device_id: "LAPTOP",
      initial_device_display_name: "Laptop",
    });
    assert.equal(plain.body.refresh_token, undefined);
    assert.equal(plain.body.expires_in_ms, undefined);
    clock.advance(3_600_000);
    assert.equal(
      (await whoami(hs, plain.body.access_token as string)).status,
      200,
    );
    const refreshable = await login(hs, {
      device_id: "LAPTOP",
      refresh_token: true,
    });
    assert.match(refreshable.body.refresh_token as string, /^mcr_/);
    assert.equal(refreshable.body.expires_in_ms, 300_000);
    assertError(
      await whoami(hs, plain.body.access_token as string),
      401,
      "M_UNKNOWN_TOKEN",
    );
    assert.deepEqual(hs.devices("@alice:localhost:8008"), [
      { deviceId: "LAPTOP", displayName: "Laptop" },
    ]);
    clock.advance(300_000);
    const expired = await whoami(hs, refreshable.body.access_token as string);
    assertError(expired, 401, "M_UNKNOWN_TOKEN");
    assert.equal(expired.body.error, "Token is not active");
    assert.equal(expired.body.soft_logout, false);
  });

  it("spends a compatibility refresh token at once: its second use is 401 M_UNKNOWN_TOKEN 'Invalid refresh token', without soft_logout", async () => {
    const hs = both();
    const first = await login(hs, { refresh_token: true });
    const refresh = (refresh_token: unknown) =>
      call(hs, "POST", "/_matrix/client/v3/refresh", {
        json: { refresh_token },
      });
    const second = await refresh(first.body.refresh_token);
    assert.equal(second.status, 200);
    assert.deepEqual(Object.keys(second.body), [
      "access_token",
      "refresh_token",
      "expires_in_ms",
    ]);
    assertError(
      await whoami(hs, first.body.access_token as string),
      401,
      "M_UNKNOWN_TOKEN",
    );
    for (
      const token of [
        first.body.refresh_token,
        "mcr_nonsense",
        first.body.access_token,
      ]
    ) {
      const again = await refresh(token);
      assertError(again, 401, "M_UNKNOWN_TOKEN");
      assert.equal(again.body.error, "Invalid refresh token");
      assert.equal(again.body.soft_logout, undefined);
    }
    assertError(await refresh(5), 400, "M_BAD_JSON");
    const oauth = await oauthLogin(hs);
    assertError(await refresh(oauth.refreshToken), 401, "M_UNKNOWN_TOKEN");
    assert.equal(
      (await call(hs, "POST", "/_matrix/client/v1/refresh", {
        json: { refresh_token: second.body.refresh_token },
      })).status,
      200,
    );
  });

  it("logs a compatibility token out with /logout; /logout/all is 404 M_UNRECOGNIZED unless io.element.only_compat_is_fine, which ends only compatibility sessions", async () => {
    const hs = both();
    const one = await login(hs, { device_id: "ONE" });
    assert.equal(
      (await call(hs, "POST", "/_matrix/client/v3/logout", {
        token: one.body.access_token as string,
        json: {},
      })).status,
      200,
    );
    assertError(
      await whoami(hs, one.body.access_token as string),
      401,
      "M_UNKNOWN_TOKEN",
    );
    const queryToken = await login(hs, { device_id: "QUERY" });
    assertError(
      await call(
        hs,
        "POST",
        `/_matrix/client/v3/logout?access_token=${queryToken.body.access_token}`,
        { json: {} },
      ),
      401,
      "M_MISSING_TOKEN",
    );
    const two = await login(hs, { device_id: "TWO" });
    const oauth = await oauthLogin(hs);
    const all = (options: CallOptions) =>
      call(hs, "POST", "/_matrix/client/v3/logout/all", {
        token: two.body.access_token as string,
        ...options,
      });
    for (
      const options of [
        {},
        { json: {} },
        { json: { "io.element.only_compat_is_fine": false } },
      ]
    ) {
      const answer = await all(options);
      assertError(answer, 404, "M_UNRECOGNIZED");
      assert.equal(
        answer.body.error,
        "The /logout/all endpoint is not supported by this deployment",
      );
    }
    assertError(
      await all({ json: { "io.element.only_compat_is_fine": "yes" } }),
      400,
      "M_BAD_JSON",
    );
    assert.equal(
      (await all({ json: { "io.element.only_compat_is_fine": true } })).status,
      200,
    );
    for (const token of [queryToken.body.access_token, two.body.access_token]) {
      assertError(await whoami(hs, token as string), 401, "M_UNKNOWN_TOKEN");
    }
    assert.equal((await whoami(hs, oauth.accessToken)).status, 200);
    assert.deepEqual(
      hs.devices("@alice:localhost:8008").map((d) => d.deviceId),
      ["DEVICEID01"],
    );
  });

  it("signs on through /login/sso/redirect and the complete-compat-sso page; the login token works once, within 30 s", async () => {
    const clock = fakeClock();
    const hs = both({ clock: clock.now });
    const app = "http://127.0.0.1:9/cb?state=T";
    const callback = await oauthAuthorize(ssoStart(hs, app), {
      user: "alice",
      password: "secret",
      fetch: fetchOf(hs),
      deliver: false,
    });
    assert.equal(
      callback.url.origin + callback.url.pathname,
      "http://127.0.0.1:9/cb",
    );
    assert.equal(callback.url.searchParams.get("state"), "T");
    assert.match(callback.loginToken!, /^[A-Za-z0-9]{32}$/);
    const tokenLogin = (token: string) =>
      call(hs, "POST", "/_matrix/client/v3/login", {
        json: { type: "m.login.token", token },
      });
    const answer = await tokenLogin(callback.loginToken!);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.user_id, "@alice:localhost:8008");
    const again = await tokenLogin(callback.loginToken!);
    assertError(again, 403, "M_FORBIDDEN");
    assert.equal(again.body.error, "Invalid login token");
    const late = await oauthAuthorize(ssoStart(hs, app), {
      user: "alice",
      password: "secret",
      fetch: fetchOf(hs),
      deliver: false,
    });
    clock.advance(30_001);
    const expired = await tokenLogin(late.loginToken!);
    assertError(expired, 403, "M_FORBIDDEN");
    assert.equal(expired.body.error, "Login token expired");
    assertError(await tokenLogin("nonsense"), 403, "M_FORBIDDEN");
  });

  it("passes action=register and the unstable MSC3824 action on, refuses a redirectUrl with a user name or none, and expires the page after 30 minutes", async () => {
    const clock = fakeClock();
    const hs = both({ clock: clock.now });
    const register = await call(
      hs,
      "GET",
      ssoStart(
        hs,
        "https://app.example/cb",
        "&org.matrix.msc3824.action=register",
      ),
      { anyContentType: true },
    );
    assert.equal(register.status, 303);
    const page = new URL(register.headers.get("Location")!, hs.baseUrl);
    assert.match(page.pathname, /^\/complete-compat-sso\/[0-9A-Z]{26}$/);
    assert.equal(page.searchParams.get("action"), "register");
    assert.equal(
      page.searchParams.get("org.matrix.msc3824.action"),
      "register",
    );
    const shown = await call(hs, "GET", page.href, { anyContentType: true });
    assert.match(shown.text, /not possible on this development homeserver/);
    const unknownAction = await call(
      hs,
      "GET",
      ssoStart(hs, "https://app.example/cb", "&action=dance"),
      { anyContentType: true },
    );
    assert.equal(
      new URL(unknownAction.headers.get("Location")!, hs.baseUrl).search,
      "",
    );
    for (
      const target of [
        `${hs.baseUrl}_matrix/client/v3/login/sso/redirect`,
        ssoStart(hs, "https://user:pw@app.example/cb"),
        ssoStart(hs, "not a url"),
      ]
    ) {
      const answer = await call(hs, "GET", target, { anyContentType: true });
      assert.equal(answer.status, 400);
      assert.match(answer.headers.get("Content-Type")!, /^text\/html/);
    }
    assert.equal(
      (await call(
        hs,
        "GET",
        `${ssoStart(hs, "https://app.example/cb")}`.replace(
          "redirect?",
          "redirect/oidc-anything?",
        ),
        { anyContentType: true },
      )).status,
      303,
    );
    clock.advance(1_800_001);
    const expired = await call(hs, "GET", page.href, { anyContentType: true });
    assert.match(expired.text, /This login session expired/);
  });

  it("has no get_token (404 M_UNRECOGNIZED), no CAS, and no m.login.cas", async () => {
    const hs = both();
    const token = (await login(hs)).body.access_token as string;
    assertError(
      await call(hs, "POST", "/_matrix/client/v1/login/get_token", {
        token,
        json: {},
      }),
      404,
      "M_UNRECOGNIZED",
    );
    assertError(
      await call(
        hs,
        "GET",
        "/_matrix/client/v3/login/cas/redirect?redirectUrl=x",
      ),
      404,
      "M_UNRECOGNIZED",
    );
    assertError(await call(hs, "GET", "/cas/login"), 404, "M_UNRECOGNIZED");
  });
});
