/**
 * The project on disk: `lit.json`, the chapters it lists, the generated files
 * already in the tree, and safe (atomic, never-clobbering) writes.
 *
 * @module
 */

import {
  dirname,
  exists,
  firstLine,
  join,
  readDir,
  readText,
  readTextIfExists,
  removeEmptyDir,
  removeFile,
  writeAtomic,
} from "./fs.ts";
import type { Diagnostic } from "./diagnostics.ts";
import { formatLocation, hasErrors, sortDiagnostics } from "./diagnostics.ts";
import type { SourceFile } from "./parse.ts";
import { type GeneratedFile, tangle, type TangleResult } from "./tangle.ts";
import { checkHeaderTemplate, DEFAULT_HEADER, isHeader } from "./header.ts";

/** The configuration file's name, at the project root. */
export const CONFIG_FILE = "lit.json";

/**
 * What `lit.json` holds.
 *
 * @example
 * ```ts
 * const { config } = loadConfig(".");
 * if (config) console.log(config.chapters.length, "chapters; header:", config.header);
 * ```
 */
export interface LitConfig {
  /** The chapters in book order, project-relative. */
  chapters: string[];
  /** Warnings are errors (as `--strict`). */
  strict: boolean;
  /**
   * The header template: the first line of every generated file, behind its
   * comment leader, with `{chapter}` for the chapter's path. `"header"` in
   * `lit.json`, else {@link DEFAULT_HEADER}.
   */
  header: string;
  /** The text of `lit.json`, to locate diagnostics in it. */
  source: string;
}

/** File names that may be generated files (those that can hold a header). */
const GENERATED_EXT_RE =
  /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs|jsonc|sh|bash|py|ya?ml|toml)$/;

/** The keys `lit.json` may hold. */
const KNOWN_KEYS = ["chapters", "strict", "header", "$comment"];

/** Folders lit never scans for generated files. */
const SKIP_DIRS = new Set(["node_modules", ".git"]);

