/**
 * Running deno on the tangled code, with every position in a generated file
 * rewritten to the chapter line that produced it (`lit deno`, `lit test`).
 *
 * @module
 */

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatDiagnostic, hasErrors } from "./diagnostics.ts";
import { checkProject, tangleProject, tangleToDisk } from "./project.ts";
import { pipeRemapped, Remapper } from "./remap.ts";
import type { GeneratedFile } from "./tangle.ts";

const encoder = new TextEncoder();
const out = (text: string) => Deno.stdout.writeSync(encoder.encode(text));
const err = (text: string) => Deno.stderr.writeSync(encoder.encode(text));

/** Runs `deno ARGS` in `root`, its output remapped to chapters; returns its exit code. */
export async function runDenoWith(
  root: string,
  files: GeneratedFile[],
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const remap = new Remapper(root, files);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdin: "inherit",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const [stdout, stderr, status] = await Promise.all([
    pipeRemapped(child.stdout, (l) => remap.line(l), out),
    pipeRemapped(child.stderr, (l) => remap.line(l), err),
    child.status,
  ]);
  return { code: status.code, stdout, stderr };
}

/** `lit deno ARGS`: any deno command, remapped. */
export async function runDeno(root: string, args: string[]): Promise<number> {
  const { files } = await tangleProject(root);
  return (await runDenoWith(root, files, args)).code;
}

/**
 * Test counts read from deno's JUnit report, as `lit test` counts them:
 * leaves only (a group with steps is not a test of its own).
 *
 * @example
 * ```ts
 * countJUnit('<testcase name="a"/><testcase name="b"><failure/></testcase>');
 * // => { passed: 1, failed: 1, skipped: 0 }
 * ```
 */
export function countJUnit(
  xml: string,
): { passed: number; failed: number; skipped: number } {
  const cases: { name: string; failed: boolean; skipped: boolean }[] = [];
  const re = /<testcase name="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const body = m[2] ?? "";
    cases.push({
      name: m[1].replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(
        /&quot;/g,
        '"',
      ).replace(/&amp;/g, "&"),
      failed: /<(failure|error)\b/.test(body),
      skipped: /<skipped\b/.test(body),
    });
  }
  const names = cases.map((c) => c.name);
  const leaves = cases.filter((c) =>
    !names.some((n) => n.startsWith(`${c.name} > `))
  );
  return {
    passed: leaves.filter((c) => !c.failed && !c.skipped).length,
    failed: leaves.filter((c) => c.failed).length,
    skipped: leaves.filter((c) => c.skipped).length,
  };
}

/** Options for {@link runTests}. */
export interface TestOptions {
  /** Test paths (default: deno.json's test.include). */
  paths: string[];
  /** Extra arguments for `deno test`. */
  denoArgs: string[];
  /** Tangle first instead of failing when the tree is out of sync. */
  tangle: boolean;
  strict: boolean;
}

/**
 * `lit test`: the tree must match the chapters (or `--tangle` makes it so);
 * then `deno check` on every generated TypeScript file and `deno test`, both
 * remapped; last, one summary line `tests: N passed, N failed, N skipped`.
 */
export async function runTests(
  root: string,
  options: TestOptions,
): Promise<number> {
  if (options.tangle) {
    const report = await tangleToDisk(root, { strict: options.strict });
    for (const d of report.diagnostics) err(formatDiagnostic(d) + "\n");
    if (hasErrors(report.diagnostics)) {
      err(
        "lit test: the chapters do not tangle (errors above)\ntests: 0 passed, 1 failed\n",
      );
      return 1;
    }
  }
  const check = await checkProject(root, { strict: options.strict });
  for (const d of check.diagnostics) err(formatDiagnostic(d) + "\n");
  if (hasErrors(check.diagnostics) || check.differences.length) {
    for (const d of check.differences) err(`  ${d.status}: ${d.path}\n`);
    err(
      `lit test: the generated files are not what the chapters say. Run \`npm run lit -- tangle\` ` +
        `(or \`npm run lit -- test --tangle\`), then test again; \`npm run lit -- check\` shows the differences.\n` +
        `tests: 0 passed, 1 failed\n`,
    );
    return 1;
  }
  const tsFiles = check.files.map((f) => f.path).filter((p) =>
    /\.(ts|tsx|mts|cts)$/.test(p)
  );
  if (tsFiles.length) {
    out(`lit test: deno check ${tsFiles.length} generated files\n`);
    const checked = await runDenoWith(root, check.files, [
      "check",
      "--quiet",
      ...tsFiles,
    ]);
    if (checked.code !== 0) {
      err(
        "lit test: type errors in the generated code (positions above are chapter lines)\ntests: 0 passed, 1 failed\n",
      );
      return 1;
    }
  }
  const dir = await mkdtemp(join(tmpdir(), "lit-test-"));
  try {
    const junit = join(dir, "junit.xml");
    const result = await runDenoWith(root, check.files, [
      "test",
      "-A",
      `--junit-path=${junit}`,
      ...options.denoArgs,
      ...options.paths,
    ]);
    let counts = { passed: 0, failed: 0, skipped: 0 };
    try {
      counts = countJUnit(await readFile(junit, "utf8"));
    } catch {
      // No report: deno stopped before running tests (e.g. a type error).
    }
    if (result.code !== 0 && counts.failed === 0) {
      err(
        "lit test: deno test failed outside any single test (a module did not load, or a type error); counted as one failure\n",
      );
      counts.failed = 1;
    }
    const skipped = counts.skipped ? `, ${counts.skipped} skipped` : "";
    out(`tests: ${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
    return result.code === 0 && counts.failed === 0 ? 0 : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
