/**
 * User-interactive authentication of the development homeserver, as
 * Synapse's `validate_user_via_ui_auth` does it ({@linkcode createUia}), for
 * the endpoints that ask a logged-in user to prove who they are again:
 * deleting devices (`devices.ts`) and `POST /login/get_token`
 * ({@linkcode createGetToken}), which, as Synapse's `require_ui_auth: true`,
 * asks for the password for each token, and allows one token a minute per
 * user when rate limits are on.
 *
 * What Synapse 1.160 answered, and this module does:
 *
 * - No `auth` (or an empty one): a new session, and `401` with `flows` (a
 *   password stage when the user has a password, an SSO stage once the user
 *   has signed in through CAS), `params: {}` and the `session`.
 * - `auth` without a `session` starts one, so a single request with the
 *   password is enough; an unknown `session` is `400 M_UNKNOWN` "Unknown
 *   session ID: …"; a session started by another request (method, path and
 *   query) is `403 M_UNKNOWN` "Requested operation has changed during the UI
 *   authentication session."
 * - A stage (`type`): `m.login.password` checks the password as a login
 *   does (its `400` errors as they are), `m.login.dummy` and `m.login.terms`
 *   complete at once, any other type gets the login's answer to an unknown
 *   type; a non-string `type` is `400 M_INVALID_PARAM`. A wrong password is
 *   the `401` again with `completed` (the stages completed so far), `errcode:
 *   M_FORBIDDEN` and `error`; `auth` without `type` is the `401` with
 *   `completed`. Wrong passwords are not rate-limited.
 * - Once a flow is completed, the user it authenticated must be the one of
 *   the access token: else `403 M_FORBIDDEN` "Invalid auth". The session
 *   stays completed: the same request may come again with only the
 *   `session` (Synapse lets a client delete devices one after another so).
 *
 * One difference on purpose: a `get_token` session is spent by the token it
 * gives (the specification: "servers MUST always re-prompt"), where Synapse
 * gives another one (or `429`, within the minute) for the same session.
 *
 * @module
 */
import { isObject, MatrixFailure, readJsonObject } from "./http.ts";
import type { Login } from "./login.ts";
import type { RateLimits } from "./rate_limits.ts";
import { ALNUM, type Store, type User } from "./store.ts";
import type { Tokens } from "./tokens.ts";

/** A user-interactive authentication session, as Synapse keeps one. */
interface UiaSession {
  /** The request that started it; every later leg must be the same. */
  method: string;
  /** Its path and query, as sent. */
  uri: string;
  /**
   * The stages completed, in order, each with the user it authenticated
   * (`true` for a stage that names nobody, such as `m.login.dummy`).
   */
  completed: Map<string, string | true>;
  /** When it started, for its expiry. */
  createdAt: number;
  /** Set once a `get_token` session has given its token. */
  spent?: boolean;
}

/** Synapse's `SESSION_EXPIRE_MS`: sessions are forgotten after 48 hours. */
const SESSION_LIFETIME_MS = 48 * 60 * 60 * 1000;

/** Stages that Synapse completes without checking anything. */
const NO_OP_STAGES = new Set(["m.login.dummy", "m.login.terms"]);

/** What {@linkcode createUia} needs to know, defaults applied. */
export interface UiaSettings {
  /** Whether single sign-on is on (users of CAS get an SSO stage). */
  ssoEnabled: boolean;
}

/** User-interactive authentication for the endpoints that need it. */
export interface Uia {
  /**
   * Returns when `auth` (the request body's `auth`: an object, or
   * `undefined` or `null` for none) completes a flow for `user`, the user
   * of the request's access token; otherwise throws the `401` challenge or
   * the error. `once` spends the session on success (`get_token`).
   */
  validateUser(
    request: Request,
    url: URL,
    auth: Record<string, unknown> | null | undefined,
    user: User,
    options?: { once?: boolean },
  ): void;
}

/**
 * User-interactive authentication for the users of `store`, checking
 * passwords with `login`.
 */