/** Where in `lit.json` something is (best effort: the first occurrence). */
function configLocation(
  text: string,
  needle?: string,
): { line: number; col: number } {
  const index = needle ? text.indexOf(needle) : -1;
  if (index < 0) return { line: 1, col: 1 };
  const before = text.slice(0, index).split(/\r\n|\r|\n/);
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

/**
 * Reads and validates `lit.json`. Problems come back as diagnostics located in
 * `lit.json`; the config is undefined when it cannot be used at all.
 *
 * @example
 * ```ts
 * import { formatDiagnostic } from "./mod.ts";
 *
 * const { config, diagnostics } = loadConfig(".");
 * if (!config) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
 * console.log(config.chapters); // ["chapters/00_introduction.md", …]
 * ```
 */
export function loadConfig(
  root: string,
): { config?: LitConfig; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const err = (code: string, message: string, needle?: string) =>
    diagnostics.push({
      file: CONFIG_FILE,
      ...configLocation(text, needle),
      severity: "error",
      code,
      message,
    });
  let text = "";
  try {
    text = readText(join(root, CONFIG_FILE));
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    err(
      "config",
      missing
        ? `no ${CONFIG_FILE} in ${root}: lit needs one listing the chapters, e.g. {"chapters": ["chapters/00_introduction.md"]}`
        : `cannot read ${CONFIG_FILE}: ${(e as Error).message}`,
    );
    return { diagnostics };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    err(
      "config",
      `${CONFIG_FILE} is not valid JSON (${
        (e as Error).message
      }): fix it and run lit again`,
    );
    return { diagnostics };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    err(
      "config",
      `${CONFIG_FILE} must hold an object like {"chapters": [...]}`,
    );
    return { diagnostics };
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!KNOWN_KEYS.includes(key)) {
      err(
        "config",
        `unknown key ${
          JSON.stringify(key)
        } in ${CONFIG_FILE}: lit knows "chapters", "strict" and "header"`,
        `"${key}"`,
      );
    }
  }
  const chapters = obj.chapters;
  if (!Array.isArray(chapters) || chapters.some((c) => typeof c !== "string")) {
    err(
      "config",
      `"chapters" in ${CONFIG_FILE} must be a list of chapter paths, in book order`,
      `"chapters"`,
    );
    return { diagnostics };
  }
  if (obj.strict !== undefined && typeof obj.strict !== "boolean") {
    err(
      "config",
      `"strict" in ${CONFIG_FILE} must be true or false`,
      `"strict"`,
    );
  }
  // A header lit cannot use is an error; the default stands in for it, so
  // the rest of the run still reports every other problem.
  let header = DEFAULT_HEADER;
  if (obj.header !== undefined) {
    const refused = typeof obj.header === "string"
      ? checkHeaderTemplate(obj.header)
      : `it must be a string, e.g. "Generated by lit from {chapter}. Do not edit."`;
    if (refused) {
      err("config", `"header" in ${CONFIG_FILE}: ${refused}`, `"header"`);
    } else header = obj.header as string;
  }
  const seen = new Set<string>();
  const valid: string[] = [];
  for (const c of chapters as string[]) {
    const ok = c.endsWith(".md") && !c.startsWith("/") &&
      !c.split("/").includes("..") && !c.includes("\\");
    if (!ok) {
      err(
        "config",
        `chapter ${
          JSON.stringify(c)
        }: chapters are .md files inside the project, written with "/"`,
        JSON.stringify(c),
      );
    }
    if (seen.has(c)) {
      err(
        "config",
        `chapter ${JSON.stringify(c)} is listed twice`,
        JSON.stringify(c),
      );
    }
    if (ok && !seen.has(c)) valid.push(c);
    seen.add(c);
  }
  // Other mistakes are reported and the valid chapters still read, so one run
  // shows every problem; the errors still fail the run.
  return {
    config: {
      chapters: valid,
      strict: obj.strict === true,
      header,
      source: text,
    },
    diagnostics,
  };
}

/** Reads the listed chapters; a missing one is an error located in `lit.json`. */
export function readChapters(
  root: string,
  config: LitConfig,
): { chapters: SourceFile[]; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const chapters: SourceFile[] = [];
  for (const path of config.chapters) {
    try {
      chapters.push({ path, text: readText(join(root, path)) });
    } catch (e) {
      const missing = e instanceof Deno.errors.NotFound;
      diagnostics.push({
        file: CONFIG_FILE,
        ...configLocation(config.source, JSON.stringify(path)),
        severity: "error",
        code: "missing-chapter",
        message: missing
          ? `chapter ${path} is listed but does not exist: create it or remove it from ${CONFIG_FILE}`
          : `cannot read chapter ${path}: ${(e as Error).message}`,
      });
    }
  }
  // A Markdown file beside the chapters that the list forgets is never tangled: say so.
  const dirs = new Set(config.chapters.map((c) => dirname(c)));
  const listed = new Set(config.chapters);
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = readDir(join(root, dir)).map((e) => e.name);
    } catch { /* missing folder: the chapters in it are reported above */ }
    for (const name of names.sort()) {
      const path = dir === "." ? name : `${dir}/${name}`;
      if (
        name.endsWith(".md") && !/^readme\.md$/i.test(name) && !listed.has(path)
      ) {
        diagnostics.push({
          file: path,
          line: 1,
          col: 1,
          severity: "warning",
          code: "unlisted-chapter",
          message:
            `${path} is not in ${CONFIG_FILE}'s chapter list, so it is not tangled: add it where it belongs in book order`,
        });
      }
    }
  }
  return { chapters, diagnostics };
}

/**
 * What {@link tangleProject} produced.
 *
 * @example
 * ```ts
 * const result: ProjectResult = tangleProject(".");
 * console.log(result.chapters.length, "chapters,", result.files.length, "files");
 * ```
 */
