/**
 * lit's public API is `lit/mod.ts`, and only that: no file outside `lit/`
 * imports another of lit's modules (the test names the file and line that
 * does), and every export of `lit/mod.ts` is documented the Deno way: a
 * JSDoc block with an `@example` that type-checks, and explicit types
 * (`deno doc --lint`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fromFileUrl, join } from "./test_util.ts";

/** The repository root, and lit's folder in it. */
const LIT = resolve(dirname(fromFileUrl(import.meta.url)), "..");
const ROOT = resolve(LIT, "..");
const MOD = join(LIT, "mod.ts");

/** Files that can import modules. */
const CODE_RE = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs)$/;

/**
 * The module specifiers a file's text imports or re-exports, with their line:
 * `import … from "x"`, `import type … from "x"`, `export … from "x"`,
 * `import "x"` and `import("x")`.
 */
export function importsOf(text: string): { specifier: string; line: number }[] {
  const found: { specifier: string; line: number }[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(["'])([^"'\n]+)\1/gm;
  for (const m of text.matchAll(re)) {
    found.push({
      specifier: m[2],
      line: text.slice(0, m.index).split("\n").length,
    });
  }
  return found;
}

/**
 * Where `file` (absolute) imports one of lit's modules other than
 * `lit/mod.ts`, one line each: `scripts/x.ts:3: imports "../lit/parse.ts"…`.
 */
export function internalImports(file: string, text: string): string[] {
  const problems: string[] = [];
  for (const { specifier, line } of importsOf(text)) {
    let target: string;
    if (specifier.startsWith("file:")) target = fileURLToPath(specifier);
    else if (specifier.startsWith(".")) {
      target = resolve(dirname(file), specifier);
    } else continue;
    const inLit = relative(LIT, target);
    if (inLit.startsWith("..") || isAbsolute(inLit) || target === MOD) {
      continue;
    }
    problems.push(
      `${relative(ROOT, file)}:${line}: imports ${
        JSON.stringify(specifier)
      }, inside lit; import lit from lit/mod.ts (its public API) instead`,
    );
  }
  return problems;
}

/** Folders never scanned: installed, built or generated elsewhere. */
function skippedFolders(): Set<string> {
  const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as {
    exclude?: string[];
  };
  return new Set(
    (deno.exclude ?? []).map((p) => p.replace(/\/+$/, "")).concat(
      "node_modules",
      "lit",
    ),
  );
}

/** Every code file of the repository outside `lit/` (and out of git's way). */
function codeFilesOutsideLit(): string[] {
  const skip = skippedFolders();
  const found: string[] = [];
  const walk = (rel: string) => {
    for (
      const e of readdirSync(join(ROOT, rel), { withFileTypes: true })
    ) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!e.name.startsWith(".") && !skip.has(path)) walk(path);
      } else if (e.isFile() && CODE_RE.test(e.name)) {
        found.push(join(ROOT, path));
      }
    }
  };
  walk("");
  return found;
}

describe("lit's public API", () => {
  it("the scan finds every kind of import of lit's inside, and nothing else", () => {
    const file = join(ROOT, "scripts", "x", "y.ts");
    const text = [
      'import { tangle } from "../../lit/tangle.ts";', // 1
      'import type { Block } from "../../lit/parse.ts";', // 2
      'export { loadConfig } from "../../lit/project.ts";', // 3
      'const run = await import("../../lit/run.ts");', // 4
      'import "../../lit/watch.ts";', // 5
      'import { tangleProject } from "../../lit/mod.ts";', // 6
      'import { other } from "../other.ts";', // 7
      'import fc from "fast-check";', // 8
      "const s = 'from the book';", // 9
      'import { x } from "../../lit/tests/test_util.ts";', // 10
    ].join("\n");
    assert.deepEqual(
      internalImports(file, text).map((p) => p.split(": imports")[0]),
      [1, 2, 3, 4, 5, 10].map((line) => `scripts/x/y.ts:${line}`),
    );
    assert.match(
      internalImports(file, text)[0],
      /^scripts\/x\/y\.ts:1: imports "\.\.\/\.\.\/lit\/tangle\.ts", inside lit; import lit from lit\/mod\.ts/,
    );
  });

  it("is the only module of lit that any file outside lit/ imports", () => {
    const files = codeFilesOutsideLit();
    assert.ok(
      files.some((f) => f.endsWith("scripts/start.ts")),
      "the scan reaches scripts/",
    );
    const problems = files.flatMap((file) =>
      internalImports(file, readFileSync(file, "utf8"))
    );
    assert.deepEqual(problems, [], problems.join("\n"));
  });

  it("documents every export with an @example, and passes deno doc --lint", async () => {
    const deno = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args,
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);

    const lint = await deno(["doc", "--lint", "lit/mod.ts"]);
    assert.equal(lint.code, 0, decode(lint.stdout) + decode(lint.stderr));

    const json = await deno(["doc", "--json", "lit/mod.ts"]);
    assert.equal(json.code, 0, decode(json.stderr));
    type JsDoc = { doc?: string; tags?: { kind: string }[] };
    const doc = JSON.parse(decode(json.stdout)) as {
      nodes: Record<string, {
        module_doc?: JsDoc;
        symbols: {
          name: string;
          declarations: {
            jsDoc?: JsDoc;
            location: { filename: string };
          }[];
        }[];
      }>;
    };
    const [node] = Object.values(doc.nodes);
    assert.ok(node.module_doc?.doc?.trim(), "lit/mod.ts has a module doc");
    const missing = node.symbols.filter((s) =>
      !s.declarations.some((d) =>
        d.jsDoc?.tags?.some((t) => t.kind === "example")
      )
    ).map((s) => s.name);
    assert.deepEqual(missing, [], `exports without @example: ${missing}`);

    // The examples type-check, in the modules that hold them.
    const sources = new Set(
      node.symbols.flatMap((s) =>
        s.declarations.map((d) =>
          relative(ROOT, fileURLToPath(d.location.filename))
        )
      ),
    );
    const check = await deno([
      "check",
      "--quiet",
      "--doc-only",
      "lit/mod.ts",
      ...[...sources].sort(),
    ]);
    assert.equal(check.code, 0, decode(check.stdout) + decode(check.stderr));
  });
});
