/**
 * Tests of the development homeserver's single sign-on: login tokens and
 * `m.login.token`, `POST /login/get_token` with user-interactive
 * authentication, the SSO and CAS redirects, the ticket endpoint, the
 * built-in CAS identity provider, saving and restoring state, and a whole
 * headless sign-on with the library's `Client`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Client } from "../mod.ts";
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

const ALICE = "@alice:localhost:8008";
const APP = "http://127.0.0.1:9999/callback";
const TICKET_SERVICE = `${BASE}/_matrix/client/r0/login/cas/ticket`;

/** A server with alice (password "secret") and bob (password "hunter2"). */
function server(options: HomeserverOptions = {}): Homeserver {
  return createHomeserver({
    seed: 1,
    users: [
      { localpart: "alice", password: "secret" },
      { localpart: "bob", password: "hunter2" },
    ],
    ...options,
  });
}

/** Sends one request: JSON, a form, or nothing; any answer, JSON or not. */
function send(
  hs: Homeserver,
  method: string,
  target: string,
  options: CallOptions = {},
): Promise<Answer> {
  return call(hs, method, target, { ...options, anyContentType: true });
}

function location(answer: Answer): string {
  assert.equal(answer.status, 302, answer.text);
  const where = answer.headers.get("Location");
  assert.ok(where);
  return where;
}

