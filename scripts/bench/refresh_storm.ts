/**
 * Refresh storm benchmark: many concurrent authenticated requests from one
 * `Client` against the development homeserver (in-process), at the moment
 * the access token runs out.
 *
 * Each storm sends its N requests through one of three paths (`--via`, all
 * three by default), each a `GET /_matrix/client/v3/account/whoami`:
 *
 * - `whoami`: `client.whoami()`;
 * - `request`: `client.request("GET", "v3/account/whoami")` (chapter 8);
 * - `fetch`: `client.fetch(client.endpoint("v3/account/whoami"))`, then the
 *   status checked and the body read with `response.json()` (chapter 8).
 *
 * What it does, in order, for each path:
 *
 * 1. **Proactive storm.** Logs in (the server issues 5-minute tokens; the
 *    client plans the renewal at the login), moves the clock that
 *    client and server share into the last minute of the token's life, then
 *    fires N concurrent calls. Expected: 1 `/refresh` and N whoami
 *    requests, all with the new token: N + 1 requests, no 401.
 * 2. **Reactive storm.** The same, except that only the server's clock moves:
 *    it runs a whole token life ahead of the client's. The server sees an
 *    expired token, the client sees a fresh one and does not refresh first.
 *    Expected: N requests answered `401 M_UNKNOWN_TOKEN`, 1 `/refresh`, N
 *    retries with the new token: at most 2N + 1 requests.
 *
 * 3. **Overhead.** With a valid token and no refresh due, times a batch of N
 *    concurrent calls through each path against a batch of N concurrent
 *    plain `fetch` calls (status check and `response.json()`) with the same
 *    `Authorization` header, through the same handler. Warm-up batches
 *    first, then alternating batches; reports the medians and their ratios.
 *
 * Counts come from the server's request log (`hs.log`); the token each
 * request carried comes from a recording `fetch` around `fetchOf(hs)`. The
 * script checks the counts and exits with 1 if a storm made other than one
 * refresh, more requests than its goal, or a failed call; so it is also a
 * check. The overhead is reported, never enforced (timings are noisy). Bad
 * options exit with 2.
 *
 * Run: `deno run -A scripts/bench/refresh_storm.ts --help`
 *
 * @module
 */

import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs as parseCommandLine } from "node:util";
import { Client, type Clock, type Fetch, MemoryStorage } from "../../mod.ts";
import { send } from "../../src/http.ts";
import { readAnswer } from "../../src/response.ts";
import {
  createHomeserver,
  fetchOf,
  type Homeserver,
} from "../../devserver/server.ts";

// ---------------------------------------------------------------------------
// Options

/** The paths a storm's requests can take through the client. */
export const VIAS = ["whoami", "request", "fetch"] as const;

/** One of {@linkcode VIAS}. */
export type Via = typeof VIAS[number];

/** What the command line can set. */
export interface Options {
  /** Concurrent requests in each storm and each timed batch. */
  requests: number;
  /** The paths the storms and the timed batches go through, in order. */
  via: Via[];
  /** Measured batches per side (overhead) and repetitions of each storm. */
  runs: number;
  /** Warm-up batches per side, not counted. */
  warmup: number;
  /** Print one JSON object instead of the Markdown report. */
  json: boolean;
  /** Skip the overhead measurement (the storms and their checks only). */
  overhead: boolean;
  /** Also time the steps between plain `fetch` and the client. */
  breakdown: boolean;
}

