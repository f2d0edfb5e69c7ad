/**
 * Helpers shared by the tests of the development homeserver's OAuth 2.0
 * modes (`oauth_test.ts`, `oauth_device_test.ts`, `compat_test.ts`,
 * `oauth_browser_test.ts`): a server, a registered client, PKCE, an
 * authorisation URL, a whole login, and the check of an OAuth 2.0 error.
 *
 * The name does not end in `_test.ts`, so `deno test` does not run it as a
 * test file of its own.
 */
import assert from "node:assert/strict";
import { oauthAuthorize } from "./oauth_browser.ts";
import {
  createHomeserver,
  fetchOf,
  type Homeserver,
  type HomeserverOptions,
} from "./server.ts";
import { type Answer, call } from "./test_support.ts";

/** The loopback redirect URI the test client registers (no port). */
export const REDIRECT = "http://127.0.0.1/callback";
/** What the test client sends at authorisation: any port will do. */
export const REDIRECT_WITH_PORT = "http://127.0.0.1:41234/callback";

/** A native client of matrixlib's kind, with every grant type. */
export const NATIVE_CLIENT = {
  client_name: "matrixlib tests",
  client_uri: "https://matrixlib.example/",
  application_type: "native",
  redirect_uris: [REDIRECT],
  token_endpoint_auth_method: "none",
  grant_types: [
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
  ],
  response_types: ["code"],
};

/** The scope of a login as `deviceId`. */
export const scopeFor = (deviceId: string) =>
  `urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`;

/** A server in an OAuth 2.0 mode, with alice (secret) and bob (hunter2). */
export function oauthServer(options: HomeserverOptions = {}): Homeserver {
  return createHomeserver({
    seed: 7,
    oauth: "only",
    users: [
      { localpart: "alice", password: "secret" },
      { localpart: "bob", password: "hunter2" },
    ],
    ...options,
  });
}

/** Registers a client (the native one, with `changes`); its client ID. */
export async function registerClient(
  hs: Homeserver,
  changes: Record<string, unknown> = {},
): Promise<string> {
  const answer = await call(hs, "POST", "/oauth2/registration", {
    json: { ...NATIVE_CLIENT, ...changes },
  });
  assert.equal(answer.status, 201, answer.text);
  return answer.body.client_id as string;
}

/** A PKCE verifier and its `S256` challenge (RFC 7636 §4.2). */
export async function pkcePair(
  verifier = "matrixlib-test-verifier-0123456789-abcdefghijklmnop",
): Promise<{ verifier: string; challenge: string }> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(verifier),
  );
  const challenge = btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return { verifier, challenge };
}

/**
 * An authorisation URL for `clientId` with a PKCE challenge, device
 * `DEVICEID01`, state `S1`; `changes` replace parameters (`undefined`
 * removes one).
 */
export function authorizationUrl(
  hs: Homeserver,
  clientId: string,
  challenge: string,
  changes: Record<string, string | undefined> = {},
): URL {
  const url = new URL(`${hs.baseUrl}authorize`);
  const params: Record<string, string | undefined> = {
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT_WITH_PORT,
    scope: scopeFor("DEVICEID01"),
    state: "S1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...changes,
  };
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url;
}

/** A token request (a form) and its answer. */
export function tokenRequest(
  hs: Homeserver,
  form: Record<string, string>,
): Promise<Answer> {
  return call(hs, "POST", "/oauth2/token", { form });
}

/** What {@linkcode oauthLogin} gives. */
export interface OAuthLogin {
  clientId: string;
  deviceId: string;
  accessToken: string;
  refreshToken: string;
  /** The token answer. */
  body: Record<string, unknown>;
}

/**
 * A whole login through the authorisation code grant: registers a client
 * (unless `clientId`), signs in as `user` in the headless browser, and
 * exchanges the code.
 */
export async function oauthLogin(
  hs: Homeserver,
  options: {
    clientId?: string;
    deviceId?: string;
    user?: string;
    password?: string;
  } = {},
): Promise<OAuthLogin> {
  const clientId = options.clientId ?? await registerClient(hs);
  const deviceId = options.deviceId ?? "DEVICEID01";
  const { verifier, challenge } = await pkcePair();
  const callback = await oauthAuthorize(
    authorizationUrl(hs, clientId, challenge, { scope: scopeFor(deviceId) }),
    {
      user: options.user ?? "alice",
      password: options.password ?? "secret",
      fetch: fetchOf(hs),
      deliver: false,
    },
  );
  assert.ok(callback.code, `no code: ${callback.error}`);
  const answer = await tokenRequest(hs, {
    grant_type: "authorization_code",
    code: callback.code,
    redirect_uri: REDIRECT_WITH_PORT,
    client_id: clientId,
    code_verifier: verifier,
  });
  assert.equal(answer.status, 200, answer.text);
  return {
    clientId,
    deviceId,
    accessToken: answer.body.access_token as string,
    refreshToken: answer.body.refresh_token as string,
    body: answer.body,
  };
}

/**
 * Asserts an OAuth 2.0 error answer (RFC 6749 §5.2): the status, `error`,
 * and an `error_description` that is a string; no Matrix `errcode`.
 */
export function assertOAuthError(
  answer: Answer,
  status: number,
  error: string,
): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.body.error, error, answer.text);
  assert.equal(typeof answer.body.error_description, "string");
  assert.equal(answer.body.errcode, undefined);
}

/** The parameters of a `303` to a redirect URI, from its query or fragment. */
export function redirectParams(answer: Answer): URLSearchParams {
  assert.equal(answer.status, 303, answer.text);
  const url = new URL(answer.headers.get("Location")!);
  return url.hash.length > 1
    ? new URLSearchParams(url.hash.slice(1))
    : url.searchParams;
}
