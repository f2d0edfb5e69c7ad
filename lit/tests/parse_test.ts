/**
 * Example-based tests of reading one chapter: which fences become blocks, the
 * blocks' kinds and names, and the exact line and column of every header and
 * body line, in every container Markdown allows.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Block,
  type BodyLine,
  normaliseName,
  parseChapter,
  splitLines,
} from "../parse.ts";

const PATH = "chapters/01_test.md";

/** Parses `lines` joined by `eol` (LF unless told). */
function parse(lines: string[], eol = "\n") {
  return parseChapter({ path: PATH, text: lines.join(eol) });
}

/** A body line as `[text, line, col]`, with `ref` when it is a reference. */
function body(b: BodyLine) {
  return b.ref
    ? [b.text, b.line, b.col, b.ref.name, b.ref.indent]
    : [b.text, b.line, b.col];
}

/** Only the parts of a block most tests look at. */
function shape(b: Block) {
  return {
    kind: b.kind,
    name: b.name,
    line: b.line,
    col: b.col,
    body: b.body.map(body),
  };
}

/** Parses and expects exactly one block and no diagnostics. */
function onlyBlock(lines: string[], eol = "\n"): Block {
  const { blocks, diagnostics } = parse(lines, eol);
  assert.deepEqual(diagnostics, []);
  assert.equal(blocks.length, 1, "one block");
  return blocks[0];
}

