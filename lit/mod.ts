/**
 * lit's public API: what the book's other tools (the weaver, the tour, the
 * transcripts runner, the npm build, the Synapse suite) use of lit. Import
 * lit from here and nowhere else: the modules beside this one are lit's
 * inside, free to change; a test (`lit/tests/api_test.ts`) fails, naming the
 * file, when code outside `lit/` imports one of them.
 *
 * - The project: {@link loadConfig} reads `lit.json`; {@link tangleProject}
 *   tangles the book in memory; {@link tangleToDisk} and {@link checkProject}
 *   are `lit tangle` and `lit check`; {@link findGeneratedFiles} lists the
 *   files lit wrote.
 * - Chapters: {@link tangle} and {@link parseChapter}, pure, on chapter texts;
 *   {@link splitLines} numbers lines as lit does.
 * - The header line: {@link DEFAULT_HEADER}, {@link headerLine},
 *   {@link parseHeader}, {@link isHeader}.
 * - Reporting: {@link formatDiagnostic}, {@link hasErrors},
 *   {@link countJUnit}; and {@link main}, the command line itself.
 *
 * The command line is `lit/main.ts` (`npm run lit -- help`); `lit/README.md`
 * describes the chunk notation, the commands, the diagnostics and `lit.json`.
 *
 * @example
 * ```ts
 * import { formatDiagnostic, hasErrors, tangleProject } from "./mod.ts";
 *
 * const { files, diagnostics } = tangleProject(".");
 * for (const d of diagnostics) console.error(formatDiagnostic(d));
 * if (!hasErrors(diagnostics)) {
 *   for (const file of files) console.log(`${file.path} from ${file.chapter}`);
 * }
 * ```
 *
 * @module
 */

export {
  type Diagnostic,
  formatDiagnostic,
  hasErrors,
  type Location,
  type Severity,
} from "./diagnostics.ts";
export {
  type Block,
  type BodyLine,
  parseChapter,
  type ParsedChapter,
  type SourceFile,
  splitLines,
} from "./parse.ts";
export {
  type GeneratedFile,
  type LineOrigin,
  tangle,
  type TangleOptions,
  type TangleResult,
} from "./tangle.ts";
export { DEFAULT_HEADER, headerLine, isHeader, parseHeader } from "./header.ts";
export {
  checkProject,
  type CheckReport,
  type Difference,
  findGeneratedFiles,
  type LitConfig,
  loadConfig,
  type ProjectResult,
  tangleProject,
  type TangleReport,
  tangleToDisk,
} from "./project.ts";
export { countJUnit } from "./run.ts";
export { main } from "./main.ts";
