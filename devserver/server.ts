/**
 * A development homeserver: just enough of the Matrix client-server API to
 * log in, refresh tokens and log out, answering the way Synapse 1.160 does.
 *
 * It is one web-standard request handler with its state in memory, so tests
 * can hand it to the library's `Client` as its `fetch` (see
 * {@linkcode fetchOf}): no port, no network, nothing left behind.
 * `devserver/main.ts` serves the same handler on a loopback port for the
 * book's examples.
 *
 * What it imitates, each checked by a test in `server_test.ts`:
 *
 * - `GET /.well-known/matrix/client`: `base_url` always ends with `/`.
 * - `GET /_matrix/client/versions`: Synapse's list, `r0.0.1` to `v1.12`.
 * - `GET /_matrix/client/v3/login`: `m.login.token` (with
 *   `get_login_token: true`) and `m.login.password`, in Synapse's order.
 * - `POST /_matrix/client/v3/login` with a password: `m.id.user` (localpart
 *   or full user ID), the deprecated top-level `user`, `m.id.thirdparty`
 *   (email compared case-insensitively; `msisdn`), and `m.id.phone`. Every
 *   response carries `well_known`. `refresh_token: true` gives a
 *   `refresh_token` and `expires_in_ms` when access tokens expire
 *   (`accessTokenLifetimeMs`); otherwise tokens never expire. A wrong
 *   password, an unknown user and an unknown third-party ID all give
 *   `403 M_FORBIDDEN`. Logging in with an existing `device_id` ends that
 *   device's old tokens.
 * - `POST /_matrix/client/v3/refresh` (and `/v1/refresh`): a new pair each
 *   time; the old refresh token keeps working until the new access token or
 *   the new refresh token is used, then `403 M_FORBIDDEN`. Unknown refresh
 *   token: `401 M_UNKNOWN_TOKEN`; expired: `403 M_FORBIDDEN`.
 * - Access tokens only in `Authorization: Bearer`; a token in the query
 *   string is refused. Expired: `401 M_UNKNOWN_TOKEN` with `soft_logout:
 *   true`; unknown: the same with `soft_logout: false`; none:
 *   `401 M_MISSING_TOKEN`.
 * - `POST /logout`, `POST /logout/all`, `GET /account/whoami`.
 * - With `rateLimit`, failed logins per user are limited as Synapse's
 *   `rc_login.failed_attempts` does: `429 M_LIMIT_EXCEEDED` with a
 *   `Retry-After` header (seconds) and `retry_after_ms` in the body.
 *
 * One difference on purpose: for `m.id.phone`, Synapse reads the number from
 * a `number` key, while the specification names it `phone` (a request with
 * only `phone` gets `400 M_MISSING_PARAM` "Missing JSON keys." from Synapse).
 * This server follows the specification and also accepts `number`.
 *
 * `citadel.ts` wraps this server to speak Thales Citadel's dialect.
 *
 * @module
 */

/** A user to create. */
export interface UserSpec {
  /** The localpart, such as `"alice"`; stored in lower case. */
  localpart: string;
  /** The password. */
  password: string;
  /** Email addresses the user can log in with (compared ignoring case). */
  emails?: string[];
  /**
   * Phone numbers the user can log in with, as MSISDNs: the international
   * number in digits, without `+`, such as `"491711234567"`.
   */
  phones?: string[];
}

/** How failed logins are limited (Synapse's `rc_login.failed_attempts`). */
export interface RateLimitSettings {
  /** Failed attempts allowed in a burst. Default: 3, as in Synapse. */
  burst?: number;
  /** Attempts regained per second. Default: 0.17, as in Synapse. */
  perSecond?: number;
}

