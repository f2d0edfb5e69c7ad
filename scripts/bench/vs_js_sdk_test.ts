/**
 * Tests of the matrix-js-sdk comparison: the stub answers only `whoami` with
 * the token; every side sends exactly one request per call; the timing loop
 * fills its tables and reports a side that sends too much or gets the wrong
 * user; the Node.js side runs under the machine's `node`; the report and the
 * command line are as documented. No network and no matrix-js-sdk: its sides
 * are exercised with a stand-in that sends through `fetchFn` as it does, and
 * matrixlib comes from `mod.ts` (under Deno) or an esbuild bundle of it
 * (under Node.js). No timing is asserted.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as matrixlib from "../../mod.ts";
import {
  ACCESS_TOKEN,
  BASE_URL,
  createSides,
  createStub,
  DEVICE_ID,
  type FetchFunction,
  measure,
  type Measurement,
  type SdkModule,
  USER_ID,
  WHOAMI_URL,
} from "./vs_js_sdk_sides.ts";
import {
  markdown,
  parseArgs,
  type Report,
  runNodeSide,
  SDK_VERSION,
  signTest,
  UsageError,
  verdict,
  writeNodeSide,
} from "./vs_js_sdk.ts";
import { ESBUILD, ROOT } from "./bundle_size.ts";
import { runScript } from "./run_script.ts";

const SCRIPT = fileURLToPath(new URL("./vs_js_sdk.ts", import.meta.url));

/** Runs the script in a child `deno`; returns its status and output. */
const cli = (...args: string[]) => runScript(SCRIPT, ...args);

const AUTH = { Authorization: `Bearer ${ACCESS_TOKEN}` };

/**
 * A stand-in for matrix-js-sdk's module: `createClient` gives a client whose
 * `whoami()` and `http.authedRequest()` send through `fetchFn` as the SDK
 * does (a `URL`, a plain headers object), `requestsPerCall` times, and
 * return the parsed body.
 */
function fakeSdk(requestsPerCall = 1): SdkModule {
  return {
    createClient(options) {
      const get = async (fetchFn: FetchFunction) => {
        let body: unknown;
        for (let i = 0; i < requestsPerCall; i++) {
          const url = new URL(
            `${options.baseUrl}/_matrix/client/v3/account/whoami`,
          );
          const response = await fetchFn(url, {
            method: "GET",
            headers: {
              Authorization: `Bearer ${options.accessToken}`,
              Accept: "application/json",
            },
          });
          body = await response.json();
        }
        return body as { user_id?: unknown };
      };
      return {
        whoami: () => get(options.fetchFn),
        http: { authedRequest: () => get(options.fetchFn) },
      };
    },
  };
}

describe("the fetch stub", () => {
  it("answers GET whoami with the token, in every shape of URL and headers", async () => {
    const stub = createStub();
    const answers = [
      await stub.fetch(WHOAMI_URL, { headers: AUTH }),
      await stub.fetch(new URL(WHOAMI_URL), { headers: new Headers(AUTH) }),
      await stub.fetch(WHOAMI_URL, {
        method: "GET",
        headers: [["authorization", AUTH.Authorization]],
      }),
      await stub.fetch(new Request(WHOAMI_URL, { headers: AUTH })),
    ];
    for (const response of answers) {
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), {
        user_id: USER_ID,
        device_id: DEVICE_ID,
        is_guest: false,
      });
    }
    assert.equal(stub.calls, 4);
    assert.equal(stub.unexpectedCount, 0);
  });

  it("answers anything else 404 and notes it", async () => {
    const stub = createStub();
    const wrong = [
      await stub.fetch(WHOAMI_URL),
      await stub.fetch(WHOAMI_URL, { headers: { Authorization: "Bearer x" } }),
      await stub.fetch(`${BASE_URL}/_matrix/client/versions`, {
        headers: AUTH,
      }),
      await stub.fetch(WHOAMI_URL, { method: "POST", headers: AUTH }),
    ];
    for (const response of wrong) {
      assert.equal(response.status, 404);
      assert.equal((await response.json()).errcode, "M_UNRECOGNIZED");
    }
    assert.equal(stub.unexpectedCount, 4);
    assert.deepEqual(stub.unexpected, [
      `GET ${WHOAMI_URL} with no token`,
      `GET ${WHOAMI_URL} with another token`,
      `GET ${BASE_URL}/_matrix/client/versions with the token`,
      `POST ${WHOAMI_URL} with the token`,
    ]);
  });
});

