/**
 * What the tour needs to know about the book: its chapters in order (from
 * `lit.json`), their titles, the examples under `examples/` and the chapter
 * each comes from; and {@linkcode checkTour}, the rule that keeps the tour and
 * the book in step.
 *
 * @module
 */
import { dirname, join, normalize } from "node:path";
import { formatDiagnostic, loadConfig, parseHeader } from "../../lit/mod.ts";
import type { NoExampleYet, TourStep } from "./steps.ts";

/** A chapter of the book. */
export interface Chapter {
  /** As `lit.json` lists it: `chapters/01_discovery.md`. */
  path: string;
  /** Its number: the file name's leading digits, else its place in the book. */
  number: number;
  /** Its title, up to the first colon: `Discovery`. */
  title: string;
}

/** A runnable example under `examples/`. */
export interface ExampleFile {
  /** Project-relative: `examples/discover.ts`. */
  path: string;
  /** The chapter it is generated from, when it carries lit's header. */
  chapter?: string;
}

/**
 * Reads the chapters from `lit.json`, in book order.
 *
 * @throws {Error} If `lit.json` cannot be read, naming what is wrong.
 */
export function readBook(root: string): Chapter[] {
  const { config, diagnostics } = loadConfig(root);
  if (config === undefined) {
    throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
  }
  return config.chapters.map((path, index) => {
    const digits = /^(\d+)/.exec(path.split("/").at(-1) ?? "");
    let heading: string | undefined;
    try {
      heading = Deno.readTextFileSync(join(root, path))
        .split(/\r?\n/)
        .find((line) => line.startsWith("# "));
    } catch {
      // A missing chapter is lit's to report; the tour names it by its path.
    }
    const title = heading?.slice(2).split(":")[0].trim() || path;
    return { path, number: digits ? Number(digits[1]) : index, title };
  });
}

/** Every TypeScript file under `dir` (project-relative, `/`-separated). */
function typeScriptFiles(root: string, dir: string): string[] {
  const found: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(join(root, dir))];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return found;
    throw error;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...typeScriptFiles(root, path));
    else if (/\.tsx?$/.test(entry.name)) found.push(path);
  }
  return found.sort();
}

/** Relative module specifiers: `from "./cli.ts"`, `import("./x.ts")`. */
const RELATIVE_IMPORT_RE =
  /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;

/**
 * The examples a reader runs: the TypeScript files under `examples/` that no
 * other example imports. A file another example imports (`cli.ts`,
 * `terminal.ts`) is a shared module, not an example of its own.
 */
export function readExamples(root: string): ExampleFile[] {
  const files = typeScriptFiles(root, "examples").filter((path) =>
    !/_test\.tsx?$/.test(path)
  );
  const imported = new Set<string>();
  const texts = new Map<string, string>();
  for (const path of files) {
    const text = Deno.readTextFileSync(join(root, path));
    texts.set(path, text);
    for (const match of text.matchAll(RELATIVE_IMPORT_RE)) {
      imported.add(
        normalize(join(dirname(path), match[1])).replaceAll("\\", "/"),
      );
    }
  }
  // The book's header template: an example names its chapter in it.
  const template = loadConfig(root).config?.header;
  return files.filter((path) => !imported.has(path)).map((path) => {
    const chapter = parseHeader(texts.get(path)!.split(/\r?\n/)[0], template);
    return chapter === undefined ? { path } : { path, chapter };
  });
}

/** Where the tour's steps are declared, for messages. */
const STEPS_FILE = "scripts/tour/steps.ts";

/**
 * The rule that keeps the tour whole, as a list of problems (empty when all is
 * well), each saying what to change:
 *
 * - every chapter in `lit.json` has a step in `TOUR` or an entry in
 *   `NO_EXAMPLE_YET` with a reason, not both;
 * - every example under `examples/` is run by a step of its own chapter;
 * - steps name chapters `lit.json` lists, in book order, and run existing
 *   examples; `needs` names chapters with steps that come earlier.
 */
export function checkTour(
  book: Chapter[],
  steps: TourStep[],
  noExampleYet: NoExampleYet[],
  examples: ExampleFile[],
): string[] {
  const problems: string[] = [];
  const place = new Map(book.map((chapter, index) => [chapter.path, index]));
  const stepped = new Set(steps.map((step) => step.chapter));
  const exampleChapter = new Map(examples.map((e) => [e.path, e.chapter]));

  let last = -1;
  let lastChapter = "";
  for (const step of steps) {
    const index = place.get(step.chapter);
    if (index === undefined) {
      problems.push(
        `${STEPS_FILE}: the step running ${step.example} belongs to ${step.chapter}, which lit.json does not list; add the chapter to lit.json, or fix the step's chapter`,
      );
      continue;
    }
    if (index < last) {
      problems.push(
        `${STEPS_FILE}: the step for ${step.chapter} comes after one for ${lastChapter}, a later chapter; keep TOUR in book order (as in lit.json)`,
      );
    }
    if (index > last) [last, lastChapter] = [index, step.chapter];
    if (!exampleChapter.has(step.example)) {
      problems.push(
        `${STEPS_FILE}: the step for ${step.chapter} runs ${step.example}, which is not an example under examples/ (missing, or imported by another example); run npm run lit -- tangle, or fix the path`,
      );
    } else if (
      exampleChapter.get(step.example) !== undefined &&
      exampleChapter.get(step.example) !== step.chapter
    ) {
      problems.push(
        `${STEPS_FILE}: the step for ${step.chapter} runs ${step.example}, which ${
          exampleChapter.get(step.example)
        } generates; tie the step to that chapter`,
      );
    }
    for (const need of step.needs ?? []) {
      const needIndex = place.get(need);
      if (needIndex === undefined || needIndex >= index || !stepped.has(need)) {
        problems.push(
          `${STEPS_FILE}: the step for ${step.chapter} needs ${need}, which is not an earlier chapter with a step of its own`,
        );
      }
    }
  }

  const waiting = new Map<string, string>();
  for (const entry of noExampleYet) {
    if (!place.has(entry.chapter)) {
      problems.push(
        `${STEPS_FILE}: NO_EXAMPLE_YET lists ${entry.chapter}, which lit.json does not list; remove the entry`,
      );
    }
    if (entry.reason.trim() === "") {
      problems.push(
        `${STEPS_FILE}: NO_EXAMPLE_YET lists ${entry.chapter} without a reason; say why it has no example yet`,
      );
    }
    if (stepped.has(entry.chapter)) {
      problems.push(
        `${STEPS_FILE}: ${entry.chapter} has a step in TOUR and is in NO_EXAMPLE_YET; remove it from NO_EXAMPLE_YET`,
      );
    }
    waiting.set(entry.chapter, entry.reason);
  }

  for (const chapter of book) {
    if (!stepped.has(chapter.path) && !waiting.has(chapter.path)) {
      problems.push(
        `${STEPS_FILE}: chapter ${chapter.number} (${chapter.path}) is not in the tour; add a step for its example to TOUR, or list it in NO_EXAMPLE_YET with the reason`,
      );
    }
  }

  const run = new Set(steps.map((step) => step.example));
  for (const example of examples) {
    if (!run.has(example.path)) {
      const from = example.chapter === undefined
        ? ""
        : ` (from ${example.chapter})`;
      problems.push(
        `${STEPS_FILE}: ${example.path}${from} is an example no step of the tour runs; add a step for it to TOUR`,
      );
    }
  }
  return problems;
}
