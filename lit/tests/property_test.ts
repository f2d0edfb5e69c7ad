/**
 * Property tests of tangling. Random webs of chunks are rendered as Markdown
 * chapters in many shapes (fences in lists and block quotes, tilde fences,
 * CRLF or CR line ends, decoy blocks lit must ignore) and tangled; the result
 * is compared with a small reference expander that works on the abstract web,
 * never on lit's own code. Cycles must always be found, and no input at all may
 * make lit throw or report a place outside the chapters.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { SourceFile } from "../parse.ts";
import { tangle } from "../tangle.ts";
import { headerLine, parseHeader } from "../header.ts";
import type { Diagnostic } from "../diagnostics.ts";

// ---------------------------------------------------------------------------
// The abstract book

/** A body line of a chunk or root: plain text, or a reference to a chunk. */
type Item =
  | { kind: "line"; text: string }
  | { kind: "ref"; target: number; indent: string };

/** A web of chunks: chunk `i` only references chunks with a higher index. */
interface Web {
  chunks: Item[][];
  roots: { ext: string; items: Item[] }[];
  /** Whether chunk `i` is marked `[unused]`. */
  marked: boolean[];
}

const WORDS = [
  "alpha",
  "beta",
  "set up",
  "x = y",
  "λ calc",
  "naïve",
  "漢字",
  "emoji 😀",
  "a+b",
  "[x]",
  "it's",
];

/** The canonical (normalised) name of chunk `i`. */
const chunkName = (i: number) => `chunk ${i} ${WORDS[i % WORDS.length]}`;

const CODE_TOKENS = [
  "const",
  "x",
  "=",
  "1;",
  "return",
  "{",
  "}",
  "f(a, b);",
  "// note",
  "# hash",
  "é",
  "λ",
  "漢字",
  "😀",
  "'s'",
  '"q"',
  "a + b",
  "if",
  "(y)",
  "=>",
  "a < b",
  "c > d",
  "\\",
];

const indentArb = fc.constantFrom(
  "",
  "",
  "",
  " ",
  "  ",
  "    ",
  "\t",
  "\t\t",
  " \t",
  "        ",
);

/** A code-like line: may be empty, white space only, or indented. */
const lineArb: fc.Arbitrary<Item> = fc
  .tuple(
    indentArb,
    fc.array(fc.constantFrom(...CODE_TOKENS), { maxLength: 5 }),
    fc.constantFrom("", "", "", " ", "\t"),
  )
  .map(([indent, tokens, trailing]) => ({
    kind: "line" as const,
    text: tokens.length ? indent + tokens.join(" ") + trailing : indent,
  }));

/** A reference; `target` is an offset, turned into a chunk index later. */
const refArb = fc.tuple(fc.nat(), indentArb).map(([target, indent]) => ({
  kind: "ref" as const,
  target,
  indent,
}));

const itemArb = fc.oneof(
  { weight: 3, arbitrary: lineArb },
  { weight: 2, arbitrary: refArb },
);

const EXTENSIONS = ["ts", "ts", "js", "mts", "py", "sh", "yaml"];
const HEADER_LEADER: Record<string, string> = {
  ts: "//",
  js: "//",
  mts: "//",
  py: "#",
  sh: "#",
  yaml: "#",
};

const MAX_CHUNK_LINES = 120;
const MAX_ROOT_LINES = 600;

