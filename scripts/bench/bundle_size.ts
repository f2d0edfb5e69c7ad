/**
 * Bundle size benchmark: how many bytes a browser downloads for matrixlib,
 * against matrix-js-sdk doing the same job (log in with a password, refresh
 * the token).
 *
 * Every bundle is made by the project's own esbuild
 * (`node_modules/.bin/esbuild`) with the same options ({@link ESBUILD_OPTIONS}:
 * bundle, ESM, browser platform, ES2022, tree-shaking), once without and once
 * with `--minify`; the minified bundle is then compressed with gzip at level 9
 * (`node:zlib`). Three figures per bundle: bundled, minified, gzip.
 *
 * matrixlib's side, always measured, needs no network:
 *
 * - **entry point**: `mod.ts` itself, every export kept;
 * - **minimal program**: {@link OUR_PROGRAM}, a password login and a
 *   `whoami()` (which refreshes the token when it is due), tree-shaken.
 *
 * OAuth 2.0 login, always measured, no network either: the same program
 * twice, {@link OAUTH_PROGRAMS}, once on matrixlib (whose chapter 9 writes
 * the protocol steps itself) and once on oauth4webapi (the project's
 * devDependency), each bundled as an entry, so that every one of its
 * exports is kept.
 *
 * matrix-js-sdk's side, only with `--with-matrix-js-sdk`: the script installs
 * the pinned version with npm into a scratch folder (cached, by default
 * `.bench/bundle_size/`, which git and deno ignore), never into the project,
 * and bundles the programs of {@link SDK_PROGRAMS} there.
 *
 * Exits with 1 if a bundle fails to build or the install fails, with 2 on a
 * bad option.
 *
 * Run: `deno run -A scripts/bench/bundle_size.ts --help`
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import { parseArgs as parseCommandLine } from "node:util";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------------------
// Options

/** What the command line can set. */
export interface Options {
  /** Also install and measure matrix-js-sdk (needs the npm registry). */
  withMatrixJsSdk: boolean;
  /** The matrix-js-sdk version to install, exactly. */
  sdkVersion: string;
  /** The scratch folder for matrix-js-sdk's install and entries. */
  cacheDir: string;
  /** Print one JSON object instead of the Markdown report. */
  json: boolean;
}

/** A command-line mistake: the message is for the user; exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A bundle that did not build, or an install that failed; exit status 1. */
export class BuildError extends Error {
  override name = "BuildError";
}

/** The matrix-js-sdk version the figures in BENCHMARKS.md are for. */
export const SDK_VERSION = "43.0.0";

/** The repository's root folder. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The help text. */
export const HELP = `Usage: deno run -A scripts/bench/bundle_size.ts [options]

Bundles matrixlib with esbuild (--bundle --format=esm --platform=browser
--target=es2022 --tree-shaking=true), once plain and once with --minify, and
compresses the minified bundle with gzip -9. Reports bytes for:

  matrixlib, entry point     mod.ts, every export kept
  matrixlib, minimal program a password login and whoami() (which refreshes
                             the token when due), tree-shaken

and, to weigh chapter 9's hand-written OAuth 2.0 steps, the same OAuth 2.0
login program (discovery, device grant, code grant with PKCE, whoami with
renewal, logout by revocation) twice:

  matrixlib, OAuth login     scripts/bench/oauth_login/matrixlib.ts
  oauth4webapi, OAuth login  scripts/bench/oauth_login/oauth4webapi.ts

With --with-matrix-js-sdk, also installs matrix-js-sdk (exact version) with
npm into a scratch folder (needs the npm registry; cached) and bundles, with
the same esbuild and options, the smallest programs that log in with a
password and refresh the token: through createClient(), and through the
SDK's HTTP layer alone (deep imports).

Exits with 1 if a bundle fails to build or the install fails; with 2 on a bad
option.

Options:
  --with-matrix-js-sdk     also measure matrix-js-sdk (network on first use)
  --sdk-version V          matrix-js-sdk version to install, exact x.y.z
                           (default ${SDK_VERSION})
  --cache-dir DIR          scratch folder for matrix-js-sdk
                           (default .bench/bundle_size, git-ignored)
  --json                   print the results as one JSON object
  -h, --help               show this help
`;

