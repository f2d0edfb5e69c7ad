/**
 * The Thales Citadel dialect of the development homeserver: the portal, the
 * login, the token refresh and the expiry answer of Citadel's guide "Login/
 * logout - MFA disabled", so that the book's Citadel chapter and its example
 * run offline.
 *
 * ```ts
 * const hs = createCitadelHomeserver({
 *   users: [{ localpart: "alice", password: "secret", emails: ["alice@example.org"] }],
 * });
 * await hs.handler(new Request("http://localhost:8008/api/get_domain?email=alice@example.org"));
 * // 200 {"domain": "localhost:8008"}
 * ```
 *
 * ## How it is built
 *
 * {@linkcode createCitadelHomeserver} wraps the standard server of
 * `server.ts` (one instance, its state in memory) and translates: Citadel's
 * login becomes a standard password login that always asks for a refresh
 * token, Citadel's token refresh becomes the standard refresh, and the
 * standard server's "access token has expired" answer becomes Citadel's. So
 * tokens, devices, rotation and every failure that is not Citadel's own are
 * the standard server's, tested once in `server_test.ts`, and the standard
 * server needs no Citadel code (its only change is exporting
 * `jsonResponse`). The wrapper keeps its own request log, with the paths the
 * client asked for (`/_matrix/client/r1/login`, not the standard path it
 * was translated to), because tests and benchmarks count round trips by
 * path.
 *
 * ## What it answers
 *
 * - `GET /api/get_domain?email=EMAIL`, the portal: `200 {"domain": HOST}`.
 *   `HOST` is a host and, when not the default, a port, such as
 *   `"localhost:8008"`: no scheme, no path. Citadel's script calls
 *   `https://${domain}`; a development client must be told to use
 *   `http://${domain}` instead (an explicit option, never a guess: the guide's
 *   script always uses https). By default every email domain of a known user
 *   maps to this server's host and port (`portalDomains` replaces that). The
 *   portal answers by domain, whether or not the address has an account.
 *   Real Citadel runs the portal on its own host (the guide names
 *   `join.citadel.team` and `join.thales.team`); here it shares the
 *   homeserver's, at {@linkcode CitadelHomeserver.portalUrl}.
 * - `POST /_matrix/client/r1/login`: a password login with the
 *   `m.id.thirdparty` email identifier, as the guide's script sends it
 *   (top-level `medium: "email"`, `mfa_creds`, `initial_device_display_name`,
 *   optional `device_id`). The answer is Synapse's with a refresh token:
 *   `user_id`, `access_token`, `refresh_token`, `expires_in_ms`,
 *   `device_id`, `home_server`; a refresh token always, whatever the
 *   request's `refresh_token` says.
 * - `POST /_matrix/client/v2_alpha/tokenrefresh` with `{refresh_token}`:
 *   `{access_token, refresh_token, expires_in_ms}`, rotated and refused
 *   exactly as the standard `/v3/refresh` (see `server.ts`). The
 *   `Authorization` header the guide's script sends (with the expired access
 *   token) is accepted and ignored: the refresh token alone is the credential.
 * - An expired access token gets `401 M_EXPIRED_TOKEN` on every
 *   authenticated endpoint (the guide's prose says 403 once; its script and
 *   its text on expiry say 401, which this server follows). Logout still
 *   accepts an expired token, as Synapse does.
 * - `POST /_matrix/client/r0/logout` and `GET /_matrix/client/r0/account/whoami`
 *   as the standard server answers them (the `v3` paths too), and the rest of
 *   the standard server (`.well-known`, `/versions`, the login flows, logout
 *   of all devices).
 * - A device limit: a login that would give an account more than
 *   `maxDevices` devices is refused; logging in again with the `device_id`
 *   of an existing device is always allowed. A device counts until it logs
 *   out.
 *
 * ## Assumptions where the guide is silent
 *
 * Each is this server's choice, made so that a client fails here when it
 * would likely fail on Citadel; a real Citadel server may differ.
 *
 * - Portal errors are Matrix-shaped JSON: no `email` (or an empty one):
 *   `400 M_MISSING_PARAM`; not `NAME@DOMAIN`: `400 M_INVALID_PARAM`; a
 *   domain no server serves: `404 M_NOT_FOUND`; another method than GET:
 *   `405 M_UNRECOGNIZED`.
 * - Login accepts only `m.login.password` (`400 M_UNKNOWN` otherwise: the
 *   guide covers infrastructures without MFA and no other login) and only the
 *   email identifier (`400 M_INVALID_PARAM` for `m.id.user` and the others,
 *   which the standard login accepts). A top-level `medium` other than
 *   `"email"` is `400 M_INVALID_PARAM`; a missing one is accepted, as the
 *   identifier already says it.
 * - `mfa_creds` may be left out: with MFA disabled it has nothing to bind.
 *   When present it must be an object whose `bind` is a boolean and whose
 *   `id_server` and `medium` are strings (`400 M_INVALID_PARAM`); their
 *   values are not checked.
 * - A wrong password, an unknown email: `403 M_FORBIDDEN`, as Synapse.
 * - The device limit's answer is `403 M_FORBIDDEN`, with a message naming
 *   the limit and the way out. It is checked after the password, so that
 *   only the account's owner learns that the account is full. Default
 *   limit: 5.
 * - Access tokens live 5 minutes by default (Synapse's default for
 *   refreshable tokens); Citadel's real lifetime is not documented.
 * - `expires_in_ms` is kept in the login and refresh answers: Synapse,
 *   which Citadel is built on, sends it with every refresh token, and a
 *   client may use it to refresh early. A Citadel client must still handle
 *   `401 M_EXPIRED_TOKEN`, which is what the guide promises.
 * - `well_known` is left out of the login answer: in Citadel the portal is
 *   the only source of a server's address, and a client in this dialect
 *   must not move to another server on a field the guide never mentions.
 * - The standard login (`POST /r0/login`, `/v3/login`) and refresh
 *   (`/v1/refresh`, `/v3/refresh`) answer `404 M_UNRECOGNIZED` in this
 *   dialect: the guide documents only its own paths (and modern Synapse
 *   refuses `tokenrefresh`, so the two are not interchangeable), and a client
 *   that mixed the two must fail here rather than on a real Citadel server.
 *
 * In standard mode ({@linkcode createHomeserver}) none of this exists: the
 * portal, `r1/login` and `tokenrefresh` answer `404 M_UNRECOGNIZED`.
 *
 * @module
 */
