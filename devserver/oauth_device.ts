/**
 * The device authorisation grant of the development homeserver (RFC 8628,
 * MSC4341, spec v1.18 "Device authorisation flow";
 * {@linkcode createDeviceGrants}), as MAS's
 * `crates/handlers/src/oauth2/device/` and `token.rs` answer it.
 *
 * - `POST /oauth2/device` (form: `client_id`, `scope`): `200` with
 *   `device_code` (32 letters and digits), `user_code` (6 upper-case letters
 *   and digits), `verification_uri` (`{baseUrl}link`),
 *   `verification_uri_complete` (`{baseUrl}link?code=USER_CODE`),
 *   `expires_in` (1200: 20 minutes) and `interval` (5), never cached. No
 *   `client_id`: `400 invalid_request`; an unknown client: `401
 *   invalid_client`; a client that did not register the device code grant
 *   type: `401 unauthorized_client`.
 * - `GET {baseUrl}link` asks for the code; `GET link?code=…` (or the form
 *   posted) goes on with a `303` to `device/{id}` when the code is pending
 *   (case does not matter), else shows the form again with an error.
 * - `device/{id}`: the client's name, the device, the user name and
 *   password, a "this is my device" box that must be ticked to allow (as
 *   MAS's `confirm_device`), Allow (`action=consent`) and Deny
 *   (`action=reject`); a page then says which it was.
 * - Polling the token endpoint with
 *   `grant_type=urn:ietf:params:oauth:grant-type:device_code`: `403
 *   authorization_pending` until the user answers, `403 access_denied` once
 *   they denied, `403 expired_token` after 20 minutes (MAS answers these
 *   three with `403`), `400 invalid_grant` for an unknown code, another
 *   client's, or one already exchanged; once allowed, the token answer, with
 *   a refresh token only when the client registered the `refresh_token`
 *   grant type (as MAS).
 *
 * Differences on purpose: polling sooner than `interval` seconds after the
 * last poll is `400 slow_down`, and adds 5 seconds to the interval (RFC 8628
 * §3.5); MAS never answers `slow_down`, so a client must handle both. The
 * scope is checked when the code is requested (`400 invalid_scope`), where
 * MAS shows its policy page to the user. Deny needs no password here.
 *
 * @module
 */
import { escapeHtml, htmlResponse, jsonResponse } from "./http.ts";
import {
  clientForm,
  errorPage,
  NO_STORE,
  OAuthFailure,
  seeOther,
  ulid,
} from "./oauth_http.ts";
import {
  credentialFields,
  field,
  formError,
  pageForm,
  signIn,
} from "./oauth_pages.ts";
import { type MatrixScope, parseScope } from "./oauth_scope.ts";
import type { Clients } from "./oauth_clients.ts";
import type { Sessions } from "./oauth_sessions.ts";
import { ALNUM, type OAuthClient, type Store } from "./store.ts";

/** The device code grant type. */
export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
/** How long a device code lives (MAS: 20 minutes). */
export const DEVICE_CODE_LIFETIME_MS = 1_200_000;
/** The polling interval given, in seconds (MAS and RFC 8628: 5). */
export const DEVICE_INTERVAL_S = 5;
/** The most device codes kept at once. */
const MAX_GRANTS = 10_000;

/** A device authorisation, from the request to its exchange. */
interface DeviceGrant {
  id: string;
  clientId: string;
  scope: MatrixScope;
  deviceCode: string;
  userCode: string;
  expiresAt: number;
  /** The polling interval, in seconds; `slow_down` adds 5. */
  interval: number;
  lastPollAt?: number;
  stage: "pending" | "fulfilled" | "rejected" | "exchanged";
  userId?: string;
}

/** The device authorisation grant's endpoints and pages. */
export interface DeviceGrants {
  /** `POST /oauth2/device`. */
  authorize(request: Request): Promise<Response>;
  /** `GET /link`. */
  linkPage(url: URL): Response;
  /** `POST /link`. */
  linkSubmit(request: Request): Promise<Response>;
  /** `GET /device/{id}`. */
  consentPage(id: string): Response;
  /** `POST /device/{id}`. */
  consentSubmit(request: Request, id: string): Promise<Response>;
  /** The token endpoint's device code grant. */
  exchange(client: OAuthClient, deviceCode: string): Record<string, unknown>;
}