async function passwordLogin(
  hs: Homeserver,
  user = "alice",
  password = "secret",
): Promise<string> {
  const answer = await send(hs, "POST", "/_matrix/client/v3/login", {
    json: {
      type: "m.login.password",
      identifier: { type: "m.id.user", user },
      password,
    },
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.body.access_token as string;
}

const GET_TOKEN = "/_matrix/client/v1/login/get_token";

function passwordAuth(session: string, password = "secret", user = "alice") {
  return {
    auth: {
      type: "m.login.password",
      identifier: { type: "m.id.user", user },
      password,
      session,
    },
  };
}

/** The whole get_token dance: a fresh login token for `user`. */
async function getLoginToken(
  hs: Homeserver,
  user = "alice",
  password = "secret",
): Promise<string> {
  const token = await passwordLogin(hs, user, password);
  const challenge = await send(hs, "POST", GET_TOKEN, { token, json: {} });
  assert.equal(challenge.status, 401, challenge.text);
  const answer = await send(hs, "POST", GET_TOKEN, {
    token,
    json: passwordAuth(challenge.body.session as string, password, user),
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.body.login_token as string;
}

function tokenLogin(
  hs: Homeserver,
  token: string,
  fields: Record<string, unknown> = {},
): Promise<Answer> {
  return send(hs, "POST", "/_matrix/client/v3/login", {
    json: { type: "m.login.token", token, ...fields },
  });
}

/** Redirect → CAS form POST → ticket: the answer of the ticket endpoint. */
async function signOn(
  hs: Homeserver,
  redirectUrl: string,
  username = "alice",
  password = "secret",
): Promise<Answer> {
  const start = location(
    await send(
      hs,
      "GET",
      `/_matrix/client/v3/login/sso/redirect/cas?redirectUrl=${
        encodeURIComponent(redirectUrl)
      }`,
    ),
  );
  const service = new URL(start).searchParams.get("service")!;
  const back = location(
    await send(hs, "POST", `${BASE}/cas/login`, {
      form: { username, password, service },
    }),
  );
  return await send(hs, "GET", back);
}

describe("devserver sso: login flows", () => {
  it("lists m.login.cas, m.login.sso (idp cas), m.login.token, m.login.password, in Synapse's order", async () => {
    const { body } = await send(server(), "GET", "/_matrix/client/v3/login");
    assert.deepEqual(body.flows, [
      { type: "m.login.cas" },
      { type: "m.login.sso", identity_providers: [{ id: "cas", name: "CAS" }] },
      { type: "m.login.token", get_login_token: true },
      { type: "m.login.password" },
    ]);
  });

  it("with sso: false, lists token and password only and has no SSO endpoints", async () => {
    const hs = server({ sso: false });
    const { body } = await send(hs, "GET", "/_matrix/client/v3/login");
    assert.deepEqual(body.flows, [
      { type: "m.login.token", get_login_token: true },
      { type: "m.login.password" },
    ]);
    for (
      const path of [
        `/_matrix/client/v3/login/sso/redirect?redirectUrl=${APP}`,
        `/_matrix/client/r0/login/cas/ticket?redirectUrl=${APP}&ticket=ST-x`,
        `/cas/login?service=${TICKET_SERVICE}`,
      ]
    ) {
      assertError(await send(hs, "GET", path), 404, "M_UNRECOGNIZED");
    }
  });
});

describe("devserver sso: login tokens and m.login.token", () => {
  it("logs in once with a login token; a second use is 403 'Invalid login token'", async () => {
    const hs = server();
    const token = await getLoginToken(hs);
    const first = await tokenLogin(hs, token);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.user_id, ALICE);
    const again = await tokenLogin(hs, token);
    assertError(again, 403, "M_FORBIDDEN");
    assert.equal(again.body.error, "Invalid login token");
  });

  it("refuses an expired login token with the same 403", async () => {
    const clock = fakeClock();
    const hs = server({ clock: clock.now, getTokenLifetimeMs: 10_000 });
    const token = await getLoginToken(hs);
    clock.advance(10_000);
    const answer = await tokenLogin(hs, token);
    assertError(answer, 403, "M_FORBIDDEN");
    assert.equal(answer.body.error, "Invalid login token");
  });

  it("keeps an SSO login token for loginTokenLifetimeMs (default two minutes)", async () => {
    const clock = fakeClock();
    const hs = server({ clock: clock.now });
    const early = new URL(location(await signOn(hs, APP)));
    clock.advance(119_999);
    const ok = await tokenLogin(hs, early.searchParams.get("loginToken")!);
    assert.equal(ok.status, 200, ok.text);
    const late = new URL(location(await signOn(hs, APP)));
    clock.advance(120_000);
    assertError(
      await tokenLogin(hs, late.searchParams.get("loginToken")!),
      403,
      "M_FORBIDDEN",
    );
  });

  it("honours device_id, initial_device_display_name and refresh_token", async () => {
    const hs = server({ accessTokenLifetimeMs: 5000 });
    const answer = await tokenLogin(hs, await getLoginToken(hs), {
      device_id: "PHONE",
      initial_device_display_name: "Alice's phone",
      refresh_token: true,
    });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.device_id, "PHONE");
    assert.equal(typeof answer.body.refresh_token, "string");
    assert.equal(answer.body.expires_in_ms, 5000);
    assert.deepEqual(answer.body.well_known, {
      "m.homeserver": { base_url: `${BASE}/` },
    });
    assert.ok(
      hs.devices(ALICE).some((d) =>
        d.deviceId === "PHONE" && d.displayName === "Alice's phone"
      ),
    );
  });

  it("answers an unknown token 403 and a missing one 400 M_MISSING_PARAM", async () => {
    const hs = server();
    assertError(await tokenLogin(hs, "syl_nothing"), 403, "M_FORBIDDEN");
    assertError(
      await send(hs, "POST", "/_matrix/client/v3/login", {
        json: { type: "m.login.token" },
      }),
      400,
      "M_MISSING_PARAM",
    );
  });

  it("gives the same login tokens for the same seed", async () => {
    const a = await getLoginToken(server({ seed: 7 }));
    const b = await getLoginToken(server({ seed: 7 }));
    const c = await getLoginToken(server({ seed: 8 }));
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.match(a, /^syl_[A-Za-z0-9]{20}_[A-Za-z0-9]{6}$/);
  });
});

describe("devserver sso: POST /login/get_token", () => {
  it("exists at v1 only (v3 is 404 M_UNRECOGNIZED) and needs an access token", async () => {
    const hs = server();
    const token = await passwordLogin(hs);
    assertError(
      await send(hs, "POST", "/_matrix/client/v3/login/get_token", {
        token,
        json: {},
      }),
      404,
      "M_UNRECOGNIZED",
    );
    assertError(
      await send(hs, "POST", GET_TOKEN, { json: {} }),
      401,
      "M_MISSING_TOKEN",
    );
    // The token is checked before the body, as on Synapse.
    assertError(
      await send(hs, "POST", GET_TOKEN, { json: [] }),
      401,
      "M_MISSING_TOKEN",
    );
  });

  it("challenges with user-interactive auth, then gives a login token", async () => {
    const hs = server();
    const token = await passwordLogin(hs);
    const challenge = await send(hs, "POST", GET_TOKEN, { token, json: {} });
    assert.equal(challenge.status, 401);
    const session = challenge.body.session;
    assert.equal(typeof session, "string");
    assert.deepEqual(challenge.body, {
      flows: [{ stages: ["m.login.password"] }],
      params: {},
      session,
    });
    const answer = await send(hs, "POST", GET_TOKEN, {
      token,
      json: passwordAuth(session as string),
    });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(Object.keys(answer.body).sort(), [
      "expires_in",
      "expires_in_ms",
      "login_token",
    ]);
    assert.equal(answer.body.expires_in_ms, 300_000);
    assert.equal(answer.body.expires_in, 300, "Synapse's unstable field, in s");
    assert.equal(
      (await tokenLogin(hs, answer.body.login_token as string)).status,
      200,
    );
  });

  it("answers a wrong password 401 with the challenge, completed [] and M_FORBIDDEN; the session stays usable", async () => {
    const hs = server();
    const token = await passwordLogin(hs);
    const challenge = await send(hs, "POST", GET_TOKEN, { token, json: {} });
    const session = challenge.body.session as string;
    const wrong = await send(hs, "POST", GET_TOKEN, {
      token,
      json: passwordAuth(session, "wrong"),
    });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, {
      flows: [{ stages: ["m.login.password"] }],
      params: {},
      session,
      completed: [],
      errcode: "M_FORBIDDEN",
      error: "Invalid username or password",
    });
    const right = await send(hs, "POST", GET_TOKEN, {
      token,
      json: passwordAuth(session),
    });
    assert.equal(right.status, 200, right.text);
  });

  it("asks again for every token: a used or unknown session is 400", async () => {
    const hs = server();
    const token = await passwordLogin(hs);
    const challenge = await send(hs, "POST", GET_TOKEN, { token, json: {} });
    const session = challenge.body.session as string;
    const auth = passwordAuth(session);
    assert.equal(
      (await send(hs, "POST", GET_TOKEN, { token, json: auth })).status,
      200,
    );
    const reused = await send(hs, "POST", GET_TOKEN, { token, json: auth });
    assertError(reused, 400, "M_UNKNOWN");
    assert.match(reused.body.error as string, /request without auth/);
    assertError(
      await send(hs, "POST", GET_TOKEN, {
        token,
        json: passwordAuth("nonsense"),
      }),
      400,
      "M_UNKNOWN",
    );
  });

  it("refuses another user's password: 403 'Invalid auth'", async () => {
    const hs = server();
    const token = await passwordLogin(hs);
    const challenge = await send(hs, "POST", GET_TOKEN, { token, json: {} });
    const answer = await send(hs, "POST", GET_TOKEN, {
      token,
      json: passwordAuth(challenge.body.session as string, "hunter2", "bob"),
    });
    assertError(answer, 403, "M_FORBIDDEN");
    assert.equal(answer.body.error, "Invalid auth");
  });

  it("with rateLimit, allows one token a minute per user (429 with Retry-After)", async () => {
    const clock = fakeClock();
    const hs = server({ rateLimit: true, clock: clock.now });
    await getLoginToken(hs);
    await assert.rejects(getLoginToken(hs), /429/);
    const token = await passwordLogin(hs);
    const challenge = await send(hs, "POST", GET_TOKEN, { token, json: {} });
    const limited = await send(hs, "POST", GET_TOKEN, {
      token,
      json: passwordAuth(challenge.body.session as string),
    });
    assertError(limited, 429, "M_LIMIT_EXCEEDED");
    assert.equal(limited.headers.get("Retry-After"), "60");
    assert.equal(limited.body.retry_after_ms, 60_000);
    await getLoginToken(hs, "bob", "hunter2"); // another user is not limited
    clock.advance(60_000);
    await getLoginToken(hs);
  });

  it("without rateLimit, gives tokens as often as asked", async () => {
    const hs = server();
    for (let i = 0; i < 3; i++) await getLoginToken(hs);
  });
});

describe("devserver sso: redirects to CAS", () => {
  const expected = `${BASE}/cas/login?service=` +
    encodeURIComponent(
      `${TICKET_SERVICE}?redirectUrl=${encodeURIComponent(APP)}`,
    );

  it("redirects /login/sso/redirect[/cas] and /login/cas/redirect, r0 and v3, to the CAS login page as Synapse does", async () => {
    const hs = server();
    for (
      const path of [
        "v3/login/sso/redirect",
        "r0/login/sso/redirect",
        "v3/login/sso/redirect/cas",
        "r0/login/cas/redirect",
        "v3/login/cas/redirect",
      ]
    ) {
      const answer = await send(
        hs,
        "GET",
        `/_matrix/client/${path}?redirectUrl=${encodeURIComponent(APP)}`,
      );
      assert.equal(location(answer), expected, path);
    }
  });

  it("encodes redirectUrl as Python's urlencode does (spaces as +, ~ kept)", async () => {
    const answer = await send(
      server(),
      "GET",
      `/_matrix/client/v3/login/sso/redirect?redirectUrl=${
        encodeURIComponent("http://127.0.0.1:9/a b~c")
      }`,
    );
    const service = new URL(location(answer)).searchParams.get("service");
    assert.equal(
      service,
      `${TICKET_SERVICE}?redirectUrl=http%3A%2F%2F127.0.0.1%3A9%2Fa+b~c`,
    );
  });

  it("answers an unknown IdP 404 M_NOT_FOUND and a missing redirectUrl 400 M_MISSING_PARAM", async () => {
    const hs = server();
    const unknown = await send(
      hs,
      "GET",
      `/_matrix/client/v3/login/sso/redirect/github?redirectUrl=${APP}`,
    );
    assertError(unknown, 404, "M_NOT_FOUND");
    assert.equal(unknown.body.error, "Unknown identity provider");
    const missing = await send(
      hs,
      "GET",
      "/_matrix/client/v3/login/sso/redirect",
    );
    assertError(missing, 400, "M_MISSING_PARAM");
    assert.match(missing.body.error as string, /redirectUrl/);
  });
});

describe("devserver sso: the ticket endpoint", () => {
  it("redirects a whitelisted client to redirectUrl with loginToken, keeping its query", async () => {
    const hs = server();
    const target = new URL(
      location(await signOn(hs, `${APP}?state=x%20y#top`)),
    );
    assert.equal(target.origin + target.pathname, APP);
    assert.equal(target.searchParams.get("state"), "x y");
    assert.equal(target.hash, "#top");
    assert.match(target.search, /^\?state=x\+y&loginToken=syl_/);
    const login = await tokenLogin(hs, target.searchParams.get("loginToken")!);
    assert.equal(login.body.user_id, ALICE);
  });

  it("shows any other client a 'Continue to your account' page, escaped", async () => {
    const hs = server();
    const answer = await signOn(hs, 'https://app.example.org/"><b>?x=1');
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get("Content-Type")!, /^text\/html/);
    assert.equal(answer.headers.get("X-Frame-Options"), "DENY");
    assert.match(answer.text, /Continue to your account/);
    assert.ok(!answer.text.includes("<b>"));
    const href = /href="([^"]*)"/.exec(answer.text)![1].replaceAll(
      "&amp;",
      "&",
    );
    assert.match(
      href,
      /^https:\/\/app\.example\.org\/&quot;&gt;&lt;b&gt;\?x=1&loginToken=syl_/,
    );
  });

  it("follows the ssoClientWhitelist option", async () => {
    const hs = server({ ssoClientWhitelist: ["https://app.example.org/"] });
    assert.equal((await signOn(hs, APP)).status, 200);
    const answer = await signOn(hs, "https://app.example.org/done");
    assert.match(
      location(answer),
      /^https:\/\/app\.example\.org\/done\?loginToken=/,
    );
  });

  it("matches the whitelist as a prefix, as Synapse does: with http://127.0.0.1: on it, http://localhost:PORT gets the page, its link escaped", async () => {
    const hs = server({ ssoClientWhitelist: ["http://127.0.0.1:"] });
    assert.match(
      location(await signOn(hs, "http://127.0.0.1:9/callback?state=S")),
      /^http:\/\/127\.0\.0\.1:9\/callback\?state=S&loginToken=syl_/,
    );
    const answer = await signOn(hs, "http://localhost:9/callback?state=S");
    assert.equal(answer.status, 200);
    assert.match(
      answer.text,
      /Continuing will grant <code>http:\/\/localhost:9\/callback<\/code> access to your account/,
    );
    assert.match(
      answer.text,
      /<a class="button" href="http:\/\/localhost:9\/callback\?state=S&amp;loginToken=syl_\w+">Continue<\/a>/,
    );
  });

  it("does not treat http://localhost.example.org as loopback", async () => {
    const answer = await signOn(server(), "http://localhost.example.org/");
    assert.equal(answer.status, 200);
  });

  it("answers an unknown, reused or other service's ticket 401 with a readable page", async () => {
    const hs = server();
    const start = location(
      await send(
        hs,
        "GET",
        `/_matrix/client/v3/login/sso/redirect?redirectUrl=${APP}`,
      ),
    );
    const service = new URL(start).searchParams.get("service")!;
    const back = location(
      await send(hs, "POST", `${BASE}/cas/login`, {
        form: { username: "alice", password: "secret", service },
      }),
    );
    const ticket = new URL(back).searchParams.get("ticket")!;
    const elsewhere = `${TICKET_SERVICE}?redirectUrl=${
      encodeURIComponent("http://127.0.0.1:1/")
    }&ticket=${ticket}`;
    for (
      const url of [
        elsewhere,
        back,
        `${TICKET_SERVICE}?redirectUrl=${APP}&ticket=ST-forged`,
      ]
    ) {
      const answer = await send(hs, "GET", url);
      assert.equal(answer.status, 401, url);
      assert.match(answer.headers.get("Content-Type")!, /^text\/html/);
      assert.match(answer.text, /ticket was not recognised/);
      assert.match(answer.text, /sign in again/);
    }
  });

  it("answers a ticket request without ticket 400 M_MISSING_PARAM", async () => {
    assertError(
      await send(server(), "GET", `${TICKET_SERVICE}?redirectUrl=${APP}`),
      400,
      "M_MISSING_PARAM",
    );
  });

  it("creates an unknown CAS user on first sign-on, without a password", async () => {
    const hs = server({ casUsers: [{ username: "Carol", password: "pw" }] });
    const target = new URL(location(await signOn(hs, APP, "Carol", "pw")));
    assert.ok(hs.userIds().includes("@carol:localhost:8008"));
    const login = await tokenLogin(hs, target.searchParams.get("loginToken")!);
    assert.equal(login.body.user_id, "@carol:localhost:8008");
    // No password: password login fails as for a wrong one.
    assertError(
      await send(hs, "POST", "/_matrix/client/v3/login", {
        json: { type: "m.login.password", user: "carol", password: "" },
      }),
      403,
      "M_FORBIDDEN",
    );
    // A second sign-on finds the same user.
    await signOn(hs, APP, "Carol", "pw");
    assert.equal(hs.userIds().filter((u) => u.startsWith("@carol")).length, 1);
  });

  it("refuses to link to a javascript: redirectUrl", async () => {
    const answer = await signOn(server(), "javascript:alert(1)");
    assert.equal(answer.status, 400);
    assert.ok(!answer.text.includes("alert"));
  });
});

