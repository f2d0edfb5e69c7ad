/**
 * Serves the development homeserver (`devserver/server.ts`) on a loopback
 * port, for the book's examples:
 *
 * ```console
 * deno run --allow-net devserver/main.ts [--port 8008] [--user alice:secret] [--citadel]
 * deno run --allow-net --allow-read=. --allow-write=. devserver/main.ts --state devserver.json
 * ```
 *
 * With `--citadel` it speaks Thales Citadel's dialect (`devserver/citadel.ts`)
 * and prints the URL of its portal. With `--oauth` (or `--oauth both`) it
 * serves the OAuth 2.0 API as matrix-authentication-service does
 * (`devserver/oauth.ts`), and prints where its metadata is.
 *
 * It prints its URL and its users (never their passwords), then one line per
 * request: method, path, status and Matrix error code, and a note when the
 * access token came in the query string. No token, password, CAS ticket or
 * query string is ever printed. Ctrl+C stops it.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import {
  type CasAccount,
  createHomeserver,
  type Homeserver,
  type HomeserverOptions,
  type HomeserverState,
  type UserSpec,
} from "./server.ts";
import { type CitadelHomeserver, createCitadelHomeserver } from "./citadel.ts";
import { readStateFile, writeStateFile } from "./state_file.ts";

const HELP = `Usage: deno run --allow-net devserver/main.ts [options]

A development Matrix homeserver on this computer: password login, refresh
tokens, logout, whoami, device management, login tokens (get_token) and
single sign-on through a built-in CAS identity provider at {base URL}cas/login.
It answers as Synapse does; with --oauth, its OAuth 2.0 API answers as
matrix-authentication-service does. State is kept in memory unless --state
is given.

Users:
  --user LOCALPART:PASSWORD    a user (repeatable; everything after the first
                               ":" is the password; default alice:secret,
                               with the email address alice@example.org)
  --email LOCALPART=ADDRESS    an email address to log in with (repeatable)
  --phone LOCALPART=MSISDN     a phone number to log in with, in international
                               digits without "+", e.g. 491711234567
  --cas-user NAME:PASSWORD     an account known only to the CAS provider; its
                               first sign-on creates the Matrix user
                               (repeatable; --user users can sign in too)

Tokens:
  --access-token-lifetime MS   access tokens expire after MS milliseconds for
                               clients that ask for a refresh token
                               (default: refresh tokens off, tokens never expire)
  --refresh-token-lifetime MS  refresh tokens expire after MS milliseconds
                               (default: never)
  --login-token-lifetime MS    login tokens from single sign-on expire after
                               MS milliseconds (default 120000, as Synapse)
  --get-token-lifetime MS      login tokens from get_token expire after MS
                               milliseconds (default 300000, as Synapse)
  --no-query-token             refuse access tokens in the access_token query
                               parameter (deprecated; Synapse and, by
                               default, this server accept them), to rehearse
                               a specification version without it

OAuth 2.0 (as matrix-authentication-service answers, as on matrix.org):
  --oauth [both]               serve the OAuth 2.0 API: server metadata at
                               {base URL}_matrix/client/v1/auth_metadata,
                               client registration, authorisation code with
                               PKCE, device authorisation, refresh, revocation,
                               an account page; the legacy login API answers
                               404 M_UNRECOGNIZED. With "both", MAS's
                               compatibility layer serves the legacy login API
                               too. Access tokens live 300000 ms unless
                               --access-token-lifetime says otherwise. Sign in
                               without a browser with devserver/oauth_browser.ts

Single sign-on:
  --no-sso                     offer no SSO or CAS login
  --sso-client PREFIX          redirect URLs starting with PREFIX get the
                               login token at once (repeatable; default: http
                               loopback addresses); others see a confirmation
                               page first
  --cas-service PREFIX         the CAS provider also signs in to services
                               starting with PREFIX, such as another
                               homeserver's public base URL (repeatable)
  --cas-auto-approve           let {base URL}cas/login?service=...&user=NAME
                               sign in as NAME with no password (scripts only)

Server:
  --port N                     port to listen on (default 8008)
  --base-url URL               the base URL announced in .well-known and login
                               answers, e.g. behind a proxy (default
                               http://localhost:PORT/)
  --server-name NAME           the server name in user IDs (default
                               localhost:PORT)
  --host ADDRESS               address to listen on (default 127.0.0.1, and
                               ::1 when available, so that "localhost" works)
  --state FILE                 keep users, devices and tokens in FILE (JSON,
                               mode 0600; it holds passwords and tokens) so
                               that they survive a restart; needs
                               --allow-read=FILE and --allow-write on its folder
  --citadel                    Thales Citadel dialect: email login at r1/login,
                               v2_alpha/tokenrefresh, 401 M_EXPIRED_TOKEN, at
                               most 5 devices; users are LOCALPART@example.org.
                               Its portal URL, printed at start, is
                               http://localhost:PORT/api/get_domain?email=EMAIL
  --rate-limit                 limit logins as Synapse does by default: the
                               4th wrong password for a user in a burst, the
                               6th login in a row, the 6th login of a user,
                               and get_token to one a minute per user
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

/**
 * The arguments, with a bare `--oauth` (last, or before another option)
 * read as `--oauth=only`: parseArgs wants a value for a string option.
 */
