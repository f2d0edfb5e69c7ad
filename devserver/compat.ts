/**
 * The compatibility layer of matrix-authentication-service (MAS), which
 * matrix.org runs: the legacy login API served beside the OAuth 2.0 API, for
 * clients that do not speak OAuth 2.0 yet ({@linkcode createCompat}, the
 * homeserver's `oauth: "both"` mode), as MAS's `crates/handlers/src/compat/`
 * answers it.
 *
 * - `GET /login` (`login.rs`): `m.login.password`, `m.login.sso` with
 *   `oauth_aware_preferred: true` and its unstable name
 *   `org.matrix.msc3824.delegated_oidc_compatibility: true` (MSC3824, spec
 *   v1.18 "OAuth 2.0 aware clients") and no `identity_providers`, then
 *   `m.login.token`.
 * - `POST /login` with a password: the user from `identifier` (`m.id.user`
 *   only: another type is `400 M_UNKNOWN` "Unsupported login identifier") or
 *   the deprecated `user`, which wins; neither: `400 M_BAD_JSON` "Missing
 *   property 'identifier". A wrong password, an unknown user or one without a
 *   password: `403 M_FORBIDDEN` "Invalid username/password"; a locked
 *   account: `401 M_USER_LOCKED`. A field of the wrong type: `400 M_BAD_JSON`
 *   "JSON fields are not valid"; a body that is not JSON: `400 M_NOT_JSON`;
 *   another login type: `400 M_UNKNOWN` "Invalid login type". The answer has
 *   `access_token` (`mct_…`), `device_id` (10 letters and digits unless
 *   given, and not empty), `user_id`, and with `refresh_token: true` a
 *   `refresh_token`
 *   (`mcr_…`) and `expires_in_ms` (MAS's `compat_token_ttl`, 5 minutes by
 *   default, `accessTokenLifetimeMs` here); no `well_known` and no
 *   `home_server`. A login as an existing device ends that device's tokens
 *   and sessions (`finish_sessions_to_replace_device`).
 * - `POST /refresh` (`refresh.rs`): a new pair; the old refresh token is
 *   spent at once and the old access token ends. Anything else than a valid
 *   compatibility refresh token, a spent one included, is `401
 *   M_UNKNOWN_TOKEN` "Invalid refresh token", without `soft_logout`: a
 *   refresh whose answer was lost cannot be retried (unlike Synapse's
 *   `/refresh` and MAS's own token endpoint).
 * - `POST /logout` (`logout.rs`, in both OAuth 2.0 modes): only the
 *   `Authorization` header is read (none: `401 M_MISSING_TOKEN`); a token
 *   that is not a valid compatibility access token, OAuth 2.0 tokens
 *   included, is `401 M_UNKNOWN_TOKEN` "Invalid access token", and nothing
 *   is ended: an OAuth 2.0 client must revoke its token. Otherwise the
 *   session ends with its tokens, and its device.
 * - `POST /logout/all` (`logout_all.rs`): the same token checks, then `404
 *   M_UNRECOGNIZED` "The /logout/all endpoint is not supported by this
 *   deployment" unless the body has `"io.element.only_compat_is_fine":
 *   true`; with it, every compatibility session of the user ends, and its
 *   OAuth 2.0 sessions stay.
 * - `GET /login/sso/redirect[/{idpId}]?redirectUrl=…`
 *   (`login_sso_redirect.rs`): `303` to `complete-compat-sso/{id}` (below
 *   the base URL's path, on the origin the request came to),
 *   passing `action` (or the unstable `org.matrix.msc3824.action`) when it
 *   is `login` or `register`; no `redirectUrl`, or one with a user name or
 *   without a host, is a `400` page. That page (`login_sso_complete.rs`)
 *   asks for the user name and password and Continue; it expires after 30
 *   minutes. Continue: `303` to `redirectUrl` with `loginToken` added.
 * - `POST /login` with `m.login.token`: within 30 seconds of Continue, once;
 *   later `403 M_FORBIDDEN` "Login token expired", unknown or used `403
 *   M_FORBIDDEN` "Invalid login token".
 *
 * Not served in this mode, as with MAS: `GET /login/get_token` (Synapse
 * serves it only with `login_via_existing_session`), `m.login.cas`, and the
 * CAS redirects. Differences: a `/refresh` body that is not JSON is answered
 * as `/login`'s (MAS's plain axum `Json` answers `415`, `400` or `422` in
 * plain text); MAS's consent page before `redirectUrl` and its rate limits
 * are not imitated, and `action=register` shows the same sign-in page.
 *
 * @module
 */
