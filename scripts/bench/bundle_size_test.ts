/**
 * Tests of the bundle size benchmark: matrixlib's side, and the OAuth 2.0
 * login program on matrixlib and on oauth4webapi, bundle with the project's
 * esbuild and their three figures come out in order; the report shows the
 * OAuth 2.0 table; a bundle that
 * does not build is an error; the command line answers `--help` and bad
 * options as documented. No network: matrix-js-sdk is never installed here,
 * and no size is asserted as a goal.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  BuildError,
  gzipSize,
  markdown,
  measure,
  measureOAuth,
  measureOurs,
  OAUTH_PROGRAMS,
  parseArgs,
  ROOT,
  SDK_VERSION,
  UsageError,
} from "./bundle_size.ts";
import { runScript } from "./run_script.ts";

const SCRIPT = fileURLToPath(new URL("./bundle_size.ts", import.meta.url));

/** Runs the script in a child `deno`; returns its status and output. */
const cli = (...args: string[]) => runScript(SCRIPT, ...args);

describe("bundle size", () => {
  it("bundles the entry point and the minimal program: gzip < minified < bundled", async () => {
    const results = await measureOurs();
    assert.deepEqual(results.map((r) => r.name), [
      "entry point",
      "minimal program",
    ]);
    for (const r of results) {
      assert.ok(r.sizes.gzip > 0, r.name);
      assert.ok(r.sizes.gzip < r.sizes.minified, r.name);
      assert.ok(r.sizes.minified < r.sizes.bundled, r.name);
      assert.deepEqual(r.warnings, [], r.name);
    }
    // Tree-shaking: the program that uses only Client keeps less than mod.ts.
    assert.ok(results[1].sizes.minified < results[0].sizes.minified);
  });

  it("bundles the OAuth 2.0 login program on matrixlib and on oauth4webapi", async () => {
    const results = await measureOAuth();
    assert.deepEqual(
      results.map((r) => r.entry),
      OAUTH_PROGRAMS.map((p) => p.file),
    );
    assert.equal(results[0].library, "matrixlib");
    assert.match(results[1].library, /^oauth4webapi \d+\.\d+\.\d+$/);
    for (const r of results) {
      assert.ok(r.sizes.gzip > 0, r.library);
      assert.ok(r.sizes.gzip < r.sizes.minified, r.library);
      assert.ok(r.sizes.minified < r.sizes.bundled, r.library);
      assert.deepEqual(r.warnings, [], r.library);
    }
  });

  it("the report has the OAuth 2.0 table and its factor", () => {
    const result = (library: string, name: string, gzip: number) => ({
      library,
      name,
      entry: "",
      sizes: { bundled: gzip * 8, minified: gzip * 3, gzip },
      warnings: [],
    });
    const text = markdown({
      options: {
        withMatrixJsSdk: false,
        sdkVersion: SDK_VERSION,
        cacheDir: ".bench/bundle_size",
        json: false,
      },
      tools: { esbuild: "0.0.0", deno: "0.0.0" },
      results: [
        result("matrixlib", "entry point", 1100),
        result("matrixlib", "minimal program", 1000),
      ],
      oauth: [
        result("matrixlib", "OAuth login", 2000),
        result("oauth4webapi 9.9.9", "OAuth login", 800),
      ],
    });
    assert.match(
      text,
      /^\| oauth4webapi 9\.9\.9 \| OAuth login \| +6,400 \| +2,400 \| +800 \| +0\.4 \|$/m,
    );
    assert.match(
      text,
      /matrixlib's OAuth login is 2\.50 × the one on oauth4webapi 9\.9\.9/,
    );
  });

  it("a bundle that does not build is a BuildError naming the problem", async () => {
    await assert.rejects(
      measure({
        cwd: ROOT,
        source: `import "./no_such_file.ts";`,
        loader: "ts",
      }),
      (error: unknown) =>
        error instanceof BuildError &&
        error.message.includes("no_such_file.ts"),
    );
  });

  it("gzipSize compresses repetitive bytes", () => {
    const bytes = new TextEncoder().encode("matrix ".repeat(1000));
    assert.ok(gzipSize(bytes) < bytes.byteLength / 10);
  });

  it("parses options", () => {
    assert.deepEqual(parseArgs([]), {
      withMatrixJsSdk: false,
      sdkVersion: SDK_VERSION,
      cacheDir: ".bench/bundle_size",
      json: false,
    });
    assert.deepEqual(
      parseArgs([
        "--with-matrix-js-sdk",
        "--sdk-version",
        "42.1.0",
        "--cache-dir",
        "/tmp/x",
        "--json",
      ]),
      {
        withMatrixJsSdk: true,
        sdkVersion: "42.1.0",
        cacheDir: "/tmp/x",
        json: true,
      },
    );
    assert.equal(parseArgs(["-h"]), "help");
    for (
      const bad of [
        ["--sdk-version", "latest"],
        ["--sdk-version", "^43.0.0"],
        ["--cache-dir", ""],
        ["--minify"],
        ["extra"],
      ]
    ) {
      assert.throws(() => parseArgs(bad), UsageError, bad.join(" "));
    }
  });

  it("--help prints the usage and exits 0", async () => {
    const r = await cli("--help");
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^Usage: deno run -A scripts\/bench\/bundle_size\.ts/,
    );
    assert.match(r.stdout, /--with-matrix-js-sdk/);
  });

  it("a bad option exits 2 with a message naming it", async () => {
    const r = await cli("--with-matrixjs");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^bundle_size: .*--with-matrixjs.*\(see --help\)/);
  });
});
