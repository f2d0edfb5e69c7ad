/**
 * Token issuing and checking of the development homeserver
 * ({@linkcode createTokens}): access tokens (and refresh tokens, when the
 * client asks and access tokens expire), the check of a request's access
 * token (from `Authorization: Bearer`, or the deprecated `access_token`
 * query parameter), with the note of when and from where a device was last
 * seen, single-use login tokens for `m.login.token`, and the end of a device
 * with its tokens (logout, deletion, or a new login as that device) or of
 * an OAuth 2.0 session with its tokens (and its device, once nothing else
 * uses it, as MAS's `SyncDevicesJob` deletes it from the homeserver).
 *
 * In the OAuth 2.0 modes (`oauth`), the homeserver asks MAS about each access
 * token, as Synapse's `synapse/api/auth/mas.py` does: an unknown, revoked
 * or expired token is then `401 M_UNKNOWN_TOKEN` "Token is not active" with
 * `soft_logout: false` (`InvalidClientTokenError`'s default), for legacy,
 * compatibility and OAuth 2.0 tokens alike.
 *
 * @module
 */
import { MatrixFailure } from "./http.ts";
import {
  type AccessToken,
  ALNUM,
  type RefreshToken,
  type Store,
  type User,
} from "./store.ts";

/** The options {@linkcode createTokens} reads (see `HomeserverOptions`). */
export interface TokenOptions {
  /**
   * How long an access token lives, for clients that ask for a refresh
   * token; without it, no refresh tokens and tokens never expire.
   */
  accessTokenLifetimeMs?: number;
  /** How long a refresh token lives; without it, forever. */
  refreshTokenLifetimeMs?: number;
  /**
   * Accept an access token in the `access_token` query parameter, as Synapse
   * does (default `true`); `false` refuses it.
   */
  accessTokenInQuery?: boolean;
  /** The OAuth 2.0 mode, if any: tokens are then checked as MAS does. */
  oauth?: "only" | "both";
}

/**
 * How the connection of a request looks to the server, as `Deno.serve`
 * passes it to its handler (`Deno.ServeHandlerInfo`): the client's address.
 */
export interface ConnectionInfo {
  remoteAddr?: { hostname?: string; transport?: string };
}

/**
 * The address of a client whose connection is not known (a request handed to
 * the handler in process, as tests do): the loopback address.
 */
export const LOOPBACK = "127.0.0.1";

/**
 * Synapse's `LAST_SEEN_GRANULARITY`: a use of one access token from one
 * address is noted at most once in two minutes.
 */
export const LAST_SEEN_GRANULARITY_MS = 120_000;

/** What {@linkcode Tokens.issue} gave. */
export interface IssuedTokens {
  access: AccessToken;
  refresh?: RefreshToken;
  expiresInMs?: number;
}

/** Issues, checks and ends the tokens of a {@linkcode Store}. */
export interface Tokens {
  /**
   * Ends every token of one device, its OAuth 2.0 sessions, and the device.
   */
  endDevice(userId: string, deviceId: string): void;
  /**
   * Ends an OAuth 2.0 session and its tokens, and deletes its device unless
   * another session or a token still uses it.
   */
  finishSession(sessionId: string): void;
  /**
   * Deletes a device that no access token, refresh token or OAuth 2.0
   * session uses any more, as MAS's `SyncDevicesJob` does.
   */
  syncDevice(userId: string, deviceId: string): void;
  /** Issues an access token, and a refresh token when `refreshable`. */
  issue(
    userId: string,
    deviceId: string,
    refreshable: boolean,
    refreshExpiresAt?: number,
  ): IssuedTokens;
  /** Drops a refresh token and the access token issued with it. */
  dropRefreshToken(token: string): void;
  /**
   * The access token of a request, from `Authorization: Bearer` or the
   * `access_token` query parameter; notes the use on its device.
   * `forLogout` accepts an expired token and a locked account, as Synapse's
   * `/logout` and `/logout/all` do.
   */
  authenticate(request: Request, url: URL, forLogout?: boolean): AccessToken;
  /** Tells where `request` comes from, for the device's `last_seen_ip`. */
  noteConnection(request: Request, info?: ConnectionInfo): void;
  /** The user a login token belongs to; the token is spent. */
  consumeLoginToken(token: unknown): User;
  /** Issues a login token for `m.login.token`. */
  issueLoginToken(userId: string, lifetimeMs: number): string;
}

