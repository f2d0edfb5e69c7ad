/**
 * The command line: usage errors, help, and diagnostics of the generated code
 * pointing back to chapter lines (`lit deno`, `lit test`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { F, makeProject, runLit } from "./test_util.ts";
import { Remapper } from "../remap.ts";
import { tangle } from "../tangle.ts";
import { countJUnit } from "../run.ts";

describe("lit command line", () => {
  it("--help and help print usage, exit 0; no command or a wrong one exits 2 with one line", async () => {
    const p = await makeProject({});
    try {
      for (const args of [["--help"], ["help"], ["tangle", "--help"]]) {
        const r = await runLit(p.root, ...args);
        assert.equal(r.code, 0, args.join(" "));
        assert.match(r.stdout, /Usage: npm run lit -- COMMAND/);
      }
      const none = await runLit(p.root);
      assert.equal(none.code, 2);
      const wrong = await runLit(p.root, "tangel");
      assert.equal(wrong.code, 2);
      assert.equal(wrong.stderr.trim().split("\n").length, 1);
      assert.match(wrong.stderr, /unknown command "tangel"/);
      const flag = await runLit(p.root, "check", "--bogus");
      assert.equal(flag.code, 2);
      assert.doesNotMatch(flag.stderr, /\n\s+at /, "no stack trace");
    } finally {
      await p.cleanup();
    }
  });

  it("a missing lit.json is one located error, not a crash", async () => {
    const p = await makeProject({});
    try {
      const r = await runLit(p.root, "check");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^lit\.json:1:1: error: no lit\.json in /);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    } finally {
      await p.cleanup();
    }
  });
});

describe("positions in generated code point to chapters", () => {
  const chapters = [{
    path: "chapters/a.md",
    text: [
      "# A", // 1
      "", // 2
      `${F}ts`, // 3
      "// file: src/a.ts", // 4
      "export function f(): number {", // 5
      "  // <<body of f>>", // 6
      "}", // 7
      F, // 8
      "", // 9
      "- in a list:", // 10
      "", // 11
      `  ${F}ts`, // 12
      "  // <<body of f>>=", // 13
      '  const s: number = "text";', // 14
      "  return s;", // 15
      `  ${F}`, // 16
      "",
    ].join("\n"),
  }];

  it("Remapper maps line and column, counting indentation added by references", () => {
    const { files } = tangle(chapters);
    const remap = new Remapper("/book", files);
    // Generated line 3 is `  const s: number = "text";` (header, export, then body).
    assert.equal(remap.position("src/a.ts", 3, 9), "chapters/a.md:14:9");
    assert.equal(
      remap.position("src/a.ts", 3, 1),
      "chapters/a.md:14:3",
      "inside added indentation → start of the chunk line",
    );
    assert.equal(remap.position("src/a.ts", 2, 17), "chapters/a.md:5:17");
    assert.equal(
      remap.position("src/a.ts", 1, 1),
      "chapters/a.md:4:1",
      "the header line maps to the file root",
    );
    assert.equal(remap.position("src/a.ts", 99, 1), undefined);
    assert.equal(
      remap.line(
        "at file:///book/src/a.ts:3:9 and ./src/a.ts:2:17, not src/other.ts:1:1",
      ),
      "at chapters/a.md:14:9 and chapters/a.md:5:17, not src/other.ts:1:1",
    );
  });

  it("`lit deno check` prints a type error at its chapter line", async () => {
    const p = await makeProject({
      "lit.json": JSON.stringify({ chapters: ["chapters/a.md"] }),
      "chapters/a.md": chapters[0].text,
    });
    try {
      assert.equal((await runLit(p.root, "tangle")).code, 0);
      const r = await runLit(p.root, "deno", "check", "src/a.ts");
      assert.equal(r.code, 1);
      assert.match(r.stdout + r.stderr, /TS2322/);
      assert.match(r.stdout + r.stderr, /at chapters\/a\.md:14:9/);
      assert.doesNotMatch(r.stdout + r.stderr, /src\/a\.ts:\d+:\d+/);
    } finally {
      await p.cleanup();
    }
  });

  it("`lit test` remaps a failing assertion and ends with a summary line CI reads", async () => {
    const test = [
      `${F}ts`,
      "// file: tests/a_test.ts",
      'import { it } from "node:test";',
      'import assert from "node:assert/strict";',
      'it("passes", () => assert.equal(1, 1));',
      'it("fails", () => assert.equal(1, 2));',
      F,
      "",
    ].join("\n");
    const p = await makeProject({
      "lit.json": JSON.stringify({ chapters: ["chapters/t.md"] }),
      "chapters/t.md": test,
    });
    try {
      assert.equal((await runLit(p.root, "tangle")).code, 0);
      const r = await runLit(p.root, "test");
      assert.equal(r.code, 1);
      assert.match(
        r.stdout + r.stderr,
        /chapters\/t\.md:6:\d+/,
        "the failing line is shown as a chapter line",
      );
      const last = r.stdout.trim().split("\n").at(-1);
      assert.equal(last, "tests: 1 passed, 1 failed");
    } finally {
      await p.cleanup();
    }
  });

  it("`lit test` refuses to run stale generated files", async () => {
    const p = await makeProject({
      "lit.json": JSON.stringify({ chapters: ["chapters/a.md"] }),
      "chapters/a.md": `${F}ts\n// file: a_test.ts\nexport {};\n${F}\n`,
    });
    try {
      const r = await runLit(p.root, "test");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /missing: a_test\.ts/);
      assert.match(r.stderr, /npm run lit -- tangle/);
    } finally {
      await p.cleanup();
    }
  });
});

describe("JUnit counting", () => {
  it("counts leaves: a group whose step failed is not counted twice", () => {
    const xml = `<testsuites><testsuite>
      <testcase name="group" classname="x"><failure message="1 test step failed">x</failure></testcase>
      <testcase name="group &gt; one" classname="x"></testcase>
      <testcase name="group &gt; two" classname="x"><failure message="no">no</failure></testcase>
      <testcase name="skipped" classname="x"><skipped/></testcase>
      <testcase name="plain" classname="x"></testcase>
    </testsuite></testsuites>`;
    assert.deepEqual(countJUnit(xml), { passed: 2, failed: 1, skipped: 1 });
  });
});