export interface ProjectResult extends TangleResult {
  /** `lit.json`, when it could be read at all. */
  config?: LitConfig;
  /** The chapters that could be read, in book order. */
  chapters: SourceFile[];
}

/**
 * Tangles the project in memory: `lit.json`, its chapters, tangle (with the
 * book's header). Writes nothing.
 *
 * @example
 * ```ts
 * import { formatDiagnostic, hasErrors } from "./mod.ts";
 *
 * const { files, diagnostics } = tangleProject(".");
 * if (hasErrors(diagnostics)) console.error(diagnostics.map(formatDiagnostic).join("\n"));
 * else for (const f of files) console.log(f.path, "from", f.chapter);
 * ```
 */
export function tangleProject(
  root: string,
  options: { strict?: boolean } = {},
): ProjectResult {
  const loaded = loadConfig(root);
  if (!loaded.config) {
    return { files: [], chapters: [], diagnostics: loaded.diagnostics };
  }
  const read = readChapters(root, loaded.config);
  const strict = options.strict || loaded.config.strict;
  const result = tangle(read.chapters, {
    strict,
    header: loaded.config.header,
  });
  const extra = strict
    ? read.diagnostics.map((
      d,
    ) => (d.severity === "warning" ? { ...d, severity: "error" as const } : d))
    : read.diagnostics;
  return {
    config: loaded.config,
    chapters: read.chapters,
    files: result.files,
    diagnostics: sortDiagnostics([
      ...loaded.diagnostics,
      ...extra,
      ...result.diagnostics,
    ]),
  };
}

/**
 * Finds every file in the project whose first line is lit's header: the
 * generated files as they are on disk. Skips node_modules and .git, and
 * folders with a `lit.json` of their own (other books). `header` is the
 * book's header template (lit's default when not given); see
 * {@link parseHeader} for what counts as a header.
 *
 * @example
 * ```ts
 * const { config } = loadConfig(".");
 * findGeneratedFiles(".", { header: config?.header }); // => ["examples/discover.ts", …]
 * ```
 */
export function findGeneratedFiles(
  root: string,
  options: { header?: string } = {},
): string[] {
  const template = options.header ?? DEFAULT_HEADER;
  const found: string[] = [];
  const walk = (rel: string) => {
    for (const e of readDir(join(root, rel))) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory) {
        // A folder with its own lit.json is another book (a test fixture,
        // a benchmark): its generated files are not this book's.
        if (!SKIP_DIRS.has(e.name) && !exists(join(root, path, CONFIG_FILE))) {
          walk(path);
        }
      } else if (e.isFile && GENERATED_EXT_RE.test(e.name)) {
        const line = firstLine(join(root, path));
        if (line !== undefined && isHeader(line, template)) found.push(path);
      }
    }
  };
  walk("");
  return found.sort();
}

/**
 * What {@link tangleToDisk} did.
 *
 * @example
 * ```ts
 * const report: TangleReport = await tangleToDisk(".");
 * console.log(`${report.written.length} written, ${report.deleted.length} deleted`);
 * ```
 */
export interface TangleReport {
  /** Everything found wrong; with an error, nothing was written. */
  diagnostics: Diagnostic[];
  /** Files written because their content changed (or they were missing). */
  written: string[];
  /** Files already as the chapters say, left untouched. */
  unchanged: string[];
  /** Generated files no chapter defines any more, deleted. */
  deleted: string[];
}

/**
 * Tangles the project and writes the result: only when there is no error
 * (so the last good output stays in place), never over a file that lacks
 * lit's header, and deleting generated files no chapter produces any more.
 * What `lit tangle` does.
 *
 * @example
 * ```ts
 * import { formatDiagnostic } from "./mod.ts";
 *
 * const report = await tangleToDisk(".", { strict: true });
 * for (const d of report.diagnostics) console.error(formatDiagnostic(d));
 * ```
 */
