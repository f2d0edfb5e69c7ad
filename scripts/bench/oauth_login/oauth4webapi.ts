/**
 * The OAuth 2.0 login program of `matrixlib.ts`, written on oauth4webapi
 * instead of matrixlib, for the bundle size benchmark (`bundle_size.ts`): the
 * same exports, doing the same requests, so that the two bundles compare
 * the hand-written protocol steps of chapter 9 with the library's.
 *
 * oauth4webapi does the OAuth 2.0 steps: the authorisation server object
 * (built from Matrix's `auth_metadata`, without RFC 8414 discovery, whose
 * issuer check Matrix does not follow), dynamic registration (RFC 7591),
 * PKCE (RFC 7636), the code grant, the device grant (RFC 8628), the refresh
 * and revocation (RFC 7009). What it does not know is Matrix, so this file
 * adds what matrixlib does around those steps: discovery
 * (`/.well-known/matrix/client`, `/versions`), the `auth_metadata` fetch
 * (stable or unstable address), the device ID in the scope, a loopback
 * redirect URI registered without its port, `whoami` to learn the user ID,
 * the session kept in a storage, a token renewed when due or refused, and
 * the polling of the device grant. It does less than matrixlib in places
 * (no session lock, no rate-limit retries, no request timeout or size cap,
 * plainer errors), which favours oauth4webapi's bundle.
 *
 * `oauth_login_test.ts` runs it against the development homeserver's OAuth
 * 2.0 mode.
 *
 * @module
 */
import * as oauth from "oauth4webapi";

/** A key-value store of JSON values, as matrixlib's `Storage`. */
export interface Storage {
  get(key: string): unknown;
  set(key: string, value: unknown): unknown;
  delete(key: string): unknown;
}

/** A clock: the time, and a pause that a signal can cut short. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What the program is given. */
export interface Setup {
  /** A server name or URL, for the specification's discovery. */
  homeserver: string;
  /** Where the session is kept. */
  storage: Storage;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
  /** Allow `http:` (the development homeserver). */
  allowHttp?: boolean;
  /** The clock (tests); the system's by default. */
  clock?: Clock;
}

/** Who logged in. */
export interface LoggedIn {
  userId: string;
  deviceId: string;
}

/** The session, as the storage keeps it. */
export interface SavedSession extends LoggedIn {
  homeserver: string;
  clientId: string;
  accessToken: string;
  refreshToken?: string;
  expiresAt?: number;
}

/** A homeserver found, with its authorisation server. */
export interface Connection {
  homeserver: URL;
  as: oauth.AuthorizationServer;
  storage: Storage;
  clock: Clock;
  fetch: typeof fetch;
  /** oauth4webapi's options for every request. */
  options: RequestOptions;
}

/** The options every oauth4webapi request gets: our `fetch`, and `http:`. */
export interface RequestOptions {
  [oauth.customFetch]: (url: string, init: RequestInit) => Promise<Response>;
  [oauth.allowInsecureRequests]: boolean;
}

/** A code grant login started: what its end needs. */
export interface CodeLogin {
  url: string;
  clientId: string;
  redirectUri: string;
  state: string;
  codeVerifier: string;
  deviceId: string;
}

/** How the program describes itself to the authorisation server. */
const CLIENT = {
  client_uri: "https://matrixlib.example/",
  client_name: "matrixlib example",
  token_endpoint_auth_method: "none",
};
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const KEY = "session";

const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    }),
};

/** GETs `url`; its JSON body, or `undefined` on 404. */
async function getJson(
  connection: Pick<Connection, "fetch">,
  url: URL,
): Promise<Record<string, unknown> | undefined> {
  const response = await connection.fetch(url, { redirect: "follow" });
  if (response.status === 404) return undefined;
  if (!response.ok) {
    throw new Error(`GET ${url.href} answered ${response.status}`);
  }
  const body = await response.json();
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Error(`GET ${url.href} did not answer a JSON object`);
  }
  return body;
}

/** An `https` URL, or `http` when allowed; else an error. */
function webUrl(value: unknown, allowHttp: boolean, what: string): URL {
  if (typeof value !== "string" || !URL.canParse(value)) {
    throw new Error(`${what} is not a URL`);
  }
  const url = new URL(value);
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    throw new Error(`${what} is not an https URL`);
  }
  return url;
}

