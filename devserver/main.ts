/**
 * Serves the development homeserver (`devserver/server.ts`) on a loopback
 * port, for the book's examples:
 *
 * ```console
 * deno run --allow-net devserver/main.ts [--port 8008] [--user alice:secret] [--citadel]
 * ```
 *
 * With `--citadel` it speaks Thales Citadel's dialect (`devserver/citadel.ts`)
 * and prints the URL of its portal.
 *
 * It prints its URL and its users (never their passwords), then one line per
 * request: method, path, status and Matrix error code. No token, password or
 * query string is ever printed. Ctrl+C stops it.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import {
  createHomeserver,
  type Homeserver,
  type HomeserverOptions,
  type UserSpec,
} from "./server.ts";
import { type CitadelHomeserver, createCitadelHomeserver } from "./citadel.ts";

const HELP = `Usage: deno run --allow-net devserver/main.ts [options]

A development Matrix homeserver on this computer: password login, refresh
tokens, logout, whoami; state in memory only. It answers as Synapse does.

Options:
  --port N                     port to listen on (default 8008)
  --host ADDRESS               address to listen on (default 127.0.0.1, and
                               ::1 when available, so that "localhost" works)
  --user LOCALPART:PASSWORD    a user (repeatable; default alice:secret, with
                               the email address alice@example.org)
  --access-token-lifetime MS   access tokens expire after MS milliseconds for
                               clients that ask for a refresh token
                               (default: refresh tokens off, tokens never expire)
  --refresh-token-lifetime MS  refresh tokens expire after MS milliseconds
                               (default: never)
  --rate-limit                 limit failed logins per user, as Synapse does
  --citadel                    Thales Citadel dialect: email login at r1/login,
                               v2_alpha/tokenrefresh, 401 M_EXPIRED_TOKEN, at
                               most 5 devices; users are LOCALPART@example.org.
                               Its portal URL, printed at start, is
                               http://localhost:PORT/api/get_domain?email=EMAIL
  --seed N                     deterministic tokens and device IDs
  --help                       show this help
`;

function fail(message: string): never {
  process.stderr.write(`devserver: ${message}\n\n${HELP}`);
  process.exit(2);
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) {
    fail(`--${name} needs a whole number, not ${value}`);
  }
  return Number(value);
}

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    options: {
      port: { type: "string" },
      host: { type: "string" },
      user: { type: "string", multiple: true },
      "access-token-lifetime": { type: "string" },
      "refresh-token-lifetime": { type: "string" },
      "rate-limit": { type: "boolean" },
      citadel: { type: "boolean" },
      seed: { type: "string" },
      help: { type: "boolean" },
    },
  });
} catch (error) {
  fail((error as Error).message);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const port = integer("port", values.port) ?? 8008;
if (port < 1 || port > 65535) fail(`--port must be 1 to 65535, not ${port}`);
const users: UserSpec[] = (values.user ?? []).map((spec) => {
  const colon = spec.indexOf(":");
  if (colon <= 0 || colon === spec.length - 1) {
    fail(`--user needs LOCALPART:PASSWORD, not ${spec.split(":")[0]}:…`);
  }
  return { localpart: spec.slice(0, colon), password: spec.slice(colon + 1) };
});
if (users.length === 0) {
  users.push({
    localpart: "alice",
    password: "secret",
    emails: ["alice@example.org"],
  });
}

const citadel = values.citadel === true;
if (citadel) {
  // Citadel logs in by email only: every user gets an address to log in with.
  for (const user of users) {
    user.emails ??= [`${user.localpart.toLowerCase()}@example.org`];
  }
}

const options: HomeserverOptions = {
  serverName: `localhost:${port}`,
  baseUrl: `http://localhost:${port}/`,
  users,
  accessTokenLifetimeMs: integer(
    "access-token-lifetime",
    values["access-token-lifetime"],
  ),
  refreshTokenLifetimeMs: integer(
    "refresh-token-lifetime",
    values["refresh-token-lifetime"],
  ),
  rateLimit: values["rate-limit"] === true,
  seed: integer("seed", values.seed),
  onRequest(entry) {
    const errcode = entry.errcode ? ` ${entry.errcode}` : "";
    console.log(`${entry.method} ${entry.path} ${entry.status}${errcode}`);
    homeserver.clearLog(); // printed; a long run keeps no history
  },
};
let hs: Homeserver;
let citadelServer: CitadelHomeserver | undefined;
try {
  if (citadel) hs = citadelServer = createCitadelHomeserver(options);
  else hs = createHomeserver(options);
} catch (error) {
  fail((error as Error).message);
}
const homeserver = hs;

const hosts = values.host === undefined ? ["127.0.0.1", "::1"] : [values.host];
const servers: Deno.HttpServer[] = [];
for (const hostname of hosts) {
  try {
    servers.push(
      Deno.serve({ hostname, port, onListen() {} }, homeserver.handler),
    );
  } catch (error) {
    // ::1 is a bonus: a machine without IPv6 still gets 127.0.0.1.
    if (servers.length === 0 || values.host !== undefined) {
      fail(
        `cannot listen on ${hostname} port ${port}: ${
          (error as Error).message
        }`,
      );
    }
  }
}

console.log(
  `Development homeserver at ${homeserver.baseUrl} (server name ${homeserver.serverName})`,
);
console.log(`Users: ${homeserver.userIds().join(", ")}`);
if (citadelServer !== undefined) {
  console.log(
    `Thales Citadel dialect: portal at ${citadelServer.portalUrl}/api/get_domain?email=EMAIL (users log in by email at /_matrix/client/r1/login)`,
  );
  console.log(
    `Access tokens expire after ${citadelServer.accessTokenLifetimeMs} ms; at most ${citadelServer.maxDevices} devices per account`,
  );
} else if (options.accessTokenLifetimeMs !== undefined) {
  console.log(
    `Access tokens expire after ${options.accessTokenLifetimeMs} ms (with refresh tokens)`,
  );
}
if (options.rateLimit) console.log("Failed logins are rate-limited");
console.log("Ctrl+C stops it.");

Deno.addSignalListener("SIGINT", async () => {
  console.log("Stopping.");
  await Promise.all(servers.map((s) => s.shutdown()));
  Deno.exit(0);
});
