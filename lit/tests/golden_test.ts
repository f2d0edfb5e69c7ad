/**
 * Golden tests: each folder under `golden/` is a small book (`lit.json` and
 * `chapters/`); tangling it must produce exactly `expected.txt` — every
 * diagnostic, then every generated file. Run with `UPDATE_GOLDEN=1` to
 * rewrite the expected files after an intended change, and review the diff.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, fromFileUrl, join } from "./test_util.ts";
import { formatDiagnostic } from "../diagnostics.ts";
import { tangleProject } from "../project.ts";

const GOLDEN = join(dirname(fromFileUrl(import.meta.url)), "golden");

/** Renders a tangle result as the text kept in `expected.txt`. */
export async function render(root: string): Promise<string> {
  const result = await tangleProject(root);
  const parts = ["# diagnostics", ...result.diagnostics.map(formatDiagnostic)];
  for (const f of result.files) {
    parts.push(`# file ${f.path}`, f.text.trimEnd());
  }
  return parts.join("\n") + "\n";
}

describe("golden books", () => {
  for (const name of readdirSync(GOLDEN).sort()) {
    it(name, async () => {
      const root = join(GOLDEN, name);
      const actual = await render(root);
      const expectedPath = join(root, "expected.txt");
      if (Deno.env.get("UPDATE_GOLDEN")) writeFileSync(expectedPath, actual);
      assert.equal(actual, readFileSync(expectedPath, "utf8"));
    });
  }
});