/** Token issuing and checking for `store`, with the lifetimes of `options`. */
export function createTokens(store: Store, options: TokenOptions): Tokens {
  const accessLifetime = options.accessTokenLifetimeMs;
  const refreshLifetime = options.refreshTokenLifetimeMs;
  const acceptQuery = options.accessTokenInQuery ?? true;
  // The client address of each request being answered.
  const addresses = new WeakMap<Request, string>();
  // When each access token was last noted as used from each address.
  const lastNoted = new Map<string, number>();
  const {
    users,
    devices,
    accessTokens,
    refreshTokens,
    loginTokens,
    oauthSessions,
    oauthRefreshTokens,
    clock,
    changed,
    randomString,
  } = store;
  const inactive = options.oauth === undefined
    ? undefined
    : "Token is not active";

  /** A token shaped like Synapse's: `syt_<localpart>_<random>_<check>`. */
  function newToken(prefix: string, userId: string): string {
    const localpart = userId.slice(1, userId.indexOf(":"));
    const encoded = btoa(localpart).replace(/=+$/, "").replaceAll("+", "-")
      .replaceAll("/", "_");
    return `${prefix}_${encoded}_${randomString(ALNUM, 20)}_${
      randomString(ALNUM, 6)
    }`;
  }

  /** Ends every token of one device, and the device. */
  function endDevice(userId: string, deviceId: string): void {
    for (const [token, t] of accessTokens) {
      if (t.userId === userId && t.deviceId === deviceId) {
        accessTokens.delete(token);
      }
    }
    for (const [token, t] of refreshTokens) {
      if (t.userId === userId && t.deviceId === deviceId) {
        refreshTokens.delete(token);
      }
    }
    for (const session of [...oauthSessions.values()]) {
      if (session.userId === userId && session.deviceId === deviceId) {
        dropSession(session.id);
      }
    }
    devices.delete(`${userId}|${deviceId}`);
    changed();
  }

  /** Removes an OAuth 2.0 session and its tokens. */
  function dropSession(sessionId: string): void {
    oauthSessions.delete(sessionId);
    for (const [token, t] of accessTokens) {
      if (t.sessionId === sessionId) accessTokens.delete(token);
    }
    for (const [token, t] of oauthRefreshTokens) {
      if (t.sessionId === sessionId) oauthRefreshTokens.delete(token);
    }
    changed();
  }

  function finishSession(sessionId: string): void {
    const session = oauthSessions.get(sessionId);
    if (session === undefined) return;
    dropSession(sessionId);
    syncDevice(session.userId, session.deviceId);
  }

  function syncDevice(userId: string, deviceId: string): void {
    const uses = (t: { userId: string; deviceId: string }) =>
      t.userId === userId && t.deviceId === deviceId;
    if (
      [...accessTokens.values()].some(uses) ||
      [...refreshTokens.values()].some(uses) ||
      [...oauthSessions.values()].some(uses)
    ) {
      return;
    }
    if (devices.delete(`${userId}|${deviceId}`)) changed();
  }

  /** Issues an access token, and a refresh token when `refreshable`. */
  function issue(
    userId: string,
    deviceId: string,
    refreshable: boolean,
    refreshExpiresAt?: number,
  ): IssuedTokens {
    changed();
    const now = clock();
    const access: AccessToken = {
      token: newToken("syt", userId),
      userId,
      deviceId,
      used: false,
    };
    if (!refreshable || accessLifetime === undefined) {
      accessTokens.set(access.token, access);
      return { access };
    }
    const refreshEnd = refreshExpiresAt ??
      (refreshLifetime === undefined ? undefined : now + refreshLifetime);
    access.expiresAt = Math.min(now + accessLifetime, refreshEnd ?? Infinity);
    const refresh: RefreshToken = {
      token: newToken("syr", userId),
      userId,
      deviceId,
      accessToken: access.token,
      refreshed: false,
    };
    if (refreshEnd !== undefined) refresh.expiresAt = refreshEnd;
    access.refreshToken = refresh.token;
    accessTokens.set(access.token, access);
    refreshTokens.set(refresh.token, refresh);
    return { access, refresh, expiresInMs: access.expiresAt - now };
  }

  /** Drops a refresh token and the access token issued with it. */
  function dropRefreshToken(token: string): void {
    const refresh = refreshTokens.get(token);
    if (!refresh) return;
    refreshTokens.delete(token);
    accessTokens.delete(refresh.accessToken);
    changed();
  }

  /**
   * The access token a request sends, read as Synapse's
   * `get_access_token_from_request` does: `Authorization: Bearer TOKEN`
   * (exactly one space), or else the first `access_token` query parameter;
   * both at once are refused, even when equal. With `accessTokenInQuery:
   * false`, the query parameter is ignored beside a header and refused
   * alone.
   */
  function tokenOf(request: Request, url: URL): string {
    const inQuery = url.searchParams.getAll("access_token");
    const header = request.headers.get("Authorization");
    if (header !== null) {
      if (inQuery.length > 0 && acceptQuery) {
        throw new MatrixFailure(
          401,
          "M_MISSING_TOKEN",
          "Mixing Authorization headers and access_token query parameters.",
        );
      }
      const parts = header.split(" ");
      if (parts[0] !== "Bearer" || parts.length !== 2) {
        throw new MatrixFailure(
          401,
          "M_MISSING_TOKEN",
          "Invalid Authorization header.",
        );
      }
      return parts[1];
    }
    if (inQuery.length === 0) {
      throw new MatrixFailure(401, "M_MISSING_TOKEN", "Missing access token");
    }
    if (!acceptQuery) {
      throw new MatrixFailure(
        401,
        "M_MISSING_TOKEN",
        "Access tokens in the query string are not accepted (this server runs with accessTokenInQuery: false, as a later version of the specification may require): send it in the Authorization header (Authorization: Bearer TOKEN)",
      );
    }
    return inQuery[0];
  }

  /**
   * Notes that `token` was used from `address`, as Synapse's
   * `insert_client_ip`: once per token and address in
   * {@linkcode LAST_SEEN_GRANULARITY_MS}, the device's `lastSeenTs` and
   * `lastSeenIp` are set.
   */
  function noteUse(token: AccessToken, address: string): void {
    const now = clock();
    const key = `${token.token} ${address}`;
    const last = lastNoted.get(key);
    if (last !== undefined && now - last < LAST_SEEN_GRANULARITY_MS) return;
    if (lastNoted.size >= 1000) {
      for (const [k, at] of lastNoted) {
        if (now - at >= LAST_SEEN_GRANULARITY_MS) lastNoted.delete(k);
      }
    }
    lastNoted.set(key, now);
    const device = devices.get(`${token.userId}|${token.deviceId}`);
    if (device === undefined) return;
    device.lastSeenTs = now;
    device.lastSeenIp = address;
    changed();
  }

  /**
   * The access token of a request (see `tokenOf`), checked; its use is noted
   * on its device. `forLogout` is for logout, which Synapse allows with an
   * expired token (`allow_expired=True`) and for a locked account
   * (`allow_locked=True`, as the specification requires: "on all but"
   * `/logout` and `/logout/all`).
   */
  function authenticate(
    request: Request,
    url: URL,
    forLogout = false,
  ): AccessToken {
    const token = accessTokens.get(tokenOf(request, url));
    if (!token) {
      throw new MatrixFailure(
        401,
        "M_UNKNOWN_TOKEN",
        inactive ?? "Invalid access token passed.",
        { soft_logout: false },
      );
    }
    if (
      !forLogout && token.expiresAt !== undefined &&
      clock() >= token.expiresAt
    ) {
      // Synapse's own tokens: soft logout. With MAS: the token is inactive.
      throw new MatrixFailure(
        401,
        "M_UNKNOWN_TOKEN",
        inactive ?? "Access token has expired",
        { soft_logout: inactive === undefined },
      );
    }
    if (!forLogout && users.get(token.userId)?.locked === true) {
      throw new MatrixFailure(
        401,
        "M_USER_LOCKED",
        "This account has been locked",
        { soft_logout: true },
      );
    }
    if (!token.used) {
      token.used = true;
      changed(); // it decides whether the old refresh token still works
    }
    noteUse(token, addresses.get(request) ?? LOOPBACK);
    return token;
  }

  /** Tells where `request` comes from (its connection's remote address). */
  function noteConnection(request: Request, info?: ConnectionInfo): void {
    const hostname = info?.remoteAddr?.hostname;
    if (typeof hostname === "string" && hostname !== "") {
      addresses.set(request, hostname);
    }
  }

  /**
   * The user a login token belongs to; the token is spent. Unknown, used and
   * expired tokens get the same answer, as on Synapse.
   */
  function consumeLoginToken(token: unknown): User {
    if (token === undefined) {
      throw new MatrixFailure(
        400,
        "M_MISSING_PARAM",
        "Missing parameters for login type m.login.token: ['token']",
      );
    }
    if (typeof token !== "string") {
      throw new MatrixFailure(
        400,
        "M_INVALID_PARAM",
        "Login parameter token should be a string",
      );
    }
    const found = loginTokens.get(token);
    if (found) {
      loginTokens.delete(token);
      changed();
    }
    const user = found && users.get(found.userId);
    if (!found || !user || clock() >= found.expiresAt) {
      throw new MatrixFailure(403, "M_FORBIDDEN", "Invalid login token");
    }
    return user;
  }

  /** Issues a login token for `m.login.token`. */
  function issueLoginToken(userId: string, lifetimeMs: number): string {
    const token = `syl_${randomString(ALNUM, 20)}_${randomString(ALNUM, 6)}`;
    loginTokens.set(token, { token, userId, expiresAt: clock() + lifetimeMs });
    changed();
    return token;
  }

  return {
    endDevice,
    finishSession,
    syncDevice,
    issue,
    dropRefreshToken,
    authenticate,
    noteConnection,
    consumeLoginToken,
    issueLoginToken,
  };
}