describe("devserver sso: the built-in CAS identity provider", () => {
  const service = `${TICKET_SERVICE}?redirectUrl=${encodeURIComponent(APP)}`;
  const loginPage = `/cas/login?service=${encodeURIComponent(service)}`;

  it("shows a login form that carries the service and escapes what it echoes", async () => {
    const hs = server();
    const answer = await send(
      hs,
      "GET",
      `${loginPage}&user=${encodeURIComponent('"><script>')}`,
    );
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get("Content-Type")!, /^text\/html/);
    assert.match(answer.text, /<form method="post" action="login">/);
    assert.match(answer.text, /name="password" type="password"/);
    assert.ok(
      answer.text.includes(
        `name="service" value="${service.replaceAll("&", "&amp;")}"`,
      ),
    );
    assert.ok(!answer.text.includes("<script>"));
    assert.ok(answer.text.includes("&quot;&gt;&lt;script&gt;"));
  });

  it("sends the right password back to the service with a ticket ST-…", async () => {
    const back = location(
      await send(server(), "POST", "/cas/login", {
        form: { username: "alice", password: "secret", service },
      }),
    );
    assert.match(
      back,
      new RegExp(`^${escapeRegExp(service)}&ticket=ST-[A-Za-z0-9]+$`),
    );
  });

  it("shows the form again, 401, with an error, for a wrong password (never echoing it)", async () => {
    const answer = await send(server(), "POST", "/cas/login", {
      form: { username: "alice", password: "not-the-secret", service },
    });
    assert.equal(answer.status, 401);
    assert.match(answer.text, /Wrong user name or password/);
    assert.match(answer.text, /value="alice"/);
    assert.ok(!answer.text.includes("not-the-secret"));
  });

  it("approves ?user= at once only when casAutoApprove is on", async () => {
    const off = await send(server(), "GET", `${loginPage}&user=dave`);
    assert.equal(off.status, 200);
    assert.match(off.text, /value="dave"/);
    const on = await send(
      server({ casAutoApprove: true }),
      "GET",
      `${loginPage}&user=dave`,
    );
    assert.match(location(on), /&ticket=ST-/);
  });

  it("signs in only to this homeserver's services", async () => {
    const hs = server();
    const missing = await send(hs, "GET", "/cas/login");
    assert.equal(missing.status, 400);
    assert.match(missing.text, /needs a <code>service<\/code>/);
    const foreign = await send(hs, "POST", "/cas/login", {
      form: {
        username: "alice",
        password: "secret",
        service: "https://evil.example/",
      },
    });
    assert.equal(foreign.status, 400);
    assert.match(foreign.text, /only signs in to/);
  });

  it("also signs in to the services of casServices (another homeserver, such as a real Synapse), and validates their tickets", async () => {
    const synapse =
      "http://localhost:8008/_matrix/client/r0/login/cas/ticket?redirectUrl=x";
    const hs = server({ casServices: ["http://localhost:8008/"] });
    const back = location(
      await send(hs, "POST", "/cas/login", {
        form: { username: "alice", password: "secret", service: synapse },
      }),
    );
    assert.ok(back.startsWith(`${synapse}&ticket=ST-`), back);
    const ticket = new URL(back).searchParams.get("ticket")!;
    const valid = await send(
      hs,
      "GET",
      `/cas/proxyValidate?${new URLSearchParams({ ticket, service: synapse })}`,
    );
    assert.match(valid.text, /<cas:user>alice<\/cas:user>/);
    // A prefix is matched as given: another port is another service.
    const other = await send(hs, "POST", "/cas/login", {
      form: {
        username: "alice",
        password: "secret",
        service: "http://localhost:80080/",
      },
    });
    assert.equal(other.status, 400);
    assert.match(other.text, /only signs in to/);
  });

  it("answers proxyValidate (and serviceValidate, p3/) with the stub's CAS 2.0 XML; tickets are single use and bound to the service", async () => {
    const hs = server({ casAutoApprove: true });
    const ns = 'xmlns:cas="http://www.yale.edu/tp/cas"';
    const failure =
      `<cas:serviceResponse ${ns}><cas:authenticationFailure code="INVALID_TICKET">` +
      "ticket not recognized</cas:authenticationFailure></cas:serviceResponse>";
    for (
      const path of [
        "proxyValidate",
        "serviceValidate",
        "p3/proxyValidate",
        "p3/serviceValidate",
      ]
    ) {
      const back = location(
        await send(hs, "GET", `${loginPage}&user=mary.o<b`),
      );
      const ticket = new URL(back).searchParams.get("ticket")!;
      const validate = (svc: string) =>
        send(
          hs,
          "GET",
          `/cas/${path}?${new URLSearchParams({ ticket, service: svc })}`,
        );
      const ok = await validate(service);
      assert.equal(ok.status, 200);
      assert.equal(
        ok.headers.get("Content-Type"),
        "application/xml; charset=utf-8",
      );
      assert.equal(
        ok.text,
        `<cas:serviceResponse ${ns}><cas:authenticationSuccess>` +
          "<cas:user>mary.o&lt;b</cas:user><cas:attributes>" +
          "<cas:displayName>Mary.O&lt;B (CAS)</cas:displayName>" +
          "</cas:attributes></cas:authenticationSuccess></cas:serviceResponse>",
        path,
      );
      assert.equal((await validate(service)).text, failure, "single use");
    }
    const back = location(await send(hs, "GET", `${loginPage}&user=mary`));
    const ticket = new URL(back).searchParams.get("ticket")!;
    const wrong = await send(
      hs,
      "GET",
      `/cas/proxyValidate?${new URLSearchParams({
        ticket,
        service: `${BASE}/other`,
      })}`,
    );
    assert.equal(wrong.text, failure);
    const after = await send(
      hs,
      "GET",
      `/cas/proxyValidate?${new URLSearchParams({ ticket, service })}`,
    );
    assert.equal(after.text, failure, "spent by the failed attempt");
  });
});

