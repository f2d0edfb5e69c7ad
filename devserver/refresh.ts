/**
 * Refresh of the development homeserver ({@linkcode createRefresh}):
 * `POST /refresh` gives a new access and refresh token each time, and the
 * old refresh token keeps working, as on Synapse, until the new access token
 * or the new refresh token is used.
 *
 * @module
 */
import { MatrixFailure } from "./http.ts";
import type { Store } from "./store.ts";
import type { Tokens } from "./tokens.ts";

/** `POST /refresh` with a body: the new pair, or a thrown `MatrixFailure`. */
export type Refresh = (
  body: Record<string, unknown>,
) => Record<string, unknown>;

/** Refresh for the tokens of `store`, issuing with `tokens`. */
export function createRefresh(store: Store, tokens: Tokens): Refresh {
  const { accessTokens, refreshTokens, clock, changed } = store;
  const { issue, dropRefreshToken } = tokens;

  /** `POST /refresh`: a new pair for a refresh token, or why not. */
  function refresh(body: Record<string, unknown>): Record<string, unknown> {
    const token = body.refresh_token;
    if (typeof token !== "string") {
      throw new MatrixFailure(
        400,
        "M_INVALID_PARAM",
        "Invalid param: refresh_token",
      );
    }
    const old = refreshTokens.get(token);
    if (!old) {
      throw new MatrixFailure(
        401,
        "M_UNKNOWN_TOKEN",
        "refresh token does not exist",
      );
    }
    const next = old.next === undefined
      ? undefined
      : refreshTokens.get(old.next);
    if (
      next &&
      (next.refreshed || accessTokens.get(next.accessToken)?.used === true)
    ) {
      throw new MatrixFailure(
        403,
        "M_FORBIDDEN",
        "refresh token isn't valid anymore",
      );
    }
    if (old.expiresAt !== undefined && clock() >= old.expiresAt) {
      throw new MatrixFailure(
        403,
        "M_FORBIDDEN",
        "The supplied refresh token has expired",
      );
    }
    // A repeated refresh replaces the unused pair the last one gave.
    if (next) dropRefreshToken(next.token);
    const pair = issue(old.userId, old.deviceId, true, old.expiresAt);
    old.refreshed = true;
    old.next = pair.refresh!.token;
    changed();
    return {
      access_token: pair.access.token,
      refresh_token: pair.refresh!.token,
      expires_in_ms: pair.expiresInMs,
    };
  }

  return refresh;
}
