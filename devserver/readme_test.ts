/**
 * devserver/README.md maps each behaviour seen on Synapse to the test that
 * shows this server doing the same. This test keeps the map honest: every
 * test it names must exist in a test file of this folder.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The test names quoted (in backticks) in the "shown by" column of the table
 * whose header has that column; other tables and text are ignored.
 */
export function namedTests(readme: string): string[] {
  const names: string[] = [];
  let inTable = false;
  for (const line of readme.split("\n")) {
    if (!line.startsWith("|")) {
      inTable = false;
      continue;
    }
    // | observation | shown by |  →  ["", observation, shown by, ""]
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length === 4 && cells[2] === "shown by") {
      inTable = true;
      continue;
    }
    if (!inTable || cells.length !== 4 || /^-+$/.test(cells[1])) continue;
    for (const match of cells[2].matchAll(/`([^`]+)`/g)) names.push(match[1]);
  }
  return names;
}

/** Every test name defined in this folder's test files. */
function definedTests(): Set<string> {
  const names = new Set<string>();
  for (const file of fs.readdirSync(here)) {
    if (!file.endsWith("_test.ts")) continue;
    const source = fs.readFileSync(path.join(here, file), "utf8");
    for (const match of source.matchAll(/\bit\(\s*("(?:[^"\\]|\\.)*")/g)) {
      names.add(JSON.parse(match[1]));
    }
  }
  return names;
}

describe("devserver/README.md", () => {
  it("names only tests that exist", () => {
    const readme = fs.readFileSync(path.join(here, "README.md"), "utf8");
    const named = namedTests(readme);
    assert.ok(named.length >= 30, `only ${named.length} tests named`);
    const defined = definedTests();
    const missing = named.filter((name) => !defined.has(name));
    assert.deepEqual(
      missing,
      [],
      "README.md names tests that do not exist (renamed? update the table)",
    );
  });

  it("reads the shown-by column of its table, and nothing else", () => {
    const readme = [
      "| file | what it is |",
      "| --- | --- |",
      "| `server.ts` | `not a test` |",
      "",
      "| Synapse | shown by |",
      "| --- | --- |",
      "| `x` observed | `first test`, `second test` |",
      "text with `code` outside the table",
    ].join("\n");
    assert.deepEqual(namedTests(readme), ["first test", "second test"]);
  });
});