describe("parseChapter: plain fences", () => {
  it("reads a definition with its place, language and leader", () => {
    const b = onlyBlock([
      "# Title",
      "",
      "Some prose.",
      "",
      "```ts",
      "// <<set up>>=",
      "const a = 1;",
      "",
      "  return a;",
      "```",
      "",
    ]);
    assert.deepEqual(b, {
      kind: "define",
      name: "set up",
      chapter: PATH,
      line: 6,
      col: 1,
      nameCol: 1,
      lang: "ts",
      leader: "//",
      unused: false,
      body: [
        { chapter: PATH, text: "const a = 1;", line: 7, col: 1 },
        { chapter: PATH, text: "", line: 8, col: 1 },
        { chapter: PATH, text: "  return a;", line: 9, col: 1 },
      ],
    });
  });

  it("reads appends, file roots and references in chapter order", () => {
    const { blocks, diagnostics } = parse([
      "```ts",
      "// file: src/a.ts",
      "// <<x>>",
      "```",
      "",
      "```ts",
      "// <<x>>=",
      "one",
      "```",
      "",
      "```ts",
      "// <<x>>+=",
      "\t  // <<y>>  ",
      "```",
    ]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(blocks.map(shape), [
      {
        kind: "file",
        name: "src/a.ts",
        line: 2,
        col: 1,
        body: [["// <<x>>", 3, 1, "x", ""]],
      },
      { kind: "define", name: "x", line: 7, col: 1, body: [["one", 8, 1]] },
      {
        kind: "append",
        name: "x",
        line: 12,
        col: 1,
        body: [["\t  // <<y>>  ", 13, 1, "y", "\t  "]],
      },
    ]);
  });

  it("takes a reference only when it is the whole line", () => {
    const b = onlyBlock([
      "```ts",
      "// <<x>>=",
      "f(); // <<y>>",
      "// <<y>> trailing",
      "//<<y>>",
      "```",
    ]);
    assert.deepEqual(b.body.map(body), [
      ["f(); // <<y>>", 3, 1],
      ["// <<y>> trailing", 4, 1],
      ["//<<y>>", 5, 1, "y", ""],
    ]);
  });

  it("ignores fences without a header, empty fences and other languages", () => {
    const { blocks, diagnostics } = parse([
      "```ts",
      "const plain = 1;",
      "// <<x>>=",
      "```",
      "",
      "```ts",
      "// <<x>>",
      "```",
      "",
      "```ts",
      "```",
      "",
      "```text",
      "// <<x>>=",
      "```",
      "",
      "```rust",
      "// <<x>>=",
      "```",
      "",
      "```",
      "// <<x>>=",
      "```",
      "",
      "    // <<x>>=",
      "    indented code is not a fence",
    ]);
    assert.deepEqual(blocks, []);
    assert.deepEqual(diagnostics, []);
  });

  it("keeps a block whose fence holds only its header", () => {
    const b = onlyBlock(["```ts", "// <<x>>=", "```"]);
    assert.equal(b.kind, "define");
    assert.deepEqual(b.body, []);
  });
});

describe("parseChapter: containers", () => {
  it("reads a fence on a list item's marker line", () => {
    const b = onlyBlock([
      "- ```ts",
      "  // <<x>>=",
      "  \tfoo",
      "    bar",
      "",
      "  ",
      "  ```",
    ]);
    assert.deepEqual(shape(b), {
      kind: "define",
      name: "x",
      line: 2,
      col: 3,
      body: [
        ["\tfoo", 3, 3],
        ["  bar", 4, 3],
        ["", 5, 1],
        ["", 6, 3],
      ],
    });
  });

  it("reads a fence after a paragraph in an ordered list item", () => {
    const b = onlyBlock([
      "Intro.",
      "",
      "1. First we write:",
      "",
      "   ```ts",
      "     // <<x>>=",
      "   a",
      "      // <<y>>",
      "   ```",
      "2. Then more.",
    ]);
    assert.deepEqual(shape(b), {
      kind: "define",
      name: "x",
      line: 6,
      col: 6,
      body: [["a", 7, 4], ["   // <<y>>", 8, 4, "y", "   "]],
    });
  });

  it("reads a fence in a block quote, columns after the '> '", () => {
    const b = onlyBlock([
      "> Quoted prose.",
      ">",
      "> ```ts",
      ">   // <<x>>=",
      "> \tx",
      ">",
      "> ",
      ">    // <<y>>",
      "> ```",
      "",
      "After.",
    ]);
    assert.deepEqual(shape(b), {
      kind: "define",
      name: "x",
      line: 4,
      col: 5,
      body: [
        ["\tx", 5, 3],
        ["", 6, 2],
        ["", 7, 3],
        ["   // <<y>>", 8, 3, "y", "   "],
      ],
    });
  });

  it("reads fences in a quote inside a list and a list inside a quote", () => {
    const { blocks, diagnostics } = parse([
      "- > ```ts",
      "  > // <<a>>=",
      "  >   x",
      "  > ```",
      "",
      "Between.",
      "",
      "> 10. ```ts",
      ">     // <<b>>=",
      ">     \ty",
      ">     ```",
    ]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(blocks.map(shape), [
      { kind: "define", name: "a", line: 2, col: 5, body: [["  x", 3, 5]] },
      { kind: "define", name: "b", line: 9, col: 7, body: [["\ty", 10, 7]] },
    ]);
  });

  it("ends a list item's fence at a line indented less than the item", () => {
    // The fence belongs to the item; "x" at column 1 ends the item and so
    // the fence, leaving a block with an empty body.
    const { blocks } = parse(["- ```ts", "  // <<a>>=", "x", "  ```"]);
    assert.deepEqual(blocks.map(shape), [
      { kind: "define", name: "a", line: 2, col: 3, body: [] },
    ]);
  });

  it("strips a fence's own indentation from its lines", () => {
    const b = onlyBlock([
      "  ```ts",
      "  // <<x>>=",
      "  two",
      "    four",
      " one",
      "x",
      "  ```",
    ]);
    assert.deepEqual(b.body.map(body), [
      ["two", 3, 3],
      ["  four", 4, 3],
      ["one", 5, 2],
      ["x", 6, 1],
    ]);
  });

  it("falls back to column 1 where a tab was expanded", () => {
    // The fence is indented by one space, so one column of the tab is
    // removed and CommonMark turns the rest into three spaces.
    const b = onlyBlock([" ```ts", " // <<x>>=", "\tx", " ```"]);
    assert.deepEqual(b.body.map(body), [["   x", 3, 1]]);
  });
});

describe("parseChapter: fences and line ends", () => {
  it("reads tilde fences, which may hold backtick lines", () => {
    const { blocks, diagnostics } = parse([
      "~~~ts",
      "// <<x>>=",
      "```",
      "~~",
      "~~~",
      "",
      "~~~~ typescript",
      "// <<x>>+=",
      "~~~",
      "y",
      "~~~~",
    ]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(blocks.map(shape), [
      {
        kind: "define",
        name: "x",
        line: 2,
        col: 1,
        body: [["```", 3, 1], ["~~", 4, 1]],
      },
      {
        kind: "append",
        name: "x",
        line: 8,
        col: 1,
        body: [["~~~", 9, 1], ["y", 10, 1]],
      },
    ]);
  });

  it("gives the same lines and columns with CRLF, lone CR and LF", () => {
    const lines = [
      "Prose.",
      "",
      "- ```ts",
      "  // <<x>>=",
      "  a",
      "",
      "    b",
      "  ```",
      "",
    ];
    const lf = parse(lines, "\n");
    assert.equal(lf.blocks.length, 1);
    assert.deepEqual(lf.blocks[0].body.map(body), [
      ["a", 5, 3],
      ["", 6, 1],
      ["  b", 7, 3],
    ]);
    assert.deepEqual(parse(lines, "\r\n"), lf);
    assert.deepEqual(parse(lines, "\r"), lf);
    for (const b of parse(lines, "\r\n").blocks[0].body) {
      assert.ok(!b.text.includes("\r"));
    }
  });

  it("reads a chapter without a final newline", () => {
    const b = onlyBlock(["```ts", "// <<x>>=", "last", "```"]);
    assert.deepEqual(b.body.map(body), [["last", 3, 1]]);
  });

  it("runs an unclosed fence to the end of the chapter", () => {
    const withNewline = parse([
      "Prose.",
      "",
      "```ts",
      "// <<x>>=",
      "a",
      "",
      "b",
      "",
    ]);
    assert.deepEqual(withNewline.blocks.map(shape), [
      {
        kind: "define",
        name: "x",
        line: 4,
        col: 1,
        body: [["a", 5, 1], ["", 6, 1], ["b", 7, 1]],
      },
    ]);
    const without = parse(["```ts", "// <<x>>=", "a"]);
    assert.deepEqual(without.blocks.map(shape), [
      { kind: "define", name: "x", line: 2, col: 1, body: [["a", 3, 1]] },
    ]);
    const inQuote = parse(["> ```ts", "> // <<x>>=", "> a"]);
    assert.deepEqual(inQuote.blocks.map(shape), [
      { kind: "define", name: "x", line: 2, col: 3, body: [["a", 3, 3]] },
    ]);
  });
});

describe("parseChapter: info strings and leaders", () => {
  it("takes the language from the first word of the info string", () => {
    const langs = (info: string) =>
      parse(["```" + info, "// <<x>>=", "a", "```"]).blocks.map((b) => b.lang);
    assert.deepEqual(langs("ts"), ["ts"]);
    assert.deepEqual(langs(" ts"), ["ts"]);
    assert.deepEqual(langs("   typescript   "), ["typescript"]);
    assert.deepEqual(langs("TS"), ["ts"]);
    assert.deepEqual(langs('ts title="a.ts"'), ["ts"]);
    assert.deepEqual(langs("js {.numberLines}"), ["js"]);
    // The language must come first: these are not TypeScript fences.
    assert.deepEqual(langs("{.ts}"), []);
    assert.deepEqual(langs('title="a.ts" ts'), []);
    assert.deepEqual(langs("ts-nocheck"), []);
    assert.deepEqual(langs(""), []);
  });

  it("uses '#' as the leader in sh, yaml and python fences", () => {
    const { blocks, diagnostics } = parse([
      "```sh",
      "# <<setup>>=",
      "echo hi",
      "# <<more>>",
      "// <<more>>",
      "```",
      "",
      "```yaml",
      "#<<config>>+=",
      "key: 1",
      "```",
      "",
      "```python",
      "  # file: tools/x.py",
      "    #  <<  body  >>",
      "```",
    ]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      blocks.map((b) => [b.lang, b.leader]),
      [["sh", "#"], ["yaml", "#"], ["python", "#"]],
    );
    assert.deepEqual(blocks.map(shape), [
      {
        kind: "define",
        name: "setup",
        line: 2,
        col: 1,
        body: [
          ["echo hi", 3, 1],
          ["# <<more>>", 4, 1, "more", ""],
          ["// <<more>>", 5, 1],
        ],
      },
      {
        kind: "append",
        name: "config",
        line: 9,
        col: 1,
        body: [["key: 1", 10, 1]],
      },
      {
        kind: "file",
        name: "tools/x.py",
        line: 14,
        col: 3,
        body: [["    #  <<  body  >>", 15, 1, "body", "    "]],
      },
    ]);
    assert.equal(blocks[2].nameCol, 11);
  });

  it("does not take the other language's leader as a header", () => {
    const { blocks, diagnostics } = parse([
      "```sh",
      "// <<x>>=",
      "a",
      "```",
      "",
      "```ts",
      "# <<x>>=",
      "a",
      "```",
    ]);
    assert.deepEqual(blocks, []);
    assert.deepEqual(diagnostics, []);
  });
});

describe("parseChapter: names and markers", () => {
  it("folds white space inside names and trims it around them", () => {
    const { blocks } = parse([
      "```ts",
      "//   <<  parse \t the   body >>  =",
      "  // <<parse\tthe body>>",
      "```",
      "",
      "```ts",
      "//<<parse the  body>>+=",
      "```",
    ]);
    assert.deepEqual(blocks.map((b) => [b.kind, b.name]), [
      ["define", "parse the body"],
      ["append", "parse the body"],
    ]);
    assert.deepEqual(blocks[0].body[0].ref, {
      name: "parse the body",
      indent: "  ",
    });
    assert.equal(normaliseName("  a \t\n b  "), "a b");
  });

  it("keeps names case-sensitive and punctuation as written", () => {
    const { blocks } = parse([
      "```ts",
      "// <<Parse: x = y [1]>>=",
      "```",
    ]);
    assert.deepEqual(blocks.map((b) => b.name), ["Parse: x = y [1]"]);
  });

  it("reads the [unused] marker, with or without a space", () => {
    const { blocks, diagnostics } = parse([
      "```ts",
      "// <<a>>= [unused]",
      "```",
      "",
      "```ts",
      "// <<b>>=[unused]   ",
      "```",
      "",
      "```ts",
      "// <<c>>=",
      "```",
    ]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(blocks.map((b) => [b.name, b.unused]), [
      ["a", true],
      ["b", true],
      ["c", false],
    ]);
  });
});

describe("parseChapter: malformed and misplaced headers", () => {
  /** The diagnostics of one fence whose first line is `header`. */
  const diags = (header: string, prefix = "") =>
    parse([
      "Prose.",
      "",
      prefix + "```ts",
      prefix + header,
      prefix + "x",
      prefix + "```",
    ]);

  it("reports text after a header other than [unused]", () => {
    for (const rest of ["[UNUSED]", "unused", "x", "= y", "[unused] x"]) {
      const { blocks, diagnostics } = diags(`// <<a>>= ${rest}`);
      assert.deepEqual(blocks, [], rest);
      assert.equal(diagnostics.length, 1, rest);
      const [d] = diagnostics;
      assert.deepEqual(
        [d.file, d.line, d.col, d.severity, d.code],
        [PATH, 4, 1, "error", "malformed-header"],
      );
      assert.ok(d.message.includes(JSON.stringify(rest.trim())), d.message);
      assert.ok(d.message.includes("<<a>>"));
    }
  });

  it("reports headers that look like chunks but are not", () => {
    for (
      const header of [
        "// <<>>=",
        "// <<a>>: 1",
        "// <<a>> <<b>>=",
        "// <<a>>-=",
      ]
    ) {
      const { blocks, diagnostics } = diags(header);
      assert.deepEqual(blocks, [], header);
      assert.deepEqual(
        diagnostics.map((d) => [d.line, d.col, d.code]),
        [[4, 1, "malformed-header"]],
        header,
      );
      assert.ok(diagnostics[0].message.includes(JSON.stringify(header)));
    }
  });

  it("reports a file root without a path, at the leader's column", () => {
    const { blocks, diagnostics } = diags("   // file:   ", "> ");
    assert.deepEqual(blocks, []);
    assert.deepEqual(
      diagnostics.map((d) => [d.line, d.col, d.code]),
      [[4, 6, "malformed-header"]],
    );
    assert.match(diagnostics[0].message, /needs a path/);
  });

  it("places a malformed header inside a list item", () => {
    const { diagnostics } = parse(["- ```ts", "    // <<a>>= junk", "  ```"]);
    assert.deepEqual(
      diagnostics.map((d) => [d.line, d.col, d.code]),
      [[2, 5, "malformed-header"]],
    );
  });

  it("reports a header on a later line of a block, and keeps the block", () => {
    const { blocks, diagnostics } = parse([
      "> ```ts",
      "> // <<a>>=",
      "> one",
      ">   // <<b>>+=",
      "> // file: x.ts",
      "> // <<c>>",
      "> ```",
    ]);
    assert.deepEqual(
      diagnostics.map((d) => [d.file, d.line, d.col, d.severity, d.code]),
      [
        [PATH, 4, 5, "error", "misplaced-header"],
        [PATH, 5, 3, "error", "misplaced-header"],
      ],
    );
    assert.match(diagnostics[0].message, /first line/);
    assert.deepEqual(blocks.map(shape), [
      {
        kind: "define",
        name: "a",
        line: 2,
        col: 3,
        body: [
          ["one", 3, 3],
          ["  // <<b>>+=", 4, 3],
          ["// file: x.ts", 5, 3],
          ["// <<c>>", 6, 3, "c", ""],
        ],
      },
    ]);
  });

  it("does not look for misplaced headers in fences that are not blocks", () => {
    const { diagnostics } = parse(["```ts", "let a;", "// <<a>>=", "```"]);
    assert.deepEqual(diagnostics, []);
  });
});

describe("parseChapter: file roots", () => {
  it("reads the path and the column where it starts", () => {
    const b = onlyBlock([
      "1. ```ts",
      "     //   file:  src/a b.ts  ",
      "   x",
      "   ```",
    ]);
    assert.deepEqual(
      [b.kind, b.name, b.line, b.col, b.nameCol],
      ["file", "src/a b.ts", 2, 6, 18],
    );
    const line = "     //   file:  src/a b.ts  ";
    assert.equal(line.slice(b.nameCol - 1).trimEnd(), "src/a b.ts");
  });

  it("leaves the path as written; tangling checks it", () => {
    const { blocks, diagnostics } = parse([
      "```ts",
      "// file: ../outside.ts",
      "```",
    ]);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(blocks.map((b) => b.name), ["../outside.ts"]);
  });
});

describe("splitLines", () => {
  it("splits on LF, CRLF and lone CR alike", () => {
    assert.deepEqual(splitLines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
    assert.deepEqual(splitLines("a\r\n"), ["a", ""]);
    assert.deepEqual(splitLines("\r\r\n"), ["", "", ""]);
  });
});