/** Parses the command line; `"help"` when help was asked for. */
export function parseArgs(args: readonly string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseCommandLine({
      args: [...args],
      options: {
        "with-matrix-js-sdk": { type: "boolean", default: false },
        "sdk-version": { type: "string", default: SDK_VERSION },
        "cache-dir": { type: "string", default: ".bench/bundle_size" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    // node:util's messages name the option; keep them, minus the stack.
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
  const { values } = parsed;
  if (values.help) return "help";
  const version = values["sdk-version"];
  if (!/^\d+\.\d+\.\d+$/.test(version)) {
    throw new UsageError(
      `--sdk-version needs an exact version such as ${SDK_VERSION} (got ${
        JSON.stringify(version)
      })`,
    );
  }
  const cacheDir = values["cache-dir"];
  if (cacheDir.trim() === "") {
    throw new UsageError("--cache-dir needs a folder (got an empty string)");
  }
  return {
    withMatrixJsSdk: values["with-matrix-js-sdk"],
    sdkVersion: version,
    cacheDir,
    json: values.json,
  };
}

// ---------------------------------------------------------------------------
// Bundling

/** The esbuild options every bundle gets (plus `--minify` for the second). */
export const ESBUILD_OPTIONS: readonly string[] = [
  "--bundle",
  "--format=esm",
  "--platform=browser",
  "--target=es2022",
  "--tree-shaking=true",
  "--log-level=warning",
];

/** The project's esbuild. */
export const ESBUILD = `${ROOT}node_modules/.bin/esbuild`;

/** The three figures of one bundle, in bytes. */
export interface Sizes {
  /** Bundled, tree-shaken, not minified. */
  bundled: number;
  /** The same with `--minify`. */
  minified: number;
  /** The minified bundle compressed with gzip, level 9. */
  gzip: number;
}

/** Where a bundle's entry comes from. */
export interface Entry {
  /** Folder esbuild runs in, and resolves the entry's imports from. */
  cwd: string;
  /** An entry file, relative to `cwd`... */
  file?: string;
  /** ...or the entry's source, given on standard input. */
  source?: string;
  /** The loader for `source` (`ts` or `js`). */
  loader?: "ts" | "js";
}

/** Runs esbuild on `entry` with `extra` options; the bundle's bytes. */
export async function esbuild(
  entry: Entry,
  extra: readonly string[] = [],
): Promise<{ bytes: Uint8Array; warnings: string }> {
  const args = [...ESBUILD_OPTIONS, ...extra];
  if (entry.file !== undefined) args.unshift(entry.file);
  else args.push(`--loader=${entry.loader ?? "js"}`);
  const child = new Deno.Command(ESBUILD, {
    args,
    cwd: entry.cwd,
    stdin: entry.source === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (entry.source !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(entry.source));
    await writer.close();
  }
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    throw new BuildError(
      `esbuild failed (exit ${out.code}) on ${
        entry.file ?? "a program on standard input"
      } in ${entry.cwd}:\n${stderr}`,
    );
  }
  return { bytes: out.stdout, warnings: stderr };
}

/** gzip at level 9, in bytes. */
export function gzipSize(bytes: Uint8Array): number {
  return gzipSync(bytes, { level: 9 }).byteLength;
}

/** Bundles `entry` plain and minified; the three figures and any warnings. */
export async function measure(
  entry: Entry,
): Promise<{ sizes: Sizes; warnings: string[] }> {
  const plain = await esbuild(entry);
  const min = await esbuild(entry, ["--minify"]);
  return {
    sizes: {
      bundled: plain.bytes.byteLength,
      minified: min.bytes.byteLength,
      gzip: gzipSize(min.bytes),
    },
    warnings: [plain.warnings, min.warnings].filter((w) => w !== ""),
  };
}

// ---------------------------------------------------------------------------
// The programs

/** One measured bundle. */
export interface Result {
  /** `matrixlib` or `matrix-js-sdk`. */
  library: string;
  /** Short name of the bundle, for the table. */
  name: string;
  /** What the entry is: a file, or the program's source. */
  entry: string;
  sizes: Sizes;
  /** esbuild's warnings, if any (none expected). */
  warnings: string[];
}

/**
 * matrixlib's smallest program that logs in with a password and refreshes:
 * `whoami()`, like every authenticated call, renews the access token when
 * it is due or when the server answers 401 `M_UNKNOWN_TOKEN`.
 */
export const OUR_PROGRAM = `import { Client } from "./mod.ts";

const client = new Client({ baseUrl: "https://matrix.example.org" });
await client.loginWithPassword("alice", "secret");
console.log((await client.whoami()).userId);
`;

/** Measures matrixlib's entry point and minimal program. No network. */
export async function measureOurs(): Promise<Result[]> {
  const entryPoint = await measure({ cwd: ROOT, file: "mod.ts" });
  const program = await measure({
    cwd: ROOT,
    source: OUR_PROGRAM,
    loader: "ts",
  });
  return [
    {
      library: "matrixlib",
      name: "entry point",
      entry: "mod.ts",
      ...entryPoint,
    },
    {
      library: "matrixlib",
      name: "minimal program",
      entry: OUR_PROGRAM,
      ...program,
    },
  ];
}

/** One of the two OAuth 2.0 login programs, by its entry file. */
export interface OAuthProgram {
  /** `matrixlib`, or `oauth4webapi` (its version is added when measured). */
  library: string;
  /** The entry, relative to the repository's root. */
  file: string;
}

/**
 * The same OAuth 2.0 login program on matrixlib and on oauth4webapi: find
 * the homeserver, log in with the device grant or the code grant, keep the
 * session, `whoami` with the token renewed when due, log out. Both files
 * have the same exports, and `oauth_login_test.ts` runs both against the
 * development homeserver's OAuth 2.0 mode.
 */
export const OAUTH_PROGRAMS: readonly OAuthProgram[] = [
  { library: "matrixlib", file: "scripts/bench/oauth_login/matrixlib.ts" },
  {
    library: "oauth4webapi",
    file: "scripts/bench/oauth_login/oauth4webapi.ts",
  },
];

/** The version of oauth4webapi in the project's `node_modules`. */
export function installedOauth4webapiVersion(): string {
  const text = Deno.readTextFileSync(
    `${ROOT}node_modules/oauth4webapi/package.json`,
  );
  return (JSON.parse(text) as { version: string }).version;
}

/** Measures the two OAuth 2.0 login programs. No network. */
export async function measureOAuth(): Promise<Result[]> {
  const version = installedOauth4webapiVersion();
  const results: Result[] = [];
  for (const p of OAUTH_PROGRAMS) {
    const m = await measure({ cwd: ROOT, file: p.file });
    results.push({
      library: p.library === "oauth4webapi"
        ? `oauth4webapi ${version}`
        : p.library,
      name: "OAuth login",
      entry: p.file,
      ...m,
    });
  }
  return results;
}

/** A matrix-js-sdk program: its file name in the scratch folder and source. */
export interface SdkProgram {
  name: string;
  file: string;
  source: string;
}

/**
 * matrix-js-sdk's smallest programs that log in with a password and refresh.
 *
 * Its automatic renewal (`TokenManager` in `lib/http-api/refresh.js`) only
 * works for OAuth 2.0 sessions (it needs `oauth2ClientConfig`); after a
 * password login the caller renews the token itself with `POST /refresh`
 * (`MatrixClient.refreshToken`). Both programs do that once.
 *
 * - `createClient`: the package's documented entry (its `browser` field,
 *   `lib/browser-index.js`); `loginRequest`, `refreshToken`,
 *   `setAccessToken` and `whoami` of `MatrixClient`.
 * - `http layer`: the smallest import path found that still does both
 *   requests with the SDK's own code: `FetchHttpApi` (the class
 *   `MatrixClient` sends every request through) with `Method`,
 *   `ClientPrefix` and `TypedEventEmitter`, by deep imports of `lib/`
 *   (the package has no `exports` map, so they resolve).
 */
export const SDK_PROGRAMS: readonly SdkProgram[] = [
  {
    name: "createClient",
    file: "create_client.js",
    source: `import { createClient } from "matrix-js-sdk";

const baseUrl = "https://matrix.example.org";
const login = await createClient({ baseUrl }).loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: "alice" },
  password: "secret",
  refresh_token: true,
});
const client = createClient({
  baseUrl,
  accessToken: login.access_token,
  refreshToken: login.refresh_token,
  userId: login.user_id,
  deviceId: login.device_id,
});
const renewed = await client.refreshToken(login.refresh_token);
client.setAccessToken(renewed.access_token);
console.log((await client.whoami()).user_id);
`,
  },
  {
    name: "http layer",
    file: "http_layer.js",
    source: `import { FetchHttpApi } from "matrix-js-sdk/lib/http-api/fetch.js";
import { Method } from "matrix-js-sdk/lib/http-api/method.js";
import { ClientPrefix } from "matrix-js-sdk/lib/http-api/prefix.js";
import { TypedEventEmitter } from "matrix-js-sdk/lib/models/typed-event-emitter.js";

const http = new FetchHttpApi(new TypedEventEmitter(), {
  baseUrl: "https://matrix.example.org",
  prefix: ClientPrefix.V3,
  onlyData: true,
});
const login = await http.request(Method.Post, "/login", undefined, {
  type: "m.login.password",
  identifier: { type: "m.id.user", user: "alice" },
  password: "secret",
  refresh_token: true,
});
http.opts.accessToken = login.access_token;
const renewed = await http.authedRequest(Method.Post, "/refresh", undefined, {
  refresh_token: login.refresh_token,
});
http.opts.accessToken = renewed.access_token;
console.log((await http.authedRequest(Method.Get, "/account/whoami")).user_id);
`,
  },
];

/** The version of matrix-js-sdk installed in `dir`, if any. */
export function installedSdkVersion(dir: string): string | undefined {
  try {
    const text = Deno.readTextFileSync(
      `${dir}/node_modules/matrix-js-sdk/package.json`,
    );
    return (JSON.parse(text) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * Installs matrix-js-sdk `version` into `dir` with npm, unless it is there
 * already. Scripts are not run: bundling needs only the files.
 */
export async function installSdk(dir: string, version: string): Promise<void> {
  if (installedSdkVersion(dir) === version) return;
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(
    `${dir}/package.json`,
    JSON.stringify({ private: true, type: "module" }, null, 2) + "\n",
  );
  const out = await new Deno.Command("npm", {
    args: [
      "install",
      "--prefix",
      dir,
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--save-exact",
      `matrix-js-sdk@${version}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success || installedSdkVersion(dir) !== version) {
    throw new BuildError(
      `npm install matrix-js-sdk@${version} into ${dir} failed:\n${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/** Installs matrix-js-sdk in `dir` if needed and measures its programs. */
export async function measureSdk(
  dir: string,
  version: string,
): Promise<Result[]> {
  await installSdk(dir, version);
  const results: Result[] = [];
  for (const p of SDK_PROGRAMS) {
    Deno.writeTextFileSync(`${dir}/${p.file}`, p.source);
    const m = await measure({ cwd: dir, file: p.file });
    results.push({
      library: `matrix-js-sdk ${version}`,
      name: p.name,
      entry: p.source,
      ...m,
    });
  }
  return results;
}

// ---------------------------------------------------------------------------
// Report

/** Everything one run found. */
export interface Report {
  options: Options;
  tools: { esbuild: string; deno: string };
  results: Result[];
  /** The OAuth 2.0 login program, on matrixlib then on oauth4webapi. */
  oauth: Result[];
  /** The smallest matrix-js-sdk gzip figure over ours, when measured. */
  factors?: { entryPoint: number; minimalProgram: number; sdkBundle: string };
}

/** The version esbuild reports. */
export async function esbuildVersion(): Promise<string> {
  const out = await new Deno.Command(ESBUILD, {
    args: ["--version"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** Runs everything `o` asks for. */
export async function run(o: Options): Promise<Report> {
  const results = await measureOurs();
  if (o.withMatrixJsSdk) {
    const dir = o.cacheDir.startsWith("/")
      ? o.cacheDir
      : `${Deno.cwd()}/${o.cacheDir}`;
    results.push(...await measureSdk(dir, o.sdkVersion));
  }
  const report: Report = {
    options: o,
    tools: { esbuild: await esbuildVersion(), deno: Deno.version.deno },
    results,
    oauth: await measureOAuth(),
  };
  const sdk = results.filter((r) => r.library !== "matrixlib");
  if (sdk.length > 0) {
    const smallest = sdk.reduce((a, b) => b.sizes.gzip < a.sizes.gzip ? b : a);
    report.factors = {
      entryPoint: smallest.sizes.gzip / results[0].sizes.gzip,
      minimalProgram: smallest.sizes.gzip / results[1].sizes.gzip,
      sdkBundle: smallest.name,
    };
  }
  return report;
}

/** A byte count with thousands separators. */
function bytes(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * A Markdown table of `results`, with a last column `ratio`: each gzip
 * figure over `base`'s.
 */
function table(results: Result[], base: number, ratio: string): string[] {
  const rows = results.map((r) => [
    r.library,
    r.name,
    bytes(r.sizes.bundled),
    bytes(r.sizes.minified),
    bytes(r.sizes.gzip),
    (r.sizes.gzip / base).toFixed(1),
  ]);
  const head = [
    "library",
    "bundle",
    "bundled (B)",
    "minified (B)",
    "gzip -9 (B)",
    ratio,
  ];
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    `| ${
      cells.map((c, i) => i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))
        .join(" | ")
    } |`;
  return [
    line(head),
    `| ${
      widths.map((w, i) => i < 2 ? "-".repeat(w) : "-".repeat(w - 1) + ":")
        .join(" | ")
    } |`,
    ...rows.map(line),
  ];
}

/** The Markdown report: the table, the factors, any warnings. */
export function markdown(report: Report): string {
  const out = [
    `esbuild ${report.tools.esbuild}, options: ${
      ESBUILD_OPTIONS.filter((o) => o !== "--log-level=warning").join(" ")
    } (+ --minify); gzip level 9 (node:zlib)`,
    "",
    ...table(
      report.results,
      report.results[1].sizes.gzip,
      "gzip / matrixlib minimal program",
    ),
  ];
  if (report.factors !== undefined) {
    const f = report.factors;
    out.push(
      "",
      `Smallest matrix-js-sdk bundle that logs in with a password and refreshes: ${f.sdkBundle}.`,
      `gzip factor: ${
        f.minimalProgram.toFixed(1)
      } × matrixlib's minimal program, ${
        f.entryPoint.toFixed(1)
      } × matrixlib's entry point (goal: at least 50 ×; ${
        Math.min(f.minimalProgram, f.entryPoint) >= 50 ? "met" : "not met"
      }).`,
    );
  } else {
    out.push("", "(matrix-js-sdk not measured: add --with-matrix-js-sdk)");
  }
  const [hand, library] = report.oauth;
  out.push(
    "",
    "OAuth 2.0 login: hand-written (matrixlib) vs oauth4webapi",
    "",
    ...table(report.oauth, hand.sizes.gzip, "gzip / matrixlib OAuth login"),
    "",
    `gzip: matrixlib's OAuth login is ${
      (hand.sizes.gzip / library.sizes.gzip).toFixed(2)
    } × the one on ${library.library}.`,
  );
  for (const r of [...report.results, ...report.oauth]) {
    for (const w of r.warnings) {
      out.push("", `esbuild warnings for ${r.library} ${r.name}:`, w);
    }
  }
  return out.join("\n");
}

/**
 * The command: parses `args`, runs, prints. Returns the exit status: 0, 1
 * when a bundle or the install failed, 2 on bad options.
 */
export async function main(args: readonly string[]): Promise<number> {
  let o: Options | "help";
  try {
    o = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bundle_size: ${error.message}`);
    return 2;
  }
  if (o === "help") {
    console.log(HELP);
    return 0;
  }
  let report: Report;
  try {
    report = await run(o);
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    console.error(`bundle_size: ${error.message}`);
    return 1;
  }
  console.log(o.json ? JSON.stringify(report, null, 2) : markdown(report));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