/** What {@linkcode createHomeserver} can be told. */
export interface HomeserverOptions {
  /** The server name in user IDs. Default: `"localhost:8008"`. */
  serverName?: string;
  /**
   * The base URL announced in `.well-known` and in login responses; a `/` is
   * added when missing. Default: `"http://localhost:8008/"`.
   */
  baseUrl?: string;
  /** Users to create at the start. Default: none. */
  users?: UserSpec[];
  /**
   * How long an access token lives, for clients that ask for a refresh token
   * (`refresh_token: true`). Default: `undefined`, meaning no refresh tokens
   * are issued and tokens never expire (Synapse's default).
   */
  accessTokenLifetimeMs?: number;
  /**
   * How long a refresh token lives; an access token never outlives its
   * refresh token. Default: `undefined`, forever.
   */
  refreshTokenLifetimeMs?: number;
  /** Limit failed logins per user: `true` for Synapse's defaults. Off by default. */
  rateLimit?: boolean | RateLimitSettings;
  /** Where the time comes from (ms since the epoch). Default: `Date.now`. */
  clock?: () => number;
  /**
   * A seed for tokens and device IDs: the same seed and the same requests give
   * the same tokens, so transcripts are reproducible. Default: no seed, tokens
   * from `crypto.getRandomValues`.
   */
  seed?: number;
  /** The largest request body accepted, in bytes. Default: 65 536. */
  maxBodyBytes?: number;
  /** Called with each request's log entry, once it is answered. */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** One answered request, without secrets: no tokens, no passwords, no query. */
export interface RequestLogEntry {
  method: string;
  /** The URL path, without the query string. */
  path: string;
  status: number;
  /** The Matrix error code, when the answer was an error. */
  errcode?: string;
}

/** A device of a user, as a test may want to see it. */
export interface DeviceInfo {
  deviceId: string;
  displayName?: string;
}

/** A running (in-memory) homeserver. */
export interface Homeserver {
  /** The server name, such as `"localhost:8008"`. */
  readonly serverName: string;
  /** The base URL, ending with `/`. */
  readonly baseUrl: string;
  /** Answers one request. Never throws: every failure is a Matrix error. */
  handler: (request: Request) => Promise<Response>;
  /** Every request answered so far, oldest first. */
  readonly log: readonly RequestLogEntry[];
  /** Forgets the log. */
  clearLog(): void;
  /** Creates a user; returns its user ID. Throws if it exists already. */
  addUser(user: UserSpec): string;
  /** The IDs of every user, sorted. */
  userIds(): string[];
  /** The devices of a user that hold tokens, sorted by ID. */
  devices(userId: string): DeviceInfo[];
}

/**
 * A `fetch` that sends every request to `hs.handler`, for the library's
 * `Client` (which calls `fetch(url, init)`).
 */
export function fetchOf(
  hs: Homeserver,
): (input: Request | URL | string, init?: RequestInit) => Promise<Response> {
  return (input, init) => hs.handler(new Request(input, init));
}

/** The versions Synapse 1.160 lists. */
const VERSIONS = [
  "r0.0.1",
  "r0.1.0",
  "r0.2.0",
  "r0.3.0",
  "r0.4.0",
  "r0.5.0",
  "r0.6.0",
  "r0.6.1",
  "v1.1",
  "v1.2",
  "v1.3",
  "v1.4",
  "v1.5",
  "v1.6",
  "v1.7",
  "v1.8",
  "v1.9",
  "v1.10",
  "v1.11",
  "v1.12",
];

/**
 * Country calling codes for `m.id.phone`, for a few countries. Synapse uses
 * the `phonenumbers` library; this table is enough for examples and tests.
 * Countries in the North American plan have no trunk prefix to drop.
 */
const CALLING_CODES: Record<string, string> = {
  US: "1",
  CA: "1",
  GB: "44",
  DE: "49",
  FR: "33",
  NL: "31",
  BE: "32",
  ES: "34",
  IT: "39",
  CH: "41",
  AT: "43",
  SE: "46",
  NO: "47",
  DK: "45",
  PL: "48",
  IE: "353",
  AU: "61",
  JP: "81",
};

/** A Matrix error answer, thrown inside the handler and turned into JSON. */
class MatrixFailure extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface User {
  userId: string;
  localpart: string;
  password: string;
  emails: Set<string>;
  phones: Set<string>;
}

interface Device {
  userId: string;
  deviceId: string;
  displayName?: string;
}

interface AccessToken {
  token: string;
  userId: string;
  deviceId: string;
  expiresAt?: number;
  /** The refresh token issued with it, if any. */
  refreshToken?: string;
  /** Whether it has authenticated a request. */
  used: boolean;
}

interface RefreshToken {
  token: string;
  userId: string;
  deviceId: string;
  expiresAt?: number;
  /** The access token issued with it. */
  accessToken: string;
  /** The refresh token that refreshing this one gave, if any. */
  next?: string;
  /** Whether it has been used to refresh. */
  refreshed: boolean;
}

/** A leaky bucket per key, as Synapse's `Ratelimiter`. */
class FailedLoginLimiter {
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

/** Random integers below `n`: seeded (mulberry32) or from `crypto`. */
function randomSource(seed: number | undefined): (n: number) => number {
  if (seed === undefined) {
    return (n) => {
      const word = new Uint32Array(1);
      crypto.getRandomValues(word);
      return word[0] % n;
    };
  }
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const value = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return Math.floor(value * n);
  };
}

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Creates a homeserver with its state in memory. */
export function createHomeserver(options: HomeserverOptions = {}): Homeserver {
  const serverName = options.serverName ?? "localhost:8008";
  const baseUrl = withSlash(options.baseUrl ?? "http://localhost:8008/");
  const basePath = new URL(baseUrl).pathname;
  const clock = options.clock ?? Date.now;
  const randomBelow = randomSource(options.seed);
  const maxBodyBytes = options.maxBodyBytes ?? 65_536;
  const accessLifetime = options.accessTokenLifetimeMs;
  const refreshLifetime = options.refreshTokenLifetimeMs;
  const limits = options.rateLimit === true ? {} : options.rateLimit || null;
  const limiter = limits === null ? undefined : new FailedLoginLimiter(
    limits.burst ?? 3,
    limits.perSecond ?? 0.17,
    clock,
  );

  const users = new Map<string, User>();
  const devices = new Map<string, Device>(); // key: userId + "|" + deviceId
  const accessTokens = new Map<string, AccessToken>();
  const refreshTokens = new Map<string, RefreshToken>();
  const log: RequestLogEntry[] = [];

  function randomString(alphabet: string, length: number): string {
    let s = "";
    for (let i = 0; i < length; i++) {
      s += alphabet[randomBelow(alphabet.length)];
    }
    return s;
  }

  /** A token shaped like Synapse's: `syt_<localpart>_<random>_<check>`. */
  function newToken(prefix: string, userId: string): string {
    const localpart = userId.slice(1, userId.indexOf(":"));
    const encoded = btoa(localpart).replace(/=+$/, "").replaceAll("+", "-")
      .replaceAll("/", "_");
    return `${prefix}_${encoded}_${randomString(ALNUM, 20)}_${
      randomString(ALNUM, 6)
    }`;
  }

  function addUser(spec: UserSpec): string {
    const localpart = spec.localpart.toLowerCase();
    if (!/^[a-z0-9._=\-/+]+$/.test(localpart)) {
      throw new TypeError(
        `Invalid localpart ${JSON.stringify(spec.localpart)}`,
      );
    }
    const userId = `@${localpart}:${serverName}`;
    if (users.has(userId)) throw new Error(`${userId} exists already`);
    users.set(userId, {
      userId,
      localpart,
      password: spec.password,
      emails: new Set((spec.emails ?? []).map((e) => e.trim().toLowerCase())),
      phones: new Set((spec.phones ?? []).map((p) => p.replace(/\D/g, ""))),
    });
    return userId;
  }
  for (const user of options.users ?? []) addUser(user);

  // ---- tokens and devices ----

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
    devices.delete(`${userId}|${deviceId}`);
  }