import {
  escapeHtml,
  htmlResponse,
  isObject,
  MatrixFailure,
  readCapped,
} from "./http.ts";
import {
  errorPage,
  masToken,
  masTokenType,
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
import type { Route } from "./routes.ts";
import {
  type AccessToken,
  ALNUM,
  type RefreshToken,
  type Store,
  type User,
} from "./store.ts";
import type { Tokens } from "./tokens.ts";

/** How long a login token of single sign-on may wait (MAS: 30 s). */
export const COMPAT_LOGIN_TOKEN_LIFETIME_MS = 30_000;
/** How long the single sign-on page stays open (MAS: 30 minutes). */
export const COMPAT_SSO_LIFETIME_MS = 1_800_000;
/** The most single sign-on logins kept at once. */
const MAX_SSO_LOGINS = 10_000;

/** A single sign-on through the compatibility layer. */
interface SsoLogin {
  id: string;
  loginToken: string;
  redirectUrl: string;
  action?: "login" | "register";
  createdAt: number;
  stage: "pending" | "fulfilled" | "exchanged";
  userId?: string;
  fulfilledAt?: number;
}

/** What {@linkcode createCompat} needs. */
export interface CompatSettings {
  /** `"both"` serves the whole layer; `"only"` just the logout endpoints. */
  mode: "only" | "both";
  baseUrl: string;
  maxBodyBytes: number;
  /** How long a refreshable access token lives (`compat_token_ttl`). */
  accessTokenLifetimeMs: number;
}

/** `400 M_BAD_JSON`, MAS's answer to a field of the wrong type. */
const badJson = () =>
  new MatrixFailure(400, "M_BAD_JSON", "JSON fields are not valid");

/** The routes of MAS's compatibility layer for `settings.mode`. */
export function createCompat(
  store: Store,
  tokens: Tokens,
  settings: CompatSettings,
): Route[] {
  const {
    serverName,
    users,
    devices,
    accessTokens,
    refreshTokens,
    clock,
    changed,
  } = store;
  const lifetime = settings.accessTokenLifetimeMs;
  // Redirects and forms keep to the origin the browser came in by: a path,
  // not the base URL (which may name another host, such as localhost).
  const base = new URL(settings.baseUrl).pathname;
  const ssoLogins = new Map<string, SsoLogin>();

  /**
   * A JSON body as MAS's `MatrixJsonBody` reads it: a `Content-Type`, if
   * sent, must be JSON; `optional` lets an empty body without one be none.
   */
  async function readJson(
    request: Request,
    optional = false,
  ): Promise<unknown> {
    const type = request.headers.get("Content-Type");
    if (
      type !== null &&
      !/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type)
    ) {
      await request.body?.cancel();
      throw new MatrixFailure(
        400,
        "M_NOT_JSON",
        "Invalid Content-Type header: expected application/json",
      );
    }
    const { bytes, tooLarge } = await readCapped(
      request,
      settings.maxBodyBytes,
    );
    if (tooLarge) {
      throw new MatrixFailure(413, "M_TOO_LARGE", "Request body too large");
    }
    if (optional && type === null && bytes.length === 0) return undefined;
    try {
      return JSON.parse(
        new TextDecoder("utf-8", { fatal: true }).decode(bytes),
      );
    } catch {
      throw new MatrixFailure(
        400,
        "M_NOT_JSON",
        "Body is not a valid JSON document",
      );
    }
  }

  /** An optional string field (`Option<String>`: absent or `null`). */
  function optionalString(
    body: Record<string, unknown>,
    key: string,
  ): string | undefined {
    const value = body[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw badJson();
    return value;
  }

  /** The user a password login names, checked. */
  function passwordUser(body: Record<string, unknown>): User {
    if (typeof body.password !== "string") throw badJson();
    const identifier = body.identifier;
    let fromIdentifier: string | undefined;
    let unsupported = false;
    if (identifier !== undefined && identifier !== null) {
      if (!isObject(identifier) || typeof identifier.type !== "string") {
        throw badJson();
      }
      if (identifier.type === "m.id.user") {
        if (typeof identifier.user !== "string") throw badJson();
        fromIdentifier = identifier.user;
      } else {
        unsupported = true;
      }
    }
    // As Synapse, the deprecated `user` wins over `identifier`.
    const name = optionalString(body, "user") ?? fromIdentifier;
    if (name === undefined) {
      if (unsupported) {
        throw new MatrixFailure(
          400,
          "M_UNKNOWN",
          "Unsupported login identifier",
        );
      }
      throw new MatrixFailure(
        400,
        "M_BAD_JSON",
        "Missing property 'identifier",
      );
    }
    const suffix = `:${serverName}`;
    const localpart = name.startsWith("@") && name.endsWith(suffix)
      ? name.slice(1, -suffix.length)
      : name;
    const user = users.get(`@${localpart.toLowerCase()}${suffix}`);
    const forbidden = () =>
      new MatrixFailure(403, "M_FORBIDDEN", "Invalid username/password");
    if (user === undefined) throw forbidden();
    if (user.locked === true) {
      throw new MatrixFailure(
        401,
        "M_USER_LOCKED",
        "User account has been locked",
      );
    }
    if (user.password === undefined || user.password !== body.password) {
      throw forbidden();
    }
    return user;
  }

  /** The user a login token of single sign-on names; the token is spent. */
  function tokenUser(body: Record<string, unknown>): User {
    if (typeof body.token !== "string") throw badJson();
    const login = [...ssoLogins.values()].find((l) =>
      l.loginToken === body.token
    );
    const invalid = () =>
      new MatrixFailure(403, "M_FORBIDDEN", "Invalid login token");
    if (login === undefined || login.stage !== "fulfilled") throw invalid();
    if (clock() > login.fulfilledAt! + COMPAT_LOGIN_TOKEN_LIFETIME_MS) {
      throw new MatrixFailure(403, "M_FORBIDDEN", "Login token expired");
    }
    const user = users.get(login.userId!);
    if (user === undefined) throw invalid();
    login.stage = "exchanged";
    return user;
  }

  async function login(request: Request): Promise<Record<string, unknown>> {
    const body = await readJson(request);
    if (!isObject(body) || typeof body.type !== "string") throw badJson();
    const refreshable = body.refresh_token ?? false;
    if (typeof refreshable !== "boolean") throw badJson();
    const requestedDevice = optionalString(body, "device_id");
    const displayName = optionalString(body, "initial_device_display_name");
    let user: User;
    if (body.type === "m.login.password") user = passwordUser(body);
    else if (body.type === "m.login.token") user = tokenUser(body);
    else throw new MatrixFailure(400, "M_UNKNOWN", "Invalid login type");

    // An empty device_id counts as none (MAS would make a device "").
    const deviceId = requestedDevice || store.randomString(ALNUM, 10);
    const key = `${user.userId}|${deviceId}`;
    const existingName = devices.get(key)?.displayName;
    tokens.endDevice(user.userId, deviceId);
    const name = displayName ?? existingName;
    devices.set(key, {
      userId: user.userId,
      deviceId,
      ...(name === undefined ? {} : { displayName: name }),
    });
    const pair = issuePair(user.userId, deviceId, refreshable);
    const answer: Record<string, unknown> = {
      access_token: pair.access.token,
      device_id: deviceId,
      user_id: user.userId,
    };
    if (pair.refresh) {
      answer.refresh_token = pair.refresh.token;
      answer.expires_in_ms = lifetime;
    }
    return answer;
  }

  /** A compatibility access token, and a refresh token when refreshable. */
  function issuePair(
    userId: string,
    deviceId: string,
    refreshable: boolean,
  ): { access: AccessToken; refresh?: RefreshToken } {
    const access: AccessToken = {
      token: masToken(store, "compat_access"),
      userId,
      deviceId,
      used: false,
      kind: "compat",
    };
    accessTokens.set(access.token, access);
    changed();
    if (!refreshable) return { access };
    access.expiresAt = clock() + lifetime;
    const refresh: RefreshToken = {
      token: masToken(store, "compat_refresh"),
      userId,
      deviceId,
      accessToken: access.token,
      refreshed: false,
      kind: "compat",
    };
    access.refreshToken = refresh.token;
    refreshTokens.set(refresh.token, refresh);
    return { access, refresh };
  }

  async function refresh(request: Request): Promise<Record<string, unknown>> {
    const body = await readJson(request);
    if (!isObject(body) || typeof body.refresh_token !== "string") {
      throw badJson();
    }
    const token = body.refresh_token;
    const old = masTokenType(token) === "compat_refresh"
      ? refreshTokens.get(token)
      : undefined;
    if (old === undefined || old.refreshed) {
      throw new MatrixFailure(
        401,
        "M_UNKNOWN_TOKEN",
        "Invalid refresh token",
      );
    }
    const pair = issuePair(old.userId, old.deviceId, true);
    // Spent at once; its access token ends with it.
    refreshTokens.delete(old.token);
    accessTokens.delete(old.accessToken);
    changed();
    return {
      access_token: pair.access.token,
      refresh_token: pair.refresh!.token,
      expires_in_ms: lifetime,
    };
  }

  /**
   * The valid compatibility access token of the `Authorization` header, as
   * MAS's logout endpoints read it.
   */
  function compatToken(request: Request): AccessToken {
    const header = request.headers.get("Authorization") ?? "";
    const match = /^bearer +(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new MatrixFailure(401, "M_MISSING_TOKEN", "Missing access token");
    }
    const token = masTokenType(match[1]) === "compat_access"
      ? accessTokens.get(match[1])
      : undefined;
    if (
      token === undefined || token.kind === "oauth" ||
      (token.expiresAt !== undefined && clock() >= token.expiresAt)
    ) {
      throw new MatrixFailure(
        401,
        "M_UNKNOWN_TOKEN",
        "Invalid access token",
      );
    }
    return token;
  }

  /**
   * Ends the compatibility session of a device: its legacy and compatibility
   * tokens, then the device unless an OAuth 2.0 session still uses it.
   */
  function endCompatSession(userId: string, deviceId: string): void {
    for (const [token, t] of accessTokens) {
      if (
        t.userId === userId && t.deviceId === deviceId && t.kind !== "oauth"
      ) {
        accessTokens.delete(token);
      }
    }
    for (const [token, t] of refreshTokens) {
      if (t.userId === userId && t.deviceId === deviceId) {
        refreshTokens.delete(token);
      }
    }
    changed();
    tokens.syncDevice(userId, deviceId);
  }

  function logout(request: Request): Record<string, unknown> {
    const token = compatToken(request);
    endCompatSession(token.userId, token.deviceId);
    return {};
  }

  async function logoutAll(request: Request): Promise<Record<string, unknown>> {
    const body = await readJson(request, true);
    let onlyCompatIsFine = false;
    if (body !== undefined) {
      if (!isObject(body)) throw badJson();
      const flag = body["io.element.only_compat_is_fine"] ?? false;
      if (typeof flag !== "boolean") throw badJson();
      onlyCompatIsFine = flag;
    }
    const token = compatToken(request);
    if (users.get(token.userId)?.locked === true) {
      throw new MatrixFailure(401, "M_UNKNOWN_TOKEN", "Invalid access token");
    }
    if (!onlyCompatIsFine) {
      throw new MatrixFailure(
        404,
        "M_UNRECOGNIZED",
        "The /logout/all endpoint is not supported by this deployment",
      );
    }
    const compatDevices = new Set(
      [...accessTokens.values()]
        .filter((t) => t.userId === token.userId && t.kind !== "oauth")
        .map((t) => t.deviceId),
    );
    for (const deviceId of compatDevices) {
      endCompatSession(token.userId, deviceId);
    }
    return {};
  }

  function prune(): void {
    const now = clock();
    for (const [id, login] of ssoLogins) {
      if (
        now - login.createdAt > 2 * COMPAT_SSO_LIFETIME_MS ||
        ssoLogins.size > MAX_SSO_LOGINS
      ) {
        ssoLogins.delete(id);
      }
    }
  }

  function ssoRedirect(url: URL): Response {
    const given = url.searchParams.get("redirectUrl");
    if (given === null) {
      return errorPage(400, "Invalid request", "Missing redirectUrl");
    }
    let target: URL;
    try {
      target = new URL(given);
    } catch {
      return errorPage(400, "Invalid request", "invalid redirectUrl");
    }
    if (
      target.username !== "" || target.password !== "" ||
      ((target.protocol === "http:" || target.protocol === "https:") &&
        target.hostname === "")
    ) {
      return errorPage(400, "Invalid request", "invalid redirectUrl");
    }
    const known = (value: string | null) =>
      value === "login" || value === "register" ? value : undefined;
    const action = known(url.searchParams.get("action")) ??
      known(url.searchParams.get("org.matrix.msc3824.action"));
    prune();
    const login: SsoLogin = {
      id: ulid(store),
      loginToken: store.randomString(ALNUM, 32),
      redirectUrl: given,
      createdAt: clock(),
      stage: "pending",
    };
    if (action !== undefined) login.action = action;
    ssoLogins.set(login.id, login);
    const query = action === undefined ? "" : `?${new URLSearchParams({
      action,
      "org.matrix.msc3824.action": action,
    })}`;
    return seeOther(
      `${base}complete-compat-sso/${login.id}${query}`,
    );
  }

  /** The pending single sign-on with this ID, or the page saying why not. */
  function pendingLogin(id: string): SsoLogin | Response {
    const login = ssoLogins.get(id);
    if (login === undefined) {
      return errorPage(404, "Not found", "This login session is unknown.");
    }
    if (
      login.stage !== "pending" ||
      clock() > login.createdAt + COMPAT_SSO_LIFETIME_MS
    ) {
      return errorPage(200, "Login expired", "This login session expired.");
    }
    return login;
  }

  function ssoForm(
    login: SsoLogin,
    status = 200,
    username = "",
    error?: string,
  ): Response {
    const target = new URL(login.redirectUrl);
    const where = target.protocol === "http:" || target.protocol === "https:"
      ? `${target.protocol}//${target.host}${target.pathname}`
      : `${target.protocol}${target.pathname}`;
    const register = login.action === "register"
      ? `<p class="note">Creating an account is not possible on this development homeserver: sign in with an existing one.</p>`
      : "";
    return htmlResponse(
      status,
      "Continue to your application",
      `<p>Sign in to ${escapeHtml(serverName)}, and continue to <code>${
        escapeHtml(where)
      }</code>.</p>
${register}
${formError(error)}
<form method="post" action="${
        escapeHtml(`${base}complete-compat-sso/${login.id}`)
      }">
${credentialFields(username)}
<p><button type="submit" name="action" value="continue">Continue</button></p>
</form>`,
    );
  }

  function ssoPage(id: string): Response {
    const login = pendingLogin(id);
    return login instanceof Response ? login : ssoForm(login);
  }

  async function ssoSubmit(request: Request, id: string): Promise<Response> {
    const form = await pageForm(request, settings.maxBodyBytes);
    if (form instanceof Response) return form;
    const login = pendingLogin(id);
    if (login instanceof Response) return login;
    const username = field(form, "username");
    const signedIn = signIn(store, username, field(form, "password"));
    if ("error" in signedIn) {
      return ssoForm(login, 401, username, signedIn.error);
    }
    login.stage = "fulfilled";
    login.userId = signedIn.user.userId;
    login.fulfilledAt = clock();
    // MAS appends the pair to the query (`query_pairs_mut`), keeping the rest.
    const hash = login.redirectUrl.indexOf("#");
    const head = hash === -1
      ? login.redirectUrl
      : login.redirectUrl.slice(0, hash);
    const tail = hash === -1 ? "" : login.redirectUrl.slice(hash);
    const pair = new URLSearchParams({ loginToken: login.loginToken });
    const joiner = head.includes("?")
      ? (head.endsWith("?") || head.endsWith("&") ? "" : "&")
      : "?";
    return seeOther(`${head}${joiner}${pair}${tail}`);
  }

  const logoutRoutes: Route[] = [
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(r0|v3)\/logout$/,
      run: (request) => logout(request),
    },
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(r0|v3)\/logout\/all$/,
      run: (request) => logoutAll(request),
    },
  ];
  if (settings.mode === "only") return logoutRoutes;
  return [
    ...logoutRoutes,
    {
      method: "GET",
      pattern: /^\/_matrix\/client\/(r0|v3)\/login$/,
      run: () => ({
        flows: [
          { type: "m.login.password" },
          {
            type: "m.login.sso",
            oauth_aware_preferred: true,
            "org.matrix.msc3824.delegated_oidc_compatibility": true,
          },
          { type: "m.login.token" },
        ],
      }),
    },
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(r0|v3)\/login$/,
      run: (request) => login(request),
    },
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(v1|v3)\/refresh$/,
      run: (request) => refresh(request),
    },
    {
      method: "GET",
      pattern: /^\/_matrix\/client\/(r0|v3)\/login\/sso\/redirect(\/[^/]*)?$/,
      run: (_request, url) => ssoRedirect(url),
    },
    {
      method: "GET",
      pattern: /^\/complete-compat-sso\/([0-9A-HJKMNP-TV-Z]{26})$/,
      run: (_request, _url, match) => ssoPage(match[1]),
    },
    {
      method: "POST",
      pattern: /^\/complete-compat-sso\/([0-9A-HJKMNP-TV-Z]{26})$/,
      run: (request, _url, match) => ssoSubmit(request, match[1]),
    },
  ];
}