/** A command-line mistake: the message is for the user; exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The help text. */
export const HELP = `Usage: deno run -A scripts/bench/refresh_storm.ts [options]

Fires N concurrent authenticated requests (GET v3/account/whoami) from one
client at the development homeserver, in-process, as the access token runs
out, through each of these paths of the client (--via):

  whoami     client.whoami()
  request    client.request("GET", "v3/account/whoami")
  fetch      client.fetch(client.endpoint("v3/account/whoami")), then the
             status checked and the body read with response.json()

and for each path two storms:

  proactive  the client knows the token is about to expire: expects exactly
             1 /refresh and N + 1 requests in all, no 401
  reactive   the server's clock is a token life ahead, so the token has
             expired there while the client thinks it is fresh: expects
             exactly 1 /refresh, N 401s and at most 2N + 1 requests

then times N concurrent calls through each path against N concurrent plain
fetch calls with the same Bearer token to the same handler (goal: within
10 %).

Exits with 1 if a storm sends other than 1 refresh, more requests than its
goal, or a call fails (the overhead is reported, not enforced); with 2 on a
bad option.

Options:
  --requests N   concurrent requests per storm and per timed batch
                 (default 1000, at least 1)
  --via LIST     the paths to use, comma-separated, in order: whoami,
                 request, fetch (default all three)
  --runs R       measured batches per side for the overhead, and repetitions
                 of each storm (default 15, at least 1)
  --warmup W     warm-up batches per side before timing (default 3, 0 or more)
  --breakdown    also time the library's transport alone (send() and
                 readAnswer()) and plain fetch with each thing send() adds
                 (a timeout timer, an abort signal, a streamed body read)
  --no-overhead  run and check the storms only; skip the timing
  --json         print the results as one JSON object
  -h, --help     show this help
`;

