/**
 * `npm start`: the guided tour. Tangles the chapters and checks the generated
 * files (a fresh clone proves itself consistent), then serves the development
 * homeserver on a free loopback port and runs every chapter's example against
 * it, in book order, narrating each step. The steps are in
 * `scripts/tour/steps.ts`.
 *
 * Usage: npm start [-- --help | --list | --only CHAPTER | --no-tangle]
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { main as lit } from "../lit/mod.ts";
import {
  type Chapter,
  checkTour,
  readBook,
  readExamples,
} from "./tour/book.ts";
import { NO_EXAMPLE_YET, TOUR, type TourStep } from "./tour/steps.ts";
import { runTour, seconds } from "./tour/tour.ts";

const HELP = `Usage: npm start [-- OPTIONS]      (or: deno task start [OPTIONS])

The guided tour of the book. It tangles the chapters (npm run lit -- tangle),
checks the generated files against them (npm run lit -- check), serves the
development homeserver on 127.0.0.1 and a free port, and runs every chapter's
example against it in book order, as a reader would: each with the narrowest
Deno permissions, the password in MATRIX_PASSWORD, the session file in a
scratch directory. Passwords and tokens are never shown. The server stops and
the scratch directory is removed at the end, on failure and on Ctrl+C.

Options:
  --only CHAPTER  run only this chapter's steps (and those it needs): a number
                  (3), a file name (03_password_login) or a path
                  (chapters/03_password_login.md); repeatable
  --list          list the steps and the chapters without an example, and exit
  --no-tangle     skip tangling and checking; run the examples as they are
  -h, --help      this text

Exit status: 0 when every step passed, 1 when one failed, 2 for a wrong
command line, 130 when interrupted.`;

/** The project root: the folder above scripts/. */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What {@linkcode main} can be given besides the command line. */
export interface StartOptions {
  /** Aborted on Ctrl+C: the tour stops, cleans up, and exits 130. */
  signal?: AbortSignal;
  /** The steps. Default: {@linkcode TOUR}. */
  steps?: TourStep[];
  /** Where the narration goes. Default: standard output, as it is written. */
  out?: (text: string) => void;
  /** Where problems go. Default: standard error. */
  err?: (text: string) => void;
  /** Colours. Default: when stdout is a terminal and NO_COLOR is not set. */
  color?: boolean;
}

/**
 * Writes all of `text` at once, unbuffered, so each step shows as it runs. A
 * reader who closed the pipe (`npm start | head`) wants no more output; the
 * tour still runs to its end and cleans up.
 */