  /** Issues an access token, and a refresh token when `refreshable`. */
  function issue(
    userId: string,
    deviceId: string,
    refreshable: boolean,
    refreshExpiresAt?: number,
  ): { access: AccessToken; refresh?: RefreshToken; expiresInMs?: number } {
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
  }

  /**
   * The access token of a request. Only the `Authorization: Bearer` header is
   * accepted. `allowExpired` is for logout, which Synapse allows with an
   * expired token.
   */
  function authenticate(
    request: Request,
    url: URL,
    allowExpired = false,
  ): AccessToken {
    if (url.searchParams.has("access_token")) {
      throw new MatrixFailure(
        401,
        "M_MISSING_TOKEN",
        "Access tokens in the query string are not accepted: send them in the Authorization header (Authorization: Bearer TOKEN)",
      );
    }
    const header = request.headers.get("Authorization");
    if (header === null) {
      throw new MatrixFailure(401, "M_MISSING_TOKEN", "Missing access token");
    }
    const match = /^Bearer +(\S+)$/.exec(header);
    if (!match) {
      throw new MatrixFailure(
        401,
        "M_MISSING_TOKEN",
        "Invalid Authorization header",
      );
    }
    const token = accessTokens.get(match[1]);
    if (!token) {
      throw new MatrixFailure(
        401,
        "M_UNKNOWN_TOKEN",
        "Invalid access token passed.",
        { soft_logout: false },
      );
    }
    if (
      !allowExpired && token.expiresAt !== undefined &&
      clock() >= token.expiresAt
    ) {
      throw new MatrixFailure(
        401,
        "M_UNKNOWN_TOKEN",
        "Access token has expired",
        { soft_logout: true },
      );
    }
    token.used = true;
    return token;
  }

