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

/** What {@linkcode serveHomeserver} can be told, besides the server's own options. */
export interface ServeOptions extends HomeserverOptions {
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

/** A homeserver listening on a port. */
export interface ServedHomeserver {
  /** The homeserver: its log, users and devices. */
  homeserver: Homeserver;
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
 */
export async function serveHomeserver(
  options: ServeOptions = {},
): Promise<ServedHomeserver> {
  const { hostname = "127.0.0.1", port = 0, urlHost, ...rest } = options;
  let homeserver: Homeserver | undefined;
  const server = Deno.serve(
    { hostname, port, onListen() {} },
    (request) => homeserver!.handler(request),
  );
  const actualPort = server.addr.port;
  const host = urlHost ?? hostname;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${actualPort}`;
  try {
    homeserver = createHomeserver({
      serverName: `${host}:${actualPort}`,
      baseUrl: `${url}/`,
      ...rest,
    });
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
