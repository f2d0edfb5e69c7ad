/**
 * Transcripts: the `console` blocks in which a chapter shows a command and
 * what it prints. Each is run against the development homeserver and
 * compared with what the chapter shows, so that the book cannot show output
 * its code no longer produces.
 *
 * A fenced block is a transcript when its info string's first word is
 * `console`; every line starting with `$ ` is a command, and the lines after
 * it, up to the next command, are what it prints. A block meant only as an
 * illustration says so: ```` ```console illustrative ````. A `console` block
 * that is neither is an error, so that a transcript cannot go stale
 * unnoticed.
 *
 * After `console`, a transcript's info string may hold options, as
 * `NAME=value` words:
 *
 * - `lifetime=MS`: the block's homeserver gives access tokens that live `MS`
 *   milliseconds (a whole number, 1 or more), with refresh tokens, as
 *   `devserver/server.ts` does with `accessTokenLifetimeMs`; without it,
 *   tokens never expire. For a transcript that shows a renewal:
 *   ```` ```console lifetime=3000 ````.
 * - `citadel`: the block's homeserver speaks Thales Citadel's dialect
 *   (`createCitadelHomeserver` of `devserver/citadel.ts`): its portal at
 *   `http://localhost:8008/api/get_domain`, login by email at `r1/login`,
 *   `tokenrefresh`, `401 M_EXPIRED_TOKEN`; its access tokens live 5 minutes
 *   unless `lifetime=MS` says otherwise. A word without a value:
 *   ```` ```console citadel lifetime=3000 ````.
 * - `oauth`: the block's homeserver offers the OAuth 2.0 API only
 *   (`createHomeserver`'s `oauth: "only"`, chapter 9). Not with `citadel`.
 *
 * Any other word, a repeated option or a bad value is an error at the
 * fence's chapter line, as is an option on an illustrative block, which is
 * not run.
 *
 * How a block runs (see README.md, "Transcripts"):
 *
 * - each block gets a fresh homeserver (seeded: the same requests give the
 *   same device IDs; its tokens expire only with `lifetime=MS`, or with
 *   `citadel`) reached
 *   through {@linkcode startNetwork}, and a fresh
 *   temporary working directory, shared by its commands and deleted after;
 * - a script path is resolved against the project root;
 * - the environment holds only what Deno needs (`PATH`, `HOME`, …), the
 *   proxy, `NO_COLOR=1`, `DENO_NO_UPDATE_CHECK=1`, and the command's
 *   `NAME=value` prefixes;
 * - standard input is empty unless `printf` pipes something;
 * - what a command prints is its standard output, then its standard error.
 *
 * @module
 */
import MarkdownIt from "markdown-it/browser";
import { structuredPatch } from "diff";
import { isAbsolute, join, resolve } from "node:path";
import { splitLines } from "../../lit/mod.ts";
import { type Command, CommandError, parseCommand } from "./command.ts";
import { startNetwork, TRANSCRIPT_HOMESERVER } from "./network.ts";
import { createCitadelHomeserver } from "../../devserver/citadel.ts";

/** The info-string word that marks a `console` block as not run. */
export const ILLUSTRATIVE = "illustrative";

/** The info-string option giving the homeserver's access-token lifetime. */
export const LIFETIME = "lifetime";

/** The info-string option giving the homeserver Thales Citadel's dialect. */
export const CITADEL = "citadel";

/** The info-string option giving the homeserver the OAuth 2.0 API only. */
export const OAUTH = "oauth";

/** What a transcript's info string may say after `console`, for messages. */
const OPTIONS_HELP =
  `write \`\`\`console ${ILLUSTRATIVE} for a block that is ` +
  `not run, \`\`\`console ${LIFETIME}=MS (such as ${LIFETIME}=3000) for ` +
  "a transcript whose homeserver's access tokens live MS milliseconds, or " +
  `\`\`\`console ${CITADEL} for one whose homeserver speaks Thales ` +
  `Citadel's dialect, or \`\`\`console ${OAUTH} for one whose homeserver ` +
  "offers the OAuth 2.0 API only";

