/**
 * The cost of one authenticated request, matrixlib against matrix-js-sdk, in
 * one Node.js process: both clients send `GET /_matrix/client/v3/account/whoami`
 * through the same in-memory `fetch` stub, and the stub is timed alone.
 *
 * This script runs under Deno and prepares the Node.js side:
 *
 * 1. installs matrix-js-sdk (exact version, default {@linkcode SDK_VERSION})
 *    with npm into a scratch folder, on first use only (by default
 *    `.bench/vs_js_sdk/`, ignored by git and deno), with `bundle_size.ts`'s
 *    `installSdk`;
 * 2. builds matrixlib's npm package (`npm run build:npm`, into `npm/`) when
 *    `npm/esm/mod.js` is missing or older than `mod.ts` or `src/`;
 * 3. transpiles `vs_js_sdk_sides.ts` (the stub, the sides and the timing)
 *    with esbuild into the scratch folder, next to a small entry module;
 * 4. runs `node --expose-gc` on that entry, which imports matrixlib from
 *    `npm/esm/mod.js` and matrix-js-sdk from the scratch folder, measures,
 *    and writes its figures as JSON to a file (not to standard output, where
 *    matrix-js-sdk's default logger writes);
 * 5. prints the figures as Markdown, or JSON with `--json`, with a verdict
 *    on matrixlib's `whoami()` against matrix-js-sdk's ({@linkcode verdict}).
 *
 * Exits with 1 if the install, the build or Node.js fails, or a call failed
 * or sent anything but one `whoami` with the token; with 2 on a bad option.
 * The timings are reported, never enforced.
 *
 * Run: `deno run -A scripts/bench/vs_js_sdk.ts --help`
 *
 * @module
 */

import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs as parseCommandLine } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BuildError, installedSdkVersion, installSdk } from "./bundle_size.ts";
import {
  type Measurement,
  median,
  type Mode,
  type Plan,
} from "./vs_js_sdk_sides.ts";

// ---------------------------------------------------------------------------
// Options

/** The matrix-js-sdk version the figures in BENCHMARKS.md are for. */
export const SDK_VERSION = "43.0.0";

/** The repository's root folder, with a trailing `/`. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What the command line can set. */
export interface Options {
  /** Calls per timed block. */
  calls: number;
  /** Measured blocks per side and mode. */
  rounds: number;
  /** Warm-up blocks per side and mode. */
  warmup: number;
  /** The timing modes, in order. */
  modes: Mode[];
  /** Measure matrix-js-sdk too (installs it on first use). */
  sdk: boolean;
  /** The matrix-js-sdk version to install, exactly. */
  sdkVersion: string;
  /** The scratch folder for matrix-js-sdk and the Node.js entry. */
  cacheDir: string;
  /** The Node.js to run. */
  node: string;
  /** Print one JSON object instead of the Markdown report. */
  json: boolean;
}

/** A command-line mistake: the message is for the user; exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The help text. */
export const HELP = `Usage: deno run -A scripts/bench/vs_js_sdk.ts [options]

Times one authenticated request (GET /_matrix/client/v3/account/whoami) in
one Node.js process, every side sending it through the same in-memory fetch
stub (no network), which answers with a fixed JSON body:

  stub alone      await (await stub(url, { headers })).json()
  matrixlib       client.whoami(), client.request("GET", "v3/account/whoami")
                  and client.fetch(client.endpoint(...)) + json(): a Client
                  with the stub as fetch and a restored session, from the npm
                  package (npm/esm/mod.js; built first if missing or stale)
  matrix-js-sdk   createClient({ baseUrl, accessToken, userId, deviceId,
                  fetchFn: stub }): client.whoami() and
                  client.http.authedRequest("GET", "/account/whoami") with a
                  logger that writes nothing, and client.whoami() with the
                  SDK's default logger (its output is thrown away)

Each side is timed in blocks of N calls, one at a time (sequential) and all N
at once (batched), after warm-up blocks; each round times every side once,
the first side changing each round, with the garbage collector run before
each block. Reports the median µs per call, the ratio to the stub alone, and
matrix-js-sdk's whoami() time over matrixlib's round by round: matrixlib is
"ahead" (or "behind") only when the medians and the rounds agree and a sign
test over the rounds gives p < 0.05, "too close to call" otherwise.

On first use, installs matrix-js-sdk with npm into the scratch folder (needs
the npm registry; npm warns that matrix-js-sdk ${SDK_VERSION} wants Node.js 22).

Exits with 1 if the install, the build or Node.js fails, or a side sent other
than one whoami with the token per call; with 2 on a bad option.

Options:
  --calls N         calls per timed block (default 500, at least 1)
  --rounds R        measured blocks per side and mode (default 30, at least 1)
  --warmup W        warm-up blocks per side and mode (default 5, 0 or more)
  --mode M          sequential, batched or both (default both)
  --no-sdk          matrixlib and the stub only: no install, no network
  --sdk-version V   matrix-js-sdk version to install, exact x.y.z
                    (default ${SDK_VERSION})
  --cache-dir DIR   scratch folder (default .bench/vs_js_sdk, git-ignored)
  --node BIN        the Node.js to run (default node, from PATH)
  --json            print the results as one JSON object
  -h, --help        show this help
`;

