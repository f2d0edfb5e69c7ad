/**
 * Reading chapters: a real CommonMark parser (markdown-it, in its strict
 * `commonmark` preset) finds the fenced code blocks — in lists, in block
 * quotes, with backticks or tildes, with CRLF line ends — and this module
 * turns the ones whose first line is a chunk header into {@link Block}s.
 *
 * Only block structure matters to lit, so inline parsing is switched off:
 * that is most of a Markdown parser's work, and it makes reading a large book
 * several times faster.
 *
 * @module
 */

// The self-contained ES module build: it loads in a third of the time of the
// package's main entry, which matters for a command run on every save.
import MarkdownIt from "markdown-it/browser";
import type { Diagnostic } from "./diagnostics.ts";

/**
 * A chapter as lit reads it: its project-relative path and its text.
 *
 * @example
 * ```ts
 * const chapter: SourceFile = { path: "chapters/a.md", text: "# A\n" };
 * ```
 */
export interface SourceFile {
  /** Project-relative, with `/`: `chapters/01_discovery.md`. */
  path: string;
  /** The whole Markdown text. */
  text: string;
}

/**
 * One line of a chunk body, with where it stands in the chapter.
 *
 * @example
 * ```ts
 * const { blocks } = parseChapter({ path: "a.md", text: "~~~ts\n// <<x>>=\n  // <<y>>\n~~~\n" });
 * const line: BodyLine = blocks[0].body[0];
 * // line.ref => { name: "y", indent: "  " }; line.line => 3
 * ```
 */
export interface BodyLine {
  /** The chapter the line is in. */
  chapter: string;
  /** The line's text inside the fence (container prefixes removed). */
  text: string;
  /** 1-based chapter line. */
  line: number;
  /** 1-based chapter column where `text` starts. */
  col: number;
  /** Set when the line is a reference: the chunk name and its indentation. */
  ref?: { name: string; indent: string };
}

/**
 * A fenced block that lit tangles: a file root (`// file: PATH`), a chunk
 * definition (`// <<name>>=`) or a continuation (`// <<name>>+=`).
 *
 * @example
 * ```ts
 * const block: Block = parseChapter({ path: "a.md", text: "~~~ts\n// file: a.ts\nx();\n~~~\n" }).blocks[0];
 * // block.kind => "file"; block.name => "a.ts"; block.line => 2
 * ```
 */
export interface Block {
  /** What the header line says: a file root, a definition, a continuation. */
  kind: "file" | "define" | "append";
  /** The file path (for `file`) or the chunk name (normalised). */
  name: string;
  /** The chapter holding the block. */
  chapter: string;
  /** 1-based line of the header line (the `// …` comment). */
  line: number;
  /** 1-based column where the header line's comment starts. */
  col: number;
  /** 1-based column where the file path starts (for `file`), else `col`. */
  nameCol: number;
  /** The fence's language, e.g. `ts`. */
  lang: string;
  /** The comment leader used by this language, e.g. `//`. */
  leader: string;
  /** Marked `[unused]`: defined on purpose without being used. */
  unused: boolean;
  /** The lines after the header line, in order. */
  body: BodyLine[];
}

/**
 * What reading one chapter produced.
 *
 * @example
 * ```ts
 * const parsed: ParsedChapter = parseChapter({ path: "a.md", text: "~~~ts\n// <<x>>= oops\n~~~\n" });
 * // parsed.blocks => []; parsed.diagnostics[0].code => "malformed-header"
 * ```
 */
export interface ParsedChapter {
  /** The tangled blocks, in chapter order. */
  blocks: Block[];
  /** Malformed or misplaced chunk headers. */
  diagnostics: Diagnostic[];
}

/**
 * The comment leader lit recognises per fence language. A fence in any other
 * language is an illustration and never tangled.
 */
export const COMMENT_LEADERS: Readonly<Record<string, string>> = {
  ts: "//",
  typescript: "//",
  tsx: "//",
  mts: "//",
  js: "//",
  javascript: "//",
  jsx: "//",
  mjs: "//",
  jsonc: "//",
  sh: "#",
  bash: "#",
  shell: "#",
  yaml: "#",
  yml: "#",
  toml: "#",
  python: "#",
  py: "#",
};

/** Normalises a chunk name: trimmed, inner white space folded to one space. */
export function normaliseName(name: string): string {
  return name.trim().replace(/\s+/g, " ");
}

const md = new MarkdownIt("commonmark");
md.core.ruler.disable(["inline", "text_join"], true);

interface Patterns {
  file: RegExp;
  define: RegExp;
  looksLikeHeader: RegExp;
  ref: RegExp;
}

const patternCache = new Map<string, Patterns>();

