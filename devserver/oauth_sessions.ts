/**
 * OAuth 2.0 sessions of the development homeserver ({@linkcode createSessions}):
 * starting one when a grant is exchanged, the refresh token grant, and token
 * revocation, as MAS does them.
 *
 * - Starting a session (MAS's `authorization_code_grant` and
 *   `device_code_grant` in `crates/handlers/src/oauth2/token.rs`): the
 *   device of the device scope is created on the homeserver with the name
 *   "CLIENT on Unknown device" (MAS's `templates/device_name.txt`, CLIENT
 *   being `client_name`, else the client ID; MAS names the device from the
 *   token request's `User-Agent`, and says "Unknown device" when it cannot),
 *   and a pair of tokens issued:
 *   an access token (`mat_…`) that lives `accessTokenLifetimeMs` (MAS's
 *   `access_token_ttl`, 5 minutes by default) and a refresh token (`mar_…`)
 *   that does not expire. The answer: `access_token`, `refresh_token`,
 *   `token_type: "Bearer"`, `expires_in` (seconds) and `scope`.
 * - Refresh (`refresh_token_grant`): a client that did not register the
 *   `refresh_token` grant type is `401 unauthorized_client`; an unknown
 *   refresh token, one of an ended session or of another client is `400
 *   invalid_grant`. A refresh gives a new pair and ends the access token of
 *   the old refresh token at once. The old refresh token may be used again
 *   (an answer lost on the way) as long as the pair it gave is unused: the
 *   new access token has authenticated no request and the new refresh token
 *   has not refreshed; then that pair is revoked and a new one issued.
 *   Otherwise it is `400 invalid_grant`, and the session goes on (MAS's
 *   "this is a replay, we *may* want to invalidate the session").
 * - Revocation (`crates/handlers/src/oauth2/revoke.rs`, RFC 7009): form
 *   `token`, `token_type_hint`, `client_id` (required: without it, `400
 *   invalid_request` "No credentials were presented"; an unknown client is
 *   `401 invalid_client`). Revoking the access token or the refresh token of
 *   a session ends the session: both tokens, and its device. A token of
 *   another client's session is `401 unauthorized_client`. An unknown,
 *   malformed, already revoked or expired token, or a compatibility token,
 *   is `200` and nothing happens: revoking an expired access token does not
 *   end its session (revoke the refresh token). A `token_type_hint` other
 *   than `access_token` or `refresh_token` is `400 unsupported_token_type`.
 *   The answer is an empty `200`.
 *
 * One difference on purpose: a session whose device scope names a device
 * that already exists ends that device's earlier tokens and sessions, as the
 * specification says ("the server will invalidate any access and refresh
 * tokens previously assigned to that device"); MAS does so only for its
 * compatibility logins, and lets two OAuth 2.0 sessions share a device.
 *
 * @module
 */
import {
  clientForm,
  emptyOk,
  masToken,
  masTokenType,
  OAuthFailure,
  ulid,
} from "./oauth_http.ts";
import type { MatrixScope } from "./oauth_scope.ts";
import type {
  AccessToken,
  OAuthClient,
  OAuthRefreshToken,
  OAuthSession,
  Store,
} from "./store.ts";
import type { Tokens } from "./tokens.ts";

/** The sessions of the OAuth 2.0 API. */
export interface Sessions {
  /**
   * Starts a session for `userId` with `client` and `scope`: creates the
   * device and issues the tokens (a refresh token unless `refreshable` is
   * false); returns the token answer.
   */
  start(
    client: OAuthClient,
    userId: string,
    scope: MatrixScope,
    refreshable: boolean,
  ): { answer: Record<string, unknown>; session: OAuthSession };
  /** The refresh token grant: the token answer, or a thrown `OAuthFailure`. */
  refresh(client: OAuthClient, refreshToken: string): Record<string, unknown>;
  /** `POST /oauth2/revoke`. */
  revoke(request: Request): Promise<Response>;
}

/**
 * Sessions kept in `store`, ending with `tokens`, clients found by
 * `clientOf`; access tokens live `accessTokenLifetimeMs`.
 */