function withOAuthDefault(args: string[]): string[] {
  return args.map((arg, i) =>
    arg === "--oauth" &&
      (i === args.length - 1 || args[i + 1].startsWith("-"))
      ? "--oauth=only"
      : arg
  );
}

let parsed;
try {
  parsed = parseArgs({
    args: withOAuthDefault(process.argv.slice(2)),
    options: {
      port: { type: "string" },
      host: { type: "string" },
      "base-url": { type: "string" },
      "server-name": { type: "string" },
      user: { type: "string", multiple: true },
      email: { type: "string", multiple: true },
      phone: { type: "string", multiple: true },
      "cas-user": { type: "string", multiple: true },
      "access-token-lifetime": { type: "string" },
      "refresh-token-lifetime": { type: "string" },
      "login-token-lifetime": { type: "string" },
      "get-token-lifetime": { type: "string" },
      "no-sso": { type: "boolean" },
      "sso-client": { type: "string", multiple: true },
      "cas-service": { type: "string", multiple: true },
      "cas-auto-approve": { type: "boolean" },
      state: { type: "string" },
      "rate-limit": { type: "boolean" },
      "no-query-token": { type: "boolean" },
      citadel: { type: "boolean" },
      oauth: { type: "string" },
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
for (const [flag, key] of [["email", "emails"], ["phone", "phones"]] as const) {
  for (const spec of values[flag] ?? []) {
    const equals = spec.indexOf("=");
    const localpart = spec.slice(0, equals).toLowerCase();
    const user = users.find((u) => u.localpart.toLowerCase() === localpart);
    if (equals <= 0 || equals === spec.length - 1) {
      fail(`--${flag} needs LOCALPART=${flag.toUpperCase()}, not ${spec}`);
    }
    if (!user) {
      fail(`--${flag} ${spec}: no --user ${localpart}:PASSWORD was given`);
    }
    (user[key] ??= []).push(spec.slice(equals + 1));
  }
}
const casUsers: CasAccount[] = (values["cas-user"] ?? []).map((spec) => {
  const colon = spec.indexOf(":");
  if (colon <= 0 || colon === spec.length - 1) {
    fail(`--cas-user needs NAME:PASSWORD, not ${spec.split(":")[0]}:…`);
  }
  return { username: spec.slice(0, colon), password: spec.slice(colon + 1) };
});

const stateFile = values.state;
let state: HomeserverState | undefined;
if (stateFile !== undefined) {
  try {
    state = readStateFile(stateFile);
  } catch (error) {
    // Never overwritten: the server does not start.
    process.stderr.write(`devserver: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

/** Saves the state; a failure is reported and the server goes on. */
function save(): void {
  if (stateFile === undefined) return;
  try {
    writeStateFile(stateFile, homeserver.exportState());
  } catch (error) {
    process.stderr.write(`devserver: ${(error as Error).message}\n`);
  }
}

const citadel = values.citadel === true;
const oauth = values.oauth;
if (oauth !== undefined && oauth !== "only" && oauth !== "both") {
  fail(`--oauth takes nothing or "both", not ${oauth}`);
}
if (oauth !== undefined && citadel) {
  fail("--oauth and --citadel do not go together");
}
if (citadel) {
  // Citadel logs in by email only: every user gets an address to log in with.
  for (const user of users) {
    user.emails ??= [`${user.localpart.toLowerCase()}@example.org`];
  }
}

const baseUrl = values["base-url"] ?? `http://localhost:${port}/`;
if (!/^https?:\/\/[^/]/.test(baseUrl) || !URL.canParse(baseUrl)) {
  fail(`--base-url needs an http or https URL, not ${baseUrl}`);
}
const serverName = values["server-name"] ?? `localhost:${port}`;
if (
  !/^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(
    serverName,
  )
) {
  fail(
    `--server-name needs a host name with an optional port, such as example.org or localhost:8008, not ${serverName}`,
  );
}

const options: HomeserverOptions = {
  serverName,
  baseUrl,
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
  accessTokenInQuery: values["no-query-token"] !== true,
  oauth,
  seed: integer("seed", values.seed),
  sso: values["no-sso"] !== true,
  loginTokenLifetimeMs: integer(
    "login-token-lifetime",
    values["login-token-lifetime"],
  ),
  getTokenLifetimeMs: integer(
    "get-token-lifetime",
    values["get-token-lifetime"],
  ),
  ssoClientWhitelist: values["sso-client"],
  casUsers,
  casAutoApprove: values["cas-auto-approve"] === true,
  casServices: values["cas-service"],
  state,
  onChange: save,
  onRequest(entry) {
    const errcode = entry.errcode ? ` ${entry.errcode}` : "";
    // The token itself is never printed, only that it came in the query.
    const query = entry.tokenInQuery ? " (access_token in the query)" : "";
    console.log(
      `${entry.method} ${entry.path} ${entry.status}${errcode}${query}`,
    );
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
save(); // the file exists, with the users given, from the start

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
} else if (oauth !== undefined) {
  console.log(
    `OAuth 2.0 API, as matrix-authentication-service: metadata at ${homeserver.baseUrl}_matrix/client/v1/auth_metadata`,
  );
  console.log(
    oauth === "both"
      ? "Legacy login API: MAS's compatibility layer (password, single sign-on, login token)"
      : "Legacy login API: off (404 M_UNRECOGNIZED)",
  );
  console.log(
    `Access tokens expire after ${
      options.accessTokenLifetimeMs ?? 300_000
    } ms (with refresh tokens)`,
  );
} else if (options.accessTokenLifetimeMs !== undefined) {
  console.log(
    `Access tokens expire after ${options.accessTokenLifetimeMs} ms (with refresh tokens)`,
  );
}
if (options.rateLimit) {
  console.log("Logins are rate-limited as on Synapse (429 M_LIMIT_EXCEEDED)");
}
if (options.accessTokenInQuery === false) {
  console.log(
    "Access tokens in the query string are refused (--no-query-token)",
  );
}
if (options.sso && oauth === undefined) {
  console.log(
    `Single sign-on: CAS login page at ${homeserver.baseUrl}cas/login` +
      (options.casAutoApprove ? " (auto-approving ?user=)" : ""),
  );
}
if (stateFile !== undefined) {
  console.log(
    `State ${state ? "read from" : "kept in"} ${stateFile} (holds secrets)`,
  );
}
console.log("Ctrl+C stops it.");

Deno.addSignalListener("SIGINT", async () => {
  console.log("Stopping.");
  await Promise.all(servers.map((s) => s.shutdown()));
  Deno.exit(0);
});