function patternsFor(leader: string): Patterns {
  let p = patternCache.get(leader);
  if (!p) {
    const l = leader.replace(/[/#]/g, (c) => `\\${c}`);
    p = {
      file: new RegExp(`^\\s*${l}\\s*file:(.*)$`),
      define: new RegExp(`^\\s*${l}\\s*<<((?:(?!<<|>>).)+)>>\\s*(\\+?=)(.*)$`),
      looksLikeHeader: new RegExp(`^\\s*${l}\\s*<<.*>>\\s*\\S`),
      ref: new RegExp(`^([ \\t]*)${l}\\s*<<((?:(?!<<|>>).)+)>>\\s*$`),
    };
    patternCache.set(leader, p);
  }
  return p;
}

/**
 * Splits text into lines the way CommonMark does (LF, CRLF or lone CR), so
 * that line numbers agree with lit's.
 *
 * @example
 * ```ts
 * splitLines("a\r\nb\rc\nd"); // => ["a", "b", "c", "d"]
 * ```
 */
export function splitLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/**
 * Reads one chapter and returns its tangled blocks, with diagnostics for
 * malformed headers. Never throws on any input.
 *
 * @example
 * ```ts
 * const { blocks } = parseChapter({ path: "chapters/a.md", text: "~~~ts\n// <<x>>=\nlet a = 1;\n~~~\n" });
 * // blocks[0].kind === "define", blocks[0].name === "x"
 * ```
 */
export function parseChapter(file: SourceFile): ParsedChapter {
  const blocks: Block[] = [];
  const diagnostics: Diagnostic[] = [];
  const tokens = md.parse(file.text, {});
  let source: string[] | undefined;
  const err = (line: number, col: number, code: string, message: string) =>
    diagnostics.push({
      file: file.path,
      line,
      col,
      severity: "error",
      code,
      message,
    });

  for (const token of tokens) {
    if (token.type !== "fence" || !token.map) continue;
    const lang = token.info.trim().split(/\s+/)[0].toLowerCase();
    const leader = COMMENT_LEADERS[lang];
    if (!leader) continue;
    const content = token.content.endsWith("\n")
      ? token.content.slice(0, -1)
      : token.content;
    if (content === "" && token.content === "") continue;
    const lines = content.split("\n");
    const p = patternsFor(leader);
    const first = lines[0];
    const fileMatch = p.file.exec(first);
    const defMatch = fileMatch ? null : p.define.exec(first);
    if (!fileMatch && !defMatch) {
      if (p.looksLikeHeader.test(first)) {
        source ??= splitLines(file.text);
        const line = token.map[0] + 2;
        err(
          line,
          columnOf(source[line - 1], first) + first.search(/\S/),
          "malformed-header",
          `malformed chunk header ${JSON.stringify(first.trim())}: write ` +
            `"${leader} <<name>>=" to define a chunk, "${leader} <<name>>+=" to ` +
            `append to one, or "${leader} file: PATH" to root a file`,
        );
      }
      continue;
    }
    source ??= splitLines(file.text);
    const headerLine = token.map[0] + 2;
    const headerCol = columnOf(source[headerLine - 1], first) +
      first.search(/\S/);
    let block: Block;
    if (fileMatch) {
      const raw = fileMatch[1];
      const path = raw.trim();
      const nameCol = headerCol + first.trimStart().indexOf("file:") + 5 +
        (raw.length - raw.trimStart().length);
      if (path === "") {
        err(
          headerLine,
          headerCol,
          "malformed-header",
          `"${leader} file:" needs a path, e.g. "${leader} file: src/client.ts"`,
        );
        continue;
      }
      block = {
        kind: "file",
        name: path,
        chapter: file.path,
        line: headerLine,
        col: headerCol,
        nameCol,
        lang,
        leader,
        unused: false,
        body: [],
      };
    } else {
      const m = defMatch!;
      const name = normaliseName(m[1]);
      const rest = m[3].trim();
      let unused = false;
      if (name === "") {
        err(
          headerLine,
          headerCol,
          "malformed-header",
          `a chunk needs a name: write "${leader} <<name>>${m[2]}"`,
        );
        continue;
      }
      if (rest === "[unused]" && m[2] === "+=") {
        err(
          headerLine,
          headerCol,
          "malformed-header",
          `"[unused]" belongs on the chunk's definition ("${leader} <<${name}>>= [unused]"), not on an append`,
        );
        continue;
      }
      if (rest === "[unused]") unused = true;
      else if (rest !== "") {
        err(
          headerLine,
          headerCol,
          "malformed-header",
          `unexpected ${
            JSON.stringify(rest)
          } after the chunk header of <<${name}>>: ` +
            `the only thing allowed there is "[unused]", which marks a chunk that is defined on purpose without being used`,
        );
        continue;
      }
      block = {
        kind: m[2] === "=" ? "define" : "append",
        name,
        chapter: file.path,
        line: headerLine,
        col: headerCol,
        nameCol: headerCol,
        lang,
        leader,
        unused,
        body: [],
      };
    }
    for (let i = 1; i < lines.length; i++) {
      const text = lines[i];
      const line = headerLine + i;
      const col = columnOf(source[line - 1], text);
      const body: BodyLine = { chapter: file.path, text, line, col };
      // Most lines hold no marker at all: test for one before the patterns.
      const marked = text.includes("<<") || text.includes("file:");
      const r = marked ? p.ref.exec(text) : null;
      if (r) {
        body.ref = { name: normaliseName(r[2]), indent: r[1] };
      } else if (marked && (p.define.test(text) || p.file.test(text))) {
        err(
          line,
          col + text.search(/\S/),
          "misplaced-header",
          `chunk header ${
            JSON.stringify(text.trim())
          } inside a chunk: a header must be the first line ` +
            `of its own fence; close this fence and open a new one`,
        );
      }
      block.body.push(body);
    }
    blocks.push(block);
  }
  return { blocks, diagnostics };
}

/**
 * The 1-based column at which `content` (a line of fence content, with list
 * and block-quote prefixes and fence indentation removed) starts within the
 * chapter's source line. Falls back to 1 where tabs were expanded.
 */
function columnOf(sourceLine: string | undefined, content: string): number {
  if (sourceLine === undefined) return 1;
  return sourceLine.endsWith(content)
    ? sourceLine.length - content.length + 1
    : 1;
}