export function createSessions(
  store: Store,
  tokens: Tokens,
  clientOf: (clientId: string) => OAuthClient | undefined,
  settings: { accessTokenLifetimeMs: number; maxBodyBytes: number },
): Sessions {
  const {
    devices,
    accessTokens,
    oauthSessions,
    oauthRefreshTokens,
    clock,
    changed,
  } = store;
  const { endDevice, finishSession } = tokens;
  const lifetime = settings.accessTokenLifetimeMs;

  /** Issues an access token, and a refresh token when `refreshable`. */
  function issuePair(
    session: OAuthSession,
    refreshable: boolean,
  ): { access: AccessToken; refresh?: OAuthRefreshToken } {
    const access: AccessToken = {
      token: masToken(store, "access"),
      userId: session.userId,
      deviceId: session.deviceId,
      expiresAt: clock() + lifetime,
      used: false,
      kind: "oauth",
      sessionId: session.id,
    };
    accessTokens.set(access.token, access);
    changed();
    if (!refreshable) return { access };
    const refresh: OAuthRefreshToken = {
      token: masToken(store, "refresh"),
      sessionId: session.id,
      accessToken: access.token,
      consumed: false,
    };
    access.refreshToken = refresh.token;
    oauthRefreshTokens.set(refresh.token, refresh);
    return { access, refresh };
  }

  /** The token answer (MAS's `AccessTokenResponse`, in its field order). */
  function answerOf(
    pair: { access: AccessToken; refresh?: OAuthRefreshToken },
    scope: string,
  ): Record<string, unknown> {
    const answer: Record<string, unknown> = {
      access_token: pair.access.token,
    };
    if (pair.refresh) answer.refresh_token = pair.refresh.token;
    answer.token_type = "Bearer";
    answer.expires_in = Math.round(lifetime / 1000);
    answer.scope = scope;
    return answer;
  }

  function start(
    client: OAuthClient,
    userId: string,
    scope: MatrixScope,
    refreshable: boolean,
  ) {
    const { deviceId } = scope;
    // The specification: a login as an existing device ends its old tokens.
    endDevice(userId, deviceId);
    devices.set(`${userId}|${deviceId}`, {
      userId,
      deviceId,
      displayName: `${client.clientName ?? client.clientId} on Unknown device`,
    });
    const session: OAuthSession = {
      id: ulid(store),
      clientId: client.clientId,
      userId,
      deviceId,
      scope: scope.scope,
    };
    oauthSessions.set(session.id, session);
    changed();
    return {
      answer: answerOf(issuePair(session, refreshable), session.scope),
      session,
    };
  }

  function refresh(
    client: OAuthClient,
    token: string,
  ): Record<string, unknown> {
    if (!client.grantTypes.includes("refresh_token")) {
      throw new OAuthFailure(401, "unauthorized_client");
    }
    const old = oauthRefreshTokens.get(token);
    const session = old && oauthSessions.get(old.sessionId);
    // RFC 6749 §5.2: another client's refresh token is invalid_grant.
    if (!old || !session || session.clientId !== client.clientId) {
      throw new OAuthFailure(400, "invalid_grant");
    }
    if (old.consumed) {
      // Used before: allowed again only if the pair it gave is unused.
      const next = old.next === undefined
        ? undefined
        : oauthRefreshTokens.get(old.next);
      if (next === undefined || next.consumed) {
        throw new OAuthFailure(400, "invalid_grant");
      }
      if (accessTokens.get(next.accessToken)?.used === true) {
        throw new OAuthFailure(400, "invalid_grant");
      }
      accessTokens.delete(next.accessToken);
      oauthRefreshTokens.delete(next.token);
    }
    const pair = issuePair(session, true);
    old.consumed = true;
    old.next = pair.refresh!.token;
    accessTokens.delete(old.accessToken);
    changed();
    return answerOf(pair, session.scope);
  }

  async function revoke(request: Request): Promise<Response> {
    const { clientId, secretSent, fields } = await clientForm(
      request,
      settings.maxBodyBytes,
      (form) => ({
        token: form.require("token"),
        hint: form.get("token_type_hint"),
      }),
    );
    const client = clientOf(clientId);
    if (client === undefined || secretSent) {
      throw new OAuthFailure(401, "invalid_client");
    }
    const { token, hint } = fields;
    const type = masTokenType(token);
    if (type === undefined) return emptyOk();
    const known = hint === undefined || hint === "access_token" ||
      hint === "refresh_token";
    let sessionId: string | undefined;
    if (type === "access" && hint !== "refresh_token" && known) {
      const access = accessTokens.get(token);
      if (
        access === undefined || access.kind !== "oauth" ||
        (access.expiresAt !== undefined && clock() >= access.expiresAt)
      ) {
        return emptyOk();
      }
      sessionId = access.sessionId;
    } else if (type === "refresh" && hint !== "access_token" && known) {
      const refreshToken = oauthRefreshTokens.get(token);
      if (refreshToken === undefined || refreshToken.consumed) {
        return emptyOk();
      }
      sessionId = refreshToken.sessionId;
    } else if (known) {
      return emptyOk(); // a compatibility token, or a hint that does not fit
    } else {
      throw new OAuthFailure(400, "unsupported_token_type");
    }
    const session = sessionId === undefined
      ? undefined
      : oauthSessions.get(sessionId);
    if (session === undefined) return emptyOk();
    if (session.clientId !== client.clientId) {
      throw new OAuthFailure(401, "unauthorized_client");
    }
    finishSession(session.id);
    return emptyOk();
  }

  return { start, refresh, revoke };
}
