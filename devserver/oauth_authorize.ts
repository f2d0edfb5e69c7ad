/**
 * The authorisation code grant of the development homeserver
 * ({@linkcode createAuthorizations}): the authorisation endpoint, its login
 * and consent page, and the exchange of a code at the token endpoint (RFC
 * 6749 §4.1, RFC 7636, spec "Authorisation code flow"), as MAS's
 * `crates/handlers/src/oauth2/authorization/` and `token.rs` do them.
 *
 * `GET /authorize`:
 *
 * - An unknown `client_id`, or a `redirect_uri` the client did not register
 *   (on `localhost`, `127.0.0.1` or `[::1]` any port matches a URI
 *   registered without one; without `redirect_uri`, the client's only one),
 *   is a `400` page: the server never redirects to an address it does not
 *   know (RFC 6749 §4.1.2.1). So is a `response_mode` other than `query`
 *   (the default) or `fragment`, or one of these parameters given twice.
 * - Every other error goes back to the client: a `303` to the redirect URI
 *   with `error`, `error_description` and `state`: a parameter given twice
 *   (`invalid_request`), `request` or `request_uri`
 *   (`request_not_supported`, `request_uri_not_supported`), no
 *   `response_type` (`invalid_request`), another than `code`
 *   (`unsupported_response_type`), `registration`
 *   (`registration_not_supported`), `prompt=none` (`login_required`), a
 *   client that did not register the `authorization_code` grant
 *   (`unauthorized_client`), no PKCE or another method than `S256`, or a
 *   malformed `code_challenge` (`invalid_request`), and a scope that breaks
 *   the rules of `oauth_scope.ts` (`invalid_scope`, the rules broken in
 *   `error_description`).
 * - Otherwise a `303` to `consent/{id}` (below the base URL's path, on the
 *   origin the request came to, as every page's form): a page naming the client, its
 *   address and the device, with the user name and password, Allow and
 *   Deny. Deny: a `303` to the redirect URI with `error=access_denied` and
 *   `state` (MAS's Cancel link). A wrong password: the form again, `401`.
 *   Allow: a `303` with `state` and `code`, in the query (which keeps the
 *   redirect URI's own query first, and ends with an empty fragment, `#`,
 *   as MAS writes it) or in the fragment, as `response_mode` asked.
 *
 * The token endpoint's `authorization_code` grant: a code is single use and
 * lives ten minutes; an unknown, denied or expired code, or one already
 * used, is `400 invalid_grant`, and a code used again more than 20 seconds
 * after its first use also ends the session it gave (RFC 6749 §4.1.2:
 * "SHOULD revoke … all tokens previously issued based on that authorization
 * code"; MAS's 20 s leave room for a retried request). Another client's code
 * is `401 unauthorized_client`; no `code_verifier`, `400 invalid_request`;
 * a wrong one, `400 invalid_grant` "PKCE verification failed: …".
 *
 * Differences on purpose, each stricter than MAS: PKCE with `S256` is
 * required (the specification: clients MUST use it; MAS accepts no PKCE and
 * `plain`); the token request's `redirect_uri` must be the authorisation
 * request's (RFC 6749 §4.1.3; MAS does not compare them); a bad scope is
 * answered `invalid_scope` at the redirect URI, where MAS shows its
 * "policy violation" page after the login; `response_mode=form_post`, which
 * MAS offers, is refused; `prompt=create` shows the same login page (this
 * server creates no accounts, and does not list `create` in
 * `prompt_values_supported`).
 *
 * @module
 */
import { escapeHtml, htmlResponse } from "./http.ts";
import { errorPage, OAuthFailure, seeOther, ulid } from "./oauth_http.ts";
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
import type { Tokens } from "./tokens.ts";

/** How long a code may wait for its exchange (MAS: ten minutes). */
export const CODE_LIFETIME_MS = 600_000;
/** A second use of a code later than this ends its session (MAS: 20 s). */
export const CODE_REUSE_GRACE_MS = 20_000;
/** How long an unanswered authorisation request is kept. */
const PENDING_LIFETIME_MS = 3_600_000;
/** The most authorisation requests kept at once. */
const MAX_GRANTS = 10_000;
/** The longest authorisation request URL read. */
const MAX_URL_LENGTH = 16_384;

