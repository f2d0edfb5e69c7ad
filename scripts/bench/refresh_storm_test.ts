/**
 * Tests of the refresh storm benchmark: its storms, with a small N, make the
 * counts the goals ask for, and its command line answers `--help` and bad
 * options as documented. Counts only: no timing is asserted.
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
} from "./refresh_storm.ts";
import { runScript } from "./run_script.ts";

const N = 200;
const SCRIPT = fileURLToPath(new URL("./refresh_storm.ts", import.meta.url));

/** Runs the script in a child `deno`; returns its status and output. */
const cli = (...args: string[]) => runScript(SCRIPT, ...args);

describe("refresh storm", () => {
  it(`proactive: ${N} concurrent requests make 1 refresh and N + 1 requests, all with the new token`, async () => {
    const r = await storm("proactive", N);
    assert.equal(r.refreshes, 1);
    assert.equal(r.total, N + 1);
    assert.equal(r.whoamiRequests, N);
    assert.equal(r.unauthorized, 0);
    assert.equal(r.oldTokenRequests, 0);
    assert.equal(r.newTokenRequests, N);
    assert.equal(r.failures, 0);
    assert.deepEqual(stormProblems(r), []);
  });

  it(`reactive: ${N} concurrent requests make 1 refresh, N 401s and 2N + 1 requests`, async () => {
    const r = await storm("reactive", N);
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

  it("reports a storm that misses its goals", async () => {
    const good = await storm("proactive", 3);
    const bad: StormResult = { ...good, refreshes: 2, total: 6, failures: 1 };
    assert.deepEqual(stormProblems(bad), [
      "2 refreshes, expected exactly 1",
      "6 requests, more than the goal of 4",
      "1 whoami() calls failed",
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
});

describe("refresh storm command line", () => {
  it("parses the options, with defaults", () => {
    assert.deepEqual(parseArgs([]), {
      requests: 1000,
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
      ]),
      {
        requests: 50,
        runs: 2,
        warmup: 0,
        json: true,
        overhead: true,
        breakdown: true,
      },
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
  });

  it("a bad option exits 2 with a message that names it", async () => {
    const r = await cli("--requests", "abc");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /--requests needs an integer of at least 1/);
  });

  it("a small run prints JSON with met goals and exits 0", async () => {
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
    assert.equal(report.storms.proactive[0].total, 21);
    assert.equal(report.storms.reactive[0].total, 41);
  });
});
