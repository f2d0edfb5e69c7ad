/**
 * The network a transcript's commands see: the development homeserver at
 * `localhost:8008`, and nothing else.
 *
 * The commands run with `HTTP_PROXY` and `HTTPS_PROXY` pointing at a loopback
 * port that this module serves, and Deno's `fetch` sends every request there.
 * That way a command in the book can say `http://localhost:8008` and
 * `--allow-net=localhost:8008` (and the examples' default homeserver works),
 * while the requests reach a fresh, seeded homeserver, whatever else listens
 * on port 8008 of the machine, and never leave it. Deno checks `--allow-net`
 * against the host the command asked for, not the proxy, so the permissions
 * in the book are the ones tested.
 *
 * - Plain HTTP to `localhost:8008`, `127.0.0.1:8008` or `[::1]:8008` is
 *   answered by the homeserver.
 * - HTTPS to those addresses fails to connect, as it does against the real
 *   development homeserver, which speaks no TLS; HTTPS to a `.invalid` name
 *   fails too, as such names never resolve (RFC 6761).
 * - Anything else is a "stray": the request fails, and the transcript check
 *   reports it, since its output would depend on the network.
 *
 * @module
 */
import {
  createHomeserver,
  type Homeserver,
  type HomeserverOptions,
} from "../../devserver/server.ts";

/** The addresses the homeserver answers on, as `host:port`. */
export const HOMESERVER_HOSTS: readonly string[] = [
  "localhost:8008",
  "127.0.0.1:8008",
  "[::1]:8008",
];

/** The seed of the homeserver's tokens and device IDs in transcripts. */
export const TRANSCRIPT_SEED = 8008;

/** The homeserver a transcript runs against: `devserver/main.ts`'s defaults. */
export const TRANSCRIPT_HOMESERVER: HomeserverOptions = {
  serverName: "localhost:8008",
  baseUrl: "http://localhost:8008/",
  users: [{
    localpart: "alice",
    password: "secret",
    emails: ["alice@example.org"],
  }],
  seed: TRANSCRIPT_SEED,
};

/** A running transcript network. */
export interface TranscriptNetwork {
  /** The homeserver behind `localhost:8008`. */
  homeserver: Homeserver;
  /** The environment variables that send a process's requests here. */
  env: Record<string, string>;
  /** Requests that went elsewhere, as `METHOD URL`, oldest first. */
  strays: string[];
  /** Stops serving. */
  close(): Promise<void>;
}

/** Whether a CONNECT target (`host:port`) is a `.invalid` name. */
function isInvalidName(target: string): boolean {
  const host = target.replace(/:\d+$/, "").toLowerCase();
  return host === "invalid" || host.endsWith(".invalid");
}

/**
 * Starts a fresh homeserver (by default {@linkcode TRANSCRIPT_HOMESERVER})
 * behind a proxy on a free loopback port. `create` makes it from the
 * options: `createHomeserver` by default, `createCitadelHomeserver` for
 * Citadel's dialect.
 */
export function startNetwork(
  options: HomeserverOptions = TRANSCRIPT_HOMESERVER,
  create: (options: HomeserverOptions) => Homeserver = createHomeserver,
): TranscriptNetwork {
  const homeserver = create(options);
  const strays: string[] = [];
  const refuse = () =>
    new Response("not reachable from a transcript\n", { status: 502 });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      // A proxied request names its target: an absolute URL for plain HTTP,
      // and `host:port` (which Deno shows as `http://host:port`) for CONNECT.
      const url = new URL(request.url);
      if (request.method === "CONNECT") {
        // Refusing the tunnel makes the client's fetch fail, as a TLS
        // handshake with a plain-HTTP server, or a name that does not
        // resolve, makes it fail.
        if (!HOMESERVER_HOSTS.includes(url.host) && !isInvalidName(url.host)) {
          strays.push(`CONNECT ${url.host}`);
        }
        return refuse();
      }
      if (HOMESERVER_HOSTS.includes(url.host)) {
        return homeserver.handler(request);
      }
      strays.push(`${request.method} ${url.origin}${url.pathname}`);
      return refuse();
    },
  );
  const proxy = `http://127.0.0.1:${server.addr.port}`;
  return {
    homeserver,
    env: {
      HTTP_PROXY: proxy,
      HTTPS_PROXY: proxy,
      http_proxy: proxy,
      https_proxy: proxy,
    },
    strays,
    close: () => server.shutdown(),
  };
}
