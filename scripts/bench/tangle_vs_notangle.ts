/**
 * Tangle benchmark: `lit tangle` against noweb's `notangle` on one generated
 * book, written once in lit's Markdown syntax and once in noweb syntax, with
 * identical prose and code.
 *
 * What it does, in order:
 *
 * 1. Generates a seeded, deterministic book (by default 200 chapters and at
 *    least 100,000 chapter lines in each syntax) under `.bench/tangle/`.
 *    Every chapter roots one generated `.ts` file; chunks are defined,
 *    appended to and referenced, with indentation, within and across
 *    chapters, and one shared chunk is referenced by every file.
 * 2. Tangles the book with both tools and checks that every generated file is
 *    the same on both sides (apart from lit's one header line and a trailing
 *    newline). Any difference stops the benchmark with an error.
 * 3. Times the whole process of each tool producing all the files, runs
 *    alternating between the tools, after warm-up runs, and prints a Markdown
 *    report: machine facts, a table with median and minimum times, and the
 *    ratio lit / noweb.
 *
 * The noweb side that the goal is judged against is noweb's own one-pass,
 * many-files mode: `noweb -t book.nw`, which runs notangle's front end
 * (`markup`) into its many-output back end (`mnt -all`) and writes every root
 * chunk whose name has no spaces to the file of that name. `noweb` takes one
 * source file per tangle, so the timed command also concatenates the chapter
 * files into `book.nw` first. The classic Makefile idiom, one
 * `notangle -R<file> chapters… > <file>` process per generated file, is also
 * timed and reported for reference (`--no-per-file` skips it).
 *
 * Run: `deno run -A scripts/bench/tangle_vs_notangle.ts --help`
 *
 * @module
 */

import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs as parseCommandLine } from "node:util";

// ---------------------------------------------------------------------------
// Options