  // ---- login ----

  /** The user a password login names, or why the request is malformed. */
  function loginUser(body: Record<string, unknown>): {
    userId?: string;
    limitKey: string;
  } {
    let identifier = body.identifier;
    if (identifier === undefined) {
      // Deprecated forms: top-level `user`, or `medium` and `address`.
      if (typeof body.user === "string") {
        identifier = { type: "m.id.user", user: body.user };
      } else if (body.medium !== undefined || body.address !== undefined) {
        identifier = {
          type: "m.id.thirdparty",
          medium: body.medium,
          address: body.address,
        };
      } else {
        throw new MatrixFailure(400, "M_MISSING_PARAM", "Missing JSON keys.");
      }
    }
    if (!isObject(identifier)) {
      throw new MatrixFailure(400, "M_INVALID_PARAM", "Invalid identifier");
    }
    switch (identifier.type) {
      case "m.id.user": {
        const user = identifier.user;
        if (typeof user !== "string") {
          throw new MatrixFailure(400, "M_MISSING_PARAM", "Missing JSON keys.");
        }
        const userId = (user.startsWith("@") ? user : `@${user}:${serverName}`)
          .toLowerCase();
        return {
          userId: users.has(userId) ? userId : undefined,
          limitKey: `user ${userId}`,
        };
      }
      case "m.id.thirdparty": {
        const { medium, address } = identifier;
        if (typeof medium !== "string" || typeof address !== "string") {
          throw new MatrixFailure(400, "M_MISSING_PARAM", "Missing JSON keys.");
        }
        return byThirdParty(medium, address);
      }
      case "m.id.phone": {
        // The specification's key is `phone`; Synapse reads `number`.
        const country = identifier.country;
        const phone = identifier.phone ?? identifier.number;
        if (typeof country !== "string" || typeof phone !== "string") {
          throw new MatrixFailure(400, "M_MISSING_PARAM", "Missing JSON keys.");
        }
        return byThirdParty("msisdn", msisdnOf(country, phone));
      }
      default:
        throw new MatrixFailure(
          400,
          "M_UNKNOWN",
          "Unknown login identifier type",
        );
    }
  }

  function byThirdParty(
    medium: string,
    address: string,
  ): { userId?: string; limitKey: string } {
    let canonical = address.trim();
    let key: "emails" | "phones" | undefined;
    if (medium === "email") {
      canonical = canonical.toLowerCase();
      key = "emails";
    } else if (medium === "msisdn") {
      canonical = canonical.replace(/\D/g, "");
      key = "phones";
    }
    const limitKey = `3pid ${medium} ${canonical}`;
    if (key === undefined) return { limitKey };
    for (const user of users.values()) {
      if (user[key].has(canonical)) return { userId: user.userId, limitKey };
    }
    return { limitKey };
  }

  function msisdnOf(country: string, phone: string): string {
    const trimmed = phone.trim();
    const digits = trimmed.replace(/\D/g, "");
    if (trimmed.startsWith("+")) return digits;
    const code = CALLING_CODES[country.toUpperCase()];
    if (code === undefined || digits === "") {
      throw new MatrixFailure(
        400,
        "M_INVALID_PARAM",
        "Unable to parse phone number",
      );
    }
    return code + (code === "1" ? digits : digits.replace(/^0/, ""));
  }