/** A transcript block's info-string options, read; or why they are wrong. */
type BlockOptions =
  | { illustrative: true }
  | {
    illustrative: false;
    lifetimeMs?: number;
    citadel: boolean;
    oauth: boolean;
  }
  | { problem: string };

/** Reads the words after `console` in a fence's info string. */
function readBlockOptions(words: string[]): BlockOptions {
  let illustrative = false;
  let lifetimeMs: number | undefined;
  let citadel = false;
  let oauth = false;
  for (const word of words) {
    if (word === ILLUSTRATIVE) {
      if (illustrative) return { problem: `"${word}" is given twice` };
      illustrative = true;
      continue;
    }
    const at = word.indexOf("=");
    const name = at < 0 ? word : word.slice(0, at);
    if (name === CITADEL || name === OAUTH) {
      if (at >= 0) {
        return {
          problem: `"${word}" takes no value: write ${name} alone`,
        };
      }
      if (name === CITADEL ? citadel : oauth) {
        return { problem: `"${name}" is given twice` };
      }
      if (name === CITADEL) citadel = true;
      else oauth = true;
      continue;
    }
    if (name !== LIFETIME) {
      return {
        problem: `unknown console block option "${word}": ${OPTIONS_HELP}`,
      };
    }
    if (lifetimeMs !== undefined) {
      return { problem: `"${LIFETIME}" is given twice: give it once` };
    }
    const value = at < 0 ? undefined : word.slice(at + 1);
    if (
      value === undefined || !/^[1-9][0-9]*$/.test(value) ||
      !Number.isSafeInteger(Number(value))
    ) {
      return {
        problem: `"${word}" needs a lifetime in milliseconds, a whole ` +
          `number of 1 or more: write ${LIFETIME}=MS, such as ${LIFETIME}=3000`,
      };
    }
    lifetimeMs = Number(value);
  }
  if (citadel && oauth) {
    return {
      problem:
        `"${CITADEL}" and "${OAUTH}" are two different homeservers: give one`,
    };
  }
  if (illustrative && (lifetimeMs !== undefined || citadel || oauth)) {
    const option = lifetimeMs !== undefined
      ? LIFETIME
      : citadel
      ? CITADEL
      : OAUTH;
    return {
      problem: `an ${ILLUSTRATIVE} block is not run, so "${option}" has ` +
        `no effect: remove one of the two`,
    };
  }
  return illustrative
    ? { illustrative }
    : { illustrative, lifetimeMs, citadel, oauth };
}

/** One command of a transcript, and what the chapter says it prints. */
export interface Step {
  /** 1-based chapter line of the `$ ` line. */
  line: number;
  /** The command's lines as written, `$ ` and `> ` prefixes included. */
  source: string[];
  /** The command line, continuation lines joined, without `$ `. */
  command: string;
  /** The lines the chapter shows as its output. */
  expected: string[];
}

/** A `console` block that is run. */
export interface Transcript {
  /** The chapter, as given (project-relative in the book). */
  file: string;
  /** 1-based chapter line of the opening fence. */
  line: number;
  /** 0-based chapter lines of the content: first, and one past the last. */
  contentStart: number;
  contentEnd: number;
  /** What stands before the fence on its line, such as `> ` in a quote. */
  prefix: string;
  /**
   * The homeserver's access-token lifetime in milliseconds, from the
   * info string's `lifetime=MS`; `undefined`: tokens never expire.
   */
  lifetimeMs?: number;
  /** Whether the homeserver speaks Thales Citadel's dialect (`citadel`). */
  citadel?: boolean;
  /** Whether the homeserver offers the OAuth 2.0 API only (`oauth`). */
  oauth?: boolean;
  steps: Step[];
}

/** A problem with a transcript, at a chapter line. */
export interface Problem {
  file: string;
  line: number;
  message: string;
}

/** What reading a chapter's transcripts produced. */
export interface ChapterTranscripts {
  transcripts: Transcript[];
  problems: Problem[];
}

