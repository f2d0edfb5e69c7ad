/**
 * User-interactive authentication of the development homeserver, for the one
 * endpoint that asks for it: `POST /login/get_token`
 * ({@linkcode createGetToken}), which, as Synapse's `require_ui_auth: true`,
 * asks for the password each time (a 401 challenge with the user's flows and
 * a session, then a login token once the password stage is completed), one
 * token a minute per user when rate limits are on.
 *
 * @module
 */
import { isObject, MatrixFailure, readJsonObject } from "./http.ts";
import type { Login } from "./login.ts";
import type { RateLimits } from "./rate_limits.ts";
import { ALNUM, type Store, type User } from "./store.ts";
import type { Tokens } from "./tokens.ts";

/** A user-interactive authentication session of `POST /login/get_token`. */
interface UiaSession {
  userId: string;
}

/** What {@linkcode createGetToken} needs to know, defaults applied. */
export interface GetTokenSettings {
  /** How long a login token from `get_token` lives, in ms. */
  getTokenLifetime: number;
  /** Whether single sign-on is on (users of CAS get an SSO stage). */
  ssoEnabled: boolean;
  /** The largest request body accepted, in bytes. */
  maxBodyBytes: number;
}

/** `POST /login/get_token`: a login token, or a thrown `MatrixFailure`. */
export type GetToken = (
  request: Request,
  url: URL,
) => Promise<Record<string, unknown>>;

/**
 * `get_token` for the users of `store`: `tokens` checks the access token and
 * issues the login token, `login` checks the password.
 */
export function createGetToken(
  store: Store,
  tokens: Tokens,
  login: Login,
  limits: RateLimits,
  settings: GetTokenSettings,
): GetToken {
  const { users, randomString } = store;
  const { authenticate, issueLoginToken } = tokens;
  const { checkPassword } = login;
  const { getTokenLimiter } = limits;
  const { getTokenLifetime, ssoEnabled, maxBodyBytes } = settings;
  const json = (request: Request) => readJsonObject(request, maxBodyBytes);
  const uiaSessions = new Map<string, UiaSession>();

  /**
   * `POST /login/get_token`. Synapse (with `require_ui_auth`) asks for the
   * password each time, through user-interactive authentication: without
   * `auth`, a 401 with the flows and a session; with it, a login token.
   */
  async function getToken(
    request: Request,
    url: URL,
  ): Promise<Record<string, unknown>> {
    // The access token first, then the body, as Synapse does.
    const { userId } = authenticate(request, url);
    const body = await json(request);
    const user = users.get(userId)!;
    const auth = body.auth;
    if (auth === undefined) throw uiaChallenge(user, newUiaSession(userId));
    if (!isObject(auth)) {
      throw new MatrixFailure(400, "M_BAD_JSON", "auth must be an object");
    }
    const sessionId = auth.session;
    const session = typeof sessionId === "string"
      ? uiaSessions.get(sessionId)
      : undefined;
    if (typeof sessionId !== "string" || !session) {
      throw new MatrixFailure(
        400,
        "M_UNKNOWN",
        "Unknown session ID: start again with a request without auth",
      );
    }
    if (session.userId !== userId) {
      throw new MatrixFailure(403, "M_FORBIDDEN", "Invalid auth");
    }
    if (auth.type !== "m.login.password") {
      // The only stage that can be completed here; Synapse's m.login.sso
      // stage needs its fallback web page, which this server does not have.
      throw uiaChallenge(user, sessionId, {
        errcode: "M_UNRECOGNIZED",
        error: `Unsupported auth type ${
          JSON.stringify(auth.type)
        }: this server completes only m.login.password`,
      });
    }
    let authenticated: User;
    try {
      authenticated = checkPassword(auth);
    } catch (error) {
      // A failed stage: the challenge again, with the error merged in.
      if (error instanceof MatrixFailure && error.status === 403) {
        throw uiaChallenge(user, sessionId, {
          errcode: error.errcode,
          error: error.message,
        });
      }
      throw error;
    }
    if (authenticated.userId !== userId) {
      throw new MatrixFailure(403, "M_FORBIDDEN", "Invalid auth");
    }
    // Each token needs a fresh consent (the specification: always re-prompt).
    uiaSessions.delete(sessionId);
    // After user-interactive authentication, as Synapse does.
    getTokenLimiter?.check(userId);
    getTokenLimiter?.record(userId);
    return {
      login_token: issueLoginToken(userId, getTokenLifetime),
      // Synapse still sends MSC3882's unstable field, in seconds.
      expires_in: Math.floor(getTokenLifetime / 1000),
      expires_in_ms: getTokenLifetime,
    };
  }

  /** A new user-interactive authentication session for `userId`. */
  function newUiaSession(userId: string): string {
    const id = randomString(ALNUM, 24);
    uiaSessions.set(id, { userId });
    return id;
  }

  /**
   * The 401 user-interactive authentication answer: the user's flows (a
   * password stage when the user has a password, an SSO stage once the
   * user has signed in through CAS), and, after a failed stage,
   * `completed` and the stage's error.
   */
  function uiaChallenge(
    user: User,
    session: string,
    failure?: Record<string, unknown>,
  ): MatrixFailure {
    const flows: { stages: string[] }[] = [];
    if (user.password !== undefined) {
      flows.push({ stages: ["m.login.password"] });
    }
    if (user.sso && ssoEnabled) flows.push({ stages: ["m.login.sso"] });
    const body: Record<string, unknown> = { flows, params: {}, session };
    if (failure) Object.assign(body, { completed: [] }, failure);
    return new MatrixFailure(
      401,
      String(failure?.errcode ?? ""),
      String(failure?.error ?? ""),
      body,
      {},
      true,
    );
  }

  return getToken;
}