  function login(body: Record<string, unknown>): Record<string, unknown> {
    const type = body.type;
    if (typeof type !== "string") {
      throw new MatrixFailure(400, "M_INVALID_PARAM", "Bad parameter: type");
    }
    if (type === "m.login.token") {
      // Login tokens come with `get_token` and single sign-on (not yet here):
      // no token can be valid, and Synapse's answer to one is this.
      throw new MatrixFailure(403, "M_FORBIDDEN", "Invalid login token");
    }
    if (type !== "m.login.password") {
      throw new MatrixFailure(400, "M_UNKNOWN", `Unknown login type ${type}`);
    }
    const { userId, limitKey } = loginUser(body);
    if (body.password === undefined) {
      throw new MatrixFailure(
        400,
        "M_MISSING_PARAM",
        "Missing parameters for login type m.login.password: ['password']",
      );
    }
    if (typeof body.password !== "string") {
      throw new MatrixFailure(
        400,
        "M_INVALID_PARAM",
        "Login parameter password should be a string",
      );
    }
    limiter?.check(limitKey);
    const user = userId === undefined ? undefined : users.get(userId);
    if (!user || user.password !== body.password) {
      limiter?.record(limitKey);
      throw new MatrixFailure(
        403,
        "M_FORBIDDEN",
        "Invalid username or password",
      );
    }
    const requested = body.device_id;
    if (requested !== undefined && typeof requested !== "string") {
      throw new MatrixFailure(400, "M_INVALID_PARAM", "Invalid device_id");
    }
    const deviceId = requested || randomString(LETTERS, 10);
    // The specification: logging in as an existing device ends its old tokens.
    const existing = devices.get(`${user.userId}|${deviceId}`);
    endDevice(user.userId, deviceId);
    const device: Device = { userId: user.userId, deviceId };
    const displayName = existing
      ? existing.displayName
      : body.initial_device_display_name;
    if (typeof displayName === "string") device.displayName = displayName;
    devices.set(`${user.userId}|${deviceId}`, device);
    const { access, refresh, expiresInMs } = issue(
      user.userId,
      deviceId,
      body.refresh_token === true,
    );
    const answer: Record<string, unknown> = {
      user_id: user.userId,
      access_token: access.token,
      home_server: serverName,
      device_id: deviceId,
      well_known: { "m.homeserver": { base_url: baseUrl } },
    };
    if (refresh) {
      answer.refresh_token = refresh.token;
      answer.expires_in_ms = expiresInMs;
    }
    return answer;
  }

