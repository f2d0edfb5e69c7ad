/**
 * Tests of the refresh storm benchmark: its storms, with a small N, make the
 * counts the goals ask for through each path (`whoami()`, `request()`,
 * `fetch()`), and its command line answers `--help` and bad options as
 * documented. Counts only: no timing is asserted.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  measureOverhead,
  parseArgs,
  storm,
  stormProblems,
  type StormResult,
  UsageError,
  VIAS,
} from "./refresh_storm.ts";
import { runScript } from "./run_script.ts";

const N = 200;
const SCRIPT = fileURLToPath(new URL("./refresh_storm.ts", import.meta.url));

/** Runs the script in a child `deno`; returns its status and output. */
const cli = (...args: string[]) => runScript(SCRIPT, ...args);

describe("refresh storm", () => {
  for (const via of VIAS) {
    it(`proactive through ${via}: ${N} concurrent requests make 1 refresh and N + 1 requests, all with the new token`, async () => {
      const r = await storm("proactive", N, via);
      assert.equal(r.via, via);
      assert.equal(r.refreshes, 1);
      assert.equal(r.total, N + 1);
      assert.equal(r.whoamiRequests, N);
      assert.equal(r.unauthorized, 0);
      assert.equal(r.oldTokenRequests, 0);
      assert.equal(r.newTokenRequests, N);
      assert.equal(r.failures, 0);
      assert.deepEqual(stormProblems(r), []);
    });

    it(`reactive through ${via}: ${N} concurrent requests make 1 refresh, N 401s and 2N + 1 requests`, async () => {
      const r = await storm("reactive", N, via);
      assert.equal(r.via, via);
      assert.equal(r.refreshes, 1);
      assert.equal(r.total, 2 * N + 1);
      assert.equal(r.unauthorized, N);
      assert.deepEqual(r.errcodes, { M_UNKNOWN_TOKEN: N });
      assert.equal(r.oldTokenRequests, N);
      assert.equal(r.oldTokenAfterRefresh, 0);
      assert.equal(r.newTokenRequests, N);
      assert.equal(r.failures, 0);
      assert.deepEqual(stormProblems(r), []);
    });
  }

  it("reports a storm that misses its goals", async () => {
    const good = await storm("proactive", 3);
    const bad: StormResult = { ...good, refreshes: 2, total: 6, failures: 1 };
    assert.deepEqual(stormProblems(bad), [
      "2 refreshes, expected exactly 1",
      "6 requests, more than the goal of 4",
      "1 whoami() calls failed",
    ]);
    const fetched = await storm("proactive", 3, "fetch");
    assert.deepEqual(stormProblems({ ...fetched, failures: 2 }), [
      "2 fetch() calls failed",
    ]);
  });

  it("the overhead measurement sends only successful whoamis and no refresh", async () => {
    const r = await measureOverhead(20, 2, 1, true);
    assert.equal(r.unexpected, 0);
    assert.equal(r.clientMs.length, 2);
    assert.equal(r.plainMs.length, 2);
    assert.equal(r.sides.length, 6);
    for (const side of r.sides) assert.equal(side.ms.length, 2);
  });

  it("the overhead measurement times each path it is given, then plain fetch", async () => {
    const r = await measureOverhead(20, 2, 0, false, ["fetch", "request"]);
    assert.equal(r.unexpected, 0);
    assert.deepEqual(r.via, ["fetch", "request"]);
    assert.deepEqual(r.ratios.map((x) => x.via), ["fetch", "request"]);
    assert.equal(r.sides.length, 3);
    assert.match(r.sides[0].label, /client\.fetch/);
    assert.match(r.sides[1].label, /client\.request/);
    assert.equal(r.sides[2].label, "plain `fetch` + `json()`");
    assert.deepEqual(r.clientMs, r.sides[0].ms);
    assert.deepEqual(r.plainMs, r.sides[2].ms);
  });
});

describe("refresh storm command line", () => {
  it("parses the options, with defaults", () => {
    assert.deepEqual(parseArgs([]), {
      requests: 1000,
      via: ["whoami", "request", "fetch"],
      runs: 15,
      warmup: 3,
      json: false,
      overhead: true,
      breakdown: false,
    });
    assert.deepEqual(
      parseArgs([
        "--requests",
        "50",
        "--runs=2",
        "--warmup",
        "0",
        "--json",
        "--breakdown",
        "--via",
        "fetch,whoami",
      ]),
      {
        requests: 50,
        via: ["fetch", "whoami"],
        runs: 2,
        warmup: 0,
        json: true,
        overhead: true,
        breakdown: true,
      },
    );
    assert.deepEqual(
      (parseArgs(["--via=request"]) as { via: unknown }).via,
      ["request"],
    );
    assert.equal(parseArgs(["--runs", "1", "-h"]), "help");
  });

  for (
    const args of [
      ["--requests"],
      ["--requests", "0"],
      ["--requests", "1.5"],
      ["--requests", "many"],
      ["--requests="],
      ["--runs", "-1"],
      ["--warmup", "x"],
      ["--json=yes"],
      ["--via"],
      ["--via="],
      ["--via", "sync"],
      ["--via", "whoami,"],
      ["--via", "fetch,fetch"],
      ["--bogus"],
    ]
  ) {
    it(`refuses ${args.join(" ")}`, () => {
      assert.throws(() => parseArgs(args), UsageError);
    });
  }

  it("--help prints the usage and exits 0", async () => {
    const r = await cli("--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: .*refresh_storm\.ts/);
    assert.match(r.stdout, /--requests N/);
    assert.match(r.stdout, /--via LIST/);
  });

  it("a bad option exits 2 with a message that names it", async () => {
    const r = await cli("--requests", "abc");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /--requests needs an integer of at least 1/);
  });

  it("--via with a path it does not know exits 2 and lists the paths", async () => {
    const r = await cli("--via", "whoami,sync");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /--via takes whoami, request, fetch/);
  });

  it("a small run prints JSON with met goals for each path and exits 0", async () => {
    const r = await cli(
      "--requests",
      "20",
      "--runs",
      "1",
      "--no-overhead",
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.problems, []);
    for (const kind of ["proactive", "reactive"]) {
      assert.deepEqual(
        report.storms[kind].map((s: StormResult) => s.via),
        ["whoami", "request", "fetch"],
      );
    }
    for (const s of report.storms.proactive) assert.equal(s.total, 21);
    for (const s of report.storms.reactive) assert.equal(s.total, 41);
  });

  it("the Markdown report has one row per path and storm", async () => {
    const r = await cli(
      "--requests",
      "5",
      "--runs",
      "1",
      "--warmup",
      "0",
      "--via",
      "request,fetch",
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.split("\n").filter((line) =>
      /^\| (whoami|request|fetch)\(\) \| (proactive|reactive) \|/.test(line)
    );
    assert.deepEqual(rows.map((line) => line.split(" | ").slice(0, 2)), [
      ["| request()", "proactive"],
      ["| request()", "reactive"],
      ["| fetch()", "proactive"],
      ["| fetch()", "reactive"],
    ]);
    assert.match(r.stdout, /Ratio request\(\) \/ plain: \*\*/);
    assert.match(r.stdout, /Ratio fetch\(\) \/ plain: \*\*/);
  });
});