const md = new MarkdownIt("commonmark");
md.core.ruler.disable(["inline", "text_join"], true);

/**
 * Finds the transcripts in a chapter's text, with a problem for each
 * `console` block that is neither a transcript nor marked illustrative.
 */
export function findTranscripts(
  file: string,
  text: string,
): ChapterTranscripts {
  const transcripts: Transcript[] = [];
  const problems: Problem[] = [];
  const source = splitLines(text);
  for (const token of md.parse(text, {})) {
    if (token.type !== "fence" || !token.map) continue;
    const [lang, ...words] = token.info.trim().split(/\s+/);
    if (lang.toLowerCase() !== "console") continue;
    const line = token.map[0] + 1;
    const options = readBlockOptions(words);
    if ("problem" in options) {
      problems.push({ file, line, message: options.problem });
      continue;
    }
    if (options.illustrative) continue;
    const fenceLine = source[token.map[0]];
    const fenceAt = fenceLine.indexOf(token.markup);
    const closing = source[token.map[1] - 1]?.trim() ?? "";
    const closed = token.map[1] - token.map[0] >= 2 &&
      closing.replace(/^(>\s*)+/, "").startsWith(token.markup);
    const content = token.content.endsWith("\n")
      ? token.content.slice(0, -1)
      : token.content;
    const lines = content === "" ? [] : content.split("\n");
    if (!lines.some((l) => l.startsWith("$ "))) {
      problems.push({
        file,
        line,
        message: "this console block has no command (a line starting " +
          'with "$ "): make it a transcript, or mark it as an illustration ' +
          `with \`\`\`console ${ILLUSTRATIVE}`,
      });
      continue;
    }
    if (!closed) {
      problems.push({
        file,
        line,
        message: "this transcript's fence is never closed: close it",
      });
      continue;
    }
    const steps: Step[] = [];
    let bad = false;
    for (let i = 0; i < lines.length; i++) {
      const chapterLine = line + 1 + i;
      const text = lines[i];
      if (!text.startsWith("$ ")) {
        if (steps.length === 0) {
          problems.push({
            file,
            line: chapterLine,
            message:
              'a transcript starts with a command, a line starting with "$ "',
          });
          bad = true;
          break;
        }
        steps.at(-1)!.expected.push(text);
        continue;
      }
      const step: Step = {
        line: chapterLine,
        source: [text],
        command: text.slice(2),
        expected: [],
      };
      // A line ending in a backslash continues on the next, which a shell
      // shows after its "> " prompt.
      while (step.command.endsWith("\\")) {
        const next = lines[i + 1];
        if (next === undefined || !next.startsWith("> ")) {
          problems.push({
            file,
            line: chapterLine,
            message: 'a command ending in "\\" continues on a line ' +
              'starting with "> "',
          });
          bad = true;
          break;
        }
        i++;
        step.source.push(next);
        step.command = step.command.slice(0, -1) + next.slice(2);
      }
      steps.push(step);
    }
    if (bad) continue;
    transcripts.push({
      file,
      line,
      contentStart: token.map[0] + 1,
      contentEnd: token.map[1] - 1,
      // Lines inside a list item or a block quote need the same container
      // prefix, with list markers turned into spaces.
      prefix: fenceLine.slice(0, fenceAt).replace(/[^>\s]/g, " "),
      ...(options.lifetimeMs === undefined
        ? {}
        : { lifetimeMs: options.lifetimeMs }),
      ...(options.citadel ? { citadel: true } : {}),
      ...(options.oauth ? { oauth: true } : {}),
      steps,
    });
  }
  return { transcripts, problems };
}

/** Options for {@linkcode runTranscript}. */
export interface RunOptions {
  /** The project root, against which script paths are resolved. */
  root: string;
}

/** What one command printed, compared with the chapter. */
export interface StepResult {
  step: Step;
  /** What it printed: standard output, then standard error. */
  actual: string[];
  /** A problem that is not a difference: cannot run, a secret shown, … */
  problem?: string;
}