export function createUia(
  store: Store,
  login: Login,
  settings: UiaSettings,
): Uia {
  const { randomString, clock } = store;
  const { checkPassword, unknownLoginType } = login;
  const sessions = new Map<string, UiaSession>();

  /** A new session for this request; forgets expired ones. */
  function newSession(request: Request, url: URL): string {
    const now = clock();
    for (const [id, session] of sessions) {
      if (now - session.createdAt >= SESSION_LIFETIME_MS) sessions.delete(id);
    }
    const id = randomString(ALNUM, 24);
    sessions.set(id, {
      method: request.method,
      uri: url.pathname + url.search,
      completed: new Map(),
      createdAt: now,
    });
    return id;
  }

  function validateUser(
    request: Request,
    url: URL,
    auth: Record<string, unknown> | null | undefined,
    user: User,
    options: { once?: boolean } = {},
  ): void {
    // Synapse answers 500 to "auth": null (it reads it as a dict): here it
    // is no auth.
    if (auth === undefined || auth === null || Object.keys(auth).length === 0) {
      throw challenge(user, newSession(request, url));
    }
    const sessionId = auth.session;
    let id: string;
    if (sessionId === undefined || sessionId === null || sessionId === "") {
      id = newSession(request, url);
    } else {
      const known = typeof sessionId === "string"
        ? sessions.get(sessionId)
        : undefined;
      const shown = typeof sessionId === "string"
        ? sessionId
        : JSON.stringify(sessionId);
      if (
        known === undefined || clock() - known.createdAt >= SESSION_LIFETIME_MS
      ) {
        throw new MatrixFailure(
          400,
          "M_UNKNOWN",
          `Unknown session ID: ${shown}`,
        );
      }
      if (known.spent) {
        throw new MatrixFailure(
          400,
          "M_UNKNOWN",
          `Unknown session ID: ${shown} (each login token needs a session of its own: start again with a request without auth)`,
        );
      }
      if (
        known.method !== request.method ||
        known.uri !== url.pathname + url.search
      ) {
        throw new MatrixFailure(
          403,
          "M_UNKNOWN",
          "Requested operation has changed during the UI authentication session.",
        );
      }
      id = sessionId as string;
    }
    const session = sessions.get(id)!;

    let failure: Record<string, unknown> | undefined;
    if ("type" in auth) {
      const type = auth.type;
      if (typeof type !== "string") {
        throw new MatrixFailure(400, "M_INVALID_PARAM", "Bad parameter: type");
      }
      try {
        if (type === "m.login.password") {
          session.completed.set(type, checkPassword(auth, false).userId);
        } else if (NO_OP_STAGES.has(type)) {
          session.completed.set(type, true);
        } else {
          unknownLoginType(auth, type);
        }
      } catch (error) {
        // A failed stage (a wrong password): the challenge again, with the
        // error. Malformed stages are answered as they are.
        if (!(error instanceof MatrixFailure) || error.status !== 403) {
          throw error;
        }
        failure = { errcode: error.errcode, error: error.message };
      }
    }

    const stages = stagesOf(user);
    const done = stages.find((stage) => session.completed.has(stage));
    if (done === undefined) throw challenge(user, id, session, failure);
    if (session.completed.get(done) !== user.userId) {
      throw new MatrixFailure(403, "M_FORBIDDEN", "Invalid auth");
    }
    if (options.once) session.spent = true;
  }

  /**
   * The stages a user can complete, each a flow of its own: a password stage
   * when the user has a password, an SSO stage once the user has signed in
   * through CAS (listed, though this server cannot complete it: it needs a
   * fallback web page).
   */
  function stagesOf(user: User): string[] {
    const stages: string[] = [];
    if (user.password !== undefined) stages.push("m.login.password");
    if (user.sso && settings.ssoEnabled) stages.push("m.login.sso");
    return stages;
  }

  /**
   * The 401 user-interactive authentication answer: the user's flows and
   * the session, and once `auth` was sent, `completed` and any failed
   * stage's error.
   */
  function challenge(
    user: User,
    sessionId: string,
    session?: UiaSession,
    failure?: Record<string, unknown>,
  ): MatrixFailure {
    const body: Record<string, unknown> = {
      session: sessionId,
      flows: stagesOf(user).map((stage) => ({ stages: [stage] })),
      params: {},
    };
    if (session) body.completed = [...session.completed.keys()];
    if (failure) Object.assign(body, failure);
    return new MatrixFailure(
      401,
      String(failure?.errcode ?? ""),
      String(failure?.error ?? ""),
      body,
      {},
      true,
    );
  }

  return { validateUser };
}

/** What {@linkcode createGetToken} needs to know, defaults applied. */
export interface GetTokenSettings {
  /** How long a login token from `get_token` lives, in ms. */
  getTokenLifetime: number;
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
 * issues the login token, `uia` asks for the password.
 */
export function createGetToken(
  store: Store,
  tokens: Tokens,
  uia: Uia,
  limits: RateLimits,
  settings: GetTokenSettings,
): GetToken {
  const { users } = store;
  const { authenticate, issueLoginToken } = tokens;
  const { getTokenLimiter } = limits;
  const { getTokenLifetime, maxBodyBytes } = settings;

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
    const body = await readJsonObject(request, maxBodyBytes);
    const auth = body.auth;
    if (auth !== undefined && auth !== null && !isObject(auth)) {
      throw new MatrixFailure(400, "M_BAD_JSON", "auth must be an object");
    }
    // Each token needs a fresh consent (the specification: always re-prompt).
    uia.validateUser(request, url, auth, users.get(userId)!, { once: true });
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

  return getToken;
}