/** Parses the command line; `"help"` when help was asked for. */
export function parseArgs(args: readonly string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseCommandLine({
      args: [...args],
      options: {
        requests: { type: "string", default: "1000" },
        via: { type: "string", default: VIAS.join(",") },
        runs: { type: "string", default: "15" },
        warmup: { type: "string", default: "3" },
        json: { type: "boolean", default: false },
        "no-overhead": { type: "boolean", default: false },
        breakdown: { type: "boolean", default: false },
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
  return {
    requests: integer("--requests", values.requests, 1),
    via: vias(values.via),
    runs: integer("--runs", values.runs, 1),
    warmup: integer("--warmup", values.warmup, 0),
    json: values.json,
    overhead: !values["no-overhead"],
    breakdown: values.breakdown,
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

/** `value` as a list of paths, each once; a usage error otherwise. */
function vias(value: string): Via[] {
  const names = value.split(",").map((name) => name.trim());
  const list: Via[] = [];
  for (const name of names) {
    if (!(VIAS as readonly string[]).includes(name)) {
      throw new UsageError(
        `--via takes ${VIAS.join(", ")}, comma-separated (got ${
          JSON.stringify(name)
        })`,
      );
    }
    if (list.includes(name as Via)) {
      throw new UsageError(`--via names ${name} twice`);
    }
    list.push(name as Via);
  }
  return list;
}

// ---------------------------------------------------------------------------
// The world: a homeserver and a client, with clocks that move when told

/** How long the server's access tokens live: five minutes, as is usual. */
export const TOKEN_LIFETIME_MS = 300_000;
/** The client's refresh margin: its default, one minute. */
export const REFRESH_MARGIN_MS = 60_000;

/** A clock that moves only when told to; `sleep` moves it, without waiting. */
class ManualClock implements Clock {
  time = Date.parse("2026-01-01T00:00:00Z");
  now(): number {
    return this.time;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.time += ms;
    return Promise.resolve();
  }
}

/** One request as the recording `fetch` saw it. */
interface Sent {
  path: string;
  /** The Bearer token it carried, if any. */
  token?: string;
  /** Whether a `/refresh` had been answered when this request was sent. */
  afterRefresh: boolean;
  /** The answer's status, once answered. */
  status?: number;
}

/** A logged-in client, its server and its clocks. */
interface World {
  hs: Homeserver;
  client: Client;
  clock: ManualClock;
  storage: MemoryStorage;
  /** How far the server's clock is ahead of the client's, in ms. */
  skew: { ms: number };
  /** Every request the client sent, in order (when recording). */
  sent: Sent[];
  /** The current access token, read from the client's storage. */
  accessToken(): string;
  /** The plain `fetch` to the handler, without recording. */
  plainFetch: Fetch;
}

const tokenOf = (headers: Headers) =>
  headers.get("Authorization")?.replace(/^Bearer /, "");

/**
 * Logs alice in on a new development homeserver whose tokens live
 * {@linkcode TOKEN_LIFETIME_MS}; the client plans the token's renewal at the
 * login, from its whole life (chapter 4). `record`: send through a `fetch`
 * that notes each request's token.
 */
async function setUp(record: boolean): Promise<World> {
  const clock = new ManualClock();
  const skew = { ms: 0 };
  const hs = createHomeserver({
    users: [{ localpart: "alice", password: "secret" }],
    accessTokenLifetimeMs: TOKEN_LIFETIME_MS,
    clock: () => clock.time + skew.ms,
    seed: 7,
  });
  const plainFetch: Fetch = fetchOf(hs);
  const sent: Sent[] = [];
  let refreshAnswered = false;
  const recording: Fetch = async (input, init) => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname;
    const entry: Sent = {
      path,
      token: tokenOf(request.headers),
      afterRefresh: refreshAnswered,
    };
    sent.push(entry);
    const response = await plainFetch(request);
    entry.status = response.status;
    if (path.endsWith("/refresh")) refreshAnswered = true;
    return response;
  };
  const storage = new MemoryStorage();
  const client = new Client({
    baseUrl: hs.baseUrl,
    fetch: record ? recording : plainFetch,
    clock,
    storage,
    refreshMarginMs: REFRESH_MARGIN_MS,
  });
  const login = await client.loginWithPassword("alice", "secret");
  if (login.expiresAt !== clock.time + TOKEN_LIFETIME_MS) {
    throw new Error(
      `the login gave a token that expires at ${login.expiresAt}, expected ${
        clock.time + TOKEN_LIFETIME_MS
      }`,
    );
  }
  hs.clearLog();
  sent.length = 0;
  const accessToken = () => {
    const session = storage.get("session") as { accessToken?: unknown };
    if (typeof session?.accessToken !== "string") {
      throw new Error("the client's storage holds no access token");
    }
    return session.accessToken;
  };
  return { hs, client, clock, storage, skew, sent, accessToken, plainFetch };
}

// ---------------------------------------------------------------------------
// The three paths

/** How each path is shown in the report. */
export const VIA_LABELS: Record<Via, string> = {
  whoami: "`client.whoami()`",
  request: '`client.request("GET", "v3/account/whoami")`',
  fetch: '`client.fetch(client.endpoint("v3/account/whoami"))` + `json()`',
};

/** How each path is named in a problem. */
const VIA_CALLS: Record<Via, string> = {
  whoami: "whoami()",
  request: "request()",
  fetch: "fetch()",
};

/**
 * One call of `client`'s `whoami` endpoint through `via`; resolves to the
 * user ID the answer gave. `fetch` rejects when the status is not 200 (its
 * `Response` would not, by itself).
 */
export function callVia(client: Client, via: Via): () => Promise<unknown> {
  switch (via) {
    case "whoami":
      return async () => (await client.whoami()).userId;
    case "request":
      return async () =>
        (await client.request<{ user_id?: unknown }>(
          "GET",
          "v3/account/whoami",
        )).user_id;
    case "fetch":
      return async () => {
        const response = await client.fetch(
          client.endpoint("v3/account/whoami"),
        );
        if (response.status !== 200) {
          await response.body?.cancel();
          throw new Error(`client.fetch() answered ${response.status}`);
        }
        return (await response.json() as { user_id?: unknown }).user_id;
      };
  }
}

// ---------------------------------------------------------------------------
// Storms

/** Which storm. */
export type StormKind = "proactive" | "reactive";

/** What one storm did, counted from the server's log and the sent requests. */
export interface StormResult {
  kind: StormKind;
  /** The path the storm's calls took through the client. */
  via: Via;
  /** N: concurrent calls. */
  requests: number;
  /** `/refresh` requests the server answered. */
  refreshes: number;
  /** Every request the server answered during the storm. */
  total: number;
  /** The most requests allowed: N + 1 (proactive) or 2N + 1 (reactive). */
  totalGoal: number;
  /** `whoami` requests the server answered. */
  whoamiRequests: number;
  /** Answers with status 401 (all `M_UNKNOWN_TOKEN`, see `errcodes`). */
  unauthorized: number;
  /** Error codes the server answered, with how many of each. */
  errcodes: Record<string, number>;
  /** `whoami` requests that carried the token from before the storm. */
  oldTokenRequests: number;
  /** Of those, how many were sent after the `/refresh` had been answered. */
  oldTokenAfterRefresh: number;
  /** `whoami` requests that carried the token the refresh gave. */
  newTokenRequests: number;
  /** Calls that failed or did not resolve to alice. */
  failures: number;
  /** Wall-clock time from the first call to the last answer, ms. */
  elapsedMs: number;
  /** Each call's time from call to answer, ms: median, 99th centile, max. */
  latencyMs: { p50: number; p99: number; max: number };
}

/**
 * Runs one storm of `n` concurrent calls through `via`, as the module
 * comment describes, and counts what reached the server.
 */
export async function storm(
  kind: StormKind,
  n: number,
  via: Via = "whoami",
): Promise<StormResult> {
  const world = await setUp(true);
  const { hs, client, clock, skew, sent } = world;
  const call = callVia(client, via);
  const oldToken = world.accessToken();
  if (kind === "proactive") {
    // 10 s into the last minute: inside the margin, not expired anywhere.
    clock.time += TOKEN_LIFETIME_MS - REFRESH_MARGIN_MS + 10_000;
  } else {
    // The server is a whole token life ahead: expired there, fresh here.
    skew.ms = TOKEN_LIFETIME_MS;
  }
  const latencies: number[] = new Array(n);
  let failures = 0;
  const userId = `@alice:${hs.serverName}`;
  const calls: Promise<void>[] = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    calls[i] = call().then(
      (answered) => {
        latencies[i] = performance.now() - start;
        if (answered !== userId) failures++;
      },
      () => {
        latencies[i] = performance.now() - start;
        failures++;
      },
    );
  }
  await Promise.all(calls);
  const elapsedMs = performance.now() - t0;
  const newToken = world.accessToken();

  const whoamis = sent.filter((s) => s.path.endsWith("/account/whoami"));
  const old = whoamis.filter((s) => s.token === oldToken);
  const errcodes: Record<string, number> = {};
  for (const e of hs.log) {
    if (e.errcode) errcodes[e.errcode] = (errcodes[e.errcode] ?? 0) + 1;
  }
  return {
    kind,
    via,
    requests: n,
    refreshes: hs.log.filter((e) => e.path.endsWith("/refresh")).length,
    total: hs.log.length,
    totalGoal: kind === "proactive" ? n + 1 : 2 * n + 1,
    whoamiRequests: hs.log.filter((e) => e.path.endsWith("/account/whoami"))
      .length,
    unauthorized: hs.log.filter((e) => e.status === 401).length,
    errcodes,
    oldTokenRequests: old.length,
    oldTokenAfterRefresh: old.filter((s) => s.afterRefresh).length,
    newTokenRequests: newToken === oldToken
      ? 0
      : whoamis.filter((s) => s.token === newToken).length,
    failures,
    elapsedMs,
    latencyMs: percentiles(latencies),
  };
}

/** What is wrong with a storm's counts; empty when its goals are met. */
export function stormProblems(r: StormResult): string[] {
  const problems: string[] = [];
  const n = r.requests;
  if (r.refreshes !== 1) {
    problems.push(`${r.refreshes} refreshes, expected exactly 1`);
  }
  if (r.total > r.totalGoal) {
    problems.push(`${r.total} requests, more than the goal of ${r.totalGoal}`);
  }
  if (r.failures > 0) {
    problems.push(`${r.failures} ${VIA_CALLS[r.via]} calls failed`);
  }
  if (r.newTokenRequests !== n) {
    problems.push(
      `${r.newTokenRequests} whoami requests carried the new token, expected ${n}`,
    );
  }
  if (r.kind === "proactive") {
    if (r.unauthorized !== 0) {
      problems.push(`${r.unauthorized} answers were 401`);
    }
    if (r.oldTokenRequests !== 0) {
      problems.push(`${r.oldTokenRequests} requests used the old token`);
    }
  } else {
    const unknownToken = r.errcodes.M_UNKNOWN_TOKEN ?? 0;
    if (r.unauthorized !== unknownToken || unknownToken > n) {
      problems.push(
        `${r.unauthorized} answers were 401, ${unknownToken} of them M_UNKNOWN_TOKEN; expected at most ${n}, all M_UNKNOWN_TOKEN`,
      );
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Overhead

/** The overhead measurement's figures (times of whole batches, in ms). */
export interface OverheadResult {
  requests: number;
  runs: number;
  warmup: number;
  /** The paths timed, in order; the first is "the client" below. */
  via: Via[];
  /** Each measured batch through the first path. */
  clientMs: number[];
  /** Each measured batch through plain `fetch`. */
  plainMs: number[];
  clientMedianMs: number;
  plainMedianMs: number;
  /** clientMedianMs / plainMedianMs. */
  ratio: number;
  /** The median of the per-run ratios (each run times both sides). */
  pairedRatio: number;
  /** For each path: its median over plain's, and the median per-run ratio. */
  ratios: { via: Via; ratio: number; pairedRatio: number }[];
  /** Every side timed: each path, plain `fetch`, then any breakdown. */
  sides: Side[];
  /** Requests the server answered while timing that were not 200 whoamis. */
  unexpected: number;
}

/** Times `n` concurrent calls of `one`; throws if any fails. */
async function batch(n: number, one: () => Promise<unknown>): Promise<number> {
  const calls: Promise<unknown>[] = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) calls[i] = one();
  await Promise.all(calls);
  return performance.now() - t0;
}

/** One side of the overhead measurement, with its batch times. */
export interface Side {
  label: string;
  /** Each measured batch, ms. */
  ms: number[];
  medianMs: number;
}

/**
 * Times batches of `n` concurrent calls through each path of `via` (by
 * default `client.whoami()` only) against batches of `n` concurrent plain
 * `fetch` calls to the same handler with the same token, rotating which side
 * goes first. No refresh is due while timing. With
 * `breakdown`, also times sides in between, to show where the difference
 * goes: the library's transport alone (`send` and `readAnswer`, without the
 * client), and plain `fetch` with one of the things `send` adds.
 */
export async function measureOverhead(
  n: number,
  runs: number,
  warmup: number,
  breakdown = false,
  via: readonly Via[] = ["whoami"],
): Promise<OverheadResult> {
  if (via.length === 0) throw new Error("measureOverhead: no path to time");
  const world = await setUp(false);
  const { hs, client, plainFetch } = world;
  const token = world.accessToken();
  const url = new URL("_matrix/client/v3/account/whoami", hs.baseUrl);
  const userId = `@alice:${hs.serverName}`;
  const headers = { Authorization: `Bearer ${token}` };
  const check = (body: { user_id?: unknown }) => {
    if (body.user_id !== userId) throw new Error(`whoami gave ${body.user_id}`);
  };
  const ok = (response: Response) => {
    if (response.status !== 200) {
      throw new Error(`plain fetch got ${response.status}`);
    }
    return response;
  };
  const sides: { label: string; one: () => Promise<void> }[] = [
    ...via.map((path) => {
      const call = callVia(client, path);
      return {
        label: VIA_LABELS[path],
        one: async () => check({ user_id: await call() }),
      };
    }),
    {
      label: "plain `fetch` + `json()`",
      one: async () =>
        check(await ok(await plainFetch(url.href, { headers })).json()),
    },
  ];
  if (breakdown) {
    sides.push(
      {
        label: "library transport: `send()` + `readAnswer()`",
        one: async () => {
          const response = await send({ method: "GET", url, headers }, {
            fetch: plainFetch,
            timeoutMs: 30_000,
            allowHttp: true,
          });
          check(readAnswer(response, { method: "GET", url }, { now: 0 }));
        },
      },
      {
        label: "plain + a 30 s timer set and cleared",
        one: async () => {
          const timer = setTimeout(() => {}, 30_000);
          try {
            check(await ok(await plainFetch(url.href, { headers })).json());
          } finally {
            clearTimeout(timer);
          }
        },
      },
      {
        label: "plain + an `AbortController`'s signal",
        one: async () => {
          const { signal } = new AbortController();
          check(
            await ok(await plainFetch(url.href, { headers, signal })).json(),
          );
        },
      },
      {
        label: "plain, body read with a reader and a `TextDecoder`",
        one: async () => {
          const utf8 = new TextDecoder();
          const response = ok(await plainFetch(url.href, { headers }));
          const reader = response.body!.getReader();
          let text = "";
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            text += utf8.decode(value, { stream: true });
          }
          check(JSON.parse(text + utf8.decode()));
        },
      },
    );
  }
  let unexpected = 0;
  const time = async (one: () => Promise<void>) => {
    const ms = await batch(n, one);
    unexpected +=
      hs.log.filter((e) =>
        e.status !== 200 || !e.path.endsWith("/account/whoami")
      ).length;
    hs.clearLog();
    return ms;
  };
  for (let w = 0; w < warmup; w++) {
    for (const side of sides) await time(side.one);
  }
  const times: number[][] = sides.map(() => []);
  for (let k = 0; k < runs; k++) {
    // Each run starts with the next side, so none always goes first.
    for (let j = 0; j < sides.length; j++) {
      const i = (k + j) % sides.length;
      times[i].push(await time(sides[i].one));
    }
  }
  if (world.accessToken() !== token) unexpected++;
  const clientMs = times[0];
  const plainMs = times[via.length];
  const clientMedianMs = median(clientMs);
  const plainMedianMs = median(plainMs);
  const ratios = via.map((path, i) => ({
    via: path,
    ratio: median(times[i]) / plainMedianMs,
    pairedRatio: median(times[i].map((c, k) => c / plainMs[k])),
  }));
  return {
    requests: n,
    runs,
    warmup,
    via: [...via],
    clientMs,
    plainMs,
    clientMedianMs,
    plainMedianMs,
    ratio: ratios[0].ratio,
    pairedRatio: ratios[0].pairedRatio,
    ratios,
    sides: sides.map((side, i) => ({
      label: side.label,
      ms: times[i],
      medianMs: median(times[i]),
    })),
    unexpected,
  };
}

// ---------------------------------------------------------------------------
// Statistics and the report

/** The median of `xs` (not empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank centile `p` (0–100) of `xs` (not empty). */
function centile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

function percentiles(xs: readonly number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: centile(s, 50), p99: centile(s, 99), max: s[s.length - 1] };
}

/** Facts about the machine, for the report. */
function machine() {
  const cpu = cpus();
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    cpu: cpu[0]?.model ?? "unknown",
    logicalCores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

/** Everything one run of the script measured. */
export interface Report {
  options: Options;
  machine: ReturnType<typeof machine>;
  /** Each kind of storm's runs, every path's in one list (see `via`). */
  storms: { proactive: StormResult[]; reactive: StormResult[] };
  overhead?: OverheadResult;
  problems: string[];
}

function stormRow(via: Via, rs: StormResult[]): string {
  const r = rs[0];
  const worst = (f: (r: StormResult) => number) => Math.max(...rs.map(f));
  const least = (f: (r: StormResult) => number) => Math.min(...rs.map(f));
  const range = (f: (r: StormResult) => number) =>
    least(f) === worst(f) ? `${least(f)}` : `${least(f)}–${worst(f)}`;
  return `| ${VIA_CALLS[via]} | ${r.kind} | ${rs.length} | ${
    range((r) => r.refreshes)
  } | ${range((r) => r.total)} | ${r.totalGoal} | ${
    range((r) => r.unauthorized)
  } | ${range((r) => r.oldTokenAfterRefresh)} | ${
    range((r) => r.newTokenRequests)
  } | ${range((r) => r.failures)} | ${
    f1(median(rs.map((r) => r.elapsedMs)))
  } | ${f2(median(rs.map((r) => r.latencyMs.p50)))} | ${
    f2(median(rs.map((r) => r.latencyMs.p99)))
  } |`;
}

/** The report as Markdown, ready for BENCHMARKS.md. */
export function markdown(report: Report, args: readonly string[]): string {
  const { options: o, machine: m, storms, overhead } = report;
  const n = o.requests;
  const lines = [
    `Measured ${
      new Date().toISOString().slice(0, 10)
    } with \`npm run bench:refresh${
      args.length ? ` -- ${args.join(" ")}` : ""
    }\`: N = ${n} concurrent calls, each storm ${o.runs} times through each path:`,
    "",
    ...o.via.map((via) => `- ${VIA_CALLS[via]}: ${VIA_LABELS[via]}`),
    "",
    "| path | storm | runs | refreshes | requests | goal | 401s | old token after refresh | new token | failed calls | storm (ms, median) | call p50 (ms) | call p99 (ms) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...o.via.flatMap((via) =>
      (["proactive", "reactive"] as const).map((kind) =>
        stormRow(via, storms[kind].filter((r) => r.via === via))
      )
    ),
    "",
    "Call latency: from the call to its answer (for fetch(), to the body read), wall clock; the p50 and p99 shown are the medians over the runs.",
  ];
  if (overhead) {
    const perCall = (ms: number) => `${((ms / n) * 1000).toFixed(1)} µs/call`;
    lines.push(
      "",
      `Overhead: ${overhead.runs} batches of ${n} concurrent calls per side, the first side changing each run, after ${overhead.warmup} warm-up batch${
        overhead.warmup === 1 ? "" : "es"
      } per side.`,
      "",
      "| side | median (ms) | min (ms) | max (ms) | per call | per call − plain |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...overhead.sides.map((side) =>
        `| ${side.label} | ${f1(side.medianMs)} | ${
          f1(Math.min(...side.ms))
        } | ${f1(Math.max(...side.ms))} | ${perCall(side.medianMs)} | ${
          perCall(side.medianMs - overhead.plainMedianMs)
        } |`
      ),
      "",
      ...overhead.ratios.flatMap((r, i) => [
        ...(i === 0 ? [] : [""]),
        `Ratio ${VIA_CALLS[r.via]} / plain: **${
          f2(r.ratio)
        }** on medians (median of the per-run ratios: ${f2(r.pairedRatio)}). ` +
        (r.ratio <= 1.1
          ? "Goal (within 10 %) met."
          : `Goal (within 10 %) not met: this path takes ${
            f1((r.ratio - 1) * 100)
          } % longer.`),
      ]),
    );
  }
  lines.push(
    "",
    "Machine:",
    "",
    `- CPU: ${m.cpu}, ${m.logicalCores} logical cores, ${m.memoryGiB} GiB memory`,
    `- OS: ${m.os}`,
    `- deno ${m.deno} (V8 ${m.v8}, TypeScript ${m.typescript})`,
    `- load average (1, 5, 15 min) at the end: ${m.loadAverage.join(", ")}`,
  );
  if (report.problems.length > 0) {
    lines.push(
      "",
      "**Problems:**",
      "",
      ...report.problems.map((p) => `- ${p}`),
    );
  }
  return lines.join("\n");
}

/** Runs everything `o` asks for and collects the report. */
export async function run(o: Options): Promise<Report> {
  const storms: Report["storms"] = { proactive: [], reactive: [] };
  const problems: string[] = [];
  for (let k = 0; k < o.runs; k++) {
    for (const via of o.via) {
      for (const kind of ["proactive", "reactive"] as const) {
        const r = await storm(kind, o.requests, via);
        storms[kind].push(r);
        for (const p of stormProblems(r)) {
          problems.push(
            `${kind} storm through ${VIA_CALLS[via]}, run ${k + 1}: ${p}`,
          );
        }
      }
    }
  }
  let overhead: OverheadResult | undefined;
  if (o.overhead) {
    overhead = await measureOverhead(
      o.requests,
      o.runs,
      o.warmup,
      o.breakdown,
      o.via,
    );
    if (overhead.unexpected > 0) {
      problems.push(
        `overhead: ${overhead.unexpected} requests other than a successful whoami while timing`,
      );
    }
  }
  return { options: o, machine: machine(), storms, overhead, problems };
}

/**
 * The command: parses `args`, runs, prints. Returns the exit status: 0, 1
 * when a storm missed its count goals, 2 on bad options.
 */
export async function main(args: readonly string[]): Promise<number> {
  let o: Options | "help";
  try {
    o = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`refresh_storm: ${error.message}`);
    return 2;
  }
  if (o === "help") {
    console.log(HELP);
    return 0;
  }
  const report = await run(o);
  console.log(
    o.json ? JSON.stringify(report, null, 2) : markdown(report, args),
  );
  if (report.problems.length > 0) {
    for (const p of report.problems) console.error(`refresh_storm: ${p}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