  // ---- refresh ----

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
    return {
      access_token: pair.access.token,
      refresh_token: pair.refresh!.token,
      expires_in_ms: pair.expiresInMs,
    };
  }

  // ---- routing ----

  type Route = {
    method: string;
    pattern: RegExp;
    run: (request: Request, url: URL) => Promise<unknown> | unknown;
  };
  const json = (request: Request) => readJsonObject(request, maxBodyBytes);
  const routes: Route[] = [
    {
      method: "GET",
      pattern: /^\/\.well-known\/matrix\/client$/,
      run: () => ({ "m.homeserver": { base_url: baseUrl } }),
    },
    {
      method: "GET",
      pattern: /^\/_matrix\/client\/versions$/,
      run: () => ({ versions: VERSIONS, unstable_features: {} }),
    },
    {
      method: "GET",
      pattern: /^\/_matrix\/client\/(r0|v3)\/login$/,
      // Room for m.login.sso and m.login.cas, which Synapse lists first.
      run: () => ({
        flows: [
          { type: "m.login.token", get_login_token: true },
          { type: "m.login.password" },
        ],
      }),
    },
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(r0|v3)\/login$/,
      run: async (request) => login(await json(request)),
    },
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(v1|v3)\/refresh$/,
      run: async (request) => refresh(await json(request)),
    },
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(r0|v3)\/logout$/,
      run: (request, url) => {
        const token = authenticate(request, url, true);
        endDevice(token.userId, token.deviceId);
        return {};
      },
    },
    {
      method: "POST",
      pattern: /^\/_matrix\/client\/(r0|v3)\/logout\/all$/,
      run: (request, url) => {
        const { userId } = authenticate(request, url, true);
        for (const device of [...devices.values()]) {
          if (device.userId === userId) endDevice(userId, device.deviceId);
        }
        return {};
      },
    },
    {
      method: "GET",
      pattern: /^\/_matrix\/client\/(r0|v3)\/account\/whoami$/,
      run: (request, url) => {
        const token = authenticate(request, url);
        return {
          user_id: token.userId,
          device_id: token.deviceId,
          is_guest: false,
        };
      },
    },
  ];

  async function answer(request: Request, url: URL): Promise<Response> {
    let path = url.pathname;
    if (basePath !== "/" && path.startsWith(basePath)) {
      path = path.slice(basePath.length - 1);
    }
    if (request.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: CORS });
    }
    const matching = routes.filter((r) => r.pattern.test(path));
    if (matching.length === 0) {
      throw new MatrixFailure(404, "M_UNRECOGNIZED", "Unrecognized request");
    }
    const route = matching.find((r) => r.method === request.method);
    if (!route) {
      throw new MatrixFailure(405, "M_UNRECOGNIZED", "Unrecognized request");
    }
    return jsonResponse(200, await route.run(request, url));
  }

  async function handler(request: Request): Promise<Response> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      url = new URL("http://invalid/");
    }
    let response: Response;
    const entry: RequestLogEntry = {
      method: request.method,
      path: url.pathname,
      status: 0,
    };
    try {
      response = await answer(request, url);
    } catch (error) {
      const failure = error instanceof MatrixFailure
        ? error
        : new MatrixFailure(
          500,
          "M_UNKNOWN",
          "Internal server error",
        );
      response = jsonResponse(
        failure.status,
        { errcode: failure.errcode, error: failure.message, ...failure.extra },
        failure.headers,
      );
      entry.errcode = failure.errcode;
    }
    entry.status = response.status;
    log.push(entry);
    options.onRequest?.(entry);
    return response;
  }

  return {
    serverName,
    baseUrl,
    handler,
    log,
    clearLog: () => {
      log.length = 0;
    },
    addUser,
    userIds: () => [...users.keys()].sort(),
    devices: (userId) =>
      [...devices.values()]
        .filter((d) => d.userId === userId)
        .map((d) => {
          const info: DeviceInfo = { deviceId: d.deviceId };
          if (d.displayName !== undefined) info.displayName = d.displayName;
          return info;
        })
        .sort((a, b) => a.deviceId.localeCompare(b.deviceId)),
  };
}

/** The headers Synapse sends so that browsers may call it from any origin. */
const CORS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers":
    "X-Requested-With, Content-Type, Authorization, Date",
  "Access-Control-Expose-Headers": "Synapse-Trace-Id, Server",
};

/**
 * A JSON answer with the headers every answer of this server carries (CORS,
 * no caching), for modules that answer beside it, such as `citadel.ts`.
 */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...CORS,
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, no-store, must-revalidate",
      ...headers,
    },
  });
}

/**
 * The request body as a JSON object, read up to `max` bytes. Synapse's
 * answers: `M_NOT_JSON` for text that is not JSON, `M_BAD_JSON` for JSON
 * that is not an object; `413 M_TOO_LARGE` for a body over the limit.
 */
async function readJsonObject(
  request: Request,
  max: number,
): Promise<Record<string, unknown>> {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        throw new MatrixFailure(413, "M_TOO_LARGE", "Request body too large");
      }
      chunks.push(value);
    }
  }
  const bytes = await new Blob(chunks).arrayBuffer();
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new MatrixFailure(400, "M_NOT_JSON", "Content not JSON.");
  }
  if (!isObject(value)) {
    throw new MatrixFailure(
      400,
      "M_BAD_JSON",
      "Content must be a JSON object.",
    );
  }
  return value;
}

function withSlash(url: string): string {
  const parsed = new URL(url);
  if (!parsed.pathname.endsWith("/")) parsed.pathname += "/";
  return parsed.href;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