import {
  type ConnectionInfo,
  createHomeserver,
  type Homeserver,
  type HomeserverOptions,
  jsonResponse,
  readCapped,
  type RequestLogEntry,
  type UserSpec,
} from "./server.ts";

/** What {@linkcode createCitadelHomeserver} can be told. */
export interface CitadelOptions extends HomeserverOptions {
  /**
   * How long an access token lives. Default: 300 000 (5 minutes). Citadel
   * always issues refresh tokens, so access tokens always expire.
   */
  accessTokenLifetimeMs?: number;
  /**
   * The most devices an account may have at once (a device lasts until it
   * logs out). Default: 5.
   */
  maxDevices?: number;
  /**
   * The portal's answers: email domain (such as `"example.org"`) to server
   * host and port (such as `"localhost:8008"`). When given, it is the whole
   * mapping. Default: every email domain of a known user maps to this
   * server's host and port.
   */
  portalDomains?: Record<string, string>;
}

/** A Citadel development homeserver: the standard one, in Citadel's dialect. */
export interface CitadelHomeserver extends Homeserver {
  /**
   * Where the portal is: its lookups are at
   * `{portalUrl}/api/get_domain?email=EMAIL`. Such as
   * `"http://localhost:8008"` (no final `/`).
   */
  readonly portalUrl: string;
  /** The most devices an account may have at once. */
  readonly maxDevices: number;
  /** How long an access token lives, in milliseconds. */
  readonly accessTokenLifetimeMs: number;
  /** What the portal answers for an email address: a host, or `undefined`. */
  domainFor(email: string): string | undefined;
}