/** An acyclic web of 1..25 chunks, with 1..3 file roots. */
const webArb: fc.Arbitrary<Web> = fc
  .record({
    chunks: fc.array(fc.array(itemArb, { maxLength: 8 }), {
      minLength: 1,
      maxLength: 25,
      size: "max",
    }),
    roots: fc.array(
      fc.record({
        ext: fc.constantFrom(...EXTENSIONS),
        items: fc.array(itemArb, { maxLength: 6 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    marks: fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
  })
  .map(({ chunks, roots, marks }) => {
    const n = chunks.length;
    // Turn reference offsets into indices (chunk i only references j > i),
    // dropping references that would make an expansion too long.
    const size: number[] = new Array(n).fill(0);
    const fix = (items: Item[], lowest: number, limit: number) => {
      const out: Item[] = [];
      let total = 0;
      for (const item of items) {
        if (item.kind === "line") {
          out.push({ ...item });
          total++;
        } else if (lowest < n) {
          const target = lowest + (item.target % (n - lowest));
          if (total + size[target] <= limit) {
            out.push({ kind: "ref", target, indent: item.indent });
            total += size[target];
          }
        }
      }
      return { out, total };
    };
    const fixed: Item[][] = new Array(n);
    for (let i = n - 1; i >= 0; i--) {
      const { out, total } = fix(chunks[i], i + 1, MAX_CHUNK_LINES);
      fixed[i] = out;
      size[i] = total;
    }
    return {
      chunks: fixed,
      roots: roots.map((r) => ({
        ext: r.ext,
        items: fix(r.items, 0, MAX_ROOT_LINES).out,
      })),
      marked: marks.slice(0, n),
    };
  });

const refsOf = (items: Item[]) =>
  items.flatMap((it) => (it.kind === "ref" ? [it.target] : []));

/** Chunks reachable from `starts` (the starts included). */
function closure(web: Web, starts: number[]): Set<number> {
  const seen = new Set<number>();
  const todo = [...starts];
  while (todo.length) {
    const i = todo.pop()!;
    if (seen.has(i)) continue;
    seen.add(i);
    todo.push(...refsOf(web.chunks[i]));
  }
  return seen;
}

// ---------------------------------------------------------------------------
// Rendering a web as chapters

/** A small seeded generator for the cosmetic choices of rendering. */
class Rand {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

interface Loc {
  file: string;
  line: number;
  col: number;
}

interface Rendered {
  chapters: SourceFile[];
  /** Where each plain item's text stands. */
  itemLoc: Map<Item, Loc>;
  /** Header of each chunk's `=` block. */
  defLoc: Loc[];
  /** Header and chapter of each root. */
  rootLoc: Loc[];
}

type Piece =
  | { kind: "define" | "append"; chunk: number; seg: number; items: Item[] }
  | { kind: "root"; root: number; items: Item[] };

const PROSE = [
  "the",
  "chunk",
  "below",
  "adds",
  "a",
  "line",
  "and",
  "then",
  "we",
  "explain",
  "why",
  "code",
];

const SLASH_LANGS = [
  "ts",
  "ts",
  "typescript",
  "TS",
  "tsx",
  "js",
  "mts",
  "jsonc",
  ' ts title="x.ts"',
  "javascript {.numberLines}",
];
const HASH_LANGS = ["sh", "bash", "python", "py", "yaml", "toml", "shell"];
const MARKERS = ["- ", "* ", "+ ", "1. ", "7) ", "10. "];

function prose(r: Rand): string {
  const n = 2 + r.int(6);
  const words = Array.from({ length: n }, () => r.pick(PROSE));
  words[0] = words[0][0].toUpperCase() + words[0].slice(1);
  return words.join(" ") + ".";
}

/** Spells a normalised name with extra white space, as an author might. */
function spell(r: Rand, name: string): string {
  const sp = () => r.pick([" ", " ", " ", "  ", "\t", " \t "]);
  const outer = () => r.pick(["", "", "", " ", "  "]);
  return outer() + name.split(" ").join("\0").replace(/\0/g, sp) + outer();
}

/** Blocks lit must ignore: other languages, indented code, no header. */
function decoy(r: Rand, n: number): string[] {
  const name = chunkName(r.int(n + 1));
  switch (r.int(5)) {
    case 0:
      return ["```text", `// <<${name}>>=`, "not code", "```"];
    case 1:
      return ["    // <<" + name + ">>+=", "    indented code is not a fence"];
    case 2:
      return ["```ts", "const decoy = 1;", `// <<${name}>>`, "```"];
    case 3:
      return ["    ```ts", `    // <<${name}>>=`, "    ```"];
    default:
      return ["~~~md", `# <<${name}>>=`, "~~~"];
  }
}

function renderWeb(web: Web, seed: number): Rendered {
  const r = new Rand(seed);
  const n = web.chunks.length;
  const nChapters = 1 + r.int(5);
  const paths = Array.from(
    { length: nChapters },
    (_, k) => `chapters/${String(k).padStart(2, "0")}_part.md`,
  );

  // Pieces with their place in the book: (chapter, position).
  const placed: { key: [number, number, number, number]; piece: Piece }[] = [];
  const key = (): [number, number] => [r.int(nChapters), r.int(1000)];
  web.chunks.forEach((items, chunk) => {
    const nSeg = 1 + r.int(Math.min(4, items.length + 1));
    const cuts = Array.from({ length: nSeg - 1 }, () => r.int(items.length + 1))
      .sort((a, b) => a - b);
    const bounds = [0, ...cuts, items.length];
    const keys = Array.from({ length: nSeg }, key).sort((a, b) =>
      a[0] - b[0] || a[1] - b[1]
    );
    for (let seg = 0; seg < nSeg; seg++) {
      placed.push({
        key: [keys[seg][0], keys[seg][1], chunk, seg],
        piece: {
          kind: seg === 0 ? "define" : "append",
          chunk,
          seg,
          items: items.slice(bounds[seg], bounds[seg + 1]),
        },
      });
    }
  });
  web.roots.forEach((root, i) => {
    const [c, p] = key();
    placed.push({
      key: [c, p, -1, i],
      piece: { kind: "root", root: i, items: root.items },
    });
  });
  placed.sort((a, b) =>
    a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.key[2] - b.key[2] ||
    a.key[3] - b.key[3]
  );

  const itemLoc = new Map<Item, Loc>();
  const defLoc: Loc[] = new Array(n);
  const rootLoc: Loc[] = new Array(web.roots.length);
  const chapters: SourceFile[] = [];

  for (let c = 0; c < nChapters; c++) {
    const file = paths[c];
    const lines: string[] = [];
    if (r.chance(0.7)) lines.push(`# Part ${c}: ${prose(r)}`, "");
    const pieces = placed.filter((p) => p.key[0] === c).map((p) => p.piece);
    let unclosed = false;
    pieces.forEach((piece, index) => {
      // Prose (and sometimes a decoy) before every block.
      if (r.chance(0.3)) lines.push(`## ${prose(r)}`, "");
      if (r.chance(0.25)) lines.push(`- ${prose(r)}`, `- ${prose(r)}`, "");
      if (r.chance(0.3)) lines.push(prose(r), "", ...decoy(r, n), "");
      lines.push(prose(r));
      if (r.chance(0.5)) lines.push(prose(r));
      lines.push("");

      // The container the fence stands in.
      const marker = r.pick(MARKERS);
      const pad = " ".repeat(marker.length);
      const extra = r.pick(["", "", " ", "  ", "   "]);
      let first: string;
      let rest: string;
      switch (r.int(7)) {
        case 0: // in a list item, the fence on the marker line
          first = marker;
          rest = pad;
          break;
        case 1: // in a list item, after a paragraph
          lines.push(marker + prose(r), "");
          first = rest = pad + extra.slice(0, 1);
          break;
        case 2: // in a block quote
          if (r.chance(0.5)) lines.push("> " + prose(r), ">");
          first = rest = "> " + extra.slice(0, 2);
          break;
        case 3: // a block quote in a list item
          first = marker + "> ";
          rest = pad + "> ";
          break;
        case 4: // a list item in a block quote
          first = "> " + marker;
          rest = "> " + pad;
          break;
        default: // top level
          first = rest = extra;
      }

      const hash = r.chance(0.2);
      const leader = hash ? "#" : "//";
      const info = r.pick(hash ? HASH_LANGS : SLASH_LANGS);
      const tilde = r.chance(0.3);
      const fence = (tilde ? "~" : "`").repeat(3 + r.int(3));
      lines.push(first + fence + info);

      // Header line.
      const hws = r.pick(["", "", "", " ", "  "]);
      const sp = () => r.pick(["", " ", " ", "  ", "\t"]);
      let header: string;
      if (piece.kind === "root") {
        const ext = web.roots[piece.root].ext;
        const path = r.pick([
          `gen/f${piece.root}.${ext}`,
          `./gen/f${piece.root}.${ext}`,
          `gen//f${piece.root}.${ext}`,
          `x/../gen/./f${piece.root}.${ext}`,
        ]);
        header = `${leader}${sp()}file:${sp()}${path}${sp()}`;
      } else {
        const name = spell(r, chunkName(piece.chunk));
        const op = piece.kind === "define" ? "=" : "+=";
        const mark = piece.kind === "define" && web.marked[piece.chunk]
          ? r.pick([" [unused]", "[unused]", "  [unused] "])
          : sp();
        header = `${leader}${sp()}<<${name}>>${sp()}${op}${mark}`;
      }
      lines.push(rest + hws + header);
      const headerLoc = {
        file,
        line: lines.length,
        col: rest.length + hws.length + 1,
      };
      if (piece.kind === "root") rootLoc[piece.root] = headerLoc;
      else if (piece.kind === "define") defLoc[piece.chunk] = headerLoc;

      // Body.
      for (const item of piece.items) {
        if (item.kind === "line") {
          const prefix = item.text === "" && r.chance(0.5)
            ? rest.trimEnd()
            : rest;
          lines.push(prefix + item.text);
          itemLoc.set(item, {
            file,
            line: lines.length,
            col: prefix.length + 1,
          });
        } else {
          const name = spell(r, chunkName(item.target));
          lines.push(
            `${rest}${item.indent}${leader}${sp()}<<${name}>>${
              r.pick(["", "", " ", "\t"])
            }`,
          );
        }
      }

      // An unclosed fence runs to the end of the chapter.
      if (index === pieces.length - 1 && r.chance(0.15)) {
        unclosed = true;
        return;
      }
      lines.push(rest + fence + r.pick(["", "", tilde ? "~" : "`"]), "");
    });
    if (!unclosed && r.chance(0.7)) lines.push(prose(r));
    const eol = r.pick(["\n", "\n", "\r\n", "\r"]);
    const finalEol = unclosed || r.chance(0.7);
    chapters.push({
      path: file,
      text: lines.join(eol) + (finalEol ? eol : ""),
    });
  }
  return { chapters, itemLoc, defLoc, rootLoc };
}

// ---------------------------------------------------------------------------
// The reference expander and the expected warnings

interface Origin {
  file: string;
  line: number;
  col: number;
  indent: number;
}
interface Out {
  text: string;
  origin: Origin;
}

function expectedFiles(web: Web, rendered: Rendered) {
  const memo = new Map<number, Out[]>();
  const expandItems = (items: Item[]): Out[] =>
    items.flatMap((item): Out[] => {
      if (item.kind === "line") {
        return [{
          text: item.text,
          origin: { ...rendered.itemLoc.get(item)!, indent: 0 },
        }];
      }
      return expand(item.target).map((l) =>
        l.text === "" ? l : {
          text: item.indent + l.text,
          origin: { ...l.origin, indent: l.origin.indent + item.indent.length },
        }
      );
    });
  const expand = (i: number): Out[] => {
    let out = memo.get(i);
    if (!out) memo.set(i, out = expandItems(web.chunks[i]));
    return out;
  };
  return web.roots
    .map((root, i) => {
      const path = `gen/f${i}.${root.ext}`;
      const loc = rendered.rootLoc[i];
      const lines = expandItems(root.items);
      return {
        path,
        chapter: loc.file,
        text: [
          headerLine(HEADER_LEADER[root.ext], loc.file),
          ...lines.map((l) => l.text),
        ].join("\n") + "\n",
        origins: [{ ...loc, indent: 0 }, ...lines.map((l) => l.origin)],
      };
    })
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The unused-chunk warnings lit should give, as `code@file:line:col`. */
function expectedWarnings(web: Web, rendered: Rendered): string[] {
  const n = web.chunks.length;
  const fromRoots = closure(web, web.roots.flatMap((r) => refsOf(r.items)));
  const out: string[] = [];
  const at = (i: number) => {
    const l = rendered.defLoc[i];
    return `${l.file}:${l.line}:${l.col}`;
  };
  const covered = new Set(fromRoots);
  for (let i = 0; i < n; i++) {
    if (!web.marked[i]) continue;
    if (fromRoots.has(i)) out.push(`unused-marker-used@${at(i)}`);
    else closure(web, refsOf(web.chunks[i])).forEach((j) => covered.add(j));
  }
  const unreported = new Set<number>();
  for (let i = 0; i < n; i++) {
    if (!web.marked[i] && !covered.has(i)) unreported.add(i);
  }
  for (const i of unreported) {
    const usedByUnreported = [...unreported].some((j) =>
      refsOf(web.chunks[j]).includes(i)
    );
    if (!usedByUnreported) out.push(`unused-chunk@${at(i)}`);
  }
  return out.sort();
}

const splitLines = (text: string) => text.split(/\r\n|\r|\n/);

// ---------------------------------------------------------------------------
// Properties

describe("tangle, on random webs of chunks", () => {
  it("equals a reference expansion, deterministically, with right origins", () => {
    fc.assert(
      fc.property(webArb, fc.integer(), (web, seed) => {
        const rendered = renderWeb(web, seed);
        const { chapters } = rendered;
        const result = tangle(chapters);
        assert.deepEqual(tangle(chapters), result, "tangling is deterministic");

        const errors = result.diagnostics.filter((d) => d.severity === "error");
        assert.deepEqual(errors, []);
        assert.deepEqual(result.files, expectedFiles(web, rendered));

        const warnings = result.diagnostics
          .map((d) => `${d.code}@${d.file}:${d.line}:${d.col}`)
          .sort();
        assert.deepEqual(warnings, expectedWarnings(web, rendered));
        const strict = tangle(chapters, { strict: true });
        assert.deepEqual(strict.files, result.files);
        assert.deepEqual(
          strict.diagnostics,
          result.diagnostics.map((d) => ({ ...d, severity: "error" })),
        );

        // Every origin points at the chapter line holding the line's text.
        const source = new Map(
          chapters.map((c) => [c.path, splitLines(c.text)]),
        );
        for (const f of result.files) {
          const lines = f.text.split("\n");
          assert.equal(lines.pop(), "");
          assert.equal(lines.length, f.origins.length);
          assert.equal(parseHeader(lines[0]), f.chapter);
          const root = source.get(f.origins[0].file)![f.origins[0].line - 1];
          assert.match(
            root.slice(f.origins[0].col - 1),
            /^(\/\/|#)\s*file:/,
          );
          for (let k = 1; k < lines.length; k++) {
            const o = f.origins[k];
            const own = lines[k].slice(o.indent);
            assert.equal(lines[k].length - own.length, o.indent);
            const src = source.get(o.file)![o.line - 1];
            // Before the origin's column there is only container syntax:
            // indentation, block-quote markers and list markers.
            assert.match(src.slice(0, o.col - 1), /^[ \t>*+\-0-9.)]*$/);
            assert.ok(
              src.endsWith(own),
              `${JSON.stringify(src)} should end with ${JSON.stringify(own)}`,
            );
            assert.equal(src.slice(o.col - 1), own);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("always finds a cycle made by one back edge", () => {
    const arb = fc.tuple(
      webArb,
      fc.integer(),
      fc.nat(),
      fc.nat(),
      fc.nat(),
      indentArb,
    );
    fc.assert(
      fc.property(arb, ([web, seed, a, b, at, indent]) => {
        // Pick i, then j among i and the chunks i reaches, and add j -> i.
        const n = web.chunks.length;
        web = { ...web, chunks: web.chunks.map((items) => [...items]) };
        const i = a % n;
        const reach = [...closure(web, [i])].sort((x, y) => x - y);
        const j = reach[b % reach.length];
        const body = web.chunks[j];
        body.splice(at % (body.length + 1), 0, {
          kind: "ref",
          target: i,
          indent,
        });
        const edges = new Set(
          web.chunks.flatMap((items, u) =>
            refsOf(items).map((v) => `${u}>${v}`)
          ),
        );

        const { chapters } = renderWeb(web, seed);
        const result = tangle(chapters);
        const errors = result.diagnostics.filter((d) => d.severity === "error");
        assert.ok(errors.length > 0, "the cycle is reported");
        const source = new Map(
          chapters.map((c) => [c.path, splitLines(c.text)]),
        );
        const index = new Map(web.chunks.map((_, k) => [chunkName(k), k]));
        for (const d of errors) {
          assert.equal(d.code, "cycle");
          assert.match(d.message, /^cycle: /);
          const steps = d.message.slice("cycle: ".length).split(" → ").map(
            (s) => {
              const m = /^<<(.+?)>>(?: \(used at (.+):(\d+):(\d+)\))?$/.exec(s);
              assert.ok(m, `chain step ${JSON.stringify(s)}`);
              assert.ok(index.has(m[1]), `known chunk ${m[1]}`);
              return {
                chunk: index.get(m[1])!,
                at: m[2] === undefined
                  ? undefined
                  : { file: m[2], line: Number(m[3]), col: Number(m[4]) },
              };
            },
          );
          assert.ok(steps.length >= 2);
          assert.equal(steps[0].chunk, steps[steps.length - 1].chunk);
          assert.equal(steps[0].at, undefined);
          const names = steps.map((s) => s.chunk);
          assert.equal(
            new Set(names).size,
            names.length - 1,
            "the chain is a simple cycle",
          );
          for (let k = 1; k < steps.length; k++) {
            assert.ok(
              edges.has(`${names[k - 1]}>${names[k]}`),
              `${names[k - 1]} references ${names[k]}`,
            );
            // "used at" points at a reference to that chunk.
            const { file, line, col } = steps[k].at!;
            const text = source.get(file)![line - 1].slice(col - 1);
            const m = /^(?:\/\/|#)\s*<<(.+)>>\s*$/.exec(text);
            assert.ok(m, `${file}:${line}:${col} is a reference`);
            assert.equal(m[1].trim().replace(/\s+/g, " "), chunkName(names[k]));
          }
          // Every cycle goes through the back edge.
          const pairs = names.slice(1).map((v, k) => `${names[k]}>${v}`);
          assert.ok(
            pairs.includes(`${j}>${i}`),
            `the chain ${names} uses ${j}>${i}`,
          );
          const last = steps[steps.length - 1].at!;
          assert.deepEqual(
            { file: d.file, line: d.line, col: d.col },
            last,
            "the diagnostic stands at the reference that closes the cycle",
          );
        }
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------
// Random Markdown

const FRAGMENTS = [
  "```",
  "```ts",
  "~~~",
  "~~~sh",
  "````",
  "```{.ts}",
  "``` ts",
  "// <<",
  "# <<",
  ">>=",
  ">>+=",
  ">>",
  "<<",
  "a",
  "b",
  " [unused]",
  "// file: ",
  "# file: ",
  "gen/a.ts",
  "a.py",
  "../",
  "/abs",
  "C:",
  "\\",
  "node_modules/",
  "x.md",
  "> ",
  ">",
  "- ",
  "1. ",
  "    ",
  "  ",
  "\t",
  "\n",
  "\n",
  "\n",
  "\r\n",
  "\r",
  "\u0000",
  "é",
  "😀",
  "\u2028",
  "\ufeff",
  "\u00a0",
];

const fragmentText = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...FRAGMENTS) },
      { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
    ),
    { maxLength: 80 },
  )
  .map((parts) => parts.join(""));

/** Fenced blocks that are often real chunks, some broken on purpose. */
const blockText = fc
  .tuple(
    fc.constantFrom("", "", "  ", "> ", "- ", "1. ", "\t", "   ", "> > "),
    fc.constantFrom(
      "```ts",
      "~~~sh",
      "```",
      "````python",
      "``` ts",
      "```{.ts}",
    ),
    fc.constantFrom("", " ", "  ", "\t"),
    fc.constantFrom(" ", " ", "", "  "),
    fc.constantFrom(
      "<<a>>=",
      "<<b>>+=",
      "<< a >>+=",
      "<<c>>= [unused]",
      "<<d>>=",
      "<<a>> x",
      "<<a>>=[Unused]",
      "<<>>=",
      "<< >>=",
      "<<file: gen/a.ts>>=",
      "file: gen/a.ts",
      "file: ./gen/b.py",
      "file: ../x.ts",
      "file: /abs.ts",
      "file: a.md",
      "file: node_modules/x.ts",
      "file: a\\b.ts",
      "file: x.txt",
      "file:",
    ),
    fc.array(
      fc.oneof(
        fc.tuple(
          fc.constantFrom("", "  ", "\t"),
          fc.constantFrom("// ", "# ", "// ", "# ", "//"),
          fc.constantFrom("<<a>>", "<<b>>", "<<c>>", "<<d>>", "<<e>>", "<<A>>"),
        ).map((parts) => parts.join("")),
        fc.constantFrom(
          "",
          "code();",
          "  x",
          "// <<a>>=",
          "# file: y.sh",
          "```",
        ),
        fc.string({ maxLength: 6 }),
      ),
      { maxLength: 6, size: "max" },
    ),
    fc.nat(9),
    fc.nat(9),
  )
  .map(([prefix, open, ws, sp, header, body, closeDie, prefixDie]) => {
    // Mostly the leader of the fence's language; sometimes the wrong one.
    const hash = /sh|python/.test(open) !== (prefixDie === 0);
    const close = closeDie > 1;
    const prefixAll = prefixDie > 1;
    const leader = hash ? "#" : "//";
    const lines = [open, ws + leader + sp + header, ...body];
    if (close) lines.push(open.replace(/[^`~].*$/, ""));
    return lines.map((l, k) => (k === 0 || prefixAll ? prefix + l : l));
  });

/** Chapters made of such blocks and stray Markdown-ish lines. */
const chunkyText = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: blockText },
      {
        weight: 1,
        arbitrary: fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 4 })
          .map((parts) => [parts.join("")]),
      },
    ),
    { maxLength: 12, size: "max" },
  )
  .chain((blocks) =>
    fc.constantFrom("\n", "\r\n", "\r").map((eol) => blocks.flat().join(eol))
  );

const utf16 = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  maxLength: 200,
});

const anyText = fc.oneof(
  fragmentText,
  { weight: 3, arbitrary: chunkyText },
  fc.string({ unit: "binary", maxLength: 200 }),
  utf16,
);

describe("tangle, on random Markdown", () => {
  it("never throws, and every diagnostic points into a chapter", () => {
    fc.assert(
      fc.property(
        fc.array(anyText, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (texts, strict) => {
          const chapters = texts.map((text, k) => ({
            path: `chapters/${k}.md`,
            text,
          }));
          const lineCount = new Map(
            chapters.map((c) => [c.path, splitLines(c.text).length]),
          );
          const result = tangle(chapters, { strict });
          assert.deepEqual(tangle(chapters, { strict }), result);
          const check = (d: Diagnostic) => {
            assert.ok(
              lineCount.has(d.file) || d.file === "lit.json",
              `file ${d.file}`,
            );
            const count = lineCount.get(d.file) ?? 1;
            assert.ok(
              Number.isInteger(d.line) && d.line >= 1,
              `line ${d.line}`,
            );
            assert.ok(d.line <= count + 1, `line ${d.line} of ${count}`);
            assert.ok(Number.isInteger(d.col) && d.col >= 1, `col ${d.col}`);
            assert.ok(d.message.length > 0);
            assert.ok(d.code.length > 0);
            assert.ok(d.severity === "error" || d.severity === "warning");
            if (strict) assert.equal(d.severity, "error");
          };
          result.diagnostics.forEach(check);
          for (const f of result.files) {
            assert.ok(f.text.endsWith("\n"));
            assert.equal(f.text.split("\n").length - 1, f.origins.length);
            assert.ok(lineCount.has(f.chapter));
            for (const o of f.origins) {
              assert.ok(lineCount.has(o.file));
              assert.ok(o.line >= 1 && o.line <= lineCount.get(o.file)!);
              assert.ok(o.col >= 1 && o.indent >= 0);
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
