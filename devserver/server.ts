/**
 * A development homeserver: just enough of the Matrix client-server API to
 * log in (with a password, a login token or single sign-on), refresh tokens,
 * manage devices and log out, answering the way Synapse 1.160 does, with its
 * own CAS identity provider so that single sign-on needs no outside service.
 *
 * It is one web-standard request handler with its state in memory, so tests
 * can hand it to the library's `Client` as its `fetch` (see
 * {@linkcode fetchOf}): no port, no network, nothing left behind.
 * `devserver/main.ts` serves the same handler on a loopback port for the
 * book's examples.
 *
 * What it imitates, each checked by a test in `server_test.ts`,
 * `devices_test.ts` or `sso_test.ts`:
 *
 * - `GET /.well-known/matrix/client`: `base_url` always ends with `/`.
 * - `GET /_matrix/client/versions`: Synapse's list, `r0.0.1` to `v1.12`.
 * - `GET /_matrix/client/v3/login`: `m.login.cas`, `m.login.sso` with
 *   `identity_providers: [{id: "cas", name: "CAS"}]`, `m.login.token` (with
 *   `get_login_token: true`) and `m.login.password`, in Synapse's order;
 *   without the first two when `sso` is `false`. (Synapse also lists
 *   `m.login.application_service`, which this server does not implement.)
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
 * - Access tokens in `Authorization: Bearer TOKEN` (one space; anything else
 *   is `401 M_MISSING_TOKEN` "Invalid Authorization header.") or in the
 *   deprecated `access_token` query parameter (the first one); both at once:
 *   `401 M_MISSING_TOKEN` "Mixing Authorization headers and access_token
 *   query parameters.", even when equal. `accessTokenInQuery: false` refuses
 *   the query parameter, to rehearse a specification without it. Expired:
 *   `401 M_UNKNOWN_TOKEN` with `soft_logout: true`; unknown: the same with
 *   `soft_logout: false`; none: `401 M_MISSING_TOKEN`. The request log never
 *   holds a query string, only `tokenInQuery` when a token came in one.
 * - `POST /logout`, `POST /logout/all`, `GET /account/whoami`.
 * - `GET /capabilities`: Synapse's list, with `m.get_login_token` enabled
 *   and what this server lacks (password change, profiles, third-party
 *   IDs) disabled.
 * - Devices (`devices.ts`): `GET /devices` (sorted by ID, each entry with
 *   `user_id` and `display_name`, `last_seen_ts` and `last_seen_ip`, `null`
 *   when unknown), `GET` and `PUT /devices/{deviceId}` (a name of at most
 *   100 characters), `DELETE /devices/{deviceId}` and `POST /delete_devices`
 *   behind user-interactive authentication (`uia.ts`), ending the devices'
 *   tokens; unknown IDs are ignored. A device is seen when one of its access
 *   tokens authenticates a request, noted once in two minutes per token and
 *   client address, as Synapse's `LAST_SEEN_GRANULARITY`.
 * - `POST /login` with `m.login.token`: a login token logs in once;
 *   unknown, used and expired tokens all get `403 M_FORBIDDEN` "Invalid
 *   login token". `device_id`, `initial_device_display_name` and
 *   `refresh_token` work as for a password.
 * - `POST /_matrix/client/v1/login/get_token` (v1 only: v3 is `404
 *   M_UNRECOGNIZED`), as with Synapse's `require_ui_auth: true`: without
 *   `auth`, `401` with `flows: [{stages: ["m.login.password"]}]`, `params:
 *   {}` and a `session`; with the password, `{login_token, expires_in_ms}`
 *   (and Synapse's unstable `expires_in`, in seconds).
 *   A wrong password: the `401` again with `completed: []`, `errcode:
 *   M_FORBIDDEN` and `error`; another user's password: `403 M_FORBIDDEN`
 *   "Invalid auth" (user-interactive authentication as Synapse does it, in
 *   `uia.ts`). Every token needs its own session (the specification: always
 *   re-prompt; Synapse accepts a completed session again). With
 *   `rateLimit`, one token a minute per user.
 * - `GET /login/sso/redirect`, `/login/sso/redirect/cas` and the deprecated
 *   `/login/cas/redirect` (`r0` and `v3`): `302` to
 *   `{baseUrl}cas/login?service={baseUrl}_matrix/client/r0/login/cas/ticket?redirectUrl=…`,
 *   encoded as Synapse's Python does. No `redirectUrl`: `400
 *   M_MISSING_PARAM`; another IdP: `404 M_NOT_FOUND` "Unknown identity
 *   provider", as Synapse.
 * - `GET /_matrix/client/r0/login/cas/ticket`: checks the ticket with the
 *   built-in provider (in-process, as Synapse would over HTTP), creates a
 *   CAS user on first sign-on (without a password) or takes over the
 *   existing user of that name, then `302` to `redirectUrl` with
 *   `loginToken` added when it is on `ssoClientWhitelist` (default: http
 *   loopback addresses), else a "Continue to your account" page. A bad,
 *   spent or other service's ticket: `401` with a page saying so.
 * - The CAS identity provider at `{baseUrl}cas/`: `GET login?service=…` is
 *   a login form; `POST login` (form: `username`, `password`, `service`)
 *   checks the homeserver's users and `casUsers`, then `302` to the service
 *   with `ticket=ST-…`, or the form again with `401` and an error.
 *   `proxyValidate`, `serviceValidate` and `p3/…` answer CAS 2.0 XML exactly
 *   as the reference stub does. Tickets are single use and bound to their
 *   service; only services on this homeserver (and `casServices`, such as
 *   a real Synapse's `public_baseurl`) are served. With
 *   `casAutoApprove`, `GET login?service=…&user=NAME` signs in at once, as
 *   the stub does.
 * - With `rateLimit`, logins are limited as Synapse's `rc_login` does:
 *   failed attempts per user (`failed_attempts`: the 4th wrong password in a
 *   burst), attempts per address (`address`: the 6th login in a row, with
 *   `Retry-After` of about 330 s) and successful logins per account
 *   (`account`). Each answers `429 M_LIMIT_EXCEEDED` with a `Retry-After`
 *   header (seconds) and `retry_after_ms` in the body.
 *
 * One difference on purpose: for `m.id.phone`, Synapse reads the number from
 * a `number` key, while the specification names it `phone` (a request with
 * only `phone` gets `400 M_UNKNOWN` "Missing JSON keys." from Synapse).
 * This server follows the specification and also accepts `number`. The
 * differential check (`scripts/synapse/differential.ts`) lists it, and
 * compares everything else with a real Synapse.
 *
 * `citadel.ts` wraps this server to speak Thales Citadel's dialect.
 *
 * With `oauth` (`"only"` or `"both"`), the server speaks the OAuth 2.0 API
 * of spec v1.15 to v1.19 as matrix-authentication-service (MAS) answers it
 * behind Synapse, as on matrix.org; each behaviour, with the MAS or Synapse
 * source it follows, is in the module comment of its file, and checked by
 * `oauth_test.ts`, `oauth_device_test.ts` or `compat_test.ts`:
 *
 * - `oauth.ts`: the server metadata (`GET /_matrix/client/v1/auth_metadata`
 *   and the unstable MSC2965 path, with Synapse's `Cache-Control`) and the
 *   token endpoint (`{baseUrl}oauth2/token`);
 * - `oauth_clients.ts`: dynamic client registration
 *   (`{baseUrl}oauth2/registration`) with MAS's policy on URIs;
 * - `oauth_authorize.ts`: the authorisation code grant with PKCE S256
 *   (`{baseUrl}authorize`, a login and consent page at
 *   `{baseUrl}consent/{id}`);
 * - `oauth_device.ts`: the device authorisation grant
 *   (`{baseUrl}oauth2/device`, the verification page `{baseUrl}link`);
 * - `oauth_sessions.ts`: sessions, refresh (a lost answer may be retried
 *   while the new pair is unused) and revocation (`{baseUrl}oauth2/revoke`,
 *   ending the session and its device);
 * - `oauth_account.ts`: the account management page (`{baseUrl}account/`);
 * - `compat.ts`: MAS's compatibility layer: `/logout` and `/logout/all` in
 *   both modes (an OAuth 2.0 token is `401 M_UNKNOWN_TOKEN` there), and with
 *   `"both"` `/login`, `/refresh` and single sign-on.
 *
 * In these modes the legacy login API of Synapse is gone (`"only"`: `404
 * M_UNRECOGNIZED` for `/login`, `/refresh`, `get_token`, the SSO and CAS
 * redirects, as the specification says a server without it SHOULD answer);
 * a token that is unknown, revoked or expired is `401 M_UNKNOWN_TOKEN`
 * "Token is not active" with `soft_logout: false`, as Synapse answers
 * after asking MAS (`synapse/api/auth/mas.py`); `DELETE /devices/{id}` and
 * `POST /delete_devices` are `404 M_UNRECOGNIZED` and `m.get_login_token` is
 * disabled, as in Synapse with delegated authentication; `/versions` keeps
 * Synapse's list (up to `v1.12`), as matrix.org's does, so a client must
 * not wait for `v1.15` before it looks for the metadata.
 *
 * Not imitated: Synapse's redirect of SSO requests that arrive under
 * another host name to its `public_baseurl`; the `m.login.sso` stage of
 * user-interactive authentication (listed for users who signed in through
 * CAS, but it needs a fallback web page this server does not have); the
 * old `/_matrix/client/unstable/` prefix, which Synapse still serves; and
 * user display names. Synapse answers `500` to a `POST /delete_devices`
 * body that is not JSON and to `"auth": null`; this server reads the first
 * as `{}` (`400 M_MISSING_PARAM`, as Synapse's code means to) and the
 * second as no `auth`.
 *
 * To sign on without a browser (as the book's SSO chapter does): GET the
 * redirect endpoint, read `service` from the `Location`, POST
 * `username`, `password` and `service` as a form to `{baseUrl}cas/login`,
 * GET the `Location` it answers (the ticket endpoint), and take
 * `loginToken` from the final `Location`.
 *
 * State lives in memory; {@linkcode Homeserver.exportState}, the `state`
 * option and `onChange` let a caller keep it in a file (`state_file.ts`).
 *
 * The code is split along the server's parts: `store.ts` holds users,
 * devices, tokens and OAuth 2.0 clients and sessions (saved and read back in
 * the format of `state.ts`),
 * `tokens.ts` issues and checks tokens (and notes when devices are seen),
 * `login.ts`, `refresh.ts`, `devices.ts` and `uia.ts` (user-interactive
 * authentication, and `get_token`) answer their endpoints,
 * `rate_limits.ts` holds the limiters, `sso.ts` single
 * sign-on and `cas.ts` the CAS identity provider, `routes.ts` finds a
 * request's route and turns failures into Matrix errors, and `http.ts`
 * reads requests and writes answers. This file holds the options, the
 * route table and the public API.
 *
 * @module
 */