/** A transcript, run. */
export interface TranscriptResult {
  transcript: Transcript;
  steps: StepResult[];
  /** Requests that left the transcript's network. */
  strays: string[];
}

/** Variables kept from the checker's environment: what Deno itself needs. */
const KEPT_ENV = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "TMPDIR",
  "TMP",
  "TEMP",
  "SYSTEMROOT",
  "USERPROFILE",
  "LOCALAPPDATA",
  "APPDATA",
];

/** Secrets that must never be printed: passwords and token-shaped words. */
function secretIn(output: string): string | undefined {
  for (const user of TRANSCRIPT_HOMESERVER.users ?? []) {
    if (new RegExp(`\\b${user.password}\\b`).test(output)) {
      return `the password of ${user.localpart}`;
    }
  }
  return /\bsy[a-z]_[A-Za-z0-9_]+/.test(output) ? "a token" : undefined;
}

/** Runs a transcript's commands in order, each against the same homeserver. */
export async function runTranscript(
  transcript: Transcript,
  options: RunOptions,
): Promise<TranscriptResult> {
  const network = startNetwork(
    {
      ...TRANSCRIPT_HOMESERVER,
      accessTokenLifetimeMs: transcript.lifetimeMs,
      ...(transcript.oauth ? { oauth: "only" as const } : {}),
    },
    transcript.citadel ? createCitadelHomeserver : undefined,
  );
  const cwd = await Deno.makeTempDir({ prefix: "transcript-" });
  // A command may run another as an option's value (a headless browser,
  // `deno run … devserver/oauth_browser.ts`): the development homeserver's
  // folder is where a reader's would be, beside the files the commands write.
  await Deno.symlink(
    resolve(options.root, "devserver"),
    join(cwd, "devserver"),
  );
  // Deno checks for a newer version of itself (at dl.deno.land) in
  // commands that run for a second or more: transcripts run offline.
  const env: Record<string, string> = {
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    ...network.env,
  };
  for (const name of KEPT_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const results: StepResult[] = [];
  let status = 0;
  try {
    for (const step of transcript.steps) {
      let command: Command;
      try {
        command = parseCommand(step.command);
      } catch (error) {
        if (!(error instanceof CommandError)) throw error;
        results.push({ step, actual: [], problem: error.message });
        break; // the commands after it may depend on it
      }
      let output: string;
      if (command.kind === "echo") {
        output = command.words.map((w) => w ?? String(status)).join(" ") +
          "\n";
      } else {
        const args = [...command.args];
        const script = args[command.scriptIndex];
        if (!/^[a-z]+:/.test(script) && !isAbsolute(script)) {
          args[command.scriptIndex] = resolve(options.root, script);
        }
        const child = new Deno.Command(Deno.execPath(), {
          args,
          cwd,
          clearEnv: true,
          env: { ...env, ...command.env },
          stdin: command.stdin === undefined ? "null" : "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        if (command.stdin !== undefined) {
          const writer = child.stdin.getWriter();
          await writer.write(new TextEncoder().encode(command.stdin));
          await writer.close();
        }
        const done = await child.output();
        status = done.code;
        const decoder = new TextDecoder();
        output = decoder.decode(done.stdout) + decoder.decode(done.stderr);
      }
      output = output.replace(/\r\n/g, "\n").replace(/\n$/, "");
      const actual = output === "" ? [] : output.split("\n");
      const secret = secretIn(output);
      results.push({
        step,
        actual,
        problem: secret === undefined
          ? undefined
          : `the command printed ${secret}; no example may print a secret`,
      });
    }
  } finally {
    await network.close();
    await Deno.remove(cwd, { recursive: true });
  }
  return { transcript, steps: results, strays: network.strays };
}

/** Whether a transcript ran without problems and printed what it shows. */
export function passed(result: TranscriptResult): boolean {
  return result.strays.length === 0 &&
    result.steps.length === result.transcript.steps.length &&
    result.steps.every((s) =>
      s.problem === undefined && same(s.actual, s.step.expected)
    );
}

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((line, i) => line === b[i]);
}

/**
 * The report for a transcript that did not pass: for each command that
 * printed something else, `FILE:LINE`, the command, and a unified diff from
 * the chapter to the actual output; problems and stray requests likewise.
 * Secrets are never quoted: a step that printed one is reported without its
 * output.
 */
export function report(result: TranscriptResult): string {
  const { transcript } = result;
  const out: string[] = [];
  for (const { step, actual, problem } of result.steps) {
    const where = `${transcript.file}:${step.line}`;
    if (problem !== undefined) {
      out.push(`${where}: error: ${problem}\n  $ ${step.command}`);
      continue;
    }
    if (same(actual, step.expected)) continue;
    const patch = structuredPatch(
      "",
      "",
      step.expected.map((l) => l + "\n").join(""),
      actual.map((l) => l + "\n").join(""),
      "",
      "",
      { context: 3 },
    );
    // Old line numbers count from the command's line, so that they are
    // chapter lines.
    const first = step.line + step.source.length - 1;
    out.push(
      `${where}: error: the output differs from the transcript ` +
        `(- in the chapter, + printed now)\n  $ ${step.command}\n` +
        `--- ${transcript.file}\n+++ (printed now)\n` +
        patch.hunks.map((h) =>
          `@@ -${
            h.oldStart + first
          },${h.oldLines} +${h.newStart},${h.newLines} @@\n` +
          h.lines.map((l) => l + "\n").join("")
        ).join(""),
    );
  }
  if (result.steps.length < transcript.steps.length) {
    const skipped = transcript.steps.length - result.steps.length;
    out.push(
      `${transcript.file}:${transcript.line}: note: ${skipped} later ` +
        `command${skipped === 1 ? " was" : "s were"} not run`,
    );
  }
  for (const stray of result.strays) {
    out.push(
      `${transcript.file}:${transcript.line}: error: a command sent ${stray}, ` +
        "but transcripts run offline: only the development homeserver at " +
        "localhost:8008 answers, and .invalid names fail to resolve. Use " +
        "those, or mark the block ```console illustrative",
    );
  }
  return out.join("\n");
}

/**
 * The chapter text with the transcript's output replaced by what its
 * commands printed. Throws if the result could not be read back as the same
 * transcript.
 */
export function updatedText(text: string, result: TranscriptResult): string {
  const { transcript } = result;
  const content: string[] = [];
  for (const { step, actual, problem } of result.steps) {
    if (problem !== undefined) {
      throw new Error(
        `${transcript.file}:${step.line}: cannot update: ${problem}`,
      );
    }
    const ambiguous = actual.find((l) => l.startsWith("$ "));
    if (ambiguous !== undefined) {
      throw new Error(
        `${transcript.file}:${step.line}: cannot update: the output line ` +
          `${JSON.stringify(ambiguous)} would read as a command`,
      );
    }
    content.push(...step.source, ...actual);
  }
  if (result.steps.length < transcript.steps.length) {
    throw new Error(
      `${transcript.file}:${transcript.line}: cannot update: not every command ran`,
    );
  }
  const newline = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  lines.splice(
    transcript.contentStart,
    transcript.contentEnd - transcript.contentStart,
    // An empty line inside a container keeps the container's marker only.
    ...content.map((l) =>
      l === "" ? transcript.prefix.trimEnd() : transcript.prefix + l
    ),
  );
  return lines.join(newline);
}

/** Reads `lit.json`'s chapter list. */
export async function bookChapters(root: string): Promise<string[]> {
  const config = JSON.parse(
    await Deno.readTextFile(join(root, "lit.json")),
  ) as { chapters?: unknown };
  if (
    !Array.isArray(config.chapters) ||
    !config.chapters.every((c) => typeof c === "string")
  ) {
    throw new Error(
      'lit.json must list the chapters: {"chapters": ["chapters/00_introduction.md", …]}',
    );
  }
  return config.chapters;
}