/** Where the answer of an authorisation request goes. */
interface Destination {
  redirectUri: string;
  responseMode: "query" | "fragment";
  state?: string;
}

/** An authorisation request, from the request to the exchange of its code. */
interface AuthorizationGrant extends Destination {
  id: string;
  clientId: string;
  scope: MatrixScope;
  codeChallenge: string;
  createdAt: number;
  stage: "pending" | "fulfilled" | "exchanged" | "cancelled";
  code?: string;
  userId?: string;
  fulfilledAt?: number;
  exchangedAt?: number;
  sessionId?: string;
}

/** The fields of a token request with `grant_type=authorization_code`. */
export interface CodeExchange {
  code: string;
  redirectUri?: string;
  codeVerifier?: string;
}

/** The authorisation code grant's endpoints and pages. */
export interface Authorizations {
  /** `GET /authorize`. */
  authorize(url: URL): Response;
  /** `GET /consent/{id}`. */
  consentPage(id: string): Response;
  /** `POST /consent/{id}`. */
  consentSubmit(request: Request, id: string): Promise<Response>;
  /** The token endpoint's `authorization_code` grant. */
  exchange(
    client: OAuthClient,
    request: CodeExchange,
  ): Promise<Record<string, unknown>>;
}

/**
 * The address to send the browser back to, with `params` after `state` in
 * the query or the fragment, as MAS's `CallbackDestination::go` writes it.
 */
export function callbackUrl(
  destination: Destination,
  params: [string, string][],
): string {
  const url = new URL(destination.redirectUri);
  const pairs: [string, string][] = [];
  if (destination.state !== undefined) pairs.push(["state", destination.state]);
  pairs.push(...params);
  url.hash = "";
  if (destination.responseMode === "fragment") {
    return `${url.href}#${new URLSearchParams(pairs)}`;
  }
  url.search = new URLSearchParams([...url.searchParams, ...pairs]).toString();
  // MAS ends the address with an empty fragment, so that no fragment the
  // browser had survives the redirect.
  return `${url.href}#`;
}