interface Options {
  chapters: number;
  lines: number;
  reps: number;
  warmup: number;
  perFileReps: number;
  seed: number;
  dir: string;
  keep: boolean;
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const LIT_MAIN = join(REPO, "lit", "main.ts");

const HELP = `Usage: deno run -A scripts/bench/tangle_vs_notangle.ts [options]

Generates a book in lit's Markdown syntax and in noweb syntax (same prose,
same code), checks that lit and noweb tangle it to the same files, then times
both tools (whole process, wall clock, alternating runs) and prints a Markdown
report with median and minimum times and the ratio lit / noweb.

Options:
  --chapters N       chapters in the book (default 200, at least 2)
  --lines N          minimum total chapter lines, in each syntax (default 100000)
  --reps N           measured runs per tool (default 7)
  --warmup N         warm-up runs per tool, not counted (default 1)
  --per-file-reps N  measured runs of the one-notangle-per-file idiom
                     (default 3; 0 skips it)
  --no-per-file      same as --per-file-reps 0
  --seed N           generator seed (default 1)
  --dir PATH         work directory, emptied first (default: a new temporary
                     directory); .bench/ in the repository is git-ignored
  --keep             keep the work directory afterwards (default: removed,
                     except after a failure)
  -h, --help         show this help

Needs noweb's notangle on PATH (Debian package "noweb").
`;

/** Reads the command line; prints the help, or a usage error (exit 2). */
function parseArgs(args: string[]): Options {
  let values;
  try {
    ({ values } = parseCommandLine({
      args,
      options: {
        chapters: { type: "string", default: "200" },
        lines: { type: "string", default: "100000" },
        reps: { type: "string", default: "7" },
        warmup: { type: "string", default: "1" },
        "per-file-reps": { type: "string", default: "3" },
        "no-per-file": { type: "boolean", default: false },
        seed: { type: "string", default: "1" },
        dir: { type: "string" },
        keep: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usage(`${(error as Error).message} (see --help)`);
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const int = (flag: string, v: string, min: number): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min) {
      usage(`--${flag} needs an integer of at least ${min} (got "${v}")`);
    }
    return n;
  };
  if (values.dir === "") usage("--dir needs a path");
  return {
    chapters: int("chapters", values.chapters, 2),
    lines: int("lines", values.lines, 1),
    reps: int("reps", values.reps, 1),
    warmup: int("warmup", values.warmup, 0),
    perFileReps: values["no-per-file"]
      ? 0
      : int("per-file-reps", values["per-file-reps"], 0),
    seed: int("seed", values.seed, 0),
    dir: values.dir === undefined ? "" : resolve(values.dir),
    keep: values.keep,
  };
}

/** A mistake on the command line: one line, exit status 2. */
function usage(message: string): never {
  console.error(`tangle_vs_notangle: ${message}`);
  Deno.exit(2);
}

/** The work directory, once made: kept after a failure, for inspection. */
let workDir: string | undefined;

function fail(message: string): never {
  console.error(`tangle_vs_notangle: ${message}`);
  if (workDir) {
    console.error(`tangle_vs_notangle: work directory kept: ${workDir}`);
  }
  Deno.exit(1);
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

// ---------------------------------------------------------------------------
// Deterministic generator

/** mulberry32: a small, seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A code line: plain text, or a reference to a chunk at an indentation. */
type CodeLine = string | { ref: string; indent: string };

/** A tangled block: a file root, a chunk definition or an append to one. */
interface CodeBlock {
  kind: "file" | "define" | "append";
  name: string;
  lines: CodeLine[];
}

type Part = { prose: string[] } | { code: CodeBlock };

interface Chapter {
  id: string;
  parts: Part[];
}

const WORDS = (
  "the a client server token session device key room event login flow " +
  "request response matrix homeserver identity access refresh user password " +
  "handler state error retry backoff timeout cache store value field method " +
  "chapter section function module type interface record list map set " +
  "returns checks reads writes keeps sends receives builds validates parses " +
  "every each one this that which when then before after because so while " +
  "simple careful small large early late first last next previous whole " +
  "is are was be has have can must should may does not only also still"
).split(" ");

const TOPICS = [
  "Logging in with a password",
  "Refreshing access tokens",
  "Device keys and their lifetimes",
  "Retrying with exponential backoff",
  "Parsing well-known discovery",
  "Validating server responses",
  "Sessions that outlive a restart",
  "Single sign-on redirects",
  "Rate limits and what to do about them",
  "Logging out everywhere",
];

const IDENTS = [
  "token",
  "session",
  "deviceId",
  "userId",
  "homeserver",
  "attempt",
  "delayMs",
  "response",
  "body",
  "expiresAt",
  "flows",
  "state",
  "result",
  "keys",
  "nonce",
  "request",
  "cache",
  "limit",
];

const TYPES = [
  "string",
  "number",
  "boolean",
  "Session",
  "LoginFlow",
  "DeviceKeys",
  "Uint8Array",
];

const CALLS = [
  "fetchJson",
  "parseFlows",
  "validateToken",
  "encodeBase64",
  "sleep",
  "computeDelay",
  "assertString",
  "normaliseUrl",
  "hashNonce",
  "storeSession",
];

class Gen {
  readonly r: () => number;
  constructor(seed: number) {
    this.r = rng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }

  /** A paragraph of prose, wrapped at about 72 columns. */
  paragraph(): string[] {
    const sentences = this.int(3, 6);
    const words: string[] = [];
    for (let s = 0; s < sentences; s++) {
      const n = this.int(6, 16);
      for (let w = 0; w < n; w++) {
        let word = this.pick(WORDS);
        if (w === 0) word = word[0].toUpperCase() + word.slice(1);
        if (w === n - 1) word += ".";
        words.push(word);
      }
    }
    const lines: string[] = [];
    let line = "";
    for (const w of words) {
      if (line && line.length + 1 + w.length > 72) {
        lines.push(line);
        line = w;
      } else {
        line = line ? `${line} ${w}` : w;
      }
    }
    if (line) lines.push(line);
    return lines;
  }

  expr(): string {
    switch (this.int(0, 5)) {
      case 0:
        return `${this.pick(CALLS)}(${this.pick(IDENTS)}, ${this.int(1, 999)})`;
      case 1:
        return `${this.pick(IDENTS)}.length + ${this.int(1, 64)}`;
      case 2:
        return `await this.${this.pick(CALLS)}(${this.pick(IDENTS)})`;
      case 3:
        return `"${this.pick(WORDS)}-${this.int(1, 9999)}"`;
      case 4:
        return `${this.pick(IDENTS)} ?? ${this.int(0, 100)}`;
      default:
        return `Math.min(${this.pick(IDENTS)}, ${this.int(1, 5000)})`;
    }
  }

  /** A few statements at the given indentation, TypeScript-looking. */
  statements(indent: string, count: number, out: CodeLine[]): void {
    for (let i = 0; i < count; i++) {
      const v = `${this.pick(IDENTS)}${this.int(1, 99)}`;
      switch (this.int(0, 6)) {
        case 0:
          out.push(
            `${indent}const ${v}: ${this.pick(TYPES)} = ${this.expr()};`,
          );
          break;
        case 1:
          out.push(`${indent}let ${v} = ${this.expr()};`);
          break;
        case 2:
          out.push(`${indent}if (${this.pick(IDENTS)} === undefined) {`);
          out.push(
            `${indent}  throw new Error("missing ${this.pick(IDENTS)} in ${
              this.pick(WORDS)
            }");`,
          );
          out.push(`${indent}}`);
          break;
        case 3:
          out.push(`${indent}for (const item of ${this.pick(IDENTS)}) {`);
          out.push(`${indent}  ${this.pick(CALLS)}(item, ${this.int(0, 9)});`);
          out.push(`${indent}}`);
          break;
        case 4:
          out.push(`${indent}// ${this.paragraph()[0].slice(0, 60)}`);
          out.push(`${indent}${this.pick(CALLS)}(${this.pick(IDENTS)});`);
          break;
        case 5:
          out.push(`${indent}this.${this.pick(IDENTS)} = ${this.expr()};`);
          break;
        default:
          out.push(`${indent}${this.pick(IDENTS)} += ${this.int(1, 100)};`);
      }
    }
  }
}

const pad = (i: number) => String(i).padStart(3, "0");
const fileOf = (id: string) => `out/ch${id}.ts`;

/**
 * Builds the abstract book: chapters of prose and code blocks. `minLines` is
 * the smallest number of lines each chapter must have in either syntax.
 */
function buildBook(
  chapters: number,
  minLines: number,
  seed: number,
): Chapter[] {
  const g = new Gen(seed);
  const book: Chapter[] = [];
  for (let i = 1; i <= chapters; i++) {
    const id = pad(i);
    const prev = i > 1 ? pad(i - 1) : undefined;
    const parts: Part[] = [];
    const prose = (n: number) => {
      for (let k = 0; k < n; k++) parts.push({ prose: g.paragraph() });
    };
    const code = (kind: CodeBlock["kind"], name: string, lines: CodeLine[]) =>
      parts.push({ code: { kind, name, lines } });
    const ref = (name: string, indent = "") => ({ ref: name, indent });

    parts.push({ prose: [`# Chapter ${i}: ${g.pick(TOPICS)}`] });
    prose(g.int(2, 3));

    // The file this chapter generates.
    code("file", fileOf(id), [
      ref("shared banner"),
      ref(`ch${id} imports`),
      "",
      `export class Model${id} {`,
      ref(`ch${id} fields`, "  "),
      "",
      ref(`ch${id} methods`, "  "),
      "}",
      "",
      ref(`ch${id} helpers`),
    ]);

    if (i === 1) {
      prose(1);
      code("define", "shared banner", [
        "// SPDX-License-Identifier: MIT",
        "// Generated from the book; edit the chapters, not this file.",
      ]);
    }
    if (i === 2) {
      prose(1);
      code("append", "shared banner", [
        "// deno-lint-ignore-file no-unused-vars",
      ]);
    }

    prose(1);
    const imports: CodeLine[] = [
      `import { ${g.pick(CALLS)}, ${g.pick(CALLS)} } from "../src/util.ts";`,
      `import type { ${g.pick(TYPES.slice(3))} } from "../src/types.ts";`,
    ];
    if (prev) imports.push(`import { Model${prev} } from "./ch${prev}.ts";`);
    code("define", `ch${id} imports`, imports);

    prose(1);
    const fields: string[] = [];
    for (let f = 0, n = g.int(3, 8); f < n; f++) {
      fields.push(
        `${g.pick(["private ", "readonly ", ""])}${g.pick(IDENTS)}${f}: ${
          g.pick(TYPES)
        };`,
      );
    }
    code("define", `ch${id} fields`, fields);

    // Helpers: defined here; the previous chapter's helpers are appended to
    // here, and the previous chapter's late helpers are defined here.
    prose(1);
    const helpers: CodeLine[] = [
      `export function helper${id}(input: string): string {`,
    ];
    g.statements("  ", g.int(2, 5), helpers);
    helpers.push(
      `  return input + "${id}";`,
      "}",
      "",
      ref(`ch${id} late helpers`),
    );
    code("define", `ch${id} helpers`, helpers);

    if (prev) {
      prose(1);
      const more: string[] = [
        `export function extra${prev}(n: number): number {`,
      ];
      g.statements("  ", g.int(1, 3), more);
      more.push("  return n * 2;", "}");
      code("append", `ch${prev} helpers`, more);

      prose(1);
      const late: string[] = [`export const late${prev} = {`];
      for (let k = 0, n = g.int(2, 5); k < n; k++) {
        late.push(`  ${g.pick(IDENTS)}${k}: ${g.expr()},`);
      }
      late.push("};");
      code("define", `ch${prev} late helpers`, late);
    }

    // Methods until the chapter is long enough in both syntaxes.
    let m = 0;
    const chapter: Chapter = { id, parts };
    while (m === 0 || Math.min(...chapterLines(chapter)) < minLines) {
      prose(g.int(1, 2));
      const checks = `ch${id} method ${m} checks`;
      const body: CodeLine[] = [
        ...(m > 0 ? [""] : []),
        `async method${m}(${g.pick(IDENTS)}: ${g.pick(TYPES)}): Promise<${
          g.pick(TYPES)
        }> {`,
        ref(checks, "  "),
      ];
      g.statements("  ", g.int(4, 12), body);
      body.push(`  return this.${g.pick(IDENTS)}0 as never;`, "}");
      code(m === 0 ? "define" : "append", `ch${id} methods`, body);

      prose(1);
      const c: string[] = [];
      g.statements("", g.int(2, 6), c);
      code("define", checks, c);
      m++;
    }
    // The last chapter's own late helpers (no later chapter defines them).
    if (i === chapters) {
      prose(1);
      code("define", `ch${id} late helpers`, [`export const late${id} = {};`]);
    }
    book.push(chapter);
  }
  return book;
}

// ---------------------------------------------------------------------------
// Rendering in the two syntaxes

function renderLit(ch: Chapter): string {
  const out: string[] = [];
  for (const p of ch.parts) {
    if ("prose" in p) {
      out.push(...p.prose, "");
      continue;
    }
    const b = p.code;
    out.push("```ts");
    if (b.kind === "file") out.push(`// file: ${b.name}`);
    else out.push(`// <<${b.name}>>${b.kind === "append" ? "+=" : "="}`);
    for (const l of b.lines) {
      out.push(typeof l === "string" ? l : `${l.indent}// <<${l.ref}>>`);
    }
    out.push("```", "");
  }
  return out.join("\n");
}

function renderNoweb(ch: Chapter): string {
  const out: string[] = [];
  let inCode = false;
  for (const p of ch.parts) {
    if ("prose" in p) {
      if (inCode) out.push("@");
      inCode = false;
      out.push(...p.prose, "");
      continue;
    }
    const b = p.code;
    // noweb has no separate append syntax: a repeated definition appends.
    out.push(`<<${b.name}>>=`);
    for (const l of b.lines) {
      out.push(typeof l === "string" ? l : `${l.indent}<<${l.ref}>>`);
    }
    inCode = true;
  }
  if (inCode) out.push("@");
  out.push("");
  return out.join("\n");
}

function countLines(text: string): number {
  return text.endsWith("\n")
    ? text.split("\n").length - 1
    : text.split("\n").length;
}

function chapterLines(ch: Chapter): [number, number] {
  return [countLines(renderLit(ch)), countLines(renderNoweb(ch))];
}

interface BookOnDisk {
  litRoot: string;
  nowebRoot: string;
  litChapters: string[];
  nowebChapters: string[];
  files: string[];
  litLines: number;
  nowebLines: number;
  litBytes: number;
  nowebBytes: number;
  blocks: number;
  refs: number;
  chunkNames: number;
}

async function writeBook(o: Options): Promise<BookOnDisk> {
  const perChapter = Math.ceil(o.lines / o.chapters);
  const book = buildBook(o.chapters, perChapter, o.seed);
  const litRoot = join(o.dir, "lit");
  const nowebRoot = join(o.dir, "noweb");
  await Deno.mkdir(join(litRoot, "chapters"), { recursive: true });
  await Deno.mkdir(join(nowebRoot, "chapters"), { recursive: true });
  const enc = new TextEncoder();
  const res: BookOnDisk = {
    litRoot,
    nowebRoot,
    litChapters: [],
    nowebChapters: [],
    files: [],
    litLines: 0,
    nowebLines: 0,
    litBytes: 0,
    nowebBytes: 0,
    blocks: 0,
    refs: 0,
    chunkNames: 0,
  };
  const names = new Set<string>();
  for (const ch of book) {
    const md = renderLit(ch);
    const nw = renderNoweb(ch);
    const mdPath = `chapters/${ch.id}.md`;
    const nwPath = `chapters/${ch.id}.nw`;
    await Deno.writeTextFile(join(litRoot, mdPath), md);
    await Deno.writeTextFile(join(nowebRoot, nwPath), nw);
    res.litChapters.push(mdPath);
    res.nowebChapters.push(nwPath);
    res.litLines += countLines(md);
    res.nowebLines += countLines(nw);
    res.litBytes += enc.encode(md).length;
    res.nowebBytes += enc.encode(nw).length;
    for (const p of ch.parts) {
      if (!("code" in p)) continue;
      res.blocks++;
      if (p.code.kind === "file") res.files.push(p.code.name);
      else names.add(p.code.name);
      for (const l of p.code.lines) if (typeof l !== "string") res.refs++;
    }
  }
  res.chunkNames = names.size;
  await Deno.writeTextFile(
    join(litRoot, "lit.json"),
    JSON.stringify({ chapters: res.litChapters }, null, 2) + "\n",
  );
  return res;
}

// ---------------------------------------------------------------------------
// Running the tools

interface Runner {
  label: string;
  command: string;
  /** Untimed preparation: a clean output directory. */
  prepare(): Promise<void>;
  /** The timed part: spawn, wait, check the exit code. */
  run(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function which(cmd: string): Promise<string | undefined> {
  for (const d of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!d) continue;
    const p = join(d, cmd);
    try {
      const s = await Deno.stat(p);
      if (s.isFile && ((s.mode ?? 0o111) & 0o111)) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function spawnChecked(
  label: string,
  cmd: string,
  args: string[],
  cwd: string,
): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    fail(
      `${label} failed (exit ${out.code}):\n${
        err.split("\n").slice(0, 40).join("\n")
      }`,
    );
  }
}

async function freshDir(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
  await Deno.mkdir(path, { recursive: true });
}

/** Quotes a word for sh. */
const sq = (s: string) =>
  /^[\w./=+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;

function runners(book: BookOnDisk, denoBin: string): {
  lit: Runner;
  noweb: Runner;
  perFile: Runner;
} {
  const litArgs = ["run", "-A", LIT_MAIN, "tangle", "--root", book.litRoot];
  const lit: Runner = {
    label: "lit tangle",
    command: "deno run -A lit/main.ts tangle --root <work>/lit",
    prepare: () => freshDir(join(book.litRoot, "out")),
    run: () => spawnChecked("lit tangle", denoBin, litArgs, REPO),
  };
  // `noweb` tangles one source file at a time, and chunks cross chapters, so
  // the chapters are concatenated first, inside the timed command.
  const nowebScript = `cat ${
    book.nowebChapters.map(sq).join(" ")
  } > book.nw && exec noweb -t book.nw`;
  const noweb: Runner = {
    label: "noweb -t",
    command: "cat chapters/*.nw > book.nw && noweb -t book.nw",
    prepare: () => freshDir(join(book.nowebRoot, "out")),
    run: () =>
      spawnChecked("noweb -t", "sh", ["-c", nowebScript], book.nowebRoot),
  };
  // One notangle process per generated file; the chapters are passed as the
  // shell's positional arguments ("$@").
  const perFileScript = `for f in ${book.files.map(sq).join(" ")}; do ` +
    `notangle -R"$f" "$@" > "$f" || exit 1; done`;
  const perFile: Runner = {
    label: `notangle per file (${book.files.length} processes)`,
    command:
      'for f in <each file>; do notangle -R"$f" chapters/*.nw > "$f"; done',
    prepare: () => freshDir(join(book.nowebRoot, "out")),
    run: () =>
      spawnChecked(
        "notangle per file",
        "sh",
        ["-c", perFileScript, "sh", ...book.nowebChapters],
        book.nowebRoot,
      ),
  };
  return { lit, noweb, perFile };
}

// ---------------------------------------------------------------------------
// Checking that both sides agree

function stripTrailingNewlines(s: string): string {
  return s.replace(/\n+$/, "");
}

async function listFiles(root: string, dir = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(root, dir))) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(root, rel));
    else out.push(rel);
  }
  return out.sort();
}

async function verifyNoweb(
  book: BookOnDisk,
  r: ReturnType<typeof runners>,
): Promise<Map<string, string>> {
  const expected = [...book.files].sort();

  // noweb's one-pass mode.
  await r.noweb.prepare();
  await r.noweb.run();
  const nowebFiles = (await listFiles(join(book.nowebRoot, "out"))).map((f) =>
    `out/${f}`
  );
  if (JSON.stringify(nowebFiles) !== JSON.stringify(expected)) {
    fail(
      `noweb -t wrote ${nowebFiles.length} files, expected ${expected.length}`,
    );
  }
  const nowebText = new Map<string, string>();
  for (const f of expected) {
    nowebText.set(f, await Deno.readTextFile(join(book.nowebRoot, f)));
  }

  // notangle, one root at a time: must agree with noweb -t (checked on a
  // sample of files; the per-file timing runs check exit codes only).
  for (
    const f of [
      expected[0],
      expected[Math.floor(expected.length / 2)],
      expected[expected.length - 1],
    ]
  ) {
    const out = await new Deno.Command("notangle", {
      args: [`-R${f}`, ...book.nowebChapters],
      cwd: book.nowebRoot,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success || text !== nowebText.get(f)) {
      fail(`notangle -R${f} and noweb -t disagree on ${f}`);
    }
  }

  return nowebText;
}

async function verifyLit(
  book: BookOnDisk,
  r: ReturnType<typeof runners>,
  denoBin: string,
  nowebText: Map<string, string>,
): Promise<void> {
  const expected = [...book.files].sort();
  await r.lit.prepare();
  const litOut = await new Deno.Command(denoBin, {
    args: ["run", "-A", LIT_MAIN, "tangle", "--root", book.litRoot],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const litLog = (new TextDecoder().decode(litOut.stdout) +
    new TextDecoder().decode(litOut.stderr)).trim();
  if (!litOut.success) {
    fail(
      `lit tangle failed (exit ${litOut.code}):\n${
        litLog.split("\n").slice(0, 40).join("\n")
      }`,
    );
  }
  if (/warn|error/i.test(litLog)) {
    log(
      `lit printed diagnostics on the benchmark book:\n${
        litLog.split("\n").slice(0, 20).join("\n")
      }`,
    );
  }
  const litFiles = (await listFiles(join(book.litRoot, "out"))).map((f) =>
    `out/${f}`
  );
  if (JSON.stringify(litFiles) !== JSON.stringify(expected)) {
    const missing = expected.filter((f) => !litFiles.includes(f));
    const extra = litFiles.filter((f) => !expected.includes(f));
    fail(
      `lit wrote ${litFiles.length} files, expected ${expected.length}` +
        ` (missing: ${missing.slice(0, 5).join(", ") || "none"}; extra: ${
          extra.slice(0, 5).join(", ") || "none"
        })`,
    );
  }
  for (const f of expected) {
    const litText = await Deno.readTextFile(join(book.litRoot, f));
    const nl = litText.indexOf("\n");
    const body = nl < 0 ? "" : litText.slice(nl + 1); // lit's one header line
    const a = stripTrailingNewlines(body);
    const b = stripTrailingNewlines(nowebText.get(f)!);
    if (a !== b) {
      const al = a.split("\n");
      const bl = b.split("\n");
      let k = 0;
      while (k < al.length && k < bl.length && al[k] === bl[k]) k++;
      fail(
        `lit and noweb disagree on ${f} at line ${k + 2} of lit's output` +
          ` (line ${k + 1} of noweb's):\n  lit:   ${
            JSON.stringify(al[k])
          }\n  noweb: ${JSON.stringify(bl[k])}` +
          `\n  lit's header line: ${
            JSON.stringify(litText.slice(0, Math.max(nl, 0)))
          }`,
      );
    }
  }
  log(
    `verified: lit and noweb produce the same ${expected.length} files (lit adds one header line each)`,
  );
}

// ---------------------------------------------------------------------------
// Timing and report

interface Stats {
  label: string;
  command: string;
  times: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const min = (xs: number[]) => Math.min(...xs);
const max = (xs: number[]) => Math.max(...xs);

async function timeOnce(r: Runner): Promise<number> {
  await r.prepare();
  const t0 = performance.now();
  await r.run();
  return performance.now() - t0;
}

async function capture(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() || "unknown";
  } catch {
    return "not found";
  }
}

async function litFingerprint(): Promise<string> {
  const dir = join(REPO, "lit");
  const files = (await listFiles(dir)).filter((f) =>
    f.endsWith(".ts") && !f.startsWith("tests/")
  );
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const f of files) {
    chunks.push(enc.encode(f + "\0"), await Deno.readFile(join(dir, f)));
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

async function machineFacts(
  denoBin: string,
  loadBefore: number[],
  loadAfter: number[],
): Promise<string[]> {
  let cpu = cpus()[0]?.model ?? "unknown";
  cpu = cpu.replace(/\s+/g, " ").trim();
  const denoV = (await capture(denoBin, ["--version"])).split("\n")[0];
  const nodeV = await capture("node", ["--version"]);
  let nowebV = await capture("dpkg-query", ["-W", "-f=${Version}", "noweb"]);
  if (nowebV === "not found") nowebV = "unknown (not a Debian package)";
  const os = `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`;
  return [
    `- CPU: ${cpu}, ${cpus().length} logical cores (nproc ${navigator.hardwareConcurrency}), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB memory`,
    `- OS: ${os}`,
    `- load average (1, 5, 15 min) before the timed runs: ${
      loadBefore.map((x) => x.toFixed(2)).join(", ")
    }; ` +
    `after them: ${loadAfter.map((x) => x.toFixed(2)).join(", ")}`,
    `- ${denoV} (runs lit); Node ${nodeV}`,
    `- noweb ${nowebV} (Debian package)`,
    `- lit sources (lit/, without tests): sha256 ${await litFingerprint()}…`,
  ];
}

/** The marker that lets a later run empty a `--dir` this script made. */
const MARKER = ".tangle-bench";

async function prepareWorkDir(o: Options): Promise<void> {
  if (!o.dir) {
    o.dir = await Deno.makeTempDir({ prefix: "tangle-bench-" });
  } else if (await exists(o.dir)) {
    const entries = [];
    for await (const e of Deno.readDir(o.dir)) entries.push(e.name);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      console.error(
        `tangle_vs_notangle: refusing to empty ${o.dir}: it is not empty and was not made by this script`,
      );
      Deno.exit(1);
    }
    await Deno.remove(o.dir, { recursive: true });
  }
  await Deno.mkdir(o.dir, { recursive: true });
  await Deno.writeTextFile(join(o.dir, MARKER), "");
  workDir = o.dir;
}

const ms = (x: number) => x >= 100 ? x.toFixed(0) : x.toFixed(1);

async function main(): Promise<void> {
  const o = parseArgs(Deno.args);

  if (!(await which("notangle")) || !(await which("noweb"))) {
    console.error(
      "tangle_vs_notangle: noweb's notangle is not on PATH; install it first: apt-get install noweb",
    );
    Deno.exit(2);
  }
  const localDeno = join(REPO, "node_modules", ".bin", "deno");
  const denoBin = (await exists(localDeno)) ? localDeno : Deno.execPath();

  await prepareWorkDir(o);
  log(
    `generating ${o.chapters} chapters, >= ${o.lines} lines in each syntax, seed ${o.seed}, in ${o.dir}`,
  );
  const book = await writeBook(o);
  log(
    `book: ${book.litLines} lines (Markdown) / ${book.nowebLines} lines (noweb), ` +
      `${book.files.length} files, ${book.blocks} code blocks, ${book.refs} references`,
  );

  const r = runners(book, denoBin);
  const nowebText = await verifyNoweb(book, r);
  log(`noweb -t and notangle agree on the generated files`);
  if (!(await exists(LIT_MAIN))) {
    fail(`lit not found at ${relative(REPO, LIT_MAIN)}`);
  }
  await verifyLit(book, r, denoBin, nowebText);

  const loadBefore = loadavg();
  const lit: Stats = { label: r.lit.label, command: r.lit.command, times: [] };
  const noweb: Stats = {
    label: r.noweb.label,
    command: r.noweb.command,
    times: [],
  };
  for (let w = 0; w < o.warmup; w++) {
    await timeOnce(r.lit);
    await timeOnce(r.noweb);
  }
  for (let k = 0; k < o.reps; k++) {
    // Alternate which tool goes first, so neither always runs second.
    const order: [Runner, Stats][] = k % 2 === 0
      ? [[r.lit, lit], [r.noweb, noweb]]
      : [[r.noweb, noweb], [r.lit, lit]];
    for (const [runner, stats] of order) {
      stats.times.push(await timeOnce(runner));
    }
    log(
      `run ${k + 1}/${o.reps}: lit ${ms(lit.times.at(-1)!)} ms, noweb -t ${
        ms(noweb.times.at(-1)!)
      } ms`,
    );
  }
  const loadAfter = loadavg();
  const rows = [lit, noweb];
  if (o.perFileReps > 0) {
    const perFile: Stats = {
      label: r.perFile.label,
      command: r.perFile.command,
      times: [],
    };
    for (let w = 0; w < Math.min(o.warmup, 1); w++) await timeOnce(r.perFile);
    for (let k = 0; k < o.perFileReps; k++) {
      perFile.times.push(await timeOnce(r.perFile));
      log(
        `per-file notangle run ${k + 1}/${o.perFileReps}: ${
          ms(perFile.times.at(-1)!)
        } ms`,
      );
    }
    rows.push(perFile);
  }

  const ratio = median(lit.times) / median(noweb.times);
  const ratioMin = min(lit.times) / min(noweb.times);
  const base = median(noweb.times);
  const facts = await machineFacts(denoBin, loadBefore, loadAfter);

  const report: string[] = [];
  const args = Deno.args.filter((a) => a !== "--keep");
  report.push(
    `Measured ${new Date().toISOString().slice(0, 10)} with ` +
      `\`npm run bench:tangle${args.length ? ` -- ${args.join(" ")}` : ""}\`.`,
    "",
    `Book: ${o.chapters} chapters, ${
      book.litLines.toLocaleString("en")
    } lines of Markdown ` +
      `(${(book.litBytes / 2 ** 20).toFixed(1)} MiB) and ${
        book.nowebLines.toLocaleString("en")
      } lines of noweb ` +
      `(${(book.nowebBytes / 2 ** 20).toFixed(1)} MiB), seed ${o.seed}; ${
        book.blocks.toLocaleString("en")
      } code blocks, ` +
      `${book.chunkNames.toLocaleString("en")} chunk names, ${
        book.refs.toLocaleString("en")
      } references, ` +
      `${book.files.length} generated files.`,
    "",
    "Machine:",
    "",
    ...facts,
    "",
    `| tool | command | runs | median (ms) | min (ms) | max (ms) | median / noweb -t |`,
    `| --- | --- | ---: | ---: | ---: | ---: | ---: |`,
  );
  for (const s of rows) {
    report.push(
      `| ${s.label} | \`${s.command}\` | ${s.times.length} | ${
        ms(median(s.times))
      } | ${ms(min(s.times))} | ` +
        `${ms(max(s.times))} | ${(median(s.times) / base).toFixed(2)} |`,
    );
  }
  report.push(
    "",
    "`<work>` is the generated book's directory: lit runs from the repository root, " +
      "noweb and notangle from `<work>/noweb`. Each run starts with an empty `out/` " +
      "folder, so every tool writes all the files.",
    "",
    `Ratio lit / noweb -t: **${ratio.toFixed(2)}** on medians (${
      ratioMin.toFixed(2)
    } on minimums), ` +
      `${o.reps} alternating runs each after ${o.warmup} warm-up run${
        o.warmup === 1 ? "" : "s"
      }. ` +
      (ratio <= 1
        ? "Goal met: lit tangle is no slower than noweb."
        : `Goal not met: lit tangle is ${ratio.toFixed(2)}× noweb's time.`),
  );
  console.log(report.join("\n"));

  if (!o.keep) await Deno.remove(o.dir, { recursive: true }).catch(() => {});
}

if (import.meta.main) await main();