import { type CasAccount, createCasProvider } from "./cas.ts";
import { createCompat } from "./compat.ts";
import { createDevices } from "./devices.ts";
import { MatrixFailure, readJsonObject, withSlash } from "./http.ts";
import { createLogin } from "./login.ts";
import { createOAuth } from "./oauth.ts";
import { createRateLimits, type RateLimitSettings } from "./rate_limits.ts";
import { createRefresh } from "./refresh.ts";
import { type RequestLogEntry, respond, type Route } from "./routes.ts";
import { CAS_IDP, createSso } from "./sso.ts";
import type { HomeserverState } from "./state.ts";
import { createStore, type UserSpec } from "./store.ts";
import { type ConnectionInfo, createTokens } from "./tokens.ts";
import { createGetToken, createUia } from "./uia.ts";

export type { CasAccount } from "./cas.ts";
export { jsonResponse, readCapped } from "./http.ts";
export type { RateLimitSettings } from "./rate_limits.ts";
export type { RequestLogEntry } from "./routes.ts";
export { parseState } from "./state.ts";
export type { HomeserverState, StoredUser } from "./state.ts";
export type { UserSpec } from "./store.ts";
export type { ConnectionInfo } from "./tokens.ts";

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
   * are issued and tokens never expire (Synapse's default). With `oauth`,
   * how long OAuth 2.0 access tokens and refreshable compatibility tokens
   * live: by default 300 000 ms, MAS's `access_token_ttl` and
   * `compat_token_ttl`.
   */
  accessTokenLifetimeMs?: number;
  /**
   * How long a refresh token lives; an access token never outlives its
   * refresh token. Default: `undefined`, forever.
   */
  refreshTokenLifetimeMs?: number;
  /**
   * Accept an access token in the deprecated `access_token` query parameter,
   * as Synapse 1.160 does (and version 1.19 of the specification still
   * allows). `false` refuses it (`401 M_MISSING_TOKEN`, saying to use the
   * header) and ignores it beside an `Authorization` header, to rehearse a
   * version of the specification that drops it. Default: `true`.
   */
  accessTokenInQuery?: boolean;
  /** Limit failed logins per user: `true` for Synapse's defaults. Off by default. */
  rateLimit?: boolean | RateLimitSettings;
  /**
   * Serve the OAuth 2.0 API as matrix-authentication-service (MAS) serves it
   * behind Synapse, as on matrix.org. `"only"`: the OAuth 2.0 API alone; the
   * legacy login API (`/login`, `/refresh`, `get_token`, single sign-on)
   * answers `404 M_UNRECOGNIZED`, as the specification says a server
   * without it SHOULD. `"both"`: MAS's compatibility layer besides
   * (`compat.ts`), with its login types and its tokens. Access tokens then
   * live `accessTokenLifetimeMs`, by default 300 000 (MAS's five minutes).
   * Default: off, the legacy API as Synapse answers it.
   */
  oauth?: "only" | "both";
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
  /**
   * Offer single sign-on through the built-in CAS identity provider
   * (`m.login.cas`, `m.login.sso`, the redirect and ticket endpoints, and the
   * provider itself under `{baseUrl}cas/`). Default: `true`. Not used with
   * `oauth`, which has no CAS (MAS's compatibility layer has its own single
   * sign-on).
   */
  sso?: boolean;
  /**
   * How long a login token from single sign-on lives. Default: 120 000 (two
   * minutes), the default of Synapse's
   * `AuthHandler.create_login_token_for_user_id`, which its SSO handler uses;
   * the specification recommends two minutes too.
   */
  loginTokenLifetimeMs?: number;
  /**
   * How long a login token from `POST /login/get_token` lives. Default:
   * 300 000 (five minutes), Synapse's `login_via_existing_session.token_timeout`.
   */
  getTokenLifetimeMs?: number;
  /**
   * URL prefixes (Synapse's `sso.client_whitelist`) that single sign-on
   * redirects to straight away, with `loginToken` added; any other
   * `redirectUrl` gets a "Continue to your account" page first. Default: the
   * loopback addresses over http: `http://localhost:`, `http://localhost/`,
   * `http://127.0.0.1:`, `http://127.0.0.1/`, `http://[::1]:`, `http://[::1]/`
   * (each ends the host, so `http://localhost.example.org` does not match).
   */
  ssoClientWhitelist?: string[];
  /**
   * Accounts the built-in CAS identity provider knows besides the
   * homeserver's users (who sign in there with their localpart and
   * password). Signing in with one of these for the first time creates the
   * Matrix user, without a password, as Synapse does.
   */
  casUsers?: CasAccount[];
  /**
   * Let `GET {baseUrl}cas/login?service=…&user=NAME` sign in as NAME at
   * once, with no password, as the reference CAS stub does. Handy for
   * scripts; never turn it on where others can reach the server. Default:
   * `false` (`user` then only fills in the form).
   */
  casAutoApprove?: boolean;
  /**
   * Service URL prefixes of other homeservers the built-in CAS identity
   * provider also signs in to, besides this one: a real Synapse whose
   * `cas_config.server_url` is `{baseUrl}cas` gives its own
   * `{public_baseurl}_matrix/client/r0/login/cas/ticket?…` as the service,
   * so passing its `public_baseurl` here lets this server be its CAS
   * provider. Default: none (only services under `baseUrl`).
   */
  casServices?: string[];
  /**
   * Users, devices and tokens to start from, as {@linkcode Homeserver.exportState}
   * gave them (for example read back from a file after a restart). Users in
   * `users` that the state lacks are added.
   */
  state?: HomeserverState;
  /**
   * Called after a request (or {@linkcode Homeserver.addUser}) changed users,
   * devices or tokens, so that the state can be saved.
   */
  onChange?: () => void;
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
  /**
   * Answers one request. Never throws: every failure is a Matrix error.
   * `info` tells the client's address (a device's `last_seen_ip`), as
   * `Deno.serve` passes it; without it, the client is taken to be on
   * `127.0.0.1`.
   */
  handler: (request: Request, info?: ConnectionInfo) => Promise<Response>;
  /** Every request answered so far, oldest first. */
  readonly log: readonly RequestLogEntry[];
  /** Forgets the log. */
  clearLog(): void;
  /** Creates a user; returns its user ID. Throws if it exists already. */
  addUser(user: UserSpec): string;
  /** The IDs of every user, sorted. */
  userIds(): string[];
  /** The devices of a user, sorted by ID. */
  devices(userId: string): DeviceInfo[];
  /** Users, devices and tokens, to save and pass back as `options.state`. */
  exportState(): HomeserverState;
  /**
   * Locks or unlocks an account, as Synapse's admin API does with
   * `{"locked": true}`: its requests get `401 M_USER_LOCKED` with
   * `soft_logout: true`, except `/logout` and `/logout/all`, which the
   * specification keeps open. Throws if there is no such user.
   */
  lockUser(userId: string, locked?: boolean): void;
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
 * `GET /capabilities`, as Synapse 1.160 lists them, with this server's
 * values: the room versions Synapse offers as stable (its default "11"),
 * and `m.get_login_token` enabled; the features this server does not have
 * (changing the password, profiles, third-party IDs) are disabled, where
 * Synapse enables them. Synapse's unstable
 * `org.matrix.msc4140.delayed_events` and unstable room versions are left
 * out.
 */
const CAPABILITIES: Record<string, unknown> = {
  "m.room_versions": {
    default: "11",
    available: Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [String(i + 1), "stable"]),
    ),
  },
  "m.change_password": { enabled: false },
  "m.set_displayname": { enabled: false },
  "m.set_avatar_url": { enabled: false },
  "m.3pid_changes": { enabled: false },
  "m.get_login_token": { enabled: true },
  "m.profile_fields": { enabled: false },
};