/**
 * Finds the homeserver (`.well-known`, `/versions`), fetches its OAuth 2.0
 * metadata, and builds oauth4webapi's authorisation server from it.
 *
 * @example
 * ```ts
 * const connection = await connect({ homeserver: "example.org", storage });
 * ```
 */
export async function connect(setup: Setup): Promise<Connection> {
  const allowHttp = setup.allowHttp ?? false;
  const fetch = setup.fetch ?? globalThis.fetch;
  const site = webUrl(
    setup.homeserver.includes("://")
      ? setup.homeserver
      : `https://${setup.homeserver}`,
    allowHttp,
    "the homeserver",
  );
  const known = await getJson(
    { fetch },
    new URL("/.well-known/matrix/client", site),
  );
  const named = (known?.["m.homeserver"] as { base_url?: unknown } | undefined)
    ?.base_url;
  const homeserver = named === undefined
    ? site
    : webUrl(named, allowHttp, "m.homeserver.base_url");
  if (!homeserver.pathname.endsWith("/")) homeserver.pathname += "/";
  const versions = (await getJson(
    { fetch },
    new URL("_matrix/client/versions", homeserver),
  ))?.versions;
  if (!Array.isArray(versions)) {
    throw new Error(`${homeserver.href} is not a Matrix homeserver`);
  }
  // The stable address from v1.15; the proposal's before (MSC2965).
  const stable = versions.some((v) =>
    /^v1\.(\d+)$/.test(v) && Number(v.slice(3)) >= 15
  );
  const metadata = await getJson(
    { fetch },
    new URL(
      stable
        ? "_matrix/client/v1/auth_metadata"
        : "_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
      homeserver,
    ),
  );
  if (metadata === undefined) {
    throw new Error(`${homeserver.href} does not offer the OAuth 2.0 API`);
  }
  for (
    const field of [
      "authorization_endpoint",
      "token_endpoint",
      "registration_endpoint",
      "revocation_endpoint",
    ]
  ) {
    webUrl(metadata[field], allowHttp, `the metadata's ${field}`);
  }
  if (
    typeof metadata.issuer !== "string" ||
    !(metadata.code_challenge_methods_supported as unknown[] | undefined)
      ?.includes("S256")
  ) {
    throw new Error("the OAuth 2.0 metadata lacks an issuer or PKCE S256");
  }
  const options: RequestOptions = {
    [oauth.customFetch]: fetch,
    [oauth.allowInsecureRequests]: allowHttp,
  };
  return {
    homeserver,
    as: metadata as unknown as oauth.AuthorizationServer,
    storage: setup.storage,
    clock: setup.clock ?? systemClock,
    fetch,
    options,
  };
}

/** A new device ID: 10 upper-case letters, as Synapse makes them. */
function newDeviceId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return String.fromCharCode(...bytes.map((b) => 65 + (b % 26)));
}

/** The scope of a login as `deviceId` (Matrix v1.15, "Scope"). */
const scopeFor = (deviceId: string) =>
  `urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`;

/** Registers the program (RFC 7591) for `grantTypes`; its client. */
async function register(
  connection: Connection,
  grantTypes: string[],
  redirectUri?: URL,
): Promise<oauth.Client> {
  const metadata: Partial<oauth.Client> = {
    ...CLIENT,
    grant_types: grantTypes,
    application_type: "native",
    response_types: redirectUri === undefined ? [] : ["code"],
  };
  if (redirectUri !== undefined) {
    // A loopback redirect URI is registered without its port (RFC 8252 §7.3).
    const registered = new URL(redirectUri);
    registered.port = "";
    metadata.redirect_uris = [registered.href];
  }
  const response = await oauth.dynamicClientRegistrationRequest(
    connection.as,
    metadata,
    connection.options,
  );
  return await oauth.processDynamicClientRegistrationResponse(response);
}

/** An authenticated request to the homeserver's API. */
function api(
  connection: Connection,
  session: SavedSession,
  path: string,
): Promise<Response> {
  return connection.fetch(new URL(path, connection.homeserver), {
    headers: { Authorization: `Bearer ${session.accessToken}` },
  });
}