describe("the sides", () => {
  it("matrixlib's three sides and the stub send one whoami each, with the token", async () => {
    const stub = createStub();
    const sides = await createSides({ matrixlib }, stub);
    assert.deepEqual(sides.map((s) => s.id), [
      "stub",
      "matrixlib.whoami",
      "matrixlib.request",
      "matrixlib.fetch",
    ]);
    for (const side of sides) {
      const before = stub.calls;
      await side.one();
      assert.equal(stub.calls - before, 1, side.id);
    }
    assert.equal(stub.unexpectedCount, 0);
  });

  it("with a matrix-js-sdk module, adds its three sides", async () => {
    const stub = createStub();
    const sides = await createSides({ matrixlib, sdk: fakeSdk() }, stub);
    assert.deepEqual(sides.map((s) => s.id).slice(4), [
      "sdk.whoami",
      "sdk.authedRequest",
      "sdk.whoami.defaultLogger",
    ]);
    for (const side of sides) await side.one();
    assert.equal(stub.calls, 7);
    assert.equal(stub.unexpectedCount, 0);
  });
});

describe("the timing loop", () => {
  it("times every side in every mode and counts one request per call", async () => {
    const m = await measure({ matrixlib, sdk: fakeSdk() }, {
      calls: 3,
      rounds: 2,
      warmup: 1,
      modes: ["sequential", "batched"],
    });
    assert.deepEqual(m.problems, []);
    assert.deepEqual(m.modes.map((x) => x.mode), ["sequential", "batched"]);
    for (const mode of m.modes) {
      assert.equal(mode.sides.length, 7);
      assert.equal(mode.sides[0].id, "stub");
      assert.equal(mode.sides[0].ratio, 1);
      for (const side of mode.sides) {
        assert.equal(side.us.length, 2, side.id);
        for (const us of side.us) assert.ok(us > 0, side.id);
      }
    }
    // 2 modes × 7 sides × (1 warm-up + 2 rounds) × 3 calls.
    assert.equal(m.expectedCalls, 2 * 7 * 3 * 3);
    assert.equal(m.stubCalls, m.expectedCalls);
  });

  it("reports a side that sends two requests per call", async () => {
    const m = await measure({ matrixlib, sdk: fakeSdk(2) }, {
      calls: 3,
      rounds: 1,
      warmup: 0,
      modes: ["sequential"],
    });
    assert.ok(
      m.problems.includes(
        "sdk.whoami (sequential): the stub saw 6 requests for 3 calls",
      ),
      m.problems.join("\n"),
    );
  });

  it("reports a side whose answer is not alice's", async () => {
    const stranger: SdkModule = {
      createClient: () => ({
        whoami: () => Promise.resolve({ user_id: "@mallory:example.org" }),
        http: { authedRequest: () => Promise.resolve({}) },
      }),
    };
    const m = await measure({ matrixlib, sdk: stranger }, {
      calls: 2,
      rounds: 1,
      warmup: 0,
      modes: ["batched"],
    });
    assert.ok(
      m.problems.some((p) =>
        p.startsWith(
          "sdk.whoami (batched): matrix-js-sdk whoami(): whoami gave",
        )
      ),
      m.problems.join("\n"),
    );
  });
});

