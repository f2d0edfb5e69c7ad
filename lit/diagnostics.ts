/**
 * Diagnostics: every problem lit reports points at a place in a chapter
 * (or in `lit.json`), formatted as `PATH:LINE:COL: severity: message`, the
 * form editors and terminals turn into links.
 *
 * @module
 */

/**
 * Where a diagnostic points: a project-relative path and 1-based line/column.
 *
 * @example
 * ```ts
 * const where: Location = { file: "chapters/01_discovery.md", line: 42, col: 7 };
 * ```
 */
export interface Location {
  /** Project-relative path with forward slashes, e.g. `chapters/00_intro.md`. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
}

/**
 * How bad a diagnostic is. `--strict` turns warnings into errors.
 *
 * @example
 * ```ts
 * const severity: Severity = "warning"; // an unused chunk, say
 * ```
 */
export type Severity = "error" | "warning";

/**
 * One problem found while reading chapters or tangling.
 *
 * @example
 * ```ts
 * const d: Diagnostic = {
 *   file: "chapters/a.md",
 *   line: 12,
 *   col: 3,
 *   severity: "error",
 *   code: "undefined-reference",
 *   message: "<<set up>> is not defined anywhere in the book",
 * };
 * ```
 */
export interface Diagnostic extends Location {
  /** An error fails the command; a warning does too with `--strict`. */
  severity: Severity;
  /** A short stable identifier, e.g. `undefined-reference`, for tools and tests. */
  code: string;
  /** What went wrong and what to do, in one or more lines. */
  message: string;
}

/**
 * Formats one diagnostic as `file:line:col: severity: message`.
 *
 * @example
 * ```ts
 * formatDiagnostic({ file: "chapters/a.md", line: 3, col: 1, severity: "error", code: "x", message: "boom" });
 * // => "chapters/a.md:3:1: error: boom"
 * ```
 */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`;
}

/** Formats a location as `file:line:col`, or `file:line` when col is 0. */
export function formatLocation(l: Location): string {
  return l.col > 0 ? `${l.file}:${l.line}:${l.col}` : `${l.file}:${l.line}`;
}

/** Sorts diagnostics by file, line and column (stable for ties). */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) =>
    a.file < b.file
      ? -1
      : a.file > b.file
      ? 1
      : a.line - b.line || a.col - b.col
  );
}

/** Turns warnings into errors (what `--strict` does). */
export function applyStrict(ds: Diagnostic[], strict: boolean): Diagnostic[] {
  if (!strict) return ds;
  return ds.map((d) =>
    d.severity === "warning" ? { ...d, severity: "error" } : d
  );
}

/**
 * True when any diagnostic is an error.
 *
 * @example
 * ```ts
 * hasErrors([{ file: "chapters/a.md", line: 1, col: 1, severity: "warning", code: "unused-chunk", message: "…" }]);
 * // => false
 * ```
 */
export function hasErrors(ds: Diagnostic[]): boolean {
  return ds.some((d) => d.severity === "error");
}
