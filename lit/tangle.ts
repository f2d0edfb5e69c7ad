/**
 * Tangling: from the blocks of every chapter, in book order, build the chunk
 * table, expand each file root, and report everything that is wrong with
 * the web of chunks. Pure: no file system, so it is easy to test and
 * `lit check` can run it in memory.
 *
 * @module
 */

import { closest, distance } from "fastest-levenshtein";
import type { Diagnostic } from "./diagnostics.ts";
import { applyStrict, formatLocation, sortDiagnostics } from "./diagnostics.ts";
import {
  type Block,
  type BodyLine,
  parseChapter,
  type SourceFile,
} from "./parse.ts";
import { checkHeaderTemplate, DEFAULT_HEADER, headerLine } from "./header.ts";

/** Where a generated line came from. */
export interface LineOrigin {
  /** Chapter path. */
  file: string;
  /** 1-based chapter line. */
  line: number;
  /** 1-based chapter column where the line's own text starts. */
  col: number;
  /** How many characters of indentation references added in front of it. */
  indent: number;
}

/** One file that tangling produces. */
export interface GeneratedFile {
  /** Project-relative path, normalised. */
  path: string;
  /** The chapter that roots the file (named in its header line). */
  chapter: string;
  /** The whole content, header line first, ending with a newline. */
  text: string;
  /** The origin of each line of `text` (index 0 is the header line). */
  origins: LineOrigin[];
}

/** Options for {@link tangle}. */
export interface TangleOptions {
  /** Turn warnings (unused chunks) into errors. */
  strict?: boolean;
  /**
   * The header template (`lit.json`'s `"header"`), `{chapter}` standing for
   * the chapter's path; lit's default header when not given.
   */
  header?: string;
}

/** What tangling a book produced. */
export interface TangleResult {
  /** The generated files, sorted by path. */
  files: GeneratedFile[];
  /** Everything found wrong, sorted by place. */
  diagnostics: Diagnostic[];
}

/**
 * The key of a file root in the reference graph. NUL cannot occur in a chunk
 * name (the Markdown parser replaces it), so a chunk named `file: x.ts`
 * never collides with the root of `x.ts`.
 */
function rootKey(path: string): string {
  return `\u0000file: ${path}`;
}

/** Comment leaders for the header line, by file extension. */
const HEADER_LEADERS: Readonly<Record<string, string>> = {
  ts: "//",
  tsx: "//",
  mts: "//",
  cts: "//",
  js: "//",
  jsx: "//",
  mjs: "//",
  cjs: "//",
  jsonc: "//",
  sh: "#",
  bash: "#",
  py: "#",
  yaml: "#",
  yml: "#",
  toml: "#",
};

interface Chunk {
  name: string;
  def?: Block;
  blocks: Block[];
}

/** A chunk's expansion: parallel arrays, one entry a line. */
interface Expansion {
  texts: string[];
  /** The chunk line each line was written as. */
  bases: BodyLine[];
  /** Indentation added in front of it by references. */
  indents: number[];
}

/**
 * Checks a `file:` path and returns it normalised, or the reason it is refused.
 *
 * @example
 * ```ts
 * checkOutputPath("./src/a.ts"); // => { path: "src/a.ts" }
 * checkOutputPath("../x.ts");    // => { error: "… escapes the project …" }
 * ```
 */