const LOGIN_PATH = "/_matrix/client/r1/login";
const REFRESH_PATH = "/_matrix/client/v2_alpha/tokenrefresh";
const PORTAL_PATH = "/api/get_domain";
/** The standard endpoints Citadel replaces, refused in the dialect (POST). */
const REPLACED = /^\/_matrix\/client\/(?:(?:r0|v3)\/login|(?:v1|v3)\/refresh)$/;

/** An answer of this module's own, thrown inside the handler. */
class CitadelFailure extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Creates a development homeserver that speaks Citadel's dialect (see the
 * module documentation for every answer and assumption).
 */
export function createCitadelHomeserver(
  options: CitadelOptions = {},
): CitadelHomeserver {
  const {
    maxDevices = 5,
    portalDomains,
    onRequest,
    users: initialUsers = [],
    ...rest
  } = options;
  if (!Number.isInteger(maxDevices) || maxDevices < 1) {
    throw new RangeError(
      `maxDevices must be a whole number of at least 1, not ${maxDevices}`,
    );
  }
  const limitText = maxDevices === 1 ? "1 device" : `${maxDevices} devices`;
  const accessTokenLifetimeMs = options.accessTokenLifetimeMs ?? 300_000;
  const maxBodyBytes = options.maxBodyBytes ?? 65_536;
  const standard = createHomeserver({
    ...rest,
    accessTokenLifetimeMs,
    // Only this module's log is kept: the standard server's would show the
    // translated paths, not the ones the client asked for.
    onRequest: () => standard.clearLog(),
  });
  const basePath = new URL(standard.baseUrl).pathname; // ends with "/"
  const host = new URL(standard.baseUrl).host;
  const portalUrl = standard.baseUrl.slice(0, -1);
  const domains = portalDomains === undefined ? undefined : new Map(
    Object.entries(portalDomains).map(([d, h]) => [d.toLowerCase(), h]),
  );

  /** Email address (lower case) to user ID, for the portal and device limit. */
  const byEmail = new Map<string, string>();
  function addUser(user: UserSpec): string {
    const userId = standard.addUser(user);
    for (const email of user.emails ?? []) {
      byEmail.set(email.trim().toLowerCase(), userId);
    }
    return userId;
  }
  for (const user of initialUsers) addUser(user);

  function domainFor(email: string): string | undefined {
    const at = email.lastIndexOf("@");
    if (at < 0) return undefined;
    const domain = email.slice(at + 1).trim().toLowerCase();
    if (domains !== undefined) return domains.get(domain);
    for (const known of byEmail.keys()) {
      if (known.slice(known.lastIndexOf("@") + 1) === domain) return host;
    }
    return undefined;
  }

  const log: RequestLogEntry[] = [];

  /** `url` with its path replaced by `path` under the base path. */
  function standardUrl(url: URL, path: string): URL {
    return new URL(basePath.slice(0, -1) + path, url);
  }

  // ---- portal ----

  function portal(url: URL): Response {
    const email = url.searchParams.get("email")?.trim() ?? "";
    if (email === "") {
      throw new CitadelFailure(
        400,
        "M_MISSING_PARAM",
        "Missing query parameter email: ask /api/get_domain?email=NAME@DOMAIN",
      );
    }
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
      throw new CitadelFailure(
        400,
        "M_INVALID_PARAM",
        "The email parameter is not an email address: send NAME@DOMAIN, URL-encoded (a + as %2B)",
      );
    }
    const domain = domainFor(email);
    if (domain === undefined) {
      const emailDomain = email.slice(email.indexOf("@") + 1).toLowerCase();
      throw new CitadelFailure(
        404,
        "M_NOT_FOUND",
        `No Citadel server serves the email domain ${emailDomain}: check the address, or ask your administrator which server to use`,
      );
    }
    return jsonResponse(200, { domain });
  }

  // ---- login ----

  async function login(request: Request, url: URL): Promise<Response> {
    const { bytes } = await readCapped(request, maxBodyBytes);
    const body = bytes.byteLength > maxBodyBytes
      ? undefined
      : parseObject(bytes);
    const target = standardUrl(url, "/_matrix/client/v3/login");
    if (body === undefined) {
      // Not a JSON object, or too large: the standard login's answer
      // (M_NOT_JSON, M_BAD_JSON, M_TOO_LARGE) is the right one.
      return await standard.handler(post(target, bytes));
    }
    const address = checkLoginBody(body);
    const translated: Record<string, unknown> = {
      type: body.type,
      identifier: body.identifier,
      password: body.password,
      // Citadel always issues refresh tokens; the request cannot turn that off.
      refresh_token: true,
    };
    if (body.device_id !== undefined) translated.device_id = body.device_id;
    if (body.initial_device_display_name !== undefined) {
      translated.initial_device_display_name = body.initial_device_display_name;
    }
    const userId = byEmail.get(address.trim().toLowerCase());
    const before = new Set(
      userId === undefined
        ? []
        : standard.devices(userId).map((d) => d.deviceId),
    );
    const response = await standard.handler(
      post(target, new TextEncoder().encode(JSON.stringify(translated))),
    );
    if (!response.ok) return response;
    const answer = await response.json() as Record<string, unknown>;
    const newDevice = !before.has(answer.device_id as string);
    // The limit is checked after the standard login has checked the
    // password (only the owner may learn the account is full), so a login
    // over the limit is undone by logging its new device out. The count is
    // taken after the login: two logins racing for the last place both
    // lose, and the limit is never exceeded.
    if (
      newDevice &&
      standard.devices(answer.user_id as string).length > maxDevices
    ) {
      await standard.handler(
        new Request(standardUrl(url, "/_matrix/client/v3/logout"), {
          method: "POST",
          headers: { Authorization: `Bearer ${answer.access_token}` },
        }),
      );
      throw new CitadelFailure(
        403,
        "M_FORBIDDEN",
        `This account already has ${limitText}, the most allowed: log in with the device_id of one of them (store it and reuse it), or log out a device no longer used`,
      );
    }
    delete answer.well_known;
    return jsonResponse(200, answer);
  }

  /** Checks what Citadel's login adds to a standard one; returns the email. */
  function checkLoginBody(body: Record<string, unknown>): string {
    if (typeof body.type === "string" && body.type !== "m.login.password") {
      throw new CitadelFailure(
        400,
        "M_UNKNOWN",
        `Unknown login type ${body.type}: ${LOGIN_PATH} accepts m.login.password`,
      );
    }
    const identifier = body.identifier;
    if (
      !isObject(identifier) || identifier.type !== "m.id.thirdparty" ||
      identifier.medium !== "email" || typeof identifier.address !== "string"
    ) {
      throw new CitadelFailure(
        400,
        "M_INVALID_PARAM",
        'Citadel logs in by email: send identifier {"type": "m.id.thirdparty", "medium": "email", "address": EMAIL}',
      );
    }
    if (body.medium !== undefined && body.medium !== "email") {
      throw new CitadelFailure(
        400,
        "M_INVALID_PARAM",
        'The top-level medium must be "email" (or left out)',
      );
    }
    const mfa = body.mfa_creds;
    if (
      mfa !== undefined &&
      (!isObject(mfa) ||
        (mfa.bind !== undefined && typeof mfa.bind !== "boolean") ||
        (mfa.id_server !== undefined && typeof mfa.id_server !== "string") ||
        (mfa.medium !== undefined && typeof mfa.medium !== "string"))
    ) {
      throw new CitadelFailure(
        400,
        "M_INVALID_PARAM",
        'mfa_creds must be an object such as {"bind": true, "id_server": SERVER, "medium": ""} (or left out)',
      );
    }
    return identifier.address;
  }

  // ---- refresh ----

  async function tokenRefresh(request: Request, url: URL): Promise<Response> {
    // The body goes through unchanged: `{refresh_token}` is the standard
    // refresh's body too. The Authorization header does not.
    const { bytes } = await readCapped(request, maxBodyBytes);
    return await standard.handler(
      post(standardUrl(url, "/_matrix/client/v3/refresh"), bytes),
    );
  }

  // ---- routing ----

  const routes: Record<
    string,
    {
      method: string;
      run: (request: Request, url: URL) => Promise<Response> | Response;
    }
  > = {
    [PORTAL_PATH]: { method: "GET", run: (_request, url) => portal(url) },
    [LOGIN_PATH]: { method: "POST", run: login },
    [REFRESH_PATH]: { method: "POST", run: tokenRefresh },
  };

  async function answer(
    request: Request,
    url: URL,
    info?: ConnectionInfo,
  ): Promise<Response> {
    let path = url.pathname;
    if (basePath !== "/" && path.startsWith(basePath)) {
      path = path.slice(basePath.length - 1);
    }
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (route !== undefined && request.method !== "OPTIONS") {
      if (request.method !== route.method) {
        throw new CitadelFailure(405, "M_UNRECOGNIZED", "Unrecognized request");
      }
      return await route.run(request, url);
    }
    if (request.method === "POST" && REPLACED.test(path)) {
      throw new CitadelFailure(404, "M_UNRECOGNIZED", "Unrecognized request");
    }
    return await standard.handler(request, info);
  }

  async function handler(
    request: Request,
    info?: ConnectionInfo,
  ): Promise<Response> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      url = new URL("http://invalid/");
    }
    const entry: RequestLogEntry = {
      method: request.method,
      path: url.pathname,
      status: 0,
    };
    if (url.searchParams.has("access_token")) entry.tokenInQuery = true;
    let response: Response;
    try {
      response = await expiredAsCitadel(await answer(request, url, info));
    } catch (error) {
      const failure = error instanceof CitadelFailure
        ? error
        : new CitadelFailure(500, "M_UNKNOWN", "Internal server error");
      response = jsonResponse(failure.status, {
        errcode: failure.errcode,
        error: failure.message,
      });
    }
    if (response.status >= 400) {
      const errcode = await errcodeOf(response);
      if (errcode !== undefined) entry.errcode = errcode;
    }
    entry.status = response.status;
    log.push(entry);
    onRequest?.(entry);
    return response;
  }

  return {
    serverName: standard.serverName,
    baseUrl: standard.baseUrl,
    portalUrl,
    maxDevices,
    accessTokenLifetimeMs,
    handler,
    log,
    clearLog: () => {
      log.length = 0;
    },
    addUser,
    userIds: () => standard.userIds(),
    devices: (userId) => standard.devices(userId),
    exportState: () => standard.exportState(),
    lockUser: (userId, locked) => standard.lockUser(userId, locked),
    domainFor,
  };
}

/**
 * Citadel's answer to an expired access token. The standard server answers
 * `401 M_UNKNOWN_TOKEN` with `soft_logout: true` for an expired token and
 * only for that (an unknown token has `soft_logout: false`), as Synapse.
 */
async function expiredAsCitadel(response: Response): Promise<Response> {
  if (response.status !== 401) return response;
  const body = await response.clone().json().catch(() => undefined);
  if (body?.errcode !== "M_UNKNOWN_TOKEN" || body.soft_logout !== true) {
    return response;
  }
  return jsonResponse(401, {
    errcode: "M_EXPIRED_TOKEN",
    error:
      `Access token has expired: get a new one at ${REFRESH_PATH} with the refresh token`,
  });
}

async function errcodeOf(response: Response): Promise<string | undefined> {
  const body = await response.clone().json().catch(() => undefined);
  return typeof body?.errcode === "string" ? body.errcode : undefined;
}

function post(url: URL, body: Uint8Array<ArrayBuffer>): Request {
  return new Request(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
  });
}

/** The bytes as a JSON object, or `undefined`. */
function parseObject(
  bytes: Uint8Array<ArrayBuffer>,
): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    );
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