/** Who the token is for; checks the device it is for. */
async function whoIs(
  connection: Connection,
  accessToken: string,
  deviceId: string,
): Promise<string> {
  const response = await connection.fetch(
    new URL("_matrix/client/v3/account/whoami", connection.homeserver),
    { headers: { Authorization: `Bearer ${accessToken}` } },
  );
  const who = await response.json();
  if (!response.ok || typeof who?.user_id !== "string") {
    throw new Error(`whoami answered ${response.status}`);
  }
  if (who.device_id !== undefined && who.device_id !== deviceId) {
    throw new Error(`the token is not for device ${deviceId}`);
  }
  return who.user_id;
}

/** Saves the session the tokens open; revokes them if that fails. */
async function keep(
  connection: Connection,
  client: oauth.Client,
  deviceId: string,
  tokens: oauth.TokenEndpointResponse,
  startedAt: number,
): Promise<LoggedIn> {
  try {
    const userId = await whoIs(connection, tokens.access_token, deviceId);
    const session: SavedSession = {
      homeserver: connection.homeserver.href,
      clientId: client.client_id,
      userId,
      deviceId,
      accessToken: tokens.access_token,
    };
    if (tokens.refresh_token !== undefined) {
      session.refreshToken = tokens.refresh_token;
    }
    if (tokens.expires_in !== undefined) {
      session.expiresAt = startedAt + tokens.expires_in * 1000;
    }
    await connection.storage.set(KEY, session);
    return { userId, deviceId };
  } catch (error) {
    await revoke(
      connection,
      client,
      tokens.refresh_token ?? tokens.access_token,
    )
      .catch(() => {});
    throw error;
  }
}

/** Revokes `token` (RFC 7009). */
async function revoke(
  connection: Connection,
  client: oauth.Client,
  token: string,
): Promise<void> {
  const response = await oauth.revocationRequest(
    connection.as,
    client,
    oauth.None(),
    token,
    connection.options,
  );
  await oauth.processRevocationResponse(response);
}

/**
 * Logs in with the device grant (RFC 8628): `show` tells the user where to
 * go and what code to enter; resolves once they have agreed.
 *
 * @example
 * ```ts
 * await deviceLogin(connection, (uri, code) => console.log(uri, code));
 * ```
 */
export async function deviceLogin(
  connection: Connection,
  show: (uri: string, code: string, complete?: string) => void,
  signal?: AbortSignal,
): Promise<LoggedIn> {
  const deviceId = newDeviceId();
  const client = await register(connection, [DEVICE_GRANT, "refresh_token"]);
  const started = await oauth.processDeviceAuthorizationResponse(
    connection.as,
    client,
    await oauth.deviceAuthorizationRequest(
      connection.as,
      client,
      oauth.None(),
      { scope: scopeFor(deviceId) },
      { ...connection.options, signal },
    ),
  );
  show(
    started.verification_uri,
    started.user_code,
    started.verification_uri_complete,
  );
  const clock = connection.clock;
  const expiresAt = clock.now() + started.expires_in * 1000;
  let interval = started.interval ?? 5;
  for (;;) {
    await clock.sleep(interval * 1000, signal);
    if (clock.now() >= expiresAt) throw new Error("the code expired");
    const startedAt = clock.now();
    try {
      const tokens = await oauth.processDeviceCodeResponse(
        connection.as,
        client,
        await oauth.deviceCodeGrantRequest(
          connection.as,
          client,
          oauth.None(),
          started.device_code,
          { ...connection.options, signal },
        ),
      );
      return await keep(connection, client, deviceId, tokens, startedAt);
    } catch (error) {
      if (!(error instanceof oauth.ResponseBodyError)) throw error;
      if (error.error === "slow_down") interval += 5;
      else if (error.error !== "authorization_pending") throw error;
    }
  }
}

/**
 * Starts a login with the code grant and PKCE: the browser goes to
 * `login.url`, and comes back to `redirectUri`.
 *
 * @example
 * ```ts
 * const login = await startCodeLogin(connection, "http://127.0.0.1:8080/cb");
 * location.assign(login.url);
 * ```
 */
