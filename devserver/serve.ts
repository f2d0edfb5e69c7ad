/**
 * Serves a development homeserver on a free loopback port, for programs that
 * need a real URL: the guided tour (`npm start`) and the check of the book's
 * transcripts. Tests that can pass a `fetch` use {@linkcode fetchOf} instead.
 *
 * ```ts
 * const served = await serveHomeserver({ users: [{ localpart: "alice", password: "secret" }] });
 * console.log(served.url); // http://127.0.0.1:40123
 * await served.close();
 * ```
 *
 * @module
 */
import {
  createHomeserver,
  type Homeserver,
  type HomeserverOptions,
} from "./server.ts";

/** Where to listen, for {@linkcode serveHomeserver}. */
export interface ListenOptions {
  /** The address to listen on. Default: `"127.0.0.1"`. */
  hostname?: string;
  /** The port. Default: 0, a free port chosen by the system. */
  port?: number;
  /**
   * The host name to put in the base URL, such as `"localhost"`. Default:
   * `hostname`. The base URL is only used when `baseUrl` is not given.
   */
  urlHost?: string;
}

/**
 * What {@linkcode serveHomeserver} can be told: where to listen, and the
 * options of the homeserver it creates (`O`).
 */
export type ServeOptions<O extends HomeserverOptions = HomeserverOptions> =
  & ListenOptions
  & O;

/** A homeserver listening on a port. */
export interface ServedHomeserver<H extends Homeserver = Homeserver> {
  /** The homeserver: its log, users and devices. */
  homeserver: H;
  /** The port it listens on. */
  port: number;
  /** Its base URL without the final `/`, such as `"http://127.0.0.1:40123"`. */
  url: string;
  /** Stops listening; resolves once open connections are closed. */
  close(): Promise<void>;
}

/**
 * Starts a homeserver on `hostname` and a free port (or `port`). Unless
 * `options.baseUrl` is given, the server announces
 * `http://{urlHost}:{port}/` in `.well-known` and in login answers, so that a
 * client following `well_known` stays on this server; unless
 * `options.serverName` is given, the server name is `{urlHost}:{port}`.
 *
 * `create` makes the homeserver from its options; by default
 * `createHomeserver`. Pass `createCitadelHomeserver` (from `citadel.ts`)
 * for a server in the Citadel dialect.
 */
export async function serveHomeserver<
  // deno-lint-ignore no-explicit-any
  C extends (options: any) => Homeserver = typeof createHomeserver,
>(
  options: ServeOptions<NonNullable<Parameters<C>[0]>> = {},
  create?: C,
): Promise<ServedHomeserver<ReturnType<C>>> {
  const make = create ?? createHomeserver;
  const { hostname = "127.0.0.1", port = 0, urlHost, ...rest } = options;
  let homeserver: ReturnType<C> | undefined;
  const server = Deno.serve(
    { hostname, port, onListen() {} },
    (request, info) => homeserver!.handler(request, info),
  );
  const actualPort = server.addr.port;
  const host = urlHost ?? hostname;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${actualPort}`;
  try {
    homeserver = make({
      serverName: `${host}:${actualPort}`,
      baseUrl: `${url}/`,
      ...rest,
    }) as ReturnType<C>;
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  return {
    homeserver,
    port: actualPort,
    url,
    close: () => server.shutdown(),
  };
}