function writeAll(file: { writeSync(p: Uint8Array): number }, text: string) {
  let bytes = new TextEncoder().encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/** A wrong command line: one line, the hint, status 2. */
class UsageError extends Error {}

/** The chapter `--only` names, by number, file name or path. */
function findChapter(book: Chapter[], name: string): Chapter {
  const bare = name.replace(/^chapters\//, "").replace(/\.md$/, "");
  const found = book.find((chapter) =>
    chapter.path === name ||
    chapter.path === `chapters/${bare}.md` ||
    (/^\d+$/.test(name) && chapter.number === Number(name))
  );
  if (found === undefined) {
    const known = book.map((c) => `${c.number} (${c.path})`).join(", ");
    throw new UsageError(
      `--only ${name}: no such chapter; the book has ${known}`,
    );
  }
  return found;
}

/** The steps for `--only`: those of the named chapters and what they need. */
function selectSteps(
  book: Chapter[],
  tour: TourStep[],
  only: string[],
): TourStep[] {
  if (only.length === 0) return tour;
  const wanted = new Set(only.map((name) => findChapter(book, name).path));
  // Needs point to earlier chapters, so one pass from the end collects them.
  for (const step of [...tour].reverse()) {
    if (wanted.has(step.chapter)) {
      for (const need of step.needs ?? []) wanted.add(need);
    }
  }
  const steps = tour.filter((step) => wanted.has(step.chapter));
  if (steps.length === 0) {
    const chapters = [...wanted].join(", ");
    throw new UsageError(
      `--only: ${chapters} has no example in the tour yet (see --list)`,
    );
  }
  return steps;
}

/** What --list prints. */
function list(book: Chapter[], tour: TourStep[]): string {
  const lines = ["The tour, in book order:"];
  for (const chapter of book) {
    for (const step of tour.filter((s) => s.chapter === chapter.path)) {
      lines.push(
        `  ${
          String(chapter.number).padStart(2)
        }  ${chapter.title}: ${step.example} (${step.shows})`,
      );
    }
    const waiting = NO_EXAMPLE_YET.find((e) => e.chapter === chapter.path);
    if (waiting) {
      lines.push(
        `  ${
          String(chapter.number).padStart(2)
        }  ${chapter.title}: no example yet (${waiting.reason})`,
      );
    }
  }
  return lines.join("\n");
}

/** Runs `npm start` with `args`; returns the exit status. */
export async function main(
  args: string[],
  options: StartOptions = {},
): Promise<number> {
  const started = performance.now();
  const { signal, steps: tour = TOUR } = options;
  const write = options.out ?? ((text: string) => writeAll(Deno.stdout, text));
  const fail = options.err ??
    ((text: string) => writeAll(Deno.stderr, text));
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        only: { type: "string", multiple: true },
        list: { type: "boolean" },
        "no-tangle": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail(`npm start: ${(error as Error).message} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    write(`${HELP}\n`);
    return 0;
  }
  const color = options.color ??
    (Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR"));
  const bold = (text: string) => color ? `\x1b[1m${text}\x1b[0m` : text;

  // The book and the steps first: a wrong --only is refused before any work.
  let book: Chapter[];
  let steps: TourStep[];
  try {
    book = readBook(ROOT);
    steps = selectSteps(book, tour, values.only ?? []);
  } catch (error) {
    if (error instanceof UsageError) {
      fail(`npm start: ${error.message}\n`);
      return 2;
    }
    fail(`npm start: cannot read the book: ${(error as Error).message}\n`);
    return 1;
  }

  if (!values.list) {
    write(
      "The matrixlib tour: every chapter's example, in book order, against a development homeserver.\n",
    );
  }
  if (!values["no-tangle"] && !values.list) {
    write(
      bold("\n== Tangling the chapters (npm run lit -- tangle)") + "\n",
    );
    if (await lit(["tangle"]) !== 0) {
      fail(
        "npm start: tangling failed (the problems are above); fix the chapters, then run npm start again.\n",
      );
      return 1;
    }
    write(
      bold(
        "\n== Checking the generated files against the chapters (npm run lit -- check)",
      ) + "\n",
    );
    if (await lit(["check"]) !== 0) {
      fail(
        "npm start: the generated files differ from the chapters (see above); run npm run lit -- tangle.\n",
      );
      return 1;
    }
  }
  if (signal?.aborted) {
    write("\nInterrupted before the homeserver started.\n");
    return 130;
  }

  // After tangling, which may have added or removed examples.
  const problems = checkTour(book, tour, NO_EXAMPLE_YET, readExamples(ROOT));
  if (problems.length > 0) {
    fail(
      `npm start: the tour does not match the book:\n${
        problems.map((p) => `  ${p}\n`).join("")
      }`,
    );
    return 1;
  }
  if (values.list) {
    write(`${list(book, tour)}\n`);
    return 0;
  }

  const result = await runTour({
    root: ROOT,
    book,
    steps,
    noExampleYet: values.only ? [] : NO_EXAMPLE_YET,
    write,
    color,
    signal,
  });
  const total = seconds(performance.now() - started);
  const count = `${result.steps.length} step${
    result.steps.length === 1 ? "" : "s"
  }`;
  if (result.outcome === "interrupted") {
    write(
      `\nInterrupted after ${count}; the homeserver is stopped and the scratch directory removed.\n`,
    );
    return 130;
  }
  if (result.outcome === "failed") {
    const failed = result.steps.at(-1)!;
    const chapter = book.find((c) => c.path === failed.chapter);
    write(
      `\n${
        bold("The tour stopped")
      }: chapter ${chapter?.number} (${failed.chapter}) failed: ${failed.problem}.\n` +
        `  Command: ${failed.command}\n` +
        `  Its output is above. Try it yourself against npm run devserver, or read the chapter's example section.\n`,
    );
    return 1;
  }
  write(`
${bold(`${count}, all passed in ${total}.`)}
Next:
  read   chapters/00_introduction.md  (the book starts there)
  run    npm test                     (every chapter's tests, and lit's own)
  try    npm run devserver            (the same homeserver on localhost:8008,
                                       for running the examples yourself)
  write  npm run lit -- watch         (re-tangles as you edit a chapter)
`);
  return 0;
}

if (import.meta.main) {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    Deno.exitCode = await main(Deno.args, { signal: controller.signal });
  } catch (error) {
    // Not expected (a disk error, say): one line, not a stack trace.
    console.error(`npm start: ${(error as Error).message ?? error}`);
    Deno.exitCode = 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
