/**
 * Tests of the development homeserver's OAuth 2.0 API (`oauth: "only"` and
 * `"both"`): server metadata, dynamic client registration, the
 * authorisation code grant with PKCE, the token endpoint, refresh and
 * revocation, as MAS answers them; the homeserver's answers to the tokens it
 * issued; the account page; and the state file.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { loadSpec, skipUnlessSpec } from "../scripts/spec/schemas.ts";
import { oauthAuthorize } from "./oauth_browser.ts";
import {
  assertOAuthError,
  authorizationUrl,
  NATIVE_CLIENT,
  oauthLogin,
  oauthServer,
  pkcePair,
  REDIRECT,
  REDIRECT_WITH_PORT,
  redirectParams,
  registerClient,
  scopeFor,
  tokenRequest,
} from "./oauth_test_support.ts";
import { createHomeserver, fetchOf } from "./server.ts";
import {
  assertError,
  assertFitsSpec,
  call,
  type CallOptions,
  fakeClock,
} from "./test_support.ts";

const spec = await loadSpec();

describe("devserver OAuth 2.0: discovery", () => {
  it("serves the server metadata at v1/auth_metadata and the unstable MSC2965 path, with Synapse's Cache-Control", async () => {
    const hs = oauthServer();
    for (
      const path of [
        "/_matrix/client/v1/auth_metadata",
        "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
      ]
    ) {
      const answer = await call(hs, "GET", path);
      assert.equal(answer.status, 200);
      assert.equal(
        answer.headers.get("Cache-Control"),
        "public, max-age=600, s-maxage=3600, stale-while-revalidate=600",
      );
      assert.deepEqual(answer.body, {
        issuer: "http://localhost:8008/",
        authorization_endpoint: "http://localhost:8008/authorize",
        token_endpoint: "http://localhost:8008/oauth2/token",
        registration_endpoint: "http://localhost:8008/oauth2/registration",
        response_types_supported: ["code"],
        response_modes_supported: ["query", "fragment"],
        grant_types_supported: [
          "authorization_code",
          "refresh_token",
          "urn:ietf:params:oauth:grant-type:device_code",
        ],
        token_endpoint_auth_methods_supported: ["none"],
        revocation_endpoint: "http://localhost:8008/oauth2/revoke",
        revocation_endpoint_auth_methods_supported: ["none"],
        code_challenge_methods_supported: ["S256"],
        prompt_values_supported: ["login"],
        device_authorization_endpoint: "http://localhost:8008/oauth2/device",
        account_management_uri: "http://localhost:8008/account/",
        account_management_actions_supported: [
          "org.matrix.devices_list",
          "org.matrix.device_view",
          "org.matrix.device_delete",
        ],
      });
    }
  });

  it("fits the specification's schema of GET /auth_metadata", {
    skip: skipUnlessSpec(spec),
  }, async () => {
    const answer = await call(
      oauthServer(),
      "GET",
      "/_matrix/client/v1/auth_metadata",
    );
    assert.equal(
      assertFitsSpec(
        spec.validator!,
        "GET",
        "/_matrix/client/v1/auth_metadata",
        answer,
      ),
      "documented",
    );
  });

  it("serves MAS's /.well-known/openid-configuration and Synapse's unstable auth_issuer", async () => {
    const hs = oauthServer({ oauth: "both" });
    const openid = await call(hs, "GET", "/.well-known/openid-configuration");
    assert.equal(openid.body.token_endpoint, `${hs.baseUrl}oauth2/token`);
    const issuer = await call(
      hs,
      "GET",
      "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer",
    );
    assert.deepEqual(issuer.body, { issuer: hs.baseUrl });
  });

  it("answers auth_metadata 404 M_UNRECOGNIZED without oauth, as the spec says a server without the API should", async () => {
    const hs = createHomeserver();
    for (
      const path of [
        "/_matrix/client/v1/auth_metadata",
        "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
      ]
    ) {
      assertError(await call(hs, "GET", path), 404, "M_UNRECOGNIZED");
    }
  });

  it("in oauth 'only', answers the legacy login API 404 M_UNRECOGNIZED: GET and POST /login, /refresh, get_token, the SSO and CAS redirects", async () => {
    const hs = oauthServer();
    const requests: [string, string][] = [
      ["GET", "/_matrix/client/v3/login"],
      ["POST", "/_matrix/client/v3/login"],
      ["GET", "/_matrix/client/r0/login"],
      ["POST", "/_matrix/client/v3/refresh"],
      ["POST", "/_matrix/client/v1/refresh"],
      ["POST", "/_matrix/client/v1/login/get_token"],
      ["GET", "/_matrix/client/v3/login/sso/redirect?redirectUrl=x"],
      ["GET", "/_matrix/client/v3/login/sso/redirect/cas?redirectUrl=x"],
      ["GET", "/_matrix/client/r0/login/cas/redirect?redirectUrl=x"],
      ["GET", "/_matrix/client/r0/login/cas/ticket?redirectUrl=x&ticket=y"],
      ["GET", "/cas/login"],
    ];
    for (const [method, path] of requests) {
      const answer = await call(hs, method, path, {
        json: method === "POST" ? {} : undefined,
      });
      assertError(answer, 404, "M_UNRECOGNIZED");
    }
  });

  it("keeps Synapse's /versions list (r0.0.1 to v1.12), as matrix.org does", async () => {
    const answer = await call(oauthServer(), "GET", "/_matrix/client/versions");
    const versions = answer.body.versions as string[];
    assert.equal(versions.at(-1), "v1.12");
    assert.ok(!versions.includes("v1.15"));
  });

  it("lists m.get_login_token disabled in /capabilities", async () => {
    const hs = oauthServer();
    const { accessToken } = await oauthLogin(hs);
    const answer = await call(hs, "GET", "/_matrix/client/v3/capabilities", {
      token: accessToken,
    });
    const capabilities = answer.body.capabilities as Record<string, unknown>;
    assert.deepEqual(capabilities["m.get_login_token"], { enabled: false });
  });
});

describe("devserver OAuth 2.0: client registration", () => {
  it("registers a native client with a loopback redirect URI: 201 with client_id and the metadata kept", async () => {
    const hs = oauthServer();
    const answer = await call(hs, "POST", "/oauth2/registration", {
      json: {
        ...NATIVE_CLIENT,
        "client_name#fr": "tests de matrixlib",
        contacts: ["someone@example.org"],
      },
    });
    assert.equal(answer.status, 201, answer.text);
    const { client_id, client_id_issued_at, ...rest } = answer.body;
    assert.match(client_id as string, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(typeof client_id_issued_at, "number");
    assert.deepEqual(rest, {
      redirect_uris: [REDIRECT],
      grant_types: [
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
      ],
      application_type: "native",
      client_name: "matrixlib tests",
      client_uri: "https://matrixlib.example/",
      token_endpoint_auth_method: "none",
    });
  });

  it("gives the same client_id for the same metadata, as MAS deduplicates", async () => {
    const hs = oauthServer();
    const first = await registerClient(hs);
    assert.equal(
      await registerClient(hs, {
        grant_types: [...NATIVE_CLIENT.grant_types].reverse(),
      }),
      first,
    );
    assert.notEqual(
      await registerClient(hs, { client_name: "another" }),
      first,
    );
  });

  it("refuses a client_uri that is missing, not https, on localhost, or with a user name: 400 invalid_client_metadata", async () => {
    const hs = oauthServer();
    const cases: [unknown, string][] = [
      [undefined, "missing client_uri"],
      ["http://matrixlib.example/", "invalid client_uri"],
      ["https://localhost/", "invalid client_uri"],
      ["https://127.0.0.1/", "invalid client_uri"],
      ["https://user:pass@matrixlib.example/", "invalid client_uri"],
    ];
    for (const [client_uri, message] of cases) {
      const answer = await call(hs, "POST", "/oauth2/registration", {
        json: {
          ...NATIVE_CLIENT,
          client_uri,
          redirect_uris: ["com.example:/cb"],
        },
      });
      // The reverse-DNS redirect URI fails too, without a valid client_uri.
      assertOAuthError(answer, 400, "invalid_redirect_uri");
      assert.ok(
        (answer.body.error_description as string).includes(message),
        answer.text,
      );
    }
    const noRedirects = await call(hs, "POST", "/oauth2/registration", {
      json: {
        client_uri: "https://localhost/",
        token_endpoint_auth_method: "none",
        grant_types: ["urn:ietf:params:oauth:grant-type:device_code"],
      },
    });
    assertOAuthError(noRedirects, 400, "invalid_client_metadata");
    assert.equal(noRedirects.body.error_description, "invalid client_uri");
  });

  it("checks redirect URIs as MAS's policy: web https on client_uri's host or a subdomain; native reverse-DNS scheme or http loopback; never a fragment", async () => {
    const hs = oauthServer();
    const register = (application_type: string, redirect: string) =>
      call(hs, "POST", "/oauth2/registration", {
        json: {
          ...NATIVE_CLIENT,
          application_type,
          client_uri: "https://app.matrixlib.example/",
          redirect_uris: [redirect],
        },
      });
    const good: [string, string][] = [
      ["web", "https://app.matrixlib.example/callback"],
      ["web", "https://login.app.matrixlib.example:5173/?query=value"],
      ["native", "example.matrixlib.app:/callback"],
      ["native", "example.matrixlib.app.tests:/"],
      ["native", "http://localhost/callback"],
      ["native", "http://127.0.0.1/callback"],
      ["native", "http://[::1]/callback"],
      ["native", "https://app.matrixlib.example/claimed"],
    ];
    for (const [type, redirect] of good) {
      const answer = await register(type, redirect);
      assert.equal(answer.status, 201, `${type} ${redirect}: ${answer.text}`);
    }
    const bad: [string, string][] = [
      ["web", "http://app.matrixlib.example/callback"],
      ["web", "https://matrixlib.example/callback"],
      ["web", "https://other.example/callback"],
      ["web", "http://localhost/callback"],
      ["web", "example.matrixlib.app:/callback"],
      ["native", "example.matrixlib:/callback"],
      ["native", "example.matrixlib.app://callback"],
      ["native", "https://localhost/callback"],
      ["native", "http://localhost.example/callback"],
      ["native", "http://127.0.0.1/callback#frag"],
      ["web", "https://app.matrixlib.example/callback#"],
    ];
    for (const [type, redirect] of bad) {
      assertOAuthError(
        await register(type, redirect),
        400,
        "invalid_redirect_uri",
      );
    }
  });

  it("refuses a loopback redirect URI with a port, as the spec says (MAS registers it)", async () => {
    const answer = await call(oauthServer(), "POST", "/oauth2/registration", {
      json: { ...NATIVE_CLIENT, redirect_uris: ["http://127.0.0.1:8080/cb"] },
    });
    assertOAuthError(answer, 400, "invalid_redirect_uri");
    assert.match(
      answer.body.error_description as string,
      /must not have a port/,
    );
  });

  it("answers a body that is not JSON 400 invalid_request, wrong types 400 invalid_client_metadata, and a confidential client's method 400 invalid_client_metadata", async () => {
    const hs = oauthServer();
    assertOAuthError(
      await call(hs, "POST", "/oauth2/registration", { raw: "{not json" }),
      400,
      "invalid_request",
    );
    const noType = await hs.handler(
      new Request(`${hs.baseUrl}oauth2/registration`, {
        method: "POST",
        body: JSON.stringify(NATIVE_CLIENT),
      }),
    );
    assert.equal(noType.status, 400);
    assert.equal((await noType.json()).error, "invalid_request");
    const wrong: Record<string, unknown>[] = [
      { redirect_uris: "http://127.0.0.1/callback" },
      { redirect_uris: [42] },
      { redirect_uris: ["not a url"] },
      { client_uri: 7 },
      { client_name: ["x"] },
      { grant_types: "authorization_code" },
      { application_type: "desktop" },
      { token_endpoint_auth_method: "client_secret_basic" },
      { token_endpoint_auth_method: undefined },
    ];
    for (const change of wrong) {
      const answer = await call(hs, "POST", "/oauth2/registration", {
        json: { ...NATIVE_CLIENT, ...change },
      });
      assertOAuthError(answer, 400, "invalid_client_metadata");
    }
    for (const body of [[], null, "x", 1]) {
      assertOAuthError(
        await call(hs, "POST", "/oauth2/registration", { json: body }),
        400,
        "invalid_client_metadata",
      );
    }
    const huge = await call(hs, "POST", "/oauth2/registration", {
      json: { ...NATIVE_CLIENT, client_name: "x".repeat(100_000) },
    });
    assertOAuthError(huge, 413, "invalid_request");
  });

  it("checks logo_uri, policy_uri and tos_uri (and their localised forms) against client_uri", async () => {
    const hs = oauthServer();
    const register = (change: Record<string, unknown>) =>
      call(hs, "POST", "/oauth2/registration", {
        json: { ...NATIVE_CLIENT, ...change },
      });
    assert.equal(
      (await register({
        logo_uri: "https://cdn.matrixlib.example/logo.png",
        tos_uri: "https://matrixlib.example/tos",
        "tos_uri#fr": "https://matrixlib.example/fr/tos",
        policy_uri: "https://matrixlib.example/policy",
      })).status,
      201,
    );
    const cases: [Record<string, unknown>, string][] = [
      [{ tos_uri: "http://matrixlib.example/tos" }, "invalid tos_uri"],
      [
        { policy_uri: "https://other.example/policy" },
        "policy_uri not on the same host as the client_uri",
      ],
      [
        { "logo_uri#fr": "https://other.example/logo.png" },
        "logo_uri not on the same host as the client_uri",
      ],
    ];
    for (const [change, message] of cases) {
      const answer = await register(change);
      assertOAuthError(answer, 400, "invalid_client_metadata");
      assert.equal(answer.body.error_description, message);
    }
  });

  it("drops grant types it does not offer and refuses response types other than code", async () => {
    const hs = oauthServer();
    const answer = await call(hs, "POST", "/oauth2/registration", {
      json: {
        ...NATIVE_CLIENT,
        grant_types: [
          "authorization_code",
          "implicit",
          "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
      },
    });
    assert.equal(answer.status, 201);
    assert.deepEqual(answer.body.grant_types, ["authorization_code"]);
    const defaulted = await call(hs, "POST", "/oauth2/registration", {
      json: { ...NATIVE_CLIENT, grant_types: undefined },
    });
    assert.deepEqual(defaulted.body.grant_types, ["authorization_code"]);
    for (const response_types of [["token"], ["code id_token"], ["id_token"]]) {
      assertOAuthError(
        await call(hs, "POST", "/oauth2/registration", {
          json: { ...NATIVE_CLIENT, response_types },
        }),
        400,
        "invalid_client_metadata",
      );
    }
    assertOAuthError(
      await call(hs, "POST", "/oauth2/registration", {
        json: { ...NATIVE_CLIENT, redirect_uris: undefined },
      }),
      400,
      "invalid_redirect_uri",
    );
  });
});

describe("devserver OAuth 2.0: the authorization endpoint", () => {
  it("shows an error page, never a redirect, for an unknown client or a redirect URI it did not register", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const pages: Record<string, string | undefined>[] = [
      { client_id: undefined },
      { client_id: "01NOSUCHCLIENT000000000000" },
      { redirect_uri: "http://127.0.0.1:41234/elsewhere" },
      { redirect_uri: "https://attacker.example/callback" },
      { redirect_uri: "http://localhost:41234/callback" },
      { redirect_uri: "not a url" },
      { response_mode: "form_post" },
      { response_mode: "nonsense" },
    ];
    for (const changes of pages) {
      const url = authorizationUrl(hs, clientId, challenge, changes);
      const answer = await call(hs, "GET", url.href, { anyContentType: true });
      assert.equal(answer.status, 400, JSON.stringify(changes));
      assert.equal(answer.headers.get("Location"), null);
      assert.match(answer.headers.get("Content-Type")!, /^text\/html/);
    }
    const twice = authorizationUrl(hs, clientId, challenge);
    twice.searchParams.append("redirect_uri", "https://attacker.example/cb");
    const answer = await call(hs, "GET", twice.href, { anyContentType: true });
    assert.equal(answer.status, 400);
    assert.equal(answer.headers.get("Location"), null);
  });

  it("accepts any port on a loopback redirect URI registered without one, and the only one when redirect_uri is absent", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    for (
      const redirect_uri of [
        "http://127.0.0.1:1/callback",
        "http://127.0.0.1:65535/callback",
        "http://127.0.0.1/callback",
        undefined,
      ]
    ) {
      const answer = await call(
        hs,
        "GET",
        authorizationUrl(hs, clientId, challenge, { redirect_uri }).href,
        { anyContentType: true },
      );
      assert.equal(answer.status, 303, String(redirect_uri));
      assert.match(answer.headers.get("Location")!, /\/consent\/[0-9A-Z]{26}$/);
    }
  });

  it("redirects errors to the client with state: response_type, PKCE S256, prompt=none, parameters twice", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const cases: [Record<string, string | undefined>, string][] = [
      [{ response_type: undefined }, "invalid_request"],
      [{ response_type: "token" }, "unsupported_response_type"],
      [{ response_type: "code id_token" }, "unsupported_response_type"],
      [{ code_challenge: undefined }, "invalid_request"],
      [{ code_challenge_method: undefined }, "invalid_request"],
      [{ code_challenge_method: "plain" }, "invalid_request"],
      [{ code_challenge: "short" }, "invalid_request"],
      [{ code_challenge: "x".repeat(129) }, "invalid_request"],
      [{ prompt: "none" }, "login_required"],
      [{ request: "eyJ.x.y" }, "request_not_supported"],
      [{ request_uri: "urn:x" }, "request_uri_not_supported"],
      [{ scope: undefined }, "invalid_scope"],
    ];
    for (const [changes, error] of cases) {
      const answer = await call(
        hs,
        "GET",
        authorizationUrl(hs, clientId, challenge, changes).href,
        { anyContentType: true },
      );
      const params = redirectParams(answer);
      assert.equal(params.get("error"), error, JSON.stringify(changes));
      assert.equal(params.get("state"), "S1");
      assert.ok(params.get("error_description"));
      assert.ok(
        answer.headers.get("Location")!.startsWith(REDIRECT_WITH_PORT),
      );
    }
    const twice = authorizationUrl(hs, clientId, challenge);
    twice.searchParams.append("scope", "openid");
    const params = redirectParams(
      await call(hs, "GET", twice.href, { anyContentType: true }),
    );
    assert.equal(params.get("error"), "invalid_request");
    const deviceOnly = await registerClient(hs, {
      grant_types: ["urn:ietf:params:oauth:grant-type:device_code"],
      response_types: [],
    });
    const unauthorized = redirectParams(
      await call(
        hs,
        "GET",
        authorizationUrl(hs, deviceOnly, challenge).href,
        { anyContentType: true },
      ),
    );
    assert.equal(unauthorized.get("error"), "unauthorized_client");
  });

  it("refuses a scope as MAS's policy does (two device scopes, a device without the API scope, stable and unstable mixed, a device ID under 10 characters), and requires exactly one device scope", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const cases: [string, string][] = [
      [
        `${scopeFor("DEVICEID01")} urn:matrix:client:device:DEVICEID02`,
        "only one device scope is allowed at a time",
      ],
      [
        "urn:matrix:client:device:DEVICEID01",
        "device scopes are only allowed when the client-server API scope is requested",
      ],
      [
        "urn:matrix:client:api:* urn:matrix:org.matrix.msc2967.client:device:DEVICEID01",
        "request cannot mix unstable and stable scopes",
      ],
      [scopeFor("SHORT"), "scope 'urn:matrix:client:device:SHORT' not allowed"],
      [
        "urn:matrix:client:api:* urn:synapse:admin:*",
        "scope 'urn:synapse:admin:*' not allowed",
      ],
      ["urn:matrix:client:api:*", "exactly one device scope"],
      [
        "openid",
        "the client-server API scope urn:matrix:client:api:* is required",
      ],
      [`${scopeFor("DEVICEID01")}  openid`, "the scope is malformed"],
      ["", "the scope is malformed"],
    ];
    for (const [scope, message] of cases) {
      const params = redirectParams(
        await call(
          hs,
          "GET",
          authorizationUrl(hs, clientId, challenge, { scope }).href,
          { anyContentType: true },
        ),
      );
      assert.equal(params.get("error"), "invalid_scope", scope);
      assert.ok(
        params.get("error_description")!.includes(message),
        `${scope}: ${params.get("error_description")}`,
      );
    }
  });

  it("accepts the unstable MSC2967 scopes and openid, and sorts the scope as MAS does", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { verifier, challenge } = await pkcePair();
    const callback = await oauthAuthorize(
      authorizationUrl(hs, clientId, challenge, {
        scope:
          "urn:matrix:org.matrix.msc2967.client:device:UNSTABLE01 openid urn:matrix:org.matrix.msc2967.client:api:* openid",
      }),
      { user: "alice", password: "secret", fetch: fetchOf(hs), deliver: false },
    );
    const answer = await tokenRequest(hs, {
      grant_type: "authorization_code",
      code: callback.code!,
      redirect_uri: REDIRECT_WITH_PORT,
      client_id: clientId,
      code_verifier: verifier,
    });
    assert.equal(
      answer.body.scope,
      "openid urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:org.matrix.msc2967.client:device:UNSTABLE01",
    );
    const whoami = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: answer.body.access_token as string,
    });
    assert.equal(whoami.body.device_id, "UNSTABLE01");
  });

  it("shows a login and consent form; a wrong password shows it again with 401; Deny redirects with error=access_denied and state", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const start = await call(
      hs,
      "GET",
      authorizationUrl(hs, clientId, challenge).href,
      { anyContentType: true },
    );
    const consent = start.headers.get("Location")!;
    const page = await call(hs, "GET", consent, { anyContentType: true });
    assert.equal(page.status, 200);
    assert.match(page.text, /matrixlib tests/);
    assert.match(page.text, /DEVICEID01/);
    assert.match(page.text, /name="password"/);
    assert.match(page.text, /value="allow"/);
    assert.match(page.text, /value="deny"/);
    assert.equal(page.headers.get("X-Frame-Options"), "DENY");
    const wrong = await call(hs, "POST", consent, {
      form: { username: "alice", password: "nope", action: "allow" },
      anyContentType: true,
    });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /Invalid username or password/);
    assert.ok(!wrong.text.includes("nope"));
    const denied = await call(hs, "POST", consent, {
      form: { action: "deny" },
      anyContentType: true,
    });
    const params = redirectParams(denied);
    assert.deepEqual([...params], [["state", "S1"], [
      "error",
      "access_denied",
    ]]);
    const again = await call(hs, "POST", consent, {
      form: { username: "alice", password: "secret", action: "allow" },
      anyContentType: true,
    });
    assert.equal(again.status, 409);
    const unknown = await call(
      hs,
      "GET",
      `${hs.baseUrl}consent/00000000000000000000000000`,
      {
        anyContentType: true,
      },
    );
    assert.equal(unknown.status, 404);
  });

  it("puts code and state in the query (the redirect URI's own query first, then an empty fragment) or in the fragment, as response_mode asks", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs, {
      application_type: "web",
      redirect_uris: ["https://matrixlib.example/cb?app=1"],
    });
    const { challenge } = await pkcePair();
    const run = async (response_mode?: string) => {
      const start = await call(
        hs,
        "GET",
        authorizationUrl(hs, clientId, challenge, {
          redirect_uri: "https://matrixlib.example/cb?app=1",
          response_mode,
        }).href,
        { anyContentType: true },
      );
      const done = await call(hs, "POST", start.headers.get("Location")!, {
        form: { username: "alice", password: "secret", action: "allow" },
        anyContentType: true,
      });
      assert.equal(done.status, 303);
      return done.headers.get("Location")!;
    };
    assert.match(
      await run(),
      /^https:\/\/matrixlib\.example\/cb\?app=1&state=S1&code=[A-Za-z0-9]{32}#$/,
    );
    assert.match(
      await run("fragment"),
      /^https:\/\/matrixlib\.example\/cb\?app=1#state=S1&code=[A-Za-z0-9]{32}$/,
    );
  });

  it("survives hostile authorization requests: parameters twice, huge values, odd bytes, missing everything", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const targets = [
      `${hs.baseUrl}authorize`,
      `${hs.baseUrl}authorize?%ff%fe=%00&client_id=%zz`,
      authorizationUrl(hs, clientId, challenge, { state: "x".repeat(20_000) })
        .href,
      authorizationUrl(hs, clientId, challenge, { scope: "\u0000\u00ff" }).href,
      authorizationUrl(hs, clientId, challenge, {
        redirect_uri: "javascript:alert(1)",
      }).href,
      authorizationUrl(hs, clientId, challenge, { client_id: "<script>" }).href,
    ];
    for (const target of targets) {
      const answer = await call(hs, "GET", target, { anyContentType: true });
      assert.ok(
        answer.status < 500,
        `${answer.status} for ${target.slice(0, 80)}`,
      );
      assert.ok(!answer.text.includes("<script>"));
      if (answer.status === 303) {
        assert.ok(
          answer.headers.get("Location")!.startsWith(REDIRECT_WITH_PORT),
        );
      }
    }
    const consent = (await call(
      hs,
      "GET",
      authorizationUrl(hs, clientId, challenge).href,
      { anyContentType: true },
    )).headers.get("Location")!;
    const hostile: CallOptions[] = [
      { raw: "username=alice" },
      { json: { action: "allow" } },
      { form: { action: "explode" } },
      { form: { action: "allow", username: "x".repeat(70_000) } },
    ];
    for (const options of hostile) {
      const answer = await call(hs, "POST", consent, {
        ...options,
        anyContentType: true,
      });
      assert.ok(
        answer.status >= 400 && answer.status < 500,
        `${answer.status} ${JSON.stringify(options).slice(0, 60)}`,
      );
    }
  });
});

describe("devserver OAuth 2.0: the token endpoint", () => {
  it("exchanges a code once: access_token, token_type Bearer, expires_in, refresh_token, scope, with Cache-Control no-store", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    assert.deepEqual(Object.keys(login.body), [
      "access_token",
      "refresh_token",
      "token_type",
      "expires_in",
      "scope",
    ]);
    assert.match(login.accessToken, /^mat_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
    assert.match(login.refreshToken, /^mar_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
    assert.equal(login.body.token_type, "Bearer");
    assert.equal(login.body.expires_in, 300);
    assert.equal(login.body.scope, scopeFor("DEVICEID01"));
    const { verifier, challenge } = await pkcePair();
    const callback = await oauthAuthorize(
      authorizationUrl(hs, login.clientId, challenge),
      { user: "alice", password: "secret", fetch: fetchOf(hs), deliver: false },
    );
    const answer = await tokenRequest(hs, {
      grant_type: "authorization_code",
      code: callback.code!,
      redirect_uri: REDIRECT_WITH_PORT,
      client_id: login.clientId,
      code_verifier: verifier,
    });
    assert.equal(answer.headers.get("Cache-Control"), "no-store");
    assert.equal(answer.headers.get("Pragma"), "no-cache");
  });

  it("refuses a reused code 400 invalid_grant, and a reuse more than 20 s later ends the session, as MAS does", async () => {
    const clock = fakeClock();
    const hs = oauthServer({ clock: clock.now });
    const clientId = await registerClient(hs);
    const { verifier, challenge } = await pkcePair();
    const callback = await oauthAuthorize(
      authorizationUrl(hs, clientId, challenge),
      { user: "alice", password: "secret", fetch: fetchOf(hs), deliver: false },
    );
    const exchange = () =>
      tokenRequest(hs, {
        grant_type: "authorization_code",
        code: callback.code!,
        redirect_uri: REDIRECT_WITH_PORT,
        client_id: clientId,
        code_verifier: verifier,
      });
    const first = await exchange();
    assert.equal(first.status, 200);
    const token = first.body.access_token as string;
    const whoami = () =>
      call(hs, "GET", "/_matrix/client/v3/account/whoami", { token });
    assertOAuthError(await exchange(), 400, "invalid_grant");
    assert.equal((await whoami()).status, 200);
    clock.advance(21_000);
    assertOAuthError(await exchange(), 400, "invalid_grant");
    assertError(await whoami(), 401, "M_UNKNOWN_TOKEN");
    assert.deepEqual(hs.devices("@alice:localhost:8008"), []);
  });

  it("checks PKCE: no code_verifier 400 invalid_request, a wrong one 400 invalid_grant 'PKCE verification failed'", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { verifier, challenge } = await pkcePair();
    const callback = await oauthAuthorize(
      authorizationUrl(hs, clientId, challenge),
      { user: "alice", password: "secret", fetch: fetchOf(hs), deliver: false },
    );
    const exchange = (code_verifier?: string) =>
      tokenRequest(hs, {
        grant_type: "authorization_code",
        code: callback.code!,
        redirect_uri: REDIRECT_WITH_PORT,
        client_id: clientId,
        ...(code_verifier === undefined ? {} : { code_verifier }),
      });
    assertOAuthError(await exchange(), 400, "invalid_request");
    for (
      const [wrong, why] of [
        ["x".repeat(43), "challenge verification failed"],
        ["short", "at least 43"],
        ["y".repeat(129), "at most 128"],
        [`${"z".repeat(43)} !`, "invalid characters"],
      ]
    ) {
      const answer = await exchange(wrong);
      assertOAuthError(answer, 400, "invalid_grant");
      assert.match(
        answer.body.error_description as string,
        new RegExp(`^PKCE verification failed: .*${why}`),
      );
    }
    assert.equal((await exchange(verifier)).status, 200);
  });

  it("requires the authorization request's redirect_uri (RFC 6749 §4.1.3), and refuses a code after ten minutes", async () => {
    const clock = fakeClock();
    const hs = oauthServer({ clock: clock.now });
    const clientId = await registerClient(hs);
    const { verifier, challenge } = await pkcePair();
    const code = async () =>
      (await oauthAuthorize(authorizationUrl(hs, clientId, challenge), {
        user: "alice",
        password: "secret",
        fetch: fetchOf(hs),
        deliver: false,
      })).code!;
    const exchange = (c: string, redirect_uri?: string) =>
      tokenRequest(hs, {
        grant_type: "authorization_code",
        code: c,
        client_id: clientId,
        code_verifier: verifier,
        ...(redirect_uri === undefined ? {} : { redirect_uri }),
      });
    const first = await code();
    assertOAuthError(await exchange(first), 400, "invalid_grant");
    assertOAuthError(
      await exchange(first, "http://127.0.0.1:9/callback"),
      400,
      "invalid_grant",
    );
    assertOAuthError(await exchange(first, "::"), 400, "invalid_request");
    assert.equal((await exchange(first, REDIRECT_WITH_PORT)).status, 200);
    const late = await code();
    clock.advance(600_001);
    assertOAuthError(
      await exchange(late, REDIRECT_WITH_PORT),
      400,
      "invalid_grant",
    );
  });

  it("refuses another client's code 401 unauthorized_client, an unknown client 401 invalid_client, a secret 401 invalid_client, no client_id 400 invalid_request", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const other = await registerClient(hs, { client_name: "other" });
    const { verifier, challenge } = await pkcePair();
    const callback = await oauthAuthorize(
      authorizationUrl(hs, clientId, challenge),
      { user: "alice", password: "secret", fetch: fetchOf(hs), deliver: false },
    );
    const form = {
      grant_type: "authorization_code",
      code: callback.code!,
      redirect_uri: REDIRECT_WITH_PORT,
      code_verifier: verifier,
    };
    assertOAuthError(
      await tokenRequest(hs, { ...form, client_id: other }),
      401,
      "unauthorized_client",
    );
    assertOAuthError(
      await tokenRequest(hs, {
        ...form,
        client_id: "01NOSUCHCLIENT000000000000",
      }),
      401,
      "invalid_client",
    );
    assertOAuthError(
      await tokenRequest(hs, {
        ...form,
        client_id: clientId,
        client_secret: "s",
      }),
      401,
      "invalid_client",
    );
    const none = await tokenRequest(hs, form);
    assertOAuthError(none, 400, "invalid_request");
    assert.equal(none.body.error_description, "No credentials were presented");
    const basic = await hs.handler(
      new Request(`${hs.baseUrl}oauth2/token`, {
        method: "POST",
        headers: {
          Authorization: `Basic ${btoa(`${clientId}:x`)}`,
          "Content-Type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams(form),
      }),
    );
    assert.equal(basic.status, 401);
    assert.equal((await basic.json()).error, "invalid_client");
    assert.equal(
      (await tokenRequest(hs, { ...form, client_id: clientId })).status,
      200,
    );
  });

  it("answers a missing grant_type 400 invalid_request, an unknown one 400 unsupported_grant_type, a form that is not a form 400 invalid_request, a parameter twice 400 invalid_request", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const missing = await tokenRequest(hs, { client_id: clientId });
    assertOAuthError(missing, 400, "invalid_request");
    assert.match(missing.body.error_description as string, /grant_type/);
    for (const grant_type of ["password", "implicit", "x"]) {
      assertOAuthError(
        await tokenRequest(hs, { grant_type, client_id: clientId }),
        400,
        "unsupported_grant_type",
      );
    }
    assertOAuthError(
      await tokenRequest(hs, {
        grant_type: "client_credentials",
        client_id: clientId,
      }),
      401,
      "unauthorized_client",
    );
    assertOAuthError(
      await tokenRequest(hs, {
        grant_type: "authorization_code",
        client_id: clientId,
      }),
      400,
      "invalid_request",
    );
    assertOAuthError(
      await call(hs, "POST", "/oauth2/token", {
        json: { grant_type: "refresh_token", client_id: clientId },
      }),
      400,
      "invalid_request",
    );
    const twice = await call(hs, "POST", "/oauth2/token", {
      raw:
        `grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=${clientId}`,
    });
    // raw bodies go without a Content-Type: not a form.
    assertOAuthError(twice, 400, "invalid_request");
    const twiceForm = await hs.handler(
      new Request(`${hs.baseUrl}oauth2/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body:
          `grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=${clientId}`,
      }),
    );
    const body = await twiceForm.json();
    assert.equal(twiceForm.status, 400);
    assert.equal(body.error, "invalid_request");
    assert.match(body.error_description, /duplicate field `refresh_token`/);
    const huge = await tokenRequest(hs, {
      grant_type: "refresh_token",
      refresh_token: "x".repeat(70_000),
      client_id: clientId,
    });
    assertOAuthError(huge, 413, "invalid_request");
    const wrong = await call(hs, "GET", "/oauth2/token");
    assert.equal(wrong.status, 405);
  });

  it("refresh: a new pair, and the old access token ends at once", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    const answer = await tokenRequest(hs, {
      grant_type: "refresh_token",
      refresh_token: login.refreshToken,
      client_id: login.clientId,
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("Cache-Control"), "no-store");
    assert.notEqual(answer.body.access_token, login.accessToken);
    assert.notEqual(answer.body.refresh_token, login.refreshToken);
    assert.equal(answer.body.scope, scopeFor("DEVICEID01"));
    assertError(
      await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
        token: login.accessToken,
      }),
      401,
      "M_UNKNOWN_TOKEN",
    );
    const whoami = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: answer.body.access_token as string,
    });
    assert.equal(whoami.body.device_id, "DEVICEID01");
  });

  it("lets a refresh whose answer was lost be retried with the old refresh token until the new access token is used, as MAS does; then 400 invalid_grant", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    const refresh = (refresh_token: string) =>
      tokenRequest(hs, {
        grant_type: "refresh_token",
        refresh_token,
        client_id: login.clientId,
      });
    const lost = await refresh(login.refreshToken);
    const retried = await refresh(login.refreshToken);
    assert.equal(retried.status, 200);
    assert.notEqual(retried.body.access_token, lost.body.access_token);
    // The lost pair is revoked; the retried one works.
    assertError(
      await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
        token: lost.body.access_token as string,
      }),
      401,
      "M_UNKNOWN_TOKEN",
    );
    assertOAuthError(
      await refresh(lost.body.refresh_token as string),
      400,
      "invalid_grant",
    );
    assert.equal(
      (await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
        token: retried.body.access_token as string,
      })).status,
      200,
    );
    assertOAuthError(await refresh(login.refreshToken), 400, "invalid_grant");
    // The session goes on.
    assert.equal(
      (await refresh(retried.body.refresh_token as string)).status,
      200,
    );
  });

  it("refuses an old refresh token once its successor has refreshed, another client's, and a client without the refresh_token grant type 401 unauthorized_client", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    const refresh = (refresh_token: string, client_id = login.clientId) =>
      tokenRequest(hs, {
        grant_type: "refresh_token",
        refresh_token,
        client_id,
      });
    const second = await refresh(login.refreshToken);
    assert.equal(
      (await refresh(second.body.refresh_token as string)).status,
      200,
    );
    assertOAuthError(await refresh(login.refreshToken), 400, "invalid_grant");
    const other = await registerClient(hs, { client_name: "other" });
    assertOAuthError(
      await refresh(second.body.refresh_token as string, other),
      400,
      "invalid_grant",
    );
    assertOAuthError(await refresh("mar_nonsense"), 400, "invalid_grant");
    const noRefresh = await registerClient(hs, {
      grant_types: ["authorization_code"],
    });
    const codeOnly = await oauthLogin(hs, {
      clientId: noRefresh,
      deviceId: "CODEONLY01",
    });
    assert.ok(codeOnly.refreshToken, "MAS issues a refresh token anyway");
    assertOAuthError(
      await refresh(codeOnly.refreshToken, noRefresh),
      401,
      "unauthorized_client",
    );
  });
});

describe("devserver OAuth 2.0: the homeserver and its tokens", () => {
  it("accepts its access tokens: whoami gives the device of the scope, /devices lists the session's device named 'CLIENT on Unknown device'", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    const whoami = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: login.accessToken,
    });
    assert.deepEqual(whoami.body, {
      user_id: "@alice:localhost:8008",
      device_id: "DEVICEID01",
      is_guest: false,
    });
    const devices = await call(hs, "GET", "/_matrix/client/v3/devices", {
      token: login.accessToken,
    });
    assert.deepEqual(
      (devices.body.devices as Record<string, unknown>[]).map((d) => [
        d.device_id,
        d.display_name,
      ]),
      [["DEVICEID01", "matrixlib tests on Unknown device"]],
    );
  });

  it("answers an expired access token 401 M_UNKNOWN_TOKEN 'Token is not active', soft_logout false, as Synapse with MAS does", async () => {
    const clock = fakeClock();
    const hs = oauthServer({ clock: clock.now, accessTokenLifetimeMs: 60_000 });
    const login = await oauthLogin(hs);
    assert.equal(login.body.expires_in, 60);
    clock.advance(60_000);
    const answer = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: login.accessToken,
    });
    assertError(answer, 401, "M_UNKNOWN_TOKEN");
    assert.equal(answer.body.error, "Token is not active");
    assert.equal(answer.body.soft_logout, false);
    const unknown = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: "mat_nonsense",
    });
    assert.equal(unknown.body.error, "Token is not active");
    assert.equal(unknown.body.soft_logout, false);
  });

  it("answers /logout and /logout/all with an OAuth token 401 M_UNKNOWN_TOKEN 'Invalid access token' and ends nothing, as MAS's compatibility layer", async () => {
    for (const mode of ["only", "both"] as const) {
      const hs = oauthServer({ oauth: mode });
      const login = await oauthLogin(hs);
      for (
        const path of [
          "/_matrix/client/v3/logout",
          "/_matrix/client/v3/logout/all",
        ]
      ) {
        const answer = await call(hs, "POST", path, {
          token: login.accessToken,
          json: { "io.element.only_compat_is_fine": true },
        });
        assertError(answer, 401, "M_UNKNOWN_TOKEN");
        assert.equal(answer.body.error, "Invalid access token");
        assert.equal(answer.body.soft_logout, undefined);
      }
      assertError(
        await call(hs, "POST", "/_matrix/client/v3/logout", { json: {} }),
        401,
        "M_MISSING_TOKEN",
      );
      assert.equal(
        (await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
          token: login.accessToken,
        })).status,
        200,
      );
    }
  });

  it("answers device deletion 404 M_UNRECOGNIZED, as Synapse with delegated auth does", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    assertError(
      await call(hs, "DELETE", "/_matrix/client/v3/devices/DEVICEID01", {
        token: login.accessToken,
        json: {},
      }),
      404,
      "M_UNRECOGNIZED",
    );
    assertError(
      await call(hs, "POST", "/_matrix/client/v3/delete_devices", {
        token: login.accessToken,
        json: { devices: ["DEVICEID01"] },
      }),
      404,
      "M_UNRECOGNIZED",
    );
    const renamed = await call(
      hs,
      "PUT",
      "/_matrix/client/v3/devices/DEVICEID01",
      {
        token: login.accessToken,
        json: { display_name: "Laptop" },
      },
    );
    assert.equal(renamed.status, 200);
    assert.deepEqual(hs.devices("@alice:localhost:8008"), [
      { deviceId: "DEVICEID01", displayName: "Laptop" },
    ]);
  });

  it("a new session for an existing device ends that device's earlier tokens, as the spec says", async () => {
    const hs = oauthServer();
    const first = await oauthLogin(hs);
    const second = await oauthLogin(hs, { clientId: first.clientId });
    assertError(
      await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
        token: first.accessToken,
      }),
      401,
      "M_UNKNOWN_TOKEN",
    );
    assertOAuthError(
      await tokenRequest(hs, {
        grant_type: "refresh_token",
        refresh_token: first.refreshToken,
        client_id: first.clientId,
      }),
      400,
      "invalid_grant",
    );
    assert.equal(
      (await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
        token: second.accessToken,
      })).status,
      200,
    );
  });
});

describe("devserver OAuth 2.0: revocation", () => {
  it("revoking the access token or the refresh token ends the session: both tokens and the device", async () => {
    for (const which of ["access", "refresh"] as const) {
      const hs = oauthServer();
      const login = await oauthLogin(hs);
      const other = await oauthLogin(hs, {
        clientId: login.clientId,
        deviceId: "OTHERDEVICE",
      });
      const answer = await call(hs, "POST", "/oauth2/revoke", {
        form: {
          token: which === "access" ? login.accessToken : login.refreshToken,
          token_type_hint: `${which}_token`,
          client_id: login.clientId,
        },
        anyContentType: true,
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.text, "");
      assertError(
        await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
          token: login.accessToken,
        }),
        401,
        "M_UNKNOWN_TOKEN",
      );
      assertOAuthError(
        await tokenRequest(hs, {
          grant_type: "refresh_token",
          refresh_token: login.refreshToken,
          client_id: login.clientId,
        }),
        400,
        "invalid_grant",
      );
      assert.deepEqual(
        hs.devices("@alice:localhost:8008").map((d) => d.deviceId),
        ["OTHERDEVICE"],
      );
      assert.equal(
        (await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
          token: other.accessToken,
        })).status,
        200,
      );
    }
  });

  it("answers 200 and does nothing for unknown, malformed, revoked and expired tokens (an expired access token leaves its session)", async () => {
    const clock = fakeClock();
    const hs = oauthServer({ clock: clock.now });
    const login = await oauthLogin(hs);
    const revoke = (token: string) =>
      call(hs, "POST", "/oauth2/revoke", {
        form: { token, client_id: login.clientId },
        anyContentType: true,
      });
    for (
      const token of [
        "",
        "nonsense",
        "mat_000000000000000000000000000000_000000",
        "syt_YWxpY2U_nonsense_000000",
        "x".repeat(5000),
      ]
    ) {
      assert.equal((await revoke(token)).status, 200);
    }
    clock.advance(300_000);
    assert.equal((await revoke(login.accessToken)).status, 200);
    // The session lives on: its refresh token still works.
    const refreshed = await tokenRequest(hs, {
      grant_type: "refresh_token",
      refresh_token: login.refreshToken,
      client_id: login.clientId,
    });
    assert.equal(refreshed.status, 200);
    // The consumed refresh token is no longer valid: revoking it is a no-op.
    assert.equal((await revoke(login.refreshToken)).status, 200);
    assert.equal(
      (await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
        token: refreshed.body.access_token as string,
      })).status,
      200,
    );
    assert.equal(
      (await revoke(refreshed.body.refresh_token as string)).status,
      200,
    );
    assert.equal(
      (await revoke(refreshed.body.refresh_token as string)).status,
      200,
    );
    assert.deepEqual(hs.devices("@alice:localhost:8008"), []);
  });

  it("requires client_id (400 invalid_request), refuses another client's token 401 unauthorized_client and an unknown hint 400 unsupported_token_type", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    const other = await registerClient(hs, { client_name: "other" });
    assertOAuthError(
      await call(hs, "POST", "/oauth2/revoke", {
        form: { token: login.accessToken },
      }),
      400,
      "invalid_request",
    );
    assertOAuthError(
      await call(hs, "POST", "/oauth2/revoke", {
        form: { client_id: login.clientId },
      }),
      400,
      "invalid_request",
    );
    assertOAuthError(
      await call(hs, "POST", "/oauth2/revoke", {
        form: {
          token: login.accessToken,
          client_id: "01NOSUCHCLIENT000000000000",
        },
      }),
      401,
      "invalid_client",
    );
    assertOAuthError(
      await call(hs, "POST", "/oauth2/revoke", {
        form: { token: login.accessToken, client_id: other },
      }),
      401,
      "unauthorized_client",
    );
    assertOAuthError(
      await call(hs, "POST", "/oauth2/revoke", {
        form: {
          token: login.accessToken,
          token_type_hint: "id_token",
          client_id: login.clientId,
        },
      }),
      400,
      "unsupported_token_type",
    );
    assert.equal(
      (await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
        token: login.accessToken,
      })).status,
      200,
    );
  });
});

describe("devserver OAuth 2.0: account management", () => {
  it("names the action, lists devices, shows one, and signs one out after the password", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    await oauthLogin(hs, { clientId: login.clientId, deviceId: "SECONDDEV01" });
    const page = await call(
      hs,
      "GET",
      `/account/?action=org.matrix.device_delete&device_id=SECONDDEV01`,
      { anyContentType: true },
    );
    assert.equal(page.status, 200);
    assert.match(page.text, /Sign out device <code>SECONDDEV01<\/code>/);
    const post = (form: Record<string, string>) =>
      call(hs, "POST", "/account/", {
        form: { username: "alice", password: "secret", ...form },
        anyContentType: true,
      });
    const list = await post({ action: "org.matrix.devices_list" });
    assert.match(list.text, /DEVICEID01/);
    assert.match(list.text, /SECONDDEV01/);
    const view = await post({
      action: "org.matrix.device_view",
      device_id: "DEVICEID01",
    });
    assert.match(view.text, /matrixlib tests on Unknown device/);
    const unconfirmed = await post({
      action: "org.matrix.device_delete",
      device_id: "SECONDDEV01",
    });
    assert.equal(unconfirmed.status, 400);
    const wrong = await call(hs, "POST", "/account/", {
      form: {
        username: "alice",
        password: "nope",
        action: "org.matrix.devices_list",
      },
      anyContentType: true,
    });
    assert.equal(wrong.status, 401);
    const removed = await post({
      action: "org.matrix.device_delete",
      device_id: "SECONDDEV01",
      confirm: "on",
    });
    assert.equal(removed.status, 200);
    assert.match(removed.text, /is signed out/);
    assert.deepEqual(
      hs.devices("@alice:localhost:8008").map((d) => d.deviceId),
      ["DEVICEID01"],
    );
    const other = await call(hs, "GET", "/account/?action=org.matrix.profile", {
      anyContentType: true,
    });
    assert.match(other.text, /has no page on this development homeserver/);
  });
});

describe("devserver OAuth 2.0: state", () => {
  it("saves OAuth clients, sessions and refresh tokens in the state, and reads them back: the tokens still work after a restart", async () => {
    const hs = oauthServer();
    const login = await oauthLogin(hs);
    const state = JSON.parse(JSON.stringify(hs.exportState()));
    assert.equal(state.oauth.clients.length, 1);
    assert.equal(state.oauth.sessions.length, 1);
    assert.equal(state.oauth.refreshTokens.length, 1);
    const restarted = oauthServer({ state });
    assert.equal(
      (await call(restarted, "GET", "/_matrix/client/v3/account/whoami", {
        token: login.accessToken,
      })).status,
      200,
    );
    const refreshed = await tokenRequest(restarted, {
      grant_type: "refresh_token",
      refresh_token: login.refreshToken,
      client_id: login.clientId,
    });
    assert.equal(refreshed.status, 200);
    assert.equal(await registerClient(restarted), login.clientId);
    assert.throws(
      () =>
        oauthServer({
          state: { ...state, oauth: { ...state.oauth, sessions: [{ id: 1 }] } },
        }),
      /oauth\.sessions\[0\]\.id must be string/,
    );
    assert.equal(createHomeserver().exportState().oauth, undefined);
  });
});

describe("devserver OAuth 2.0: hostile requests", () => {
  it("never answers 5xx, and answers errors in the OAuth shape, to random forms and bodies at every endpoint", async () => {
    const hs = oauthServer({ oauth: "both" });
    const login = await oauthLogin(hs);
    const keys = fc.constantFrom(
      "grant_type",
      "code",
      "redirect_uri",
      "client_id",
      "client_secret",
      "code_verifier",
      "refresh_token",
      "device_code",
      "token",
      "token_type_hint",
      "scope",
      "username",
      "password",
      "action",
      "confirm_device",
      "x",
    );
    const values = fc.oneof(
      fc.string(),
      fc.constantFrom(
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
        login.clientId,
        login.accessToken,
        login.refreshToken,
        REDIRECT_WITH_PORT,
        scopeFor("DEVICEID01"),
      ),
    );
    const form = fc.array(fc.tuple(keys, values), { maxLength: 8 });
    const paths = fc.constantFrom(
      "/oauth2/token",
      "/oauth2/revoke",
      "/oauth2/device",
      "/oauth2/registration",
      "/link",
      "/account/",
      "/_matrix/client/v3/login",
      "/_matrix/client/v3/refresh",
      "/_matrix/client/v3/logout/all",
    );
    const oauthPaths = ["/oauth2/token", "/oauth2/revoke", "/oauth2/device"];
    await fc.assert(
      fc.asyncProperty(
        paths,
        form,
        fc.constantFrom("form", "json", "raw"),
        async (path, pairs, kind) => {
          const headers: Record<string, string> = kind === "form"
            ? { "Content-Type": "application/x-www-form-urlencoded" }
            : kind === "json"
            ? { "Content-Type": "application/json" }
            : {};
          const response = await hs.handler(
            new Request(`${hs.baseUrl}${path.slice(1)}`, {
              method: "POST",
              headers,
              body: kind === "json"
                ? JSON.stringify(Object.fromEntries(pairs))
                : new URLSearchParams(pairs).toString(),
            }),
          );
          const text = await response.text();
          assert.ok(
            response.status < 500,
            `${response.status} ${path}: ${text}`,
          );
          if (oauthPaths.includes(path)) {
            // No OAuth answer echoes a token it was given.
            assert.ok(!text.includes(login.refreshToken), text);
            if (response.status >= 400) {
              const error = JSON.parse(text);
              assert.equal(typeof error.error, "string", text);
              assert.equal(typeof error.error_description, "string", text);
            }
          }
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });
});