/** Parses the command line; `"help"` when help was asked for. */
export function parseArgs(args: readonly string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseCommandLine({
      args: [...args],
      options: {
        calls: { type: "string", default: "500" },
        rounds: { type: "string", default: "30" },
        warmup: { type: "string", default: "5" },
        mode: { type: "string", default: "both" },
        "no-sdk": { type: "boolean", default: false },
        "sdk-version": { type: "string", default: SDK_VERSION },
        "cache-dir": { type: "string", default: ".bench/vs_js_sdk" },
        node: { type: "string", default: "node" },
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
  const modes: Record<string, Mode[]> = {
    sequential: ["sequential"],
    batched: ["batched"],
    both: ["sequential", "batched"],
  };
  if (!Object.hasOwn(modes, values.mode)) {
    throw new UsageError(
      `--mode takes sequential, batched or both (got ${
        JSON.stringify(values.mode)
      })`,
    );
  }
  const version = values["sdk-version"];
  if (!/^\d+\.\d+\.\d+$/.test(version)) {
    throw new UsageError(
      `--sdk-version needs an exact version such as ${SDK_VERSION} (got ${
        JSON.stringify(version)
      })`,
    );
  }
  for (const flag of ["cache-dir", "node"] as const) {
    if (values[flag].trim() === "") {
      throw new UsageError(`--${flag} needs a value (got an empty string)`);
    }
  }
  return {
    calls: integer("--calls", values.calls, 1),
    rounds: integer("--rounds", values.rounds, 1),
    warmup: integer("--warmup", values.warmup, 0),
    modes: modes[values.mode],
    sdk: !values["no-sdk"],
    sdkVersion: version,
    cacheDir: values["cache-dir"],
    node: values.node,
    json: values.json,
  };
}

/** `value` as an integer of at least `min`; a usage error otherwise. */
function integer(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new UsageError(
      `${flag} needs an integer of at least ${min} (got ${
        JSON.stringify(value)
      })`,
    );
  }
  return n;
}

// ---------------------------------------------------------------------------
// Preparing the Node.js side

/** The project's esbuild. */
const ESBUILD = `${ROOT}node_modules/.bin/esbuild`;

/** The module that runs in Node.js, in TypeScript. */
const SIDES = fileURLToPath(new URL("./vs_js_sdk_sides.ts", import.meta.url));

/** The npm package's entry, which the Node.js side imports. */
export const PACKAGE_ENTRY = `${ROOT}npm/esm/mod.js`;

/**
 * The Node.js entry module. Its one argument is a JSON object: `plan`,
 * `matrixlib` (the URL of matrixlib's module), `sdk` (whether to import
 * matrix-js-sdk, from the folder the entry is in) and `out` (the file to
 * write the figures to).
 */
export const ENTRY =
  `// Written by scripts/bench/vs_js_sdk.ts; runs under Node.js.
import { writeFileSync } from "node:fs";
import { measure } from "./vs_js_sdk_sides.mjs";

const job = JSON.parse(process.argv[2]);
const matrixlib = await import(job.matrixlib);
const sdk = job.sdk ? await import("matrix-js-sdk") : undefined;
const measurement = await measure({ matrixlib, sdk }, job.plan);
const runtime = { node: process.version, v8: process.versions.v8 };
writeFileSync(job.out, JSON.stringify({ ...measurement, runtime }));
`;

/** A step that failed: the install, the build, esbuild or Node.js. */
export class StepError extends Error {
  override name = "StepError";
}

/** Runs a command; its status and output, decoded. */
async function command(
  program: string,
  args: string[],
  options: { cwd?: string; stdout?: "piped" | "null" } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let out;
  try {
    out = await new Deno.Command(program, {
      args,
      cwd: options.cwd,
      stdin: "null",
      stdout: options.stdout ?? "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new StepError(`cannot run ${program}: ${(error as Error).message}`);
  }
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: options.stdout === "null" ? "" : text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/**
 * Writes the Node.js side into `dir`: `vs_js_sdk_sides.mjs` (the sides
 * module, types stripped by esbuild, for Node.js 20) and `run.mjs`
 * ({@linkcode ENTRY}). Returns the entry's path.
 */
export async function writeNodeSide(dir: string): Promise<string> {
  Deno.mkdirSync(dir, { recursive: true });
  const out = await command(ESBUILD, [
    SIDES,
    "--format=esm",
    "--platform=node",
    "--target=node20",
    "--log-level=warning",
    `--outfile=${dir}/vs_js_sdk_sides.mjs`,
  ]);
  if (out.code !== 0) {
    throw new StepError(`esbuild failed on ${SIDES}:\n${out.stderr.trim()}`);
  }
  Deno.writeTextFileSync(`${dir}/run.mjs`, ENTRY);
  return `${dir}/run.mjs`;
}

/** The newest modification time among `paths` (ms; 0 if none exists). */
function newest(paths: string[]): number {
  let time = 0;
  for (const path of paths) {
    try {
      time = Math.max(time, Deno.statSync(path).mtime?.getTime() ?? 0);
    } catch {
      // Missing: does not count.
    }
  }
  return time;
}

/**
 * Why the npm package needs building, if it does: its entry is missing, or
 * older than `mod.ts`, a file of `src/` or `tsconfig.build.json`.
 */
export function packageStale(root: string = ROOT): string | undefined {
  const built = newest([`${root}npm/esm/mod.js`]);
  if (built === 0) return "npm/esm/mod.js is missing";
  const sources = [`${root}mod.ts`, `${root}tsconfig.build.json`];
  for (const entry of Deno.readDirSync(`${root}src`)) {
    if (entry.name.endsWith(".ts")) sources.push(`${root}src/${entry.name}`);
  }
  return newest(sources) > built
    ? "npm/esm/mod.js is older than the library's sources"
    : undefined;
}

/** Builds the npm package with `scripts/npm/build.ts`. */
async function buildPackage(): Promise<void> {
  const out = await command(Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}scripts/npm/build.ts`,
    "--quiet",
  ], { cwd: ROOT });
  if (out.code !== 0) {
    throw new StepError(
      `npm run build:npm failed (exit ${out.code}):\n${
        (out.stdout + out.stderr).trim()
      }`,
    );
  }
}

/** What one run of Node.js gave: the figures and the runtime's versions. */
export type NodeMeasurement = Measurement & {
  runtime: { node: string; v8: string };
};

/**
 * Runs the Node.js side written by {@linkcode writeNodeSide} in `dir`, with
 * matrixlib from `matrixlibUrl` and, if `sdk`, matrix-js-sdk from `dir`'s
 * `node_modules`. Node.js's standard output (matrix-js-sdk's default logger
 * writes there) is thrown away; the figures come back through a file.
 */
export async function runNodeSide(
  dir: string,
  job: { plan: Plan; matrixlibUrl: string; sdk: boolean; node: string },
): Promise<NodeMeasurement> {
  const out = `${dir}/result-${Date.now()}-${Math.random()}.json`;
  const run = await command(job.node, [
    "--expose-gc",
    `${dir}/run.mjs`,
    JSON.stringify({
      plan: job.plan,
      matrixlib: job.matrixlibUrl,
      sdk: job.sdk,
      out,
    }),
  ], { cwd: dir, stdout: "null" });
  if (run.code !== 0) {
    throw new StepError(
      `${job.node} exited with ${run.code}:\n${run.stderr.trim()}`,
    );
  }
  try {
    return JSON.parse(Deno.readTextFileSync(out)) as NodeMeasurement;
  } finally {
    Deno.removeSync(out);
  }
}

// ---------------------------------------------------------------------------
// The run

/** Facts about the machine, for the report. */
export function machine(): {
  cpu: string;
  logicalCores: number;
  memoryGiB: number;
  os: string;
  loadAverage: number[];
} {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    logicalCores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Everything one run found. */
export interface Report {
  options: Options;
  measurement: NodeMeasurement;
  /** matrix-js-sdk's version and the Node.js it asks for, when measured. */
  sdk?: { version: string; engines?: string };
  /** Why the npm package was built first, if it was. */
  built?: string;
  machine: {
    before: ReturnType<typeof machine>;
    after: ReturnType<typeof machine>;
  };
}

/** The folder `dir` names, made absolute against the working folder. */
function absolute(dir: string): string {
  return dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
}

/** What matrix-js-sdk's `package.json` in `dir` asks of Node.js. */
function sdkEngines(dir: string): string | undefined {
  try {
    const text = Deno.readTextFileSync(
      `${dir}/node_modules/matrix-js-sdk/package.json`,
    );
    return (JSON.parse(text) as { engines?: { node?: string } }).engines
      ?.node;
  } catch {
    return undefined;
  }
}

/**
 * Runs everything `o` asks for. `say` receives what the script does on the
 * way (the install, the build), for standard error.
 */
export async function run(
  o: Options,
  say: (line: string) => void = () => {},
): Promise<Report> {
  const dir = absolute(o.cacheDir);
  let sdk: Report["sdk"];
  if (o.sdk) {
    if (installedSdkVersion(dir) !== o.sdkVersion) {
      say(
        `installing matrix-js-sdk@${o.sdkVersion} into ${dir} with npm (first use only; needs the npm registry)`,
      );
    }
    try {
      await installSdk(dir, o.sdkVersion);
    } catch (error) {
      if (error instanceof BuildError) throw new StepError(error.message);
      throw error;
    }
    sdk = { version: o.sdkVersion, engines: sdkEngines(dir) };
  }
  const built = packageStale();
  if (built !== undefined) {
    say(`building the npm package first (npm run build:npm): ${built}`);
    await buildPackage();
  }
  await writeNodeSide(dir);
  const before = machine();
  const measurement = await runNodeSide(dir, {
    plan: {
      calls: o.calls,
      rounds: o.rounds,
      warmup: o.warmup,
      modes: o.modes,
    },
    matrixlibUrl: pathToFileURL(PACKAGE_ENTRY).href,
    sdk: o.sdk,
    node: o.node,
  });
  return {
    options: o,
    measurement,
    sdk,
    built,
    machine: { before, after: machine() },
  };
}

// ---------------------------------------------------------------------------
// The report

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

/** The Markdown table of one mode. */
export function modeTable(result: Measurement["modes"][number]): string[] {
  const rows = result.sides.map((side) =>
    `| ${side.label} | ${f1(side.medianUs)} | ${f1(Math.min(...side.us))} | ${
      f1(Math.max(...side.us))
    } | ${f2(side.ratio)} | ${f2(side.pairedRatio)} |`
  );
  return [
    "| side | median (µs/call) | min (µs/call) | max (µs/call) | / stub alone | / stub alone, per round |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ];
}

/** matrixlib's `whoami()` against matrix-js-sdk's, in one mode. */
export interface Verdict {
  /** matrixlib's median over the stub alone's. */
  ours: number;
  /** matrix-js-sdk's median over the stub alone's. */
  theirs: number;
  /**
   * The median, over the rounds, of matrix-js-sdk's time over matrixlib's
   * in the same round: above 1 when matrixlib is faster. Rounds are close
   * in time, so this is less moved by a machine whose load changes.
   */
  perRound: number;
  /** Rounds in which matrixlib was faster. */
  wins: number;
  /** Rounds in all. */
  rounds: number;
  /** The two-sided sign test's p-value for `wins` of `rounds`. */
  p: number;
  /**
   * `ahead` or `behind` when the medians and the rounds agree and the sign
   * test gives p < 0.05; `too close` otherwise.
   */
  outcome: "ahead" | "behind" | "too close";
}

/**
 * The two-sided sign test: the chance of a split at least as uneven as
 * `wins` of `n` if each round were a coin toss.
 */
export function signTest(wins: number, n: number): number {
  if (n === 0) return 1;
  const k = Math.min(wins, n - wins);
  let tail = 0;
  let choose = 1; // n choose i, from i = 0
  for (let i = 0; i <= k; i++) {
    tail += choose;
    choose = (choose * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

/**
 * The verdict of one mode: matrixlib's `whoami()` against matrix-js-sdk's
 * side `theirsId` (its `whoami()` with a silent logger, by default).
 * `undefined` when matrix-js-sdk was not measured.
 */
export function verdict(
  result: Measurement["modes"][number],
  theirsId = "sdk.whoami",
): Verdict | undefined {
  const ours = result.sides.find((s) => s.id === "matrixlib.whoami");
  const theirs = result.sides.find((s) => s.id === theirsId);
  if (ours === undefined || theirs === undefined) return undefined;
  const perRound = median(theirs.us.map((t, k) => t / ours.us[k]));
  const rounds = ours.us.length;
  const wins = ours.us.filter((o, k) => o < theirs.us[k]).length;
  const p = signTest(wins, rounds);
  const faster = ours.medianUs < theirs.medianUs && perRound > 1 &&
    wins > rounds / 2;
  const slower = ours.medianUs > theirs.medianUs && perRound < 1 &&
    wins < rounds / 2;
  return {
    ours: ours.ratio,
    theirs: theirs.ratio,
    perRound,
    wins,
    rounds,
    p,
    outcome: p < 0.05 && faster
      ? "ahead"
      : p < 0.05 && slower
      ? "behind"
      : "too close",
  };
}

/** How each outcome reads in the report. */
const OUTCOMES: Record<Verdict["outcome"], string> = {
  ahead: "matrixlib is ahead.",
  behind: "matrixlib is **behind**.",
  "too close":
    "**too close to call** on this run (the medians and the rounds disagree, or the rounds split too evenly).",
};

/** The report as Markdown, ready for BENCHMARKS.md. */
export function markdown(report: Report, args: readonly string[]): string {
  const { options: o, measurement: m, machine: mc } = report;
  const lines = [
    `Measured ${
      new Date().toISOString().slice(0, 10)
    } with \`npm run bench:sdk${
      args.length ? ` -- ${args.join(" ")}` : ""
    }\`: Node.js ${m.runtime.node} (V8 ${m.runtime.v8}), matrixlib from npm/esm/mod.js${
      report.sdk === undefined
        ? ", matrix-js-sdk not measured (--no-sdk)"
        : `, matrix-js-sdk ${report.sdk.version}${
          report.sdk.engines === undefined
            ? ""
            : ` (which asks for Node.js ${report.sdk.engines})`
        }`
    }. Blocks of ${o.calls} calls, ${o.rounds} measured and ${o.warmup} warm-up block${
      o.warmup === 1 ? "" : "s"
    } per side and mode, the first side changing each round; ${
      m.gcBetweenBlocks
        ? "the garbage collector run before each block"
        : "no garbage collection between blocks (no --expose-gc)"
    }.`,
  ];
  const titles: Record<Mode, string> = {
    sequential: "Sequential (each call awaited before the next):",
    batched: `Batched (${o.calls} calls started, then awaited together):`,
  };
  for (const result of m.modes) {
    lines.push("", titles[result.mode], "", ...modeTable(result));
    const against = [
      ["sdk.whoami", "matrix-js-sdk `whoami()`"],
      [
        "sdk.whoami.defaultLogger",
        "matrix-js-sdk `whoami()` with its default logger",
      ],
    ];
    for (const [id, name] of against) {
      const v = verdict(result, id);
      if (v === undefined) continue;
      lines.push(
        "",
        `${result.mode}: matrixlib \`whoami()\` is **${
          f2(v.ours)
        } ×** the stub alone, ${name} **${
          f2(v.theirs)
        } ×**. Round by round, it took ${
          f2(v.perRound)
        } × matrixlib's time (median); matrixlib was faster in ${v.wins} of ${v.rounds} rounds (sign test p ${
          v.p < 0.001 ? "< 0.001" : `= ${v.p.toFixed(3)}`
        }): ${OUTCOMES[v.outcome]}`,
      );
    }
  }
  lines.push(
    "",
    "Machine:",
    "",
    `- CPU: ${mc.after.cpu}, ${mc.after.logicalCores} logical cores, ${mc.after.memoryGiB} GiB memory`,
    `- OS: ${mc.after.os}`,
    `- load average (1, 5, 15 min) before: ${
      mc.before.loadAverage.join(", ")
    }; after: ${mc.after.loadAverage.join(", ")}`,
  );
  if (m.problems.length > 0) {
    lines.push("", "**Problems:**", "", ...m.problems.map((p) => `- ${p}`));
  }
  return lines.join("\n");
}

/**
 * The command: parses `args`, runs, prints. Returns the exit status: 0, 1
 * when a step failed or a side's requests were wrong, 2 on bad options.
 */
export async function main(args: readonly string[]): Promise<number> {
  let o: Options | "help";
  try {
    o = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`vs_js_sdk: ${error.message}`);
    return 2;
  }
  if (o === "help") {
    console.log(HELP);
    return 0;
  }
  let report: Report;
  try {
    report = await run(o, (line) => console.error(`vs_js_sdk: ${line}`));
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    console.error(`vs_js_sdk: ${error.message}`);
    return 1;
  }
  console.log(
    o.json ? JSON.stringify(report, null, 2) : markdown(report, args),
  );
  if (report.measurement.problems.length > 0) {
    for (const p of report.measurement.problems) {
      console.error(`vs_js_sdk: ${p}`);
    }
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