export async function tangleToDisk(
  root: string,
  options: { strict?: boolean } = {},
): Promise<TangleReport> {
  const result = await tangleProject(root, options);
  const report: TangleReport = {
    diagnostics: result.diagnostics,
    written: [],
    unchanged: [],
    deleted: [],
  };
  if (!result.config) return report;
  const plan: { file: GeneratedFile; existing?: string }[] = [];
  const clobber: Diagnostic[] = [];
  for (const file of result.files) {
    const existing = readTextIfExists(join(root, file.path));
    if (
      existing !== undefined &&
      !isHeader(existing.split(/\r?\n/, 1)[0], result.config.header)
    ) {
      const o = file.origins[0];
      clobber.push({
        file: o.file,
        line: o.line,
        col: o.col,
        severity: "error",
        code: "would-clobber",
        message:
          `${file.path} already exists and was not written by lit (its first line is not lit's header): ` +
          `lit will not overwrite it. Move it out of the way or delete it, then tangle again`,
      });
    }
    plan.push({ file, existing });
  }
  report.diagnostics = sortDiagnostics([...report.diagnostics, ...clobber]);
  if (hasErrors(report.diagnostics)) return report;
  for (const { file, existing } of plan) {
    if (existing === file.text) {
      report.unchanged.push(file.path);
    } else {
      writeAtomic(join(root, file.path), file.text);
      report.written.push(file.path);
    }
  }
  const produced = new Set(result.files.map((f) => f.path));
  for (
    const path of findGeneratedFiles(root, { header: result.config.header })
  ) {
    if (produced.has(path)) continue;
    removeFile(join(root, path));
    report.deleted.push(path);
    // Remove folders the deletion left empty (never the project root).
    let dir = dirname(path);
    while (dir !== "." && dir !== "" && removeEmptyDir(join(root, dir))) {
      dir = dirname(dir);
    }
  }
  return report;
}

/**
 * One way the working tree differs from what the chapters produce.
 *
 * @example
 * ```ts
 * for (const d of (await checkProject(".")).differences) {
 *   console.log(d.status, d.path); // e.g. "differs src/client.ts"
 * }
 * ```
 */
export interface Difference {
  /** The generated file, project-relative. */
  path: string;
  /**
   * `differs`: content differs; `missing`: not on disk; `orphan`: a generated
   * file no chapter produces; `not-generated`: on disk without lit's header.
   */
  status: "differs" | "missing" | "orphan" | "not-generated";
  /** The chapter that roots the file (not for orphans). */
  chapter?: string;
  /** Unified diff, working tree (`a/`) to chapters (`b/`), hunks annotated. */
  diff?: string;
  /** The diff's hunks; `sources` names the chapter lines of each. */
  hunks?: {
    oldStart: number;
    oldLines: number;
    newStart: number;
    newLines: number;
    sources: string[];
  }[];
}

/**
 * What {@link checkProject} found.
 *
 * @example
 * ```ts
 * import { hasErrors } from "./mod.ts";
 *
 * const report: CheckReport = await checkProject(".");
 * const ok = !hasErrors(report.diagnostics) && report.differences.length === 0;
 * ```
 */
export interface CheckReport {
  /** Everything found wrong in `lit.json` and the chapters. */
  diagnostics: Diagnostic[];
  /** The generated files that differ from the chapters, by path. */
  differences: Difference[];
  /** What the chapters produce, as tangled in memory. */
  files: GeneratedFile[];
}

/**
 * Groups chapter lines into readable ranges, one entry a chapter:
 * `chapters/a.md:10-12,15`, `chapters/b.md:4`.
 */