export function checkOutputPath(
  raw: string,
): { path: string } | { error: string; code: string } {
  if (raw.includes("\\")) {
    return {
      code: "bad-path",
      error: `file path ${
        JSON.stringify(raw)
      } contains "\\": write paths with "/"`,
    };
  }
  if (raw.startsWith("/") || /^[A-Za-z]:/.test(raw)) {
    return {
      code: "path-escapes",
      error: `file path ${
        JSON.stringify(raw)
      } is absolute: write it relative to the project root`,
    };
  }
  const parts: string[] = [];
  for (const seg of raw.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === 0) {
        return {
          code: "path-escapes",
          error: `file path ${
            JSON.stringify(raw)
          } escapes the project: lit only writes inside the project root`,
        };
      }
      parts.pop();
    } else parts.push(seg);
  }
  if (parts.length === 0) {
    return {
      code: "bad-path",
      error: `file path ${JSON.stringify(raw)} names no file`,
    };
  }
  const banned = parts.find((p) => p === "node_modules" || p === ".git");
  if (banned) {
    return {
      code: "path-forbidden",
      error: `file path ${
        JSON.stringify(raw)
      } points into ${banned}/, which lit never writes to`,
    };
  }
  const path = parts.join("/");
  const ext = path.includes(".")
    ? path.slice(path.lastIndexOf(".") + 1).toLowerCase()
    : "";
  if (ext === "md") {
    return {
      code: "path-forbidden",
      error: `file path ${
        JSON.stringify(raw)
      } is Markdown: chapters are the book's sources and are never generated`,
    };
  }
  if (!HEADER_LEADERS[ext]) {
    return {
      code: "bad-path",
      error: `lit cannot generate ${
        JSON.stringify(path)
      }: it only writes files whose comments can hold its header line (${
        Object.keys(HEADER_LEADERS).map((e) => "." + e).join(" ")
      })`,
    };
  }
  return { path };
}

/** The comment leader for a generated file's header, by extension. */
export function leaderForPath(path: string): string {
  return HEADER_LEADERS[path.slice(path.lastIndexOf(".") + 1).toLowerCase()] ??
    "//";
}

/**
 * Tangles a book: chapters in book order to generated files, with
 * diagnostics. Never throws on any chapter text; throws a `RangeError` for a
 * header template that {@link checkHeaderTemplate} refuses.
 *
 * @example
 * ```ts
 * const { files } = tangle([{ path: "chapters/a.md", text: "```ts\n// file: a.ts\nlet x = 1;\n```\n" }]);
 * // files[0].path === "a.ts"
 * ```
 */