/** Letters and digits of user codes (MAS: alphanumeric, upper-cased). */
const USER_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/**
 * The device authorisation grant for the users of `store` and the clients
 * of `clients`, starting sessions with `sessions`.
 */
export function createDeviceGrants(
  store: Store,
  clients: Clients,
  sessions: Sessions,
  settings: { baseUrl: string; maxBodyBytes: number },
): DeviceGrants {
  const { clock, serverName } = store;
  // Redirects and forms keep to the origin the browser came in by: a path,
  // not the base URL (which may name another host, such as localhost).
  const base = new URL(settings.baseUrl).pathname;
  const grants = new Map<string, DeviceGrant>();

  function prune(): void {
    const now = clock();
    for (const [id, grant] of grants) {
      if (grant.expiresAt < now || grants.size > MAX_GRANTS) grants.delete(id);
    }
  }

  /** The pending, unexpired grant with this user code (any case). */
  function byUserCode(code: string): DeviceGrant | undefined {
    const wanted = code.trim().toUpperCase();
    const now = clock();
    return [...grants.values()].find((g) =>
      g.userCode === wanted && g.stage === "pending" && g.expiresAt > now
    );
  }

  async function authorize(request: Request): Promise<Response> {
    const { clientId, secretSent, fields } = await clientForm(
      request,
      settings.maxBodyBytes,
      (form) => ({ scope: form.get("scope") }),
    );
    const client = clients.get(clientId);
    if (client === undefined || secretSent) {
      throw new OAuthFailure(401, "invalid_client");
    }
    if (!client.grantTypes.includes(DEVICE_CODE_GRANT)) {
      throw new OAuthFailure(401, "unauthorized_client");
    }
    const scope = parseScope(fields.scope);
    if ("violations" in scope) {
      throw new OAuthFailure(400, "invalid_scope", scope.violations.join("; "));
    }
    prune();
    let userCode: string;
    do {
      userCode = store.randomString(USER_CODE_ALPHABET, 6);
    } while (byUserCode(userCode) !== undefined);
    const grant: DeviceGrant = {
      id: ulid(store),
      clientId: client.clientId,
      scope,
      deviceCode: store.randomString(ALNUM, 32),
      userCode,
      expiresAt: clock() + DEVICE_CODE_LIFETIME_MS,
      interval: DEVICE_INTERVAL_S,
      stage: "pending",
    };
    grants.set(grant.id, grant);
    const link = `${settings.baseUrl}link`;
    return jsonResponse(200, {
      device_code: grant.deviceCode,
      user_code: grant.userCode,
      verification_uri: link,
      verification_uri_complete: `${link}?code=${grant.userCode}`,
      expires_in: DEVICE_CODE_LIFETIME_MS / 1000,
      interval: DEVICE_INTERVAL_S,
    }, NO_STORE);
  }

  /** The page asking for the code, or the way on to a pending grant's page. */
  function link(code: string | undefined): Response {
    if (code !== undefined) {
      const grant = byUserCode(code);
      if (grant !== undefined) {
        return seeOther(`${base}device/${grant.id}`);
      }
    }
    return htmlResponse(
      200,
      "Link a device",
      `<p>Enter the code your device shows.</p>
${
        formError(
          code === undefined
            ? undefined
            : "This code is not valid, or has expired.",
        )
      }
<form method="post" action="${escapeHtml(`${base}link`)}">
<label>Code <input name="code" autocomplete="one-time-code" value="${
        escapeHtml(code ?? "")
      }"></label>
<p><button type="submit">Continue</button></p>
</form>`,
    );
  }

  function linkPage(url: URL): Response {
    return link(url.searchParams.get("code") ?? undefined);
  }

  async function linkSubmit(request: Request): Promise<Response> {
    const form = await pageForm(request, settings.maxBodyBytes);
    if (form instanceof Response) return form;
    return link(field(form, "code"));
  }

  /** The grant with this ID, or the page that says why it cannot be answered. */
  function openGrant(id: string): DeviceGrant | Response {
    const grant = grants.get(id);
    if (grant === undefined) {
      return errorPage(
        404,
        "Device code not found",
        "This device code is unknown: start again on your device.",
      );
    }
    if (grant.expiresAt < clock()) {
      return errorPage(
        400,
        "Device code expired",
        "This device code has expired: start again on your device.",
      );
    }
    if (grant.stage !== "pending") return outcomePage(grant);
    return grant;
  }

  /** What the user decided, as MAS's page says it. */
  function outcomePage(grant: DeviceGrant): Response {
    const allowed = grant.stage !== "rejected";
    return htmlResponse(
      200,
      allowed ? "Device connected" : "Access denied",
      allowed
        ? "<p>Your device is now signed in. You can close this page.</p>"
        : "<p>You denied access to your account. You can close this page.</p>",
    );
  }

  function consentForm(
    grant: DeviceGrant,
    status = 200,
    username = "",
    error?: string,
  ): Response {
    const client = clients.get(grant.clientId);
    const name = client?.clientName ?? grant.clientId;
    return htmlResponse(
      status,
      `Allow access to ${name}?`,
      `<p><strong>${escapeHtml(name)}</strong> (${
        escapeHtml(client?.clientUri ?? "")
      }) on another device asks for access to your account on ${
        escapeHtml(serverName)
      }, as device <code>${escapeHtml(grant.scope.deviceId)}</code>.</p>
<p class="note">Code: <code>${
        escapeHtml(grant.userCode)
      }</code>. Scope: <code>${escapeHtml(grant.scope.scope)}</code>.</p>
${formError(error)}
<form method="post" action="${escapeHtml(`${base}device/${grant.id}`)}">
${credentialFields(username)}
<label><input type="checkbox" name="confirm_device" required> This is my device, and it shows the code above</label>
<p><button type="submit" name="action" value="consent">Allow</button>
<button type="submit" name="action" value="reject" formnovalidate>Deny</button></p>
</form>`,
    );
  }

  function consentPage(id: string): Response {
    const grant = openGrant(id);
    return grant instanceof Response ? grant : consentForm(grant);
  }

  async function consentSubmit(
    request: Request,
    id: string,
  ): Promise<Response> {
    const form = await pageForm(request, settings.maxBodyBytes);
    if (form instanceof Response) return form;
    const grant = openGrant(id);
    if (grant instanceof Response) return grant;
    const action = field(form, "action");
    if (action === "reject") {
      grant.stage = "rejected";
      return outcomePage(grant);
    }
    if (action !== "consent") {
      return errorPage(400, "Invalid form", "Choose Allow or Deny.");
    }
    if (!form.params.has("confirm_device")) {
      return errorPage(
        400,
        "Device not confirmed",
        "The device must be confirmed before consent can be granted.",
      );
    }
    const username = field(form, "username");
    const signedIn = signIn(store, username, field(form, "password"));
    if ("error" in signedIn) {
      return consentForm(grant, 401, username, signedIn.error);
    }
    grant.stage = "fulfilled";
    grant.userId = signedIn.user.userId;
    return outcomePage(grant);
  }

  function exchange(
    client: OAuthClient,
    deviceCode: string,
  ): Record<string, unknown> {
    if (!client.grantTypes.includes(DEVICE_CODE_GRANT)) {
      throw new OAuthFailure(401, "unauthorized_client");
    }
    const grant = [...grants.values()].find((g) => g.deviceCode === deviceCode);
    if (grant === undefined || grant.clientId !== client.clientId) {
      throw new OAuthFailure(400, "invalid_grant");
    }
    const now = clock();
    if (grant.expiresAt < now) throw new OAuthFailure(403, "expired_token");
    switch (grant.stage) {
      case "pending": {
        const last = grant.lastPollAt;
        grant.lastPollAt = now;
        if (last !== undefined && now - last < grant.interval * 1000) {
          grant.interval += 5;
          throw new OAuthFailure(
            400,
            "slow_down",
            `Polling too fast: wait at least ${grant.interval} seconds between requests`,
          );
        }
        throw new OAuthFailure(403, "authorization_pending");
      }
      case "rejected":
        throw new OAuthFailure(403, "access_denied");
      case "exchanged":
        throw new OAuthFailure(400, "invalid_grant");
    }
    if (!store.users.has(grant.userId!)) {
      throw new OAuthFailure(400, "invalid_grant");
    }
    grant.stage = "exchanged";
    return sessions.start(
      client,
      grant.userId!,
      grant.scope,
      client.grantTypes.includes("refresh_token"),
    ).answer;
  }

  return {
    authorize,
    linkPage,
    linkSubmit,
    consentPage,
    consentSubmit,
    exchange,
  };
}
