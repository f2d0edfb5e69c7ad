/**
 * An OAuth 2.0 login program on matrixlib, for the bundle size benchmark
 * (`bundle_size.ts`): it is bundled as an entry, so esbuild keeps every
 * export below and what they use, and nothing else. Its twin,
 * `oauth4webapi.ts` beside it, does the same on oauth4webapi; both have the
 * same exports, and `oauth_login_test.ts` runs both against the development
 * homeserver's OAuth 2.0 mode.
 *
 * What a browser or terminal program needs to log in with the OAuth 2.0 API:
 * find the homeserver from a server name, log in with the device grant or
 * with the code grant, keep the session in a storage, call the API with a
 * token renewed when due, and log out (revoking the token).
 *
 * @module
 */
import {
  Client,
  type Clock,
  type CodeLogin,
  discover,
  type Fetch,
  type Storage,
} from "../../../mod.ts";

/** What the program is given. */
export interface Setup {
  /** A server name, user ID or URL, for the specification's discovery. */
  homeserver: string;
  /** Where the session is kept. */
  storage: Storage;
  /** The `fetch` to use; the global one by default. */
  fetch?: Fetch;
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

/** How the program describes itself to the authorisation server. */
const CLIENT = {
  clientUri: "https://matrixlib.example/",
  clientName: "matrixlib example",
};

/**
 * Finds the homeserver and restores a saved session, if any.
 *
 * @example
 * ```ts
 * const client = await connect({ homeserver: "example.org", storage });
 * ```
 */
export async function connect(setup: Setup): Promise<Client> {
  const found = await discover(setup.homeserver, {
    fetch: setup.fetch,
    allowHttp: setup.allowHttp,
  });
  if (found.baseUrl === undefined) throw new Error(found.reason);
  const client = new Client({
    baseUrl: found.baseUrl,
    fetch: setup.fetch,
    allowHttp: setup.allowHttp,
    clock: setup.clock,
    storage: setup.storage,
  });
  await client.restore();
  return client;
}

/**
 * Logs in with the device grant (RFC 8628): `show` tells the user where to
 * go and what code to enter; resolves once they have agreed.
 *
 * @example
 * ```ts
 * await deviceLogin(client, (uri, code) => console.log(uri, code));
 * ```
 */
export async function deviceLogin(
  client: Client,
  show: (uri: string, code: string, complete?: string) => void,
  signal?: AbortSignal,
): Promise<LoggedIn> {
  const login = await client.oauth.startDeviceLogin({ client: CLIENT, signal });
  show(login.verificationUri, login.userCode, login.verificationUriComplete);
  const result = await client.oauth.finishDeviceLogin(login, { signal });
  return { userId: result.userId, deviceId: result.deviceId };
}

/**
 * Starts a login with the code grant and PKCE: the browser goes to
 * `login.url`, and comes back to `redirectUri`.
 *
 * @example
 * ```ts
 * const login = await startCodeLogin(client, "http://127.0.0.1:8080/cb");
 * location.assign(login.url);
 * ```
 */
export async function startCodeLogin(
  client: Client,
  redirectUri: string,
): Promise<CodeLogin> {
  return await client.oauth.startCodeLogin({ client: CLIENT, redirectUri });
}

/**
 * Finishes a code grant login with the address the browser came back to.
 *
 * @example
 * ```ts
 * await finishCodeLogin(client, location.href, login);
 * ```
 */
export async function finishCodeLogin(
  client: Client,
  callback: string,
  login: CodeLogin,
): Promise<LoggedIn> {
  const result = await client.oauth.finishCodeLogin(callback, login);
  return { userId: result.userId, deviceId: result.deviceId };
}

/**
 * Who the session is, renewing the access token when it is due or refused.
 *
 * @example
 * ```ts
 * console.log(await whoami(client));
 * ```
 */
export async function whoami(client: Client): Promise<string> {
  return (await client.whoami()).userId;
}

/**
 * Logs out: revokes the session's token and forgets the session.
 *
 * @example
 * ```ts
 * await logout(client);
 * ```
 */
export async function logout(client: Client): Promise<void> {
  await client.logout();
}
