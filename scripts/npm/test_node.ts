/**
 * `npm run test:node`: the library's tests on Node.js, against the built npm
 * package (`npm/esm`), not against a second compilation of the library.
 *
 * Usage: npm run test:node [-- --help | --build | --list]
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { access, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import process from "node:process";
import { readFlags } from "./cli.ts";
import {
  build,
  listFiles,
  PACKAGE_DIR,
  replaceLitHeaders,
  ROOT,
  runBin,
} from "./build.ts";
import {
  ESM_DIR,
  isLibraryModule,
  NODE_EXCLUDED_TESTS,
  nodeTests,
  rewriteLibraryImports,
  summaryLine,
  tapCounts,
} from "./package.ts";

const HELP =
  `Usage: npm run test:node [-- OPTIONS]      (or: deno task test:node)

Runs the library's tests (tests/*_test.ts, but those that need Deno: --list
says which and why) on Node.js against the built package in npm/ (run
"npm run build:npm" first, or pass --build). tsc compiles the tests and what
they import (tests/, devserver/, scripts/spec/) to JavaScript in .node-test/
(not committed; type errors are deno check's business, so it only
transpiles); their imports of ../mod.ts and ../src/*.ts are then rewritten to
npm/esm/mod.js and npm/esm/src/*.js, the package's own files, and tsc's copy
of the library is deleted. Then "node --test FILE..." runs them, printing
node's report, and a last line "tests: N passed, N failed[, N skipped]".

Options:
  --build     build the package first (npm run build:npm)
  --list      list the tests that run on Node and those left out, and exit
  -h, --help  this text

Exit status: 0 when every test passed, 1 otherwise, 2 for a wrong command
line.`;

/** The scratch folder, relative to the root; in .gitignore. */
export const SCRATCH_DIR = ".node-test";

/** The tests under tests/, relative to the root. */
async function allTests(): Promise<string[]> {
  const names = await readdir(join(ROOT, "tests"));
  return names.filter((name) => name.endsWith("_test.ts"))
    .map((name) => `tests/${name}`).sort();
}

/**
 * Compiles `tests` and their imports into the scratch folder, then points
 * their imports of the library at the package. Returns the compiled tests.
 */
async function compileTests(tests: string[]): Promise<string[]> {
  const scratch = join(ROOT, SCRATCH_DIR);
  await rm(scratch, { recursive: true, force: true });
  const code = runBin("tsc", [
    "--outDir",
    SCRATCH_DIR,
    "--rootDir",
    ".",
    "--target",
    "ES2022",
    "--module",
    "NodeNext",
    "--moduleResolution",
    "NodeNext",
    "--rewriteRelativeImportExtensions",
    "--noCheck",
    "--skipLibCheck",
    "--types",
    "node",
    ...tests,
  ]);
  if (code !== 0) throw new Error(`tsc (compiling the tests): exit ${code}`);
  const esm = posix.join("..", PACKAGE_DIR, ESM_DIR);
  let rewritten = 0;
  for (const file of await listFiles(scratch)) {
    if (!file.endsWith(".js")) continue;
    const path = join(scratch, file);
    if (isLibraryModule(file)) {
      await rm(path);
      continue;
    }
    const result = rewriteLibraryImports(
      await readFile(path, "utf8"),
      file,
      esm,
    );
    rewritten += result.rewritten;
    await writeFile(path, result.text);
  }
  await replaceLitHeaders(scratch);
  await rm(join(scratch, "mod.js"), { force: true });
  await rm(join(scratch, "src"), { recursive: true, force: true });
  if (rewritten === 0) {
    throw new Error("no compiled test imports the library: nothing to test");
  }
  return tests.map((test) =>
    posix.join(SCRATCH_DIR, test.slice(0, -".ts".length) + ".js")
  );
}

/** The command line; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const values = readFlags("test:node", args, ["build", "list"], HELP);
  if (typeof values === "number") return values;
  const tests = nodeTests(await allTests());
  if (values.list) {
    console.log(`On Node (${tests.length}):`);
    for (const test of tests) console.log(`  ${test}`);
    const excluded = Object.entries(NODE_EXCLUDED_TESTS);
    console.log(`Deno only (${excluded.length}):`);
    for (const [test, why] of excluded) console.log(`  ${test}: ${why}`);
    return 0;
  }
  try {
    if (values.build) await build();
    try {
      await access(join(ROOT, PACKAGE_DIR, ESM_DIR, "mod.js"));
    } catch {
      throw new Error(
        `no package in ${PACKAGE_DIR}/: run "npm run build:npm" first (or pass --build)`,
      );
    }
    const compiled = await compileTests(tests);
    const tap = join(ROOT, SCRATCH_DIR, "report.tap");
    console.log(
      `test:node: node --test ` +
        `${compiled.length} files (${
          Object.keys(NODE_EXCLUDED_TESTS).length
        } left out, see --list)`,
    );
    const result = spawnSync("node", [
      "--test",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      "--test-reporter=tap",
      `--test-reporter-destination=${tap}`,
      ...compiled,
    ], { cwd: ROOT, stdio: "inherit", env: { ...process.env, NO_COLOR: "1" } });
    if (result.error) throw result.error;
    let counts = tapCounts(await readFile(tap, "utf8").catch(() => ""));
    if (counts === undefined) {
      console.error(
        "test:node: node --test wrote no summary; counted as one failure",
      );
      counts = { passed: 0, failed: 1, skipped: 0 };
    } else if (result.status !== 0 && counts.failed === 0) {
      console.error(
        `test:node: node --test exited ${result.status} without a failed test; counted as one failure`,
      );
      counts.failed = 1;
    }
    console.log(summaryLine(counts));
    return counts.failed === 0 ? 0 : 1;
  } catch (error) {
    console.error(`test:node: ${(error as Error).message}`);
    console.log(summaryLine({ passed: 0, failed: 1, skipped: 0 }));
    return 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