export async function startCodeLogin(
  connection: Connection,
  redirectUri: string,
): Promise<CodeLogin> {
  const redirect = new URL(redirectUri);
  const client = await register(
    connection,
    ["authorization_code", "refresh_token"],
    redirect,
  );
  const deviceId = newDeviceId();
  const state = oauth.generateRandomState();
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const url = new URL(connection.as.authorization_endpoint!);
  const query = {
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirect.href,
    scope: scopeFor(deviceId),
    state,
    response_mode: "query",
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
  };
  for (const [name, value] of Object.entries(query)) {
    url.searchParams.set(name, value);
  }
  return {
    url: url.href,
    clientId: client.client_id,
    redirectUri: redirect.href,
    state,
    codeVerifier,
    deviceId,
  };
}

/**
 * Finishes a code grant login with the address the browser came back to.
 *
 * @example
 * ```ts
 * await finishCodeLogin(connection, location.href, login);
 * ```
 */
export async function finishCodeLogin(
  connection: Connection,
  callback: string,
  login: CodeLogin,
): Promise<LoggedIn> {
  const client = { client_id: login.clientId };
  const parameters = oauth.validateAuthResponse(
    connection.as,
    client,
    new URL(callback),
    login.state,
  );
  const startedAt = connection.clock.now();
  const tokens = await oauth.processAuthorizationCodeResponse(
    connection.as,
    client,
    await oauth.authorizationCodeGrantRequest(
      connection.as,
      client,
      oauth.None(),
      parameters,
      login.redirectUri,
      login.codeVerifier,
      connection.options,
    ),
  );
  return await keep(connection, client, login.deviceId, tokens, startedAt);
}

/** The saved session, or an error saying to log in. */
async function saved(connection: Connection): Promise<SavedSession> {
  const session = await connection.storage.get(KEY) as SavedSession | undefined;
  if (session === undefined) throw new Error("not logged in: log in first");
  return session;
}

/** Renews the session's tokens; forgets the session if they are refused. */
async function refresh(
  connection: Connection,
  session: SavedSession,
): Promise<SavedSession> {
  if (session.refreshToken === undefined) {
    throw new Error("the session cannot be renewed: log in again");
  }
  const client = { client_id: session.clientId };
  const startedAt = connection.clock.now();
  let tokens;
  try {
    tokens = await oauth.processRefreshTokenResponse(
      connection.as,
      client,
      await oauth.refreshTokenGrantRequest(
        connection.as,
        client,
        oauth.None(),
        session.refreshToken,
        connection.options,
      ),
    );
  } catch (error) {
    if (
      error instanceof oauth.ResponseBodyError &&
      error.error === "invalid_grant"
    ) {
      await connection.storage.delete(KEY);
    }
    throw error;
  }
  const renewed: SavedSession = {
    ...session,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token ?? session.refreshToken,
    expiresAt: tokens.expires_in === undefined
      ? undefined
      : startedAt + tokens.expires_in * 1000,
  };
  await connection.storage.set(KEY, renewed);
  return renewed;
}

/**
 * Who the session is, renewing the access token when it is due or refused.
 *
 * @example
 * ```ts
 * console.log(await whoami(connection));
 * ```
 */
export async function whoami(connection: Connection): Promise<string> {
  let session = await saved(connection);
  if (
    session.expiresAt !== undefined &&
    connection.clock.now() >= session.expiresAt - 30_000
  ) {
    session = await refresh(connection, session);
  }
  const path = "_matrix/client/v3/account/whoami";
  let response = await api(connection, session, path);
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    if (body.errcode !== "M_UNKNOWN_TOKEN") {
      throw new Error(`whoami answered 401 ${body.errcode}`);
    }
    response = await api(connection, await refresh(connection, session), path);
  }
  const who = await response.json();
  if (!response.ok || typeof who?.user_id !== "string") {
    throw new Error(`whoami answered ${response.status}`);
  }
  return who.user_id;
}

/**
 * Logs out: revokes the session's token and forgets the session.
 *
 * @example
 * ```ts
 * await logout(connection);
 * ```
 */
export async function logout(connection: Connection): Promise<void> {
  const session = await saved(connection);
  await revoke(
    connection,
    { client_id: session.clientId },
    session.refreshToken ?? session.accessToken,
  );
  await connection.storage.delete(KEY);
}
