/**
 * Rate limits of the development homeserver, as Synapse's `rc_login`:
 * {@linkcode FailedLoginLimiter}, a leaky bucket per key, and
 * {@linkcode createRateLimits}, which makes the limiters of failed logins per
 * user, of attempts per address, of successful logins per account and of
 * `get_token`, when the `rateLimit` option turns them on.
 *
 * @module
 */
import { MatrixFailure } from "./http.ts";

/** How logins are limited (Synapse's `rc_login`). */
export interface RateLimitSettings {
  /**
   * Failed attempts per user allowed in a burst
   * (`rc_login.failed_attempts`). Default: 3, as in Synapse.
   */
  burst?: number;
  /** Failed attempts regained per second. Default: 0.17, as in Synapse. */
  perSecond?: number;
  /**
   * Login attempts allowed from one address (`rc_login.address`), counted
   * before anything else is checked. This limit does not tell addresses
   * apart: all clients count as one, as on a loopback-only Synapse. Default:
   * `{ burst: 5, perSecond: 0.003 }`, Synapse's, which refuses the 6th login
   * in a row for about 5 minutes; raise it for a test suite, as one must for
   * Synapse.
   */
  address?: { burst?: number; perSecond?: number };
  /**
   * Successful logins allowed per user (`rc_login.account`). Default:
   * `{ burst: 5, perSecond: 0.003 }`, Synapse's.
   */
  account?: { burst?: number; perSecond?: number };
}

/** The one client address this server knows of, for `rc_login.address`. */
export const ADDRESS = "client";

/**
 * A leaky bucket per key, as Synapse's `Ratelimiter`: for failed logins, and
 * for `get_token`.
 */
export class FailedLoginLimiter {
  #levels = new Map<string, { level: number; at: number }>();
  constructor(
    readonly burst: number,
    readonly perSecond: number,
    readonly clock: () => number,
  ) {}

  #level(key: string): number {
    const entry = this.#levels.get(key);
    if (!entry) return 0;
    const leaked = ((this.clock() - entry.at) / 1000) * this.perSecond;
    return Math.max(0, entry.level - leaked);
  }

  /** Throws 429 when one more failed attempt would exceed the burst. */
  check(key: string): void {
    const level = this.#level(key);
    if (level + 1 <= this.burst) return;
    const retryAfterMs = Math.ceil(
      ((level + 1 - this.burst) / this.perSecond) * 1000,
    );
    throw new MatrixFailure(
      429,
      "M_LIMIT_EXCEEDED",
      "Too Many Requests",
      { retry_after_ms: retryAfterMs },
      { "Retry-After": String(Math.ceil(retryAfterMs / 1000)) },
    );
  }

  /** Counts one failed attempt. */
  record(key: string): void {
    this.#levels.set(key, { level: this.#level(key) + 1, at: this.clock() });
  }
}

/** The limiters; each is absent when rate limits are off. */
export interface RateLimits {
  /** Failed logins per user (`rc_login.failed_attempts`). */
  limiter?: FailedLoginLimiter;
  /** Login attempts per address (`rc_login.address`). */
  addressLimiter?: FailedLoginLimiter;
  /** Successful logins per account (`rc_login.account`). */
  accountLimiter?: FailedLoginLimiter;
  /** `get_token` requests per user. */
  getTokenLimiter?: FailedLoginLimiter;
}

/**
 * The limiters `rateLimit` asks for (`true`: Synapse's defaults; `false` or
 * absent: none).
 */
export function createRateLimits(
  rateLimit: boolean | RateLimitSettings | undefined,
  clock: () => number,
): RateLimits {
  const limits = rateLimit === true ? {} : rateLimit || null;
  if (limits === null) return {};
  return {
    limiter: new FailedLoginLimiter(
      limits.burst ?? 3,
      limits.perSecond ?? 0.17,
      clock,
    ),
    addressLimiter: new FailedLoginLimiter(
      limits.address?.burst ?? 5,
      limits.address?.perSecond ?? 0.003,
      clock,
    ),
    accountLimiter: new FailedLoginLimiter(
      limits.account?.burst ?? 5,
      limits.account?.perSecond ?? 0.003,
      clock,
    ),
    // Synapse allows one get_token a minute per user (not configurable);
    // like the failed-login limit, it applies here only when rate limits are
    // on.
    getTokenLimiter: new FailedLoginLimiter(1, 1 / 60, clock),
  };
}