/** The `S256` challenge of a PKCE verifier (RFC 7636 §4.2). */
async function s256(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(verifier),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** What is wrong with a PKCE verifier, in MAS's words, or `undefined`. */
function verifierProblem(verifier: string): string | undefined {
  if (verifier.length < 43) {
    return "code_verifier should be at least 43 characters long";
  }
  if (verifier.length > 128) {
    return "code_verifier should be at most 128 characters long";
  }
  if (!/^[A-Za-z0-9._~-]+$/.test(verifier)) {
    return "code_verifier contains invalid characters";
  }
  return undefined;
}

/** The parameters of an authorisation request this server reads. */
const AUTHORIZE_PARAMETERS = [
  "client_id",
  "redirect_uri",
  "response_type",
  "response_mode",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "prompt",
  "request",
  "request_uri",
  "registration",
  "nonce",
  "login_hint",
];

/**
 * The authorisation code grant for the users of `store`, the clients of
 * `clients`, starting sessions with `sessions`.
 */
export function createAuthorizations(
  store: Store,
  tokens: Tokens,
  clients: Clients,
  sessions: Sessions,
  settings: { baseUrl: string; maxBodyBytes: number },
): Authorizations {
  const { users, clock, serverName } = store;
  // Redirects and forms keep to the origin the browser came in by: a path,
  // not the base URL (which may name another host, such as localhost).
  const base = new URL(settings.baseUrl).pathname;
  const grants = new Map<string, AuthorizationGrant>();
  const byCode = new Map<string, string>();

  /** Forgets requests nobody answered and codes past any use. */
  function prune(): void {
    const now = clock();
    for (const [id, grant] of grants) {
      const old = now - grant.createdAt > PENDING_LIFETIME_MS;
      if (old || grants.size > MAX_GRANTS) {
        grants.delete(id);
        if (grant.code !== undefined) byCode.delete(grant.code);
      }
    }
  }

  function authorize(url: URL): Response {
    if (url.href.length > MAX_URL_LENGTH) {
      return errorPage(414, "Request too long", "The address is too long.");
    }
    const params = url.searchParams;
    const once = (name: string) => params.getAll(name).length <= 1;
    const get = (name: string) => params.get(name) ?? undefined;
    for (
      const name of ["client_id", "redirect_uri", "response_mode", "state"]
    ) {
      if (!once(name)) {
        return errorPage(
          400,
          "Invalid request",
          `The parameter ${escapeHtml(name)} was given more than once.`,
        );
      }
    }
    const clientId = get("client_id");
    const client = clientId === undefined ? undefined : clients.get(clientId);
    if (client === undefined) {
      return errorPage(
        400,
        "Unknown client",
        clientId === undefined
          ? "The request names no client (client_id)."
          : "No client is registered with this client_id: register first.",
      );
    }
    const resolved = clients.resolveRedirectUri(client, get("redirect_uri"));
    if ("error" in resolved) {
      return errorPage(400, "Invalid redirect URI", escapeHtml(resolved.error));
    }
    const mode = get("response_mode") ?? "query";
    if (mode !== "query" && mode !== "fragment") {
      return errorPage(
        400,
        "Invalid response mode",
        "This server answers in the query or the fragment only (response_mode=query or fragment).",
      );
    }
    const destination: Destination = {
      redirectUri: resolved.uri,
      responseMode: mode,
    };
    const state = get("state");
    if (state !== undefined) destination.state = state;
    const fail = (error: string, description?: string) => {
      const failure = new OAuthFailure(400, error, description);
      return seeOther(callbackUrl(destination, [
        ["error", error],
        ["error_description", failure.description],
      ]));
    };

    const repeated = AUTHORIZE_PARAMETERS.find((name) => !once(name));
    if (repeated !== undefined) {
      return fail(
        "invalid_request",
        `The parameter ${repeated} was given more than once.`,
      );
    }
    if (params.has("request")) return fail("request_not_supported");
    if (params.has("request_uri")) return fail("request_uri_not_supported");
    const responseType = get("response_type");
    if (responseType === undefined) {
      return fail("invalid_request", "response_type is required: code");
    }
    if (responseType !== "code") return fail("unsupported_response_type");
    if (params.has("registration")) return fail("registration_not_supported");
    if ((get("prompt") ?? "").split(" ").includes("none")) {
      return fail("login_required");
    }
    if (!client.grantTypes.includes("authorization_code")) {
      return fail("unauthorized_client");
    }
    const method = get("code_challenge_method");
    if (method !== "S256") {
      return fail(
        "invalid_request",
        method === undefined
          ? "PKCE is required: code_challenge and code_challenge_method=S256"
          : "code_challenge_method: transform algorithm not supported; use S256",
      );
    }
    const challenge = get("code_challenge");
    if (
      challenge === undefined || !/^[A-Za-z0-9._~-]{43,128}$/.test(challenge)
    ) {
      return fail(
        "invalid_request",
        challenge === undefined
          ? "PKCE is required: code_challenge and code_challenge_method=S256"
          : "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
      );
    }
    const scope = parseScope(get("scope"));
    if ("violations" in scope) {
      return fail("invalid_scope", scope.violations.join("; "));
    }
    prune();
    const grant: AuthorizationGrant = {
      ...destination,
      id: ulid(store),
      clientId: client.clientId,
      scope,
      codeChallenge: challenge,
      createdAt: clock(),
      stage: "pending",
    };
    grants.set(grant.id, grant);
    return seeOther(`${base}consent/${grant.id}`);
  }

  /** The pending grant with this ID, or the page that says why not. */
  function pendingGrant(id: string): AuthorizationGrant | Response {
    const grant = grants.get(id);
    if (grant === undefined) {
      return errorPage(
        404,
        "Authorization grant not found",
        "This authorization request is unknown or has expired: go back to your application and sign in again.",
      );
    }
    if (grant.stage !== "pending") {
      return errorPage(
        409,
        "Authorization grant already used",
        "This authorization request was already answered.",
      );
    }
    return grant;
  }

  /** The login and consent form of a grant. */
  function consentForm(
    grant: AuthorizationGrant,
    status = 200,
    username = "",
    error?: string,
  ): Response {
    const client = clients.get(grant.clientId);
    const name = client?.clientName ?? grant.clientId;
    const target = new URL(grant.redirectUri);
    return htmlResponse(
      status,
      `Continue to ${name}`,
      `<p><strong>${escapeHtml(name)}</strong> (${
        escapeHtml(client?.clientUri ?? "")
      }) asks for access to your account on ${
        escapeHtml(serverName)
      }, as device <code>${escapeHtml(grant.scope.deviceId)}</code>.</p>
<p class="note">Scope: <code>${escapeHtml(grant.scope.scope)}</code>. You
will be sent back to <code>${
        escapeHtml(`${target.protocol}//${target.host}${target.pathname}`)
      }</code>.</p>
${formError(error)}
<form method="post" action="${escapeHtml(`${base}consent/${grant.id}`)}">
${credentialFields(username)}
<p><button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny">Deny</button></p>
</form>`,
    );
  }

  function consentPage(id: string): Response {
    const grant = pendingGrant(id);
    return grant instanceof Response ? grant : consentForm(grant);
  }

  async function consentSubmit(
    request: Request,
    id: string,
  ): Promise<Response> {
    const form = await pageForm(request, settings.maxBodyBytes);
    if (form instanceof Response) return form;
    const grant = pendingGrant(id);
    if (grant instanceof Response) return grant;
    const action = field(form, "action");
    if (action === "deny") {
      grant.stage = "cancelled";
      // MAS's Cancel link: error and state, no description.
      return seeOther(callbackUrl(grant, [["error", "access_denied"]]));
    }
    if (action !== "allow") {
      return errorPage(400, "Invalid form", "Choose Allow or Deny.");
    }
    const username = field(form, "username");
    const signedIn = signIn(store, username, field(form, "password"));
    if ("error" in signedIn) {
      return consentForm(grant, 401, username, signedIn.error);
    }
    grant.stage = "fulfilled";
    grant.userId = signedIn.user.userId;
    grant.fulfilledAt = clock();
    grant.code = store.randomString(ALNUM, 32);
    byCode.set(grant.code, grant.id);
    return seeOther(callbackUrl(grant, [["code", grant.code]]));
  }

  async function exchange(
    client: OAuthClient,
    request: CodeExchange,
  ): Promise<Record<string, unknown>> {
    if (!client.grantTypes.includes("authorization_code")) {
      throw new OAuthFailure(401, "unauthorized_client");
    }
    const id = byCode.get(request.code);
    const grant = id === undefined ? undefined : grants.get(id);
    if (grant === undefined) throw new OAuthFailure(400, "invalid_grant");
    const now = clock();
    if (grant.stage === "exchanged") {
      if (now - grant.exchangedAt! > CODE_REUSE_GRACE_MS) {
        tokens.finishSession(grant.sessionId!);
      }
      throw new OAuthFailure(400, "invalid_grant");
    }
    if (
      grant.stage !== "fulfilled" || now - grant.fulfilledAt! > CODE_LIFETIME_MS
    ) {
      throw new OAuthFailure(400, "invalid_grant");
    }
    if (grant.clientId !== client.clientId) {
      throw new OAuthFailure(401, "unauthorized_client");
    }
    if (request.codeVerifier === undefined) {
      throw new OAuthFailure(
        400,
        "invalid_request",
        "code_verifier is required: the code was issued for a PKCE challenge",
      );
    }
    const problem = verifierProblem(request.codeVerifier) ??
      (await s256(request.codeVerifier) === grant.codeChallenge
        ? undefined
        : "challenge verification failed");
    if (problem !== undefined) {
      throw new OAuthFailure(
        400,
        "invalid_grant",
        `PKCE verification failed: ${problem}`,
      );
    }
    if (
      request.redirectUri === undefined ||
      new URL(request.redirectUri).href !== grant.redirectUri
    ) {
      throw new OAuthFailure(
        400,
        "invalid_grant",
        "redirect_uri must be the one of the authorization request (RFC 6749 §4.1.3)",
      );
    }
    if (!users.has(grant.userId!)) throw new OAuthFailure(400, "invalid_grant");
    const { answer, session } = sessions.start(
      client,
      grant.userId!,
      grant.scope,
      true,
    );
    grant.stage = "exchanged";
    grant.exchangedAt = now;
    grant.sessionId = session.id;
    return answer;
  }

  return { authorize, consentPage, consentSubmit, exchange };
}