describe("devserver sso: a whole headless sign-on", () => {
  it("goes from the Client's login flows to a logged-in session, leaking no secret into the log", async () => {
    const hs = server();
    const client = new Client({ baseUrl: BASE, fetch: fetchOf(hs) });
    const flows = await client.loginMethods();
    const sso = flows.find((f) => f.type === "m.login.sso");
    assert.deepEqual(sso?.identityProviders, [{ id: "cas", name: "CAS" }]);
    assert.equal(
      flows.find((f) => f.type === "m.login.token")?.getLoginToken,
      true,
    );

    // 1. The browser goes to the redirect endpoint for the chosen IdP.
    const start = client.endpoint(
      `v3/login/sso/redirect/${sso!.identityProviders![0].id}`,
    );
    start.searchParams.set("redirectUrl", APP);
    const casLogin = location(await send(hs, "GET", start.href));
    // 2. The CAS page: the form posts username, password and the service.
    const page = await send(hs, "GET", casLogin);
    const service = /name="service" value="([^"]*)"/.exec(page.text)![1]
      .replaceAll("&amp;", "&");
    const ticketUrl = location(
      await send(hs, "POST", new URL("login", casLogin).href, {
        form: { username: "alice", password: "secret", service },
      }),
    );
    // 3. The homeserver checks the ticket and sends the browser to the app.
    const back = new URL(location(await send(hs, "GET", ticketUrl)));
    const loginToken = back.searchParams.get("loginToken")!;
    // 4. The app logs in with the token.
    const login = await tokenLogin(hs, loginToken, {
      initial_device_display_name: "SSO test",
    });
    assert.equal(login.status, 200, login.text);
    const whoami = await send(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: login.body.access_token as string,
    });
    assert.equal(whoami.body.user_id, ALICE);

    const logged = JSON.stringify(hs.log);
    const ticket = new URL(ticketUrl).searchParams.get("ticket")!;
    for (
      const secret of [
        "secret",
        loginToken,
        ticket,
        login.body.access_token as string,
      ]
    ) {
      assert.ok(!logged.includes(secret), "the log holds no secret");
    }
    assert.deepEqual(hs.log.map((e) => `${e.method} ${e.path} ${e.status}`), [
      "GET /_matrix/client/v3/login 200",
      "GET /_matrix/client/v3/login/sso/redirect/cas 302",
      "GET /cas/login 200",
      "POST /cas/login 302",
      "GET /_matrix/client/r0/login/cas/ticket 302",
      "POST /_matrix/client/v3/login 200",
      "GET /_matrix/client/v3/account/whoami 200",
    ]);
  });
});

