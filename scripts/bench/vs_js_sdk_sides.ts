/**
 * The part of the matrix-js-sdk comparison that runs inside one Node.js
 * process (`scripts/bench/vs_js_sdk.ts` transpiles it with esbuild and runs
 * it): a `fetch` stub that answers `whoami`, the sides that call it, and the
 * timing loop.
 *
 * It imports nothing at run time. The libraries come in as arguments
 * ({@linkcode Libraries}): matrixlib's module (the npm package's
 * `npm/esm/mod.js` under Node, `mod.ts` in the tests under Deno) and, when
 * measured, matrix-js-sdk's. So the same code runs under Deno, without
 * matrix-js-sdk, in the tests.
 *
 * @module
 */

import type * as Matrixlib from "../../mod.ts";

// ---------------------------------------------------------------------------
// The stub

/** The homeserver every side talks to; nothing is sent there. */
export const BASE_URL = "https://matrix.example.org";
/** The one URL the stub answers. */
export const WHOAMI_URL = `${BASE_URL}/_matrix/client/v3/account/whoami`;
/** The user of the session every side holds. */
export const USER_ID = "@alice:example.org";
/** Its device. */
export const DEVICE_ID = "BENCHDEVICE";
/** Its access token; the stub answers only requests that carry it. */
export const ACCESS_TOKEN = "syt_YWxpY2U_benchmark_0123456789";

/** The stub's answer to `whoami`, as a homeserver writes it. */
const WHOAMI_BODY = JSON.stringify({
  user_id: USER_ID,
  device_id: DEVICE_ID,
  is_guest: false,
});

/** A `fetch`-shaped function. */
export type FetchFunction = (
  input: Request | URL | string,
  init?: RequestInit,
) => Promise<Response>;

/** A `fetch` that answers `whoami` in memory, and counts what it is asked. */
export interface Stub {
  /** The function itself, given to every side. */
  fetch: FetchFunction;
  /** Every call, answered or not. */
  calls: number;
  /** Calls that were not `GET whoami` with the token (the first 10). */
  unexpected: string[];
  /** How many calls were unexpected, in all. */
  unexpectedCount: number;
}

/**
 * Creates the stub: `GET` {@linkcode WHOAMI_URL} with
 * `Authorization: Bearer` {@linkcode ACCESS_TOKEN} is answered 200 with a
 * fixed JSON body, a new `Response` each time; anything else is answered 404
 * `M_UNRECOGNIZED` and noted. It reads the URL and headers in the shapes the
 * sides give them: a `URL` (both libraries) or a string (the stub alone), a
 * `Headers` object (matrixlib) or a plain object (matrix-js-sdk, the stub
 * alone); a `Request` and header pairs are read too.
 */