export function describeSources(
  origins: { file: string; line: number }[],
): string[] {
  const byFile = new Map<string, number[]>();
  for (const o of origins) {
    let lines = byFile.get(o.file);
    if (!lines) byFile.set(o.file, lines = []);
    lines.push(o.line);
  }
  const out: string[] = [];
  for (const [file, lines] of byFile) {
    const sorted = [...new Set(lines)].sort((a, b) => a - b);
    const ranges: string[] = [];
    let start = sorted[0];
    let prev = start;
    const flush = () =>
      ranges.push(start === prev ? `${start}` : `${start}-${prev}`);
    for (const l of sorted.slice(1)) {
      if (l === prev + 1) {
        prev = l;
        continue;
      }
      flush();
      start = prev = l;
    }
    flush();
    out.push(`${file}:${ranges.join(",")}`);
  }
  return out;
}

/**
 * Tangles in memory and compares with the working tree, byte for byte. Each
 * difference carries a unified diff whose hunk headers name the chapter lines
 * the expected text comes from. What `lit check` does.
 *
 * @example
 * ```ts
 * const { differences } = await checkProject(".");
 * for (const d of differences) console.error(d.diff ?? `${d.status}: ${d.path}`);
 * ```
 */
export async function checkProject(
  root: string,
  options: { strict?: boolean } = {},
): Promise<CheckReport> {
  const result = await tangleProject(root, options);
  const differences: Difference[] = [];
  if (!result.config) {
    return { diagnostics: result.diagnostics, differences, files: [] };
  }
  for (const file of result.files) {
    const onDisk = readTextIfExists(join(root, file.path));
    if (onDisk === file.text) continue;
    if (
      onDisk !== undefined &&
      !isHeader(onDisk.split(/\r?\n/, 1)[0], result.config.header)
    ) {
      differences.push({
        path: file.path,
        status: "not-generated",
        chapter: file.chapter,
      });
      continue;
    }
    const { structuredPatch } = await import("diff");
    const patch = structuredPatch(
      `a/${file.path}`,
      `b/${file.path}`,
      onDisk ?? "",
      file.text,
      onDisk === undefined ? "(missing)" : "(working tree)",
      `(tangled from ${file.chapter})`,
      { context: 3 },
    );
    const hunks = patch.hunks.map((h) => {
      // Lines the chapters produce in this hunk: the added ones, or the
      // context around a pure deletion.
      const added: number[] = [];
      const context: number[] = [];
      let n = h.newStart;
      for (const l of h.lines) {
        if (l.startsWith("+")) added.push(n++);
        else if (l.startsWith(" ")) context.push(n++);
      }
      const picked = (added.length ? added : context).map((line) =>
        file.origins[line - 1]
      ).filter(Boolean);
      return {
        oldStart: h.oldStart,
        oldLines: h.oldLines,
        newStart: h.newStart,
        newLines: h.newLines,
        sources: describeSources(picked),
        lines: h.lines,
      };
    });
    const diff = [
      `--- a/${file.path}\t${
        onDisk === undefined ? "(missing)" : "(working tree)"
      }`,
      `+++ b/${file.path}\t(tangled from ${file.chapter})`,
      ...hunks.flatMap((h) => [
        `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@ ${
          h.sources.join(", ")
        }`,
        ...h.lines,
      ]),
    ].join("\n") + "\n";
    differences.push({
      path: file.path,
      status: onDisk === undefined ? "missing" : "differs",
      chapter: file.chapter,
      diff,
      hunks: hunks.map(({ lines: _lines, ...rest }) => rest),
    });
  }
  const produced = new Set(result.files.map((f) => f.path));
  for (
    const path of findGeneratedFiles(root, { header: result.config.header })
  ) {
    if (!produced.has(path)) differences.push({ path, status: "orphan" });
  }
  differences.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { diagnostics: result.diagnostics, differences, files: result.files };
}

/** `file:line:col` of a generated file's root, for messages. */
export function rootLocation(file: GeneratedFile): string {
  const o = file.origins[0];
  return formatLocation({ file: o.file, line: o.line, col: o.col });
}

export { writeAtomic } from "./fs.ts";