describe("the Node.js side", () => {
  it("runs under the machine's node, with matrixlib bundled and no matrix-js-sdk", async () => {
    const dir = Deno.makeTempDirSync({ prefix: "vs_js_sdk_test_" });
    try {
      await writeNodeSide(dir);
      const bundled = await new Deno.Command(ESBUILD, {
        args: [
          "mod.ts",
          "--bundle",
          "--format=esm",
          "--platform=node",
          "--log-level=warning",
          `--outfile=${dir}/matrixlib.mjs`,
        ],
        cwd: ROOT,
      }).output();
      assert.equal(bundled.code, 0, new TextDecoder().decode(bundled.stderr));
      const m = await runNodeSide(dir, {
        plan: { calls: 2, rounds: 1, warmup: 0, modes: ["sequential"] },
        matrixlibUrl: pathToFileURL(`${dir}/matrixlib.mjs`).href,
        sdk: false,
        node: "node",
      });
      assert.deepEqual(m.problems, []);
      assert.match(m.runtime.node, /^v\d+\./);
      assert.equal(m.gcBetweenBlocks, true);
      assert.deepEqual(m.modes[0].sides.map((s) => s.id), [
        "stub",
        "matrixlib.whoami",
        "matrixlib.request",
        "matrixlib.fetch",
      ]);
      assert.equal(m.stubCalls, 8);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
});

/** Seven rounds around `us`, whose median is `us`. */
const rounds = (us: number) => [us, us + 1, us - 1, us + 2, us - 2, us, us];

/** A report with made-up figures, for the formatting tests. */
function sampleReport(oursUs: number, theirsUs: number, sdk = true): Report {
  const side = (id: string, label: string, us: number) => ({
    id,
    label,
    us: rounds(us),
    medianUs: us,
    ratio: us / 10,
    pairedRatio: us / 10,
  });
  const sides = [
    side("stub", "stub alone", 10),
    side("matrixlib.whoami", "matrixlib `client.whoami()`", oursUs),
    ...(sdk
      ? [side("sdk.whoami", "matrix-js-sdk `client.whoami()`", theirsUs)]
      : []),
  ];
  const measurement: Measurement = {
    plan: { calls: 100, rounds: 7, warmup: 1, modes: ["sequential"] },
    gcBetweenBlocks: true,
    modes: [{ mode: "sequential", sides }],
    stubCalls: 2400,
    expectedCalls: 2400,
    problems: [],
  };
  const facts = {
    cpu: "Test CPU",
    logicalCores: 2,
    memoryGiB: 4,
    os: "linux test x86_64",
    loadAverage: [0.5, 0.4, 0.3],
  };
  return {
    options: {
      ...(parseArgs([]) as Exclude<ReturnType<typeof parseArgs>, "help">),
      sdk,
    },
    measurement: { ...measurement, runtime: { node: "v20.0.0", v8: "11" } },
    sdk: sdk ? { version: SDK_VERSION, engines: ">=22.0.0" } : undefined,
    machine: { before: facts, after: facts },
  };
}

describe("the report", () => {
  it("has a row per side, the ratios, and says who is ahead", () => {
    const text = markdown(sampleReport(14, 40), ["--calls", "100"]);
    assert.match(text, /`npm run bench:sdk -- --calls 100`/);
    assert.match(text, /Node\.js v20\.0\.0/);
    assert.match(
      text,
      /matrix-js-sdk 43\.0\.0 \(which asks for Node\.js >=22\.0\.0\)/,
    );
    assert.match(
      text,
      /^\| stub alone \| 10\.0 \| 8\.0 \| 12\.0 \| 1\.00 \| 1\.00 \|$/m,
    );
    assert.match(
      text,
      /^\| matrixlib `client\.whoami\(\)` \| 14\.0 \| 12\.0 \| 16\.0 \| 1\.40 \| 1\.40 \|$/m,
    );
    assert.match(
      text,
      /sequential: matrixlib `whoami\(\)` is \*\*1\.40 ×\*\* the stub alone, matrix-js-sdk `whoami\(\)` \*\*4\.00 ×\*\*\. Round by round, it took 2\.86 × matrixlib's time \(median\); matrixlib was faster in 7 of 7 rounds \(sign test p = 0\.016\): matrixlib is ahead\./,
    );
    assert.match(
      text,
      /load average \(1, 5, 15 min\) before: 0\.5, 0\.4, 0\.3/,
    );
  });

  it("says so when matrixlib is behind", () => {
    const report = sampleReport(50, 40);
    assert.deepEqual(verdict(report.measurement.modes[0]), {
      ours: 5,
      theirs: 4,
      perRound: 40 / 50,
      wins: 0,
      rounds: 7,
      p: 2 / 128,
      outcome: "behind",
    });
    assert.match(
      markdown(report, []),
      /it took 0\.80 × matrixlib's time \(median\); matrixlib was faster in 0 of 7 rounds \(sign test p = 0\.016\): matrixlib is \*\*behind\*\*\./,
    );
  });

  it("calls it too close when the rounds split evenly or disagree with the medians", () => {
    const report = sampleReport(40, 40);
    const sides = report.measurement.modes[0].sides;
    sides[1].us = [10, 50, 10, 50, 10, 50, 40];
    sides[2].us = [20, 40, 20, 40, 20, 40, 40];
    const v = verdict(report.measurement.modes[0])!;
    assert.equal(v.wins, 3);
    assert.equal(v.outcome, "too close");
    assert.match(markdown(report, []), /\*\*too close to call\*\* on this run/);
    // Every round won, but the medians say otherwise: still too close.
    sides[1].us = [39, 39, 39, 39, 39, 39, 39];
    sides[2].us = [40, 40, 40, 40, 40, 40, 40];
    sides[1].medianUs = 41;
    assert.equal(verdict(report.measurement.modes[0])!.outcome, "too close");
  });

  it("the sign test is the two-sided binomial tail", () => {
    assert.equal(signTest(7, 7), 2 / 128);
    assert.equal(signTest(0, 7), 2 / 128);
    assert.ok(Math.abs(signTest(17, 30) - 0.5847) < 1e-4);
    assert.ok(Math.abs(signTest(20, 30) - 0.0987) < 1e-4);
    assert.equal(signTest(15, 30), 1);
    assert.equal(signTest(0, 0), 1);
  });

  it("without matrix-js-sdk, has no verdict", () => {
    const report = sampleReport(14, 0, false);
    assert.equal(verdict(report.measurement.modes[0]), undefined);
    const text = markdown(report, ["--no-sdk"]);
    assert.match(text, /matrix-js-sdk not measured \(--no-sdk\)/);
    assert.doesNotMatch(text, /ahead/);
  });
});

describe("the command line", () => {
  it("parses the options, with defaults", () => {
    assert.deepEqual(parseArgs([]), {
      calls: 500,
      rounds: 30,
      warmup: 5,
      modes: ["sequential", "batched"],
      sdk: true,
      sdkVersion: SDK_VERSION,
      cacheDir: ".bench/vs_js_sdk",
      node: "node",
      json: false,
    });
    assert.deepEqual(
      parseArgs([
        "--calls",
        "10",
        "--rounds=2",
        "--warmup",
        "0",
        "--mode",
        "batched",
        "--no-sdk",
        "--sdk-version",
        "42.1.0",
        "--cache-dir",
        "/tmp/x",
        "--node",
        "/opt/node22/bin/node",
        "--json",
      ]),
      {
        calls: 10,
        rounds: 2,
        warmup: 0,
        modes: ["batched"],
        sdk: false,
        sdkVersion: "42.1.0",
        cacheDir: "/tmp/x",
        node: "/opt/node22/bin/node",
        json: true,
      },
    );
    assert.deepEqual(
      (parseArgs(["--mode=sequential"]) as { modes: unknown }).modes,
      ["sequential"],
    );
    assert.equal(parseArgs(["--calls", "1", "-h"]), "help");
  });

  for (
    const args of [
      ["--calls"],
      ["--calls", "0"],
      ["--calls", "2.5"],
      ["--rounds", "0"],
      ["--warmup", "-1"],
      ["--mode", "fast"],
      ["--mode="],
      ["--sdk-version", "latest"],
      ["--cache-dir", ""],
      ["--node", " "],
      ["--no-sdk=yes"],
      ["--bogus"],
      ["extra"],
    ]
  ) {
    it(`refuses ${args.join(" ")}`, () => {
      assert.throws(() => parseArgs(args), UsageError);
    });
  }

  it("--help prints the usage and exits 0", async () => {
    const r = await cli("--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: deno run -A scripts\/bench\/vs_js_sdk\.ts/);
    assert.match(r.stdout, /--no-sdk/);
  });

  it("a bad option exits 2 with a message that names it", async () => {
    const r = await cli("--mode", "fast");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^vs_js_sdk: --mode takes sequential, batched or both/,
    );
  });
});