export function createStub(): Stub {
  const expected = `Bearer ${ACCESS_TOKEN}`;
  const stub: Stub = {
    calls: 0,
    unexpected: [],
    unexpectedCount: 0,
    // Nothing to await: a plain function, whose throw becomes a rejection
    // as it would from fetch.
    fetch: (input, init) => {
      try {
        return Promise.resolve(answer(input, init));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
  const answer = (input: Request | URL | string, init?: RequestInit) => {
    stub.calls++;
    const request = input instanceof Request ? input : undefined;
    const url = typeof input === "string"
      ? input
      : input instanceof URL
      ? input.href
      : input.url;
    const method = init?.method ?? request?.method ?? "GET";
    const token = authorization(init?.headers ?? request?.headers);
    if (url === WHOAMI_URL && method === "GET" && token === expected) {
      return new Response(WHOAMI_BODY, {
        status: 200,
        headers: { "Content-Type": "application/json" },
      });
    }
    stub.unexpectedCount++;
    if (stub.unexpected.length < 10) {
      const carried = token === undefined
        ? "no token"
        : token === expected
        ? "the token"
        : "another token";
      stub.unexpected.push(`${method} ${url} with ${carried}`);
    }
    return new Response(
      JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Not stubbed" }),
      { status: 404, headers: { "Content-Type": "application/json" } },
    );
  };
  return stub;
}

/** The `Authorization` header among `headers`, in any of fetch's shapes. */
function authorization(headers: HeadersInit | undefined): string | undefined {
  if (headers === undefined) return undefined;
  if (headers instanceof Headers) {
    return headers.get("Authorization") ?? undefined;
  }
  if (Array.isArray(headers)) {
    return headers.find(([name]) => name.toLowerCase() === "authorization")
      ?.[1];
  }
  const record = headers as Record<string, string>;
  return record.Authorization ?? record.authorization;
}

// ---------------------------------------------------------------------------
// The sides

/** What the sides need of matrix-js-sdk's module (43.0.0). */
export interface SdkModule {
  createClient(options: {
    baseUrl: string;
    accessToken: string;
    userId: string;
    deviceId: string;
    fetchFn: FetchFunction;
    logger?: SdkLogger;
  }): SdkClient;
}

/** What the sides call on matrix-js-sdk's `MatrixClient`. */
export interface SdkClient {
  whoami(): Promise<{ user_id?: unknown }>;
  http: {
    authedRequest(method: string, path: string): Promise<unknown>;
  };
}

/** matrix-js-sdk's `Logger` interface (`lib/logger.d.ts`). */
export interface SdkLogger {
  trace(...message: unknown[]): void;
  debug(...message: unknown[]): void;
  info(...message: unknown[]): void;
  warn(...message: unknown[]): void;
  error(...message: unknown[]): void;
  getChild(namespace: string): SdkLogger;
}

/** A matrix-js-sdk logger that writes nothing, as an application may pass. */
export const SILENT_LOGGER: SdkLogger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  getChild() {
    return SILENT_LOGGER;
  },
};

/** The libraries under test. */
export interface Libraries {
  /** matrixlib's module: the npm package under Node, `mod.ts` under Deno. */
  matrixlib: Pick<typeof Matrixlib, "Client" | "MemoryStorage">;
  /** matrix-js-sdk's module, when it is measured. */
  sdk?: SdkModule;
}

/** One way of asking `whoami`, timed against the others. */
export interface SideSpec {
  /** Short, stable name, for JSON and tests. */
  id: string;
  /** How it is shown in the report. */
  label: string;
  /** One call; rejects if the answer is not alice's. */
  one: () => Promise<void>;
}

/** Throws unless `userId` is the stub's user. */
function check(side: string, userId: unknown): void {
  if (userId !== USER_ID) {
    throw new Error(`${side}: whoami gave ${JSON.stringify(userId)}`);
  }
}

/**
 * Makes every side, each with its own client on `stub`: the stub alone,
 * matrixlib's three ways (a restored session, held in a `MemoryStorage`,
 * with no refresh token, so no refresh is ever due), and, with `sdk`,
 * matrix-js-sdk's two ways with a logger that writes nothing and its
 * `whoami()` once more with its default logging.
 */
export async function createSides(
  libraries: Libraries,
  stub: Stub,
): Promise<SideSpec[]> {
  const { Client, MemoryStorage } = libraries.matrixlib;
  const headers = { Authorization: `Bearer ${ACCESS_TOKEN}` };
  const sides: SideSpec[] = [
    {
      id: "stub",
      label: "stub alone: `await (await stub(url, { headers })).json()`",
      one: async () =>
        check(
          "stub",
          (await (await stub.fetch(WHOAMI_URL, { headers })).json()).user_id,
        ),
    },
  ];

  const storage = new MemoryStorage();
  storage.set("session", {
    homeserver: `${BASE_URL}/`,
    userId: USER_ID,
    deviceId: DEVICE_ID,
    accessToken: ACCESS_TOKEN,
  });
  const client = new Client({ baseUrl: BASE_URL, fetch: stub.fetch, storage });
  const restored = await client.restore();
  if (restored?.userId !== USER_ID) {
    throw new Error("matrixlib: the stored session was not restored");
  }
  const endpoint = client.endpoint("v3/account/whoami");
  if (endpoint.href !== WHOAMI_URL) {
    throw new Error(`matrixlib: whoami is at ${endpoint.href}`);
  }
  sides.push(
    {
      id: "matrixlib.whoami",
      label: "matrixlib `client.whoami()`",
      one: async () =>
        check("matrixlib whoami()", (await client.whoami()).userId),
    },
    {
      id: "matrixlib.request",
      label: 'matrixlib `client.request("GET", "v3/account/whoami")`',
      one: async () =>
        check(
          "matrixlib request()",
          (await client.request("GET", "v3/account/whoami")).user_id,
        ),
    },
    {
      id: "matrixlib.fetch",
      label:
        'matrixlib `client.fetch(client.endpoint("v3/account/whoami"))` + `json()`',
      one: async () => {
        const response = await client.fetch(
          client.endpoint("v3/account/whoami"),
        );
        if (response.status !== 200) {
          await response.body?.cancel();
          throw new Error(`matrixlib fetch(): status ${response.status}`);
        }
        check("matrixlib fetch()", (await response.json()).user_id);
      },
    },
  );

  const sdk = libraries.sdk;
  if (sdk !== undefined) {
    const options = {
      baseUrl: BASE_URL,
      accessToken: ACCESS_TOKEN,
      userId: USER_ID,
      deviceId: DEVICE_ID,
      fetchFn: stub.fetch,
    };
    const quiet = sdk.createClient({ ...options, logger: SILENT_LOGGER });
    const chatty = sdk.createClient(options);
    sides.push(
      {
        id: "sdk.whoami",
        label: "matrix-js-sdk `client.whoami()`",
        one: async () =>
          check("matrix-js-sdk whoami()", (await quiet.whoami()).user_id),
      },
      {
        id: "sdk.authedRequest",
        label:
          'matrix-js-sdk `client.http.authedRequest("GET", "/account/whoami")`',
        one: async () => {
          const body = await quiet.http.authedRequest(
            "GET",
            "/account/whoami",
          ) as { user_id?: unknown };
          check("matrix-js-sdk authedRequest()", body.user_id);
        },
      },
      {
        id: "sdk.whoami.defaultLogger",
        label:
          "matrix-js-sdk `client.whoami()`, its default logger (2 debug lines a call)",
        one: async () =>
          check("matrix-js-sdk whoami()", (await chatty.whoami()).user_id),
      },
    );
  }
  return sides;
}

// ---------------------------------------------------------------------------
// Timing

/** How calls are timed. */
export type Mode = "sequential" | "batched";

/** What to time, and how much. */
export interface Plan {
  /** Calls per timed block. */
  calls: number;
  /** Measured blocks per side, per mode. */
  rounds: number;
  /** Blocks per side before measuring, per mode, not counted. */
  warmup: number;
  /** The modes, in order. */
  modes: Mode[];
}

/** One side's figures in one mode. */
export interface SideResult {
  id: string;
  label: string;
  /** Each measured block, in µs per call. */
  us: number[];
  /** Their median. */
  medianUs: number;
  /** The median over the stub alone's median. */
  ratio: number;
  /** The median of the per-round ratios to the stub alone. */
  pairedRatio: number;
}

/** Every side's figures in one mode. */
export interface ModeResult {
  mode: Mode;
  sides: SideResult[];
}

/** Everything {@linkcode measure} found. */
export interface Measurement {
  plan: Plan;
  /** Whether the collector could be run between blocks (`--expose-gc`). */
  gcBetweenBlocks: boolean;
  modes: ModeResult[];
  /** Calls the stub answered, in all. */
  stubCalls: number;
  /** Calls the sides made (the stub should have seen exactly these). */
  expectedCalls: number;
  /** What went wrong: failed calls, unexpected requests. Empty if none. */
  problems: string[];
}

/** The median of `xs` (not empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Runs the collector, if the runtime lets us. */
function collect(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") return false;
  gc();
  return true;
}

/**
 * Times one block of `n` calls of `one`; µs per call. `sequential`: each
 * call awaited before the next. `batched`: all `n` started, then awaited
 * together.
 */
export async function timeBlock(
  mode: Mode,
  n: number,
  one: () => Promise<void>,
): Promise<number> {
  collect();
  const t0 = performance.now();
  if (mode === "sequential") {
    for (let i = 0; i < n; i++) await one();
  } else {
    const calls: Promise<void>[] = new Array(n);
    for (let i = 0; i < n; i++) calls[i] = one();
    await Promise.all(calls);
  }
  return ((performance.now() - t0) * 1000) / n;
}

/**
 * Times every side of `libraries` against one stub, as `plan` says: for each
 * mode, `warmup` blocks per side, then `rounds` rounds that time each side
 * once, the side that goes first moving on by one each round. Checks after
 * every block that the stub saw exactly one `whoami` per call and nothing
 * else.
 */
export async function measure(
  libraries: Libraries,
  plan: Plan,
): Promise<Measurement> {
  const stub = createStub();
  const sides = await createSides(libraries, stub);
  const problems: string[] = [];
  let expectedCalls = 0;
  const block = async (mode: Mode, side: SideSpec) => {
    const before = stub.calls;
    let us = NaN;
    try {
      us = await timeBlock(mode, plan.calls, side.one);
    } catch (error) {
      problems.push(`${side.id} (${mode}): ${(error as Error).message}`);
    }
    expectedCalls += plan.calls;
    if (stub.calls - before !== plan.calls) {
      problems.push(
        `${side.id} (${mode}): the stub saw ${
          stub.calls - before
        } requests for ${plan.calls} calls`,
      );
    }
    return us;
  };
  const modes: ModeResult[] = [];
  for (const mode of plan.modes) {
    for (let w = 0; w < plan.warmup; w++) {
      for (const side of sides) await block(mode, side);
    }
    const us: number[][] = sides.map(() => []);
    for (let k = 0; k < plan.rounds; k++) {
      for (let j = 0; j < sides.length; j++) {
        const i = (k + j) % sides.length;
        us[i].push(await block(mode, sides[i]));
      }
    }
    const stubUs = us[0];
    const stubMedian = median(stubUs);
    modes.push({
      mode,
      sides: sides.map((side, i) => ({
        id: side.id,
        label: side.label,
        us: us[i],
        medianUs: median(us[i]),
        ratio: median(us[i]) / stubMedian,
        pairedRatio: median(us[i].map((x, k) => x / stubUs[k])),
      })),
    });
  }
  if (stub.unexpectedCount > 0) {
    problems.push(
      `the stub was asked ${stub.unexpectedCount} requests other than whoami with the token, such as: ${
        stub.unexpected.join("; ")
      }`,
    );
  }
  return {
    plan,
    gcBetweenBlocks: collect(),
    modes,
    stubCalls: stub.calls,
    expectedCalls,
    problems,
  };
}