export function tangle(
  chapters: SourceFile[],
  options: TangleOptions = {},
): TangleResult {
  const template = options.header ?? DEFAULT_HEADER;
  const refused = checkHeaderTemplate(template);
  if (refused) {
    throw new RangeError(`header ${JSON.stringify(template)}: ${refused}`);
  }
  const diagnostics: Diagnostic[] = [];
  const blocks: Block[] = [];
  for (const chapter of chapters) {
    const parsed = parseChapter(chapter);
    blocks.push(...parsed.blocks);
    diagnostics.push(...parsed.diagnostics);
  }
  const at = (b: { chapter: string; line: number; col: number }) =>
    formatLocation({ file: b.chapter, line: b.line, col: b.col });
  const report = (
    where: { chapter: string; line: number; col: number },
    code: string,
    message: string,
    severity: "error" | "warning" = "error",
  ) =>
    diagnostics.push({
      file: where.chapter,
      line: where.line,
      col: where.col,
      severity,
      code,
      message,
    });

  // Chunk table and file roots, in book order.
  const chunks = new Map<string, Chunk>();
  const firstDefinition = new Map<string, Block>();
  for (const b of blocks) {
    if (b.kind === "define" && !firstDefinition.has(b.name)) {
      firstDefinition.set(b.name, b);
    }
  }
  const roots = new Map<string, Block>();
  for (const b of blocks) {
    if (b.kind === "file") {
      const checked = checkOutputPath(b.name);
      if ("error" in checked) {
        report(
          { chapter: b.chapter, line: b.line, col: b.nameCol },
          checked.code,
          checked.error,
        );
        continue;
      }
      const earlier = roots.get(checked.path);
      if (earlier) {
        const where = earlier.chapter === b.chapter
          ? "earlier in this chapter"
          : `in ${earlier.chapter}`;
        report(
          { chapter: b.chapter, line: b.line, col: b.nameCol },
          "duplicate-root",
          `${checked.path} is already rooted ${where} (${
            at(earlier)
          }): a file has exactly one root; ` +
            `put the rest in a named chunk and reference it from that root`,
        );
        continue;
      }
      roots.set(checked.path, { ...b, name: checked.path });
      continue;
    }
    let chunk = chunks.get(b.name);
    if (!chunk) {
      chunk = { name: b.name, blocks: [] };
      chunks.set(b.name, chunk);
    }
    if (b.kind === "define") {
      if (chunk.def) {
        report(
          b,
          "duplicate-definition",
          `<<${b.name}>> is already defined at ${
            at(chunk.def)
          }: write "${b.leader} <<${b.name}>>+=" to add to it`,
        );
        continue;
      }
      chunk.def = b;
      // Appends reported below stay where they are in book order.
      chunk.blocks.unshift(b);
    } else {
      const def = firstDefinition.get(b.name);
      if (!chunk.def) {
        report(
          b,
          "append-before-define",
          def
            ? `<<${b.name}>>+= comes before <<${b.name}>>= (${
              at(def)
            }): in book order a chunk is defined before it is continued`
            : `<<${b.name}>>+= continues a chunk that is never defined: write "${b.leader} <<${b.name}>>=" for its first part${
              suggestion(b.name, [...firstDefinition.keys()])
            }`,
        );
      }
      chunk.blocks.push(b);
    }
  }

  // Expansion, memoised per chunk, with cycle and undefined-reference checks.
  // An expansion is kept as parallel arrays (text, where the line was
  // written, indentation added by references) rather than an object per
  // line: a large book has hundreds of thousands of expanded lines.
  const memo = new Map<string, Expansion>();
  const referenced = new Map<string, Set<string>>(); // chunk -> chunks/files that reference it
  const reportedCycles = new Set<string>();
  const stack: {
    name: string;
    via?: { chapter: string; line: number; col: number };
  }[] = [];
  const names = [...chunks.keys()].filter((n) => chunks.get(n)!.def);

  const expandBlocks = (owner: string, list: Block[]): Expansion => {
    const out: Expansion = { texts: [], bases: [], indents: [] };
    for (const block of list) {
      for (const body of block.body) {
        if (!body.ref) {
          out.texts.push(body.text);
          out.bases.push(body);
          out.indents.push(0);
          continue;
        }
        const { name, indent } = body.ref;
        const refAt = {
          chapter: block.chapter,
          line: body.line,
          col: body.col + indent.length,
        };
        let users = referenced.get(name);
        if (!users) referenced.set(name, users = new Set());
        users.add(owner);
        const chunk = chunks.get(name);
        if (!chunk || !chunk.def) {
          if (!chunk) {
            report(
              refAt,
              "undefined-reference",
              `<<${name}>> is not defined anywhere in the book${
                suggestion(name, names)
              }`,
            );
          }
          continue;
        }
        const cycleStart = stack.findIndex((s) => s.name === name);
        if (cycleStart >= 0) {
          const chain = [...stack.slice(cycleStart), { name, via: refAt }];
          const key = chain.slice(0, -1).map((c) => c.name).sort().join(
            "\u0000",
          );
          if (!reportedCycles.has(key)) {
            reportedCycles.add(key);
            report(
              refAt,
              "cycle",
              `cycle: ${
                chain.map((c, i) => (i === 0
                  ? `<<${c.name}>>`
                  : `<<${c.name}>> (used at ${at(c.via!)})`)
                ).join(" → ")
              }`,
            );
          }
          continue;
        }
        stack.push({ name, via: refAt });
        const inner = expand(name);
        stack.pop();
        const added = indent.length;
        for (let i = 0; i < inner.texts.length; i++) {
          const text = inner.texts[i];
          // Empty lines stay empty: indentation is never trailing white space.
          out.texts.push(text === "" ? "" : indent + text);
          out.bases.push(inner.bases[i]);
          out.indents.push(
            text === "" ? inner.indents[i] : inner.indents[i] + added,
          );
        }
      }
    }
    return out;
  };

  const expand = (name: string): Expansion => {
    const cached = memo.get(name);
    if (cached) return cached;
    // A chunk on a cycle expands without the looping reference; the cycle is
    // an error, so such output is never written.
    const lines = expandBlocks(name, chunks.get(name)!.blocks);
    memo.set(name, lines);
    return lines;
  };

  const files: GeneratedFile[] = [];
  for (const [path, root] of roots) {
    stack.length = 0;
    stack.push({ name: rootKey(path) });
    const lines = expandBlocks(rootKey(path), [root]);
    stack.length = 0;
    const leader = leaderForPath(path);
    const header = headerLine(leader, root.chapter, template);
    const origins: LineOrigin[] = [{
      file: root.chapter,
      line: root.line,
      col: root.col,
      indent: 0,
    }];
    for (let i = 0; i < lines.texts.length; i++) {
      const base = lines.bases[i];
      origins.push({
        file: base.chapter,
        line: base.line,
        col: base.col,
        indent: lines.indents[i],
      });
    }
    files.push({
      path,
      chapter: root.chapter,
      text: header + "\n" + lines.texts.join("\n") +
        (lines.texts.length ? "\n" : ""),
      origins,
    });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  // Expand the chunks no file uses too, so their mistakes are reported.
  for (const name of names) {
    if (memo.has(name)) continue;
    stack.length = 0;
    stack.push({ name });
    expand(name);
    stack.length = 0;
  }

  diagnostics.push(...unusedChunks(chunks, roots, referenced));
  return {
    files,
    diagnostics: applyStrict(
      sortDiagnostics(diagnostics),
      options.strict ?? false,
    ),
  };
}

/**
 * Chunks no generated file includes. A chunk marked `[unused]` (and what it
 * references) is exempt; a chunk only used by another unused chunk is not
 * reported separately — its user is.
 */
function unusedChunks(
  chunks: Map<string, Chunk>,
  roots: Map<string, Block>,
  referenced: Map<string, Set<string>>,
): Diagnostic[] {
  const uses = new Map<string, string[]>(); // owner -> referenced chunk names
  for (const [name, owners] of referenced) {
    for (const owner of owners) {
      let list = uses.get(owner);
      if (!list) uses.set(owner, list = []);
      list.push(name);
    }
  }
  const reached = new Set<string>();
  const walk = (start: string) => {
    const todo = [start];
    while (todo.length) {
      const next = todo.pop()!;
      for (const n of uses.get(next) ?? []) {
        if (!reached.has(n)) {
          reached.add(n);
          todo.push(n);
        }
      }
    }
  };
  for (const path of roots.keys()) walk(rootKey(path));
  const out: Diagnostic[] = [];
  for (const chunk of chunks.values()) {
    if (!chunk.def) continue;
    if (chunk.def.unused && reached.has(chunk.name)) {
      out.push({
        file: chunk.def.chapter,
        line: chunk.def.line,
        col: chunk.def.col,
        severity: "warning",
        code: "unused-marker-used",
        message:
          `<<${chunk.name}>> is marked [unused] but a generated file uses it: remove the marker`,
      });
    }
  }
  for (const chunk of chunks.values()) {
    if (chunk.def?.unused && !reached.has(chunk.name)) walk(chunk.name);
  }
  const unreached = [...chunks.values()].filter((c) =>
    c.def && !c.def.unused && !reached.has(c.name)
  );
  const unreachedNames = new Set(unreached.map((c) => c.name));
  const top = unreached.filter((c) =>
    ![...(referenced.get(c.name) ?? [])].some((o) => unreachedNames.has(o))
  );
  // Chunks only on cycles among themselves have no top: report those too.
  const covered = new Set<string>();
  for (const c of top) {
    covered.add(c.name);
    const todo = [c.name];
    while (todo.length) {
      for (const n of uses.get(todo.pop()!) ?? []) {
        if (!covered.has(n)) {
          covered.add(n);
          todo.push(n);
        }
      }
    }
  }
  for (const c of unreached) {
    if (!top.includes(c) && covered.has(c.name)) continue;
    const def = c.def!;
    out.push({
      file: def.chapter,
      line: def.line,
      col: def.col,
      severity: "warning",
      code: "unused-chunk",
      message:
        `<<${c.name}>> is never used: no generated file includes it. Reference it with "${def.leader} <<${c.name}>>" ` +
        `where it belongs, or mark it "${def.leader} <<${c.name}>>= [unused]" if it is only for reading`,
    });
  }
  return out;
}

function suggestion(name: string, candidates: string[]): string {
  const others = candidates.filter((c) => c !== name);
  if (others.length === 0) return "";
  const lower = name.toLowerCase();
  const exactish = others.find((c) => c.toLowerCase() === lower);
  const best = exactish ?? closest(name, others);
  const limit = Math.max(2, Math.floor(name.length / 3));
  if (exactish || distance(name, best) <= limit) {
    return `; did you mean <<${best}>>?`;
  }
  return "";
}
