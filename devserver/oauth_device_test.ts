/**
 * Tests of the development homeserver's device authorisation grant (RFC
 * 8628, MSC4341), as MAS answers it: the device authorisation endpoint, the
 * verification pages, and polling the token endpoint.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { oauthApproveDevice } from "./oauth_browser.ts";
import {
  assertOAuthError,
  NATIVE_CLIENT,
  oauthServer,
  registerClient,
  scopeFor,
  tokenRequest,
} from "./oauth_test_support.ts";
import type { Homeserver } from "./server.ts";
import { fetchOf } from "./server.ts";
import { type Answer, call, fakeClock } from "./test_support.ts";

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/** Asks for a device code for `clientId`. */
function deviceRequest(
  hs: Homeserver,
  clientId: string,
  scope = scopeFor("TVDEVICE01"),
): Promise<Answer> {
  return call(hs, "POST", "/oauth2/device", {
    form: { client_id: clientId, scope },
  });
}

/** Polls the token endpoint once. */
function poll(hs: Homeserver, clientId: string, deviceCode: string) {
  return tokenRequest(hs, {
    grant_type: DEVICE_GRANT,
    device_code: deviceCode,
    client_id: clientId,
  });
}

const alice = (hs: Homeserver) => ({
  user: "alice",
  password: "secret",
  fetch: fetchOf(hs),
});