/** Creates a homeserver with its state in memory. */
export function createHomeserver(options: HomeserverOptions = {}): Homeserver {
  const serverName = options.serverName ?? "localhost:8008";
  const baseUrl = withSlash(options.baseUrl ?? "http://localhost:8008/");
  const basePath = new URL(baseUrl).pathname;
  const clock = options.clock ?? Date.now;
  const maxBodyBytes = options.maxBodyBytes ?? 65_536;
  const ssoEnabled = options.sso ?? true;
  const getTokenLifetime = options.getTokenLifetimeMs ?? 300_000;
  const oauthMode = options.oauth;
  if (oauthMode !== undefined && oauthMode !== "only" && oauthMode !== "both") {
    throw new TypeError(`oauth must be "only" or "both", not ${oauthMode}`);
  }
  const log: RequestLogEntry[] = [];

  // Users, devices and tokens (store.ts), token issuing and checking
  // (tokens.ts), and the limits of rc_login and get_token (rate_limits.ts).
  const store = createStore(options, serverName, clock);
  const { users, devices, reportChanges, createUser, exportState } = store;
  const tokens = createTokens(store, options);
  const { endDevice, authenticate, noteConnection } = tokens;
  const limits = createRateLimits(options.rateLimit, clock);

  // What the routes below answer with: login.ts, refresh.ts, uia.ts
  // (user-interactive authentication, and get_token), devices.ts, cas.ts
  // (the identity provider) and sso.ts.
  const logins = createLogin(store, tokens, limits, baseUrl);
  const { login } = logins;
  const refresh = createRefresh(store, tokens);
  const uia = createUia(store, logins, { ssoEnabled });
  const getToken = createGetToken(store, tokens, uia, limits, {
    getTokenLifetime,
    maxBodyBytes,
  });
  const deviceRoutes = createDevices(store, tokens, uia, { maxBodyBytes });
  const cas = createCasProvider(store, baseUrl, maxBodyBytes, options);
  const { casLoginPage, casLoginSubmit, casValidate } = cas;
  const { ssoRedirect, casTicket } = createSso(
    store,
    tokens,
    cas,
    baseUrl,
    options,
  );

  // The OAuth 2.0 API and MAS's compatibility layer (oauth.ts, compat.ts).
  const oauthLifetime = options.accessTokenLifetimeMs ?? 300_000;
  const oauthRoutes: Route[] = oauthMode === undefined ? [] : [
    ...createOAuth(store, tokens, {
      baseUrl,
      maxBodyBytes,
      accessTokenLifetimeMs: oauthLifetime,
    }).routes,
    ...createCompat(store, tokens, {
      mode: oauthMode,
      baseUrl,
      maxBodyBytes,
      accessTokenLifetimeMs: oauthLifetime,
    }),
  ];
  // Synapse, with MAS: login_via_existing_session is off, get_token absent.
  const capabilities = oauthMode === undefined
    ? CAPABILITIES
    : { ...CAPABILITIES, "m.get_login_token": { enabled: false } };

  // ---- routing ----

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
    ...(oauthMode === undefined ? legacyLoginRoutes() : oauthRoutes),
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
    {
      method: "GET",
      pattern: /^\/_matrix\/client\/(r0|v3)\/capabilities$/,
      run: (request, url) => {
        authenticate(request, url);
        return { capabilities };
      },
    },
    ...deviceRoutesOf(),
    ...(ssoEnabled && oauthMode === undefined ? ssoRoutes() : []),
  ];

  /** The legacy API's login, refresh and logout, as Synapse answers them. */
  function legacyLoginRoutes(): Route[] {
    return [
      {
        method: "GET",
        pattern: /^\/_matrix\/client\/(r0|v3)\/login$/,
        // Synapse's order; it also lists m.login.application_service, which
        // this server does not implement and so does not offer.
        run: () => ({
          flows: [
            ...(ssoEnabled
              ? [{ type: "m.login.cas" }, {
                type: "m.login.sso",
                identity_providers: [CAS_IDP],
              }]
              : []),
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
        // v1 only, as on Synapse (v3 is a 404).
        method: "POST",
        pattern: /^\/_matrix\/client\/v1\/login\/get_token$/,
        run: (request, url) => getToken(request, url),
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
    ];
  }

  /** Device management (devices.ts). */
  function deviceRoutesOf(): Route[] {
    // Synapse's pattern: any device ID without a "/", the empty one too.
    const one = /^\/_matrix\/client\/(r0|v3)\/devices\/([^/]*)$/;
    const idOf = (match: RegExpExecArray) => {
      try {
        return decodeURIComponent(match[2]);
      } catch {
        return match[2]; // a malformed escape stays as it is, as on Synapse
      }
    };
    return [
      {
        method: "GET",
        pattern: /^\/_matrix\/client\/(r0|v3)\/devices$/,
        run: (request, url) => deviceRoutes.list(request, url),
      },
      {
        method: "GET",
        pattern: one,
        run: (request, url, match) =>
          deviceRoutes.get(request, url, idOf(match)),
      },
      {
        method: "PUT",
        pattern: one,
        run: (request, url, match) =>
          deviceRoutes.update(request, url, idOf(match)),
      },
      {
        method: "DELETE",
        pattern: one,
        run: (request, url, match) => {
          // Synapse with delegated auth (rest/client/devices.py): no device
          // deletion; the account management URL does it.
          if (oauthMode !== undefined) {
            throw new MatrixFailure(
              404,
              "M_UNRECOGNIZED",
              "Unrecognized request",
            );
          }
          return deviceRoutes.remove(request, url, idOf(match));
        },
      },
      // Not registered by Synapse with delegated auth: 404 M_UNRECOGNIZED.
      ...(oauthMode !== undefined ? [] : [{
        method: "POST",
        pattern: /^\/_matrix\/client\/(r0|v3)\/delete_devices$/,
        run: (request: Request, url: URL) =>
          deviceRoutes.removeMany(request, url),
      }]),
    ];
  }

  /** Single sign-on, and the CAS identity provider under `{baseUrl}cas/`. */
  function ssoRoutes(): Route[] {
    return [
      {
        // /login/cas/redirect is the deprecated name, served alike.
        method: "GET",
        pattern: /^\/_matrix\/client\/(r0|v3)\/login\/(sso|cas)\/redirect$/,
        run: (_request, url) => ssoRedirect(url),
      },
      {
        method: "GET",
        pattern:
          /^\/_matrix\/client\/(r0|v3)\/login\/sso\/redirect\/([A-Za-z0-9_.~-]+)$/,
        run: (_request, url, match) => ssoRedirect(url, match[2]),
      },
      {
        method: "GET",
        pattern: /^\/_matrix\/client\/(r0|v3)\/login\/cas\/ticket$/,
        run: (_request, url) => casTicket(url),
      },
      {
        method: "GET",
        pattern: /^\/cas\/login$/,
        run: (_request, url) => casLoginPage(url),
      },
      {
        method: "POST",
        pattern: /^\/cas\/login$/,
        run: (request) => casLoginSubmit(request),
      },
      {
        method: "GET",
        pattern: /^\/cas\/(p3\/)?(proxy|service)Validate$/,
        run: (_request, url) => casValidate(url),
      },
    ];
  }

  async function handler(
    request: Request,
    info?: ConnectionInfo,
  ): Promise<Response> {
    noteConnection(request, info);
    const { response, entry } = await respond(routes, basePath, request);
    log.push(entry);
    reportChanges();
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
    addUser(spec) {
      const userId = createUser(spec);
      reportChanges();
      return userId;
    },
    exportState,
    lockUser(userId, locked = true) {
      const user = users.get(userId);
      if (user === undefined) throw new TypeError(`No user ${userId}`);
      user.locked = locked;
    },
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