describe("devserver sso: state that survives a restart", () => {
  it("keeps users, devices, access, refresh and login tokens", async () => {
    const clock = fakeClock();
    const options: HomeserverOptions = {
      clock: clock.now,
      accessTokenLifetimeMs: 60_000,
      casUsers: [{ username: "carol", password: "pw" }],
    };
    const before = server(options);
    const access = await passwordLogin(before);
    const refreshLogin = await send(
      before,
      "POST",
      "/_matrix/client/v3/login",
      {
        json: {
          type: "m.login.password",
          user: "bob",
          password: "hunter2",
          refresh_token: true,
          device_id: "BOBDEV",
        },
      },
    );
    const pending = await getLoginToken(before);
    await signOn(before, APP, "carol", "pw");

    const saved = JSON.parse(JSON.stringify(before.exportState()));
    const after = createHomeserver({ ...options, seed: 1, state: saved });

    assert.deepEqual(after.userIds(), before.userIds());
    assert.deepEqual(
      after.devices("@bob:localhost:8008"),
      before.devices("@bob:localhost:8008"),
    );
    const whoami = await send(
      after,
      "GET",
      "/_matrix/client/v3/account/whoami",
      { token: access },
    );
    assert.equal(whoami.status, 200);
    const refreshed = await send(after, "POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: refreshLogin.body.refresh_token },
    });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.equal((await tokenLogin(after, pending)).status, 200);
    // Carol, made by SSO, still has no password.
    assert.equal(
      saved.users.find((u: { localpart: string }) => u.localpart === "carol")
        .password,
      undefined,
    );
  });

  it("continues a seeded generator where it stopped, so no token repeats", async () => {
    const first = server();
    const a = await passwordLogin(first);
    const second = server({ state: first.exportState() });
    const b = await passwordLogin(second);
    assert.notEqual(a, b);
    const uninterrupted = server();
    await passwordLogin(uninterrupted);
    assert.equal(await passwordLogin(uninterrupted), b);
  });

  it("adds users from the options that the state lacks, and keeps the state's own", async () => {
    const first = createHomeserver({
      users: [{ localpart: "alice", password: "old" }],
    });
    const second = createHomeserver({
      state: first.exportState(),
      users: [{ localpart: "alice", password: "new" }, {
        localpart: "erin",
        password: "x",
      }],
    });
    assert.deepEqual(second.userIds(), [ALICE, "@erin:localhost:8008"]);
    await passwordLogin(second, "alice", "old"); // asserts a 200
  });

  it("calls onChange once per request that changes something, and not for reads", async () => {
    let changes = 0;
    const hs = server({ onChange: () => changes++ });
    assert.equal(changes, 0, "creating the server is no change");
    await send(hs, "GET", "/_matrix/client/v3/login");
    assert.equal(changes, 0);
    const token = await passwordLogin(hs);
    assert.equal(changes, 1);
    await send(hs, "GET", "/_matrix/client/v3/account/whoami", { token });
    assert.equal(changes, 2, "the token's first use is kept");
    await send(hs, "GET", "/_matrix/client/v3/account/whoami", { token });
    assert.equal(changes, 2);
    hs.addUser({ localpart: "frank", password: "x" });
    assert.equal(changes, 3);
  });

  it("refuses a damaged state, naming what is wrong", () => {
    const good = server().exportState();
    const cases: [unknown, RegExp][] = [
      [{}, /no "format" marker/],
      [{ ...good, version: 2 }, /version 2, expected 1/],
      [{ ...good, users: "x" }, /users must be an array/],
      [
        { ...good, accessTokens: [{ token: 1 }] },
        /accessTokens\[0\]\.token must be string/,
      ],
    ];
    for (const [state, message] of cases) {
      assert.throws(
        () => createHomeserver({ state: state as never }),
        (error: unknown) =>
          error instanceof TypeError && message.test(error.message),
      );
    }
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const spec = await loadSpec();

describe("devserver sso: every new answer fits the Matrix specification", () => {
  it("walks get_token, token login and the SSO redirects", {
    skip: skipUnlessSpec(spec),
  }, async () => {
    const validator = spec.validator!;
    const clock = fakeClock();
    const hs = server({ rateLimit: true, clock: clock.now });
    const checked: string[] = [];
    const notInSpec: string[] = [];
    // JSON errors the spec lists no schema for (a 400 for a missing
    // redirectUrl, say) are checked against the standard error schema.
    const undocumented: string[] = [];
    const walk = async (
      method: string,
      target: string,
      options: { json?: unknown; token?: string } = {},
    ): Promise<Answer> => {
      const answer = await send(hs, method, target, options);
      const pathname = new URL(target, BASE).pathname;
      const what = `${method} ${pathname} ${answer.status}`;
      if (!validator.findOperation(method, pathname)) {
        notInSpec.push(what);
        return answer;
      }
      if (answer.headers.get("Content-Type") === "application/json") {
        if (
          assertFitsSpec(validator, method, pathname, answer) === "undocumented"
        ) {
          undocumented.push(what);
        }
      } else {
        assert.ok(
          validator.documentedStatuses(method, pathname).includes(
            String(answer.status),
          ),
          `${what}: status not documented`,
        );
      }
      checked.push(what);
      return answer;
    };

    await walk("GET", "/_matrix/client/v3/login");
    const token = await passwordLogin(hs);
    const challenge = await walk("POST", GET_TOKEN, { token, json: {} });
    const session = challenge.body.session as string;
    await walk("POST", GET_TOKEN, {
      token,
      json: passwordAuth(session, "wrong"),
    });
    const body = passwordAuth(session);
    assert.deepEqual(validator.requestErrors("POST", GET_TOKEN, body), []);
    const got = await walk("POST", GET_TOKEN, { token, json: body });
    const again = await walk("POST", GET_TOKEN, { token, json: {} });
    await walk("POST", GET_TOKEN, {
      token,
      json: passwordAuth(again.body.session as string),
    }); // 429: one a minute
    await walk("POST", GET_TOKEN, { token, json: passwordAuth("unknown") });

    const tokenBody = { type: "m.login.token", token: got.body.login_token };
    assert.deepEqual(
      validator.requestErrors("POST", "/_matrix/client/v3/login", tokenBody),
      [],
    );
    await walk("POST", "/_matrix/client/v3/login", { json: tokenBody });
    await walk("POST", "/_matrix/client/v3/login", { json: tokenBody });

    const q = `redirectUrl=${encodeURIComponent(APP)}`;
    await walk("GET", `/_matrix/client/v3/login/sso/redirect?${q}`);
    await walk("GET", `/_matrix/client/v3/login/sso/redirect/cas?${q}`);
    await walk("GET", `/_matrix/client/v3/login/sso/redirect/nope?${q}`);
    await walk("GET", "/_matrix/client/v3/login/sso/redirect");
    await walk("GET", `/_matrix/client/r0/login/cas/redirect?${q}`);
    const ticketAnswer = await signOn(hs, APP);
    await walk("GET", `/_matrix/client/r0/login/cas/ticket?${q}&ticket=ST-x`);
    assert.equal(ticketAnswer.status, 302);

    assert.deepEqual([...new Set(checked)].sort(), [
      "GET /_matrix/client/v3/login 200",
      "GET /_matrix/client/v3/login/sso/redirect 302",
      "GET /_matrix/client/v3/login/sso/redirect 400",
      "GET /_matrix/client/v3/login/sso/redirect/cas 302",
      "GET /_matrix/client/v3/login/sso/redirect/nope 404",
      "POST /_matrix/client/v1/login/get_token 200",
      "POST /_matrix/client/v1/login/get_token 400",
      "POST /_matrix/client/v1/login/get_token 401",
      "POST /_matrix/client/v1/login/get_token 429",
      "POST /_matrix/client/v3/login 200",
      "POST /_matrix/client/v3/login 403",
    ]);
    assert.deepEqual(undocumented.sort(), [
      "GET /_matrix/client/v3/login/sso/redirect 400",
      "GET /_matrix/client/v3/login/sso/redirect/nope 404",
    ]);
    // The CAS endpoints left the specification in v1.1 (SSO replaced them).
    assert.deepEqual(notInSpec.sort(), [
      "GET /_matrix/client/r0/login/cas/redirect 302",
      "GET /_matrix/client/r0/login/cas/ticket 401",
    ]);
  });
});