describe("devserver OAuth 2.0: the device authorization grant", () => {
  it("gives device_code, user_code, verification_uri, verification_uri_complete, expires_in 1200 and interval 5, never cached", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const answer = await deviceRequest(hs, clientId);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get("Cache-Control"), "no-store");
    const body = answer.body;
    assert.match(body.device_code as string, /^[A-Za-z0-9]{32}$/);
    assert.match(body.user_code as string, /^[A-Z0-9]{6}$/);
    assert.equal(body.verification_uri, `${hs.baseUrl}link`);
    assert.equal(
      body.verification_uri_complete,
      `${hs.baseUrl}link?code=${body.user_code}`,
    );
    assert.equal(body.expires_in, 1200);
    assert.equal(body.interval, 5);
  });

  it("polls authorization_pending (403), slow_down (400) when polled sooner than the interval, then tokens once allowed in the browser", async () => {
    const clock = fakeClock();
    const hs = oauthServer({ clock: clock.now });
    const clientId = await registerClient(hs);
    const { body } = await deviceRequest(hs, clientId);
    const deviceCode = body.device_code as string;
    assertOAuthError(
      await poll(hs, clientId, deviceCode),
      403,
      "authorization_pending",
    );
    clock.advance(1_000);
    const slow = await poll(hs, clientId, deviceCode);
    assertOAuthError(slow, 400, "slow_down");
    assert.match(slow.body.error_description as string, /10 seconds/);
    clock.advance(5_000);
    assertOAuthError(await poll(hs, clientId, deviceCode), 400, "slow_down");
    clock.advance(15_000);
    assertOAuthError(
      await poll(hs, clientId, deviceCode),
      403,
      "authorization_pending",
    );
    assert.equal(
      await oauthApproveDevice(
        body.verification_uri_complete as string,
        alice(hs),
      ),
      "granted",
    );
    const tokens = await poll(hs, clientId, deviceCode);
    assert.equal(tokens.status, 200, tokens.text);
    assert.equal(tokens.headers.get("Cache-Control"), "no-store");
    assert.equal(tokens.body.token_type, "Bearer");
    assert.equal(tokens.body.scope, scopeFor("TVDEVICE01"));
    assert.match(tokens.body.refresh_token as string, /^mar_/);
    const whoami = await call(hs, "GET", "/_matrix/client/v3/account/whoami", {
      token: tokens.body.access_token as string,
    });
    assert.deepEqual(whoami.body, {
      user_id: "@alice:localhost:8008",
      device_id: "TVDEVICE01",
      is_guest: false,
    });
    assertOAuthError(
      await poll(hs, clientId, deviceCode),
      400,
      "invalid_grant",
    );
  });

  it("answers access_denied (403) after Deny, expired_token (403) after 20 minutes, invalid_grant for an unknown device code or another client's", async () => {
    const clock = fakeClock();
    const hs = oauthServer({ clock: clock.now });
    const clientId = await registerClient(hs);
    const denied = (await deviceRequest(hs, clientId)).body;
    assert.equal(
      await oauthApproveDevice(denied.verification_uri_complete as string, {
        ...alice(hs),
        decision: "deny",
      }),
      "denied",
    );
    assertOAuthError(
      await poll(hs, clientId, denied.device_code as string),
      403,
      "access_denied",
    );
    const expiring = (await deviceRequest(hs, clientId)).body;
    clock.advance(1_200_001);
    assertOAuthError(
      await poll(hs, clientId, expiring.device_code as string),
      403,
      "expired_token",
    );
    const page = await call(
      hs,
      "GET",
      expiring.verification_uri_complete as string,
      {
        anyContentType: true,
      },
    );
    assert.match(page.text, /not valid, or has expired/);
    assertOAuthError(
      await poll(hs, clientId, "nonsense"),
      400,
      "invalid_grant",
    );
    const fresh = (await deviceRequest(hs, clientId)).body;
    const other = await registerClient(hs, { client_name: "other" });
    assertOAuthError(
      await poll(hs, other, fresh.device_code as string),
      400,
      "invalid_grant",
    );
    assertOAuthError(
      await tokenRequest(hs, { grant_type: DEVICE_GRANT, client_id: clientId }),
      400,
      "invalid_request",
    );
  });

  it("refuses a client without the device code grant type 401 unauthorized_client, an unknown client 401 invalid_client, no client_id 400 invalid_request, and a bad scope 400 invalid_scope", async () => {
    const hs = oauthServer();
    const codeOnly = await registerClient(hs, {
      grant_types: ["authorization_code", "refresh_token"],
    });
    assertOAuthError(
      await deviceRequest(hs, codeOnly),
      401,
      "unauthorized_client",
    );
    assertOAuthError(
      await deviceRequest(hs, "01NOSUCHCLIENT000000000000"),
      401,
      "invalid_client",
    );
    assertOAuthError(
      await call(hs, "POST", "/oauth2/device", { form: { scope: "x" } }),
      400,
      "invalid_request",
    );
    const clientId = await registerClient(hs);
    for (
      const scope of [
        "urn:matrix:client:api:*",
        `${scopeFor("TVDEVICE01")} urn:matrix:client:device:TVDEVICE02`,
        "bad\\scope",
      ]
    ) {
      assertOAuthError(
        await deviceRequest(hs, clientId, scope),
        400,
        "invalid_scope",
      );
    }
    assertOAuthError(
      await call(hs, "POST", "/oauth2/device", {
        form: { client_id: clientId },
      }),
      400,
      "invalid_scope",
    );
  });

  it("the verification page takes the user code in any case, refuses an unknown one, and needs the 'this is my device' box to allow", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { body } = await deviceRequest(hs, clientId);
    const userCode = body.user_code as string;
    const form = await call(hs, "GET", "/link", { anyContentType: true });
    assert.match(form.text, /name="code"/);
    const wrong = await call(hs, "POST", "/link", {
      form: { code: "NOPE00" },
      anyContentType: true,
    });
    assert.match(wrong.text, /not valid/);
    const found = await call(hs, "POST", "/link", {
      form: { code: ` ${userCode.toLowerCase()} ` },
      anyContentType: true,
    });
    assert.equal(found.status, 303);
    const consent = found.headers.get("Location")!;
    assert.match(consent, /\/device\/[0-9A-Z]{26}$/);
    const page = await call(hs, "GET", consent, { anyContentType: true });
    assert.match(page.text, /TVDEVICE01/);
    assert.match(page.text, new RegExp(userCode));
    assert.match(page.text, /name="confirm_device"/);
    const unconfirmed = await call(hs, "POST", consent, {
      form: { username: "alice", password: "secret", action: "consent" },
      anyContentType: true,
    });
    assert.equal(unconfirmed.status, 400);
    const badPassword = await call(hs, "POST", consent, {
      form: {
        username: "alice",
        password: "nope",
        action: "consent",
        confirm_device: "on",
      },
      anyContentType: true,
    });
    assert.equal(badPassword.status, 401);
    assert.ok(!badPassword.text.includes("nope"));
    assert.equal(
      await oauthApproveDevice(`${hs.baseUrl}link`, { ...alice(hs), userCode }),
      "granted",
    );
    const answered = await call(hs, "GET", consent, { anyContentType: true });
    assert.match(answered.text, /Device connected/);
    const missing = await call(
      hs,
      "GET",
      `${hs.baseUrl}device/00000000000000000000000000`,
      {
        anyContentType: true,
      },
    );
    assert.equal(missing.status, 404);
  });

  it("issues no refresh token to a client without the refresh_token grant type, as MAS", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs, {
      ...NATIVE_CLIENT,
      grant_types: [DEVICE_GRANT],
      response_types: [],
    });
    const { body } = await deviceRequest(hs, clientId);
    await oauthApproveDevice(
      body.verification_uri_complete as string,
      alice(hs),
    );
    const tokens = await poll(hs, clientId, body.device_code as string);
    assert.equal(tokens.status, 200);
    assert.equal(tokens.body.refresh_token, undefined);
    assert.match(tokens.body.access_token as string, /^mat_/);
  });
});
