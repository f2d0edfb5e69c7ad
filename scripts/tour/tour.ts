/**
 * Runs the tour's steps against a development homeserver served in this
 * process, narrating each one: its chapter, what it shows, the exact command,
 * the example's output, and what the server saw.
 *
 * @module
 */
import { join } from "node:path";
import {
  type ServedHomeserver,
  serveHomeserver,
} from "../../devserver/serve.ts";
import {
  type CitadelHomeserver,
  createCitadelHomeserver,
} from "../../devserver/citadel.ts";
import type { RequestLogEntry } from "../../devserver/server.ts";
import type { Chapter } from "./book.ts";
import type { NoExampleYet, TourContext, TourStep } from "./steps.ts";

/** The tour's user. Its password is only ever passed in the environment. */
export const TOUR_USER: {
  localpart: string;
  password: string;
  emails: string[];
} = {
  localpart: "alice",
  password: "secret",
  emails: ["alice@example.org"],
};

/**
 * How long access tokens live. Short, so that the refresh-token chapter can
 * wait one out without making the tour slow.
 */
export const ACCESS_TOKEN_LIFETIME_MS = 3_000;

/** What {@linkcode runTour} is told. */
export interface TourOptions {
  /** The project root: examples run from there, as a reader runs them. */
  root: string;
  /** The chapters, in book order (for numbers and titles). */
  book: Chapter[];
  /** The steps to run, in order. */
  steps: TourStep[];
  /** Chapters without an example yet, mentioned where they come in the book. */
  noExampleYet?: NoExampleYet[];
  /** Where the narration goes. */
  write(text: string): void;
  /** Bold headings and coloured verdicts. Default: `false`. */
  color?: boolean;
  /** Stops the tour (Ctrl+C): the running example is stopped too. */
  signal?: AbortSignal;
  /** How long one example may run before it is stopped. Default: 60 s. */
  stepTimeoutMs?: number;
}

/** How one step went. */
export interface StepResult {
  chapter: string;
  example: string;
  /** The command as shown (no secret in it). */
  command: string;
  passed: boolean;
  /** What went wrong, when it did not pass. */
  problem?: string;
  ms: number;
}

/** How the tour went. */
export interface TourResult {
  outcome: "passed" | "failed" | "interrupted";
  steps: StepResult[];
  /** The homeserver's URL (it no longer answers). */
  url: string;
  /** The scratch directory (already removed). */
  dir: string;
}

/** Quotes an argument for a POSIX shell, only when it needs it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg)
    ? arg
    : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Tokens shaped like Synapse's access and refresh tokens. */
const TOKEN_SHAPE_RE = /\bsy[tr]_[A-Za-z0-9_-]{8,}/;

/** Every string under a key that names a token, in a parsed JSON value. */
function tokensIn(value: unknown, key = ""): string[] {
  if (typeof value === "string") return /token/i.test(key) ? [value] : [];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => tokensIn(v, k));
}

/**
 * The secrets the tour knows of: the password, every secret environment value,
 * and the tokens in the session file (when there is one).
 */
async function knownSecrets(
  tour: TourContext,
  env: Record<string, string>,
): Promise<string[]> {
  const secrets = [tour.password, ...Object.values(env)];
  try {
    secrets.push(
      ...tokensIn(JSON.parse(await Deno.readTextFile(tour.sessionFile))),
    );
  } catch {
    // No session yet, or not JSON: no token to look for.
  }
  return secrets.filter((s) => s !== "");
}

/** Why `output` may not be shown, or `undefined` if it has no secret in it. */
function leak(output: string, secrets: string[]): string | undefined {
  if (secrets.some((secret) => output.includes(secret))) {
    return "a password or token the tour knows";
  }
  if (TOKEN_SHAPE_RE.test(output)) return "something shaped like a token";
  return undefined;
}

/** "2 requests: GET /a 200, POST /b 403 M_FORBIDDEN" */
function describeRequests(requests: RequestLogEntry[]): string {
  const count = `${requests.length} request${requests.length === 1 ? "" : "s"}`;
  if (requests.length === 0) return `${count}.`;
  const list = requests.map((r) =>
    `${r.method} ${r.path} ${r.status}${r.errcode ? ` ${r.errcode}` : ""}`
  );
  return `${count}: ${list.join(", ")}.`;
}

/** A duration for people: "41 ms", "1.2 s". */
export function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Joins the words of a command, continuing it on the next line (with ` \`,
 * as a shell reads it) before it passes `width` columns.
 */
export function wrapCommand(words: string[], width = 76): string {
  // An option and its value stay on one line: "--session FILE".
  const units: string[] = [];
  for (const word of words) {
    const previous = units.at(-1);
    if (
      previous !== undefined && /^--[\w-]+$/.test(previous) &&
      !word.startsWith("-")
    ) {
      units[units.length - 1] = `${previous} ${word}`;
    } else {
      units.push(word);
    }
  }
  const lines: string[] = [];
  let line = "";
  for (const word of units) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = "  " + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join(" \\\n     ");
}

/**
 * Serves a development homeserver on 127.0.0.1 and a free port, runs each
 * step's example against it, and narrates. A step that asks for the Citadel
 * dialect gets a second server, in that dialect, started when first needed.
 * Stops at the first failing step. Whatever happens, the servers are stopped
 * and the scratch directory removed before this returns.
 */
export async function runTour(options: TourOptions): Promise<TourResult> {
  const { root, book, steps, write, signal } = options;
  const paint = (code: string) => (text: string) =>
    options.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  const bold = paint("1");
  const green = paint("32");
  const red = paint("31");
  const chapters = new Map(book.map((chapter) => [chapter.path, chapter]));
  const waiting = new Map(
    (options.noExampleYet ?? []).map((e) => [e.chapter, e.reason]),
  );
  const results: StepResult[] = [];
  let requests: RequestLogEntry[] = [];
  let citadel: ServedHomeserver<CitadelHomeserver> | undefined;
  let oauth: ServedHomeserver | undefined;

  const served = await serveHomeserver({
    hostname: "127.0.0.1",
    users: [TOUR_USER],
    accessTokenLifetimeMs: ACCESS_TOKEN_LIFETIME_MS,
    onRequest: (entry) => requests.push(entry),
  });
  let dir = "";
  try {
    dir = await Deno.makeTempDir({ prefix: "matrixlib-tour-" });
    const userId = `@${TOUR_USER.localpart}:${served.homeserver.serverName}`;
    const tour: TourContext = {
      url: served.url,
      host: `127.0.0.1:${served.port}`,
      localpart: TOUR_USER.localpart,
      userId,
      password: TOUR_USER.password,
      accessTokenLifetimeMs: ACCESS_TOKEN_LIFETIME_MS,
      dir,
      sessionFile: join(dir, "matrix_session.json"),
      email: TOUR_USER.emails[0],
      devices: () =>
        served.homeserver.devices(userId).map((device) => device.deviceId),
    };
    /** The context of a step on the Citadel server, once it is served. */
    let citadelTour: TourContext | undefined;
    const citadelContext = async (): Promise<TourContext> => {
      if (citadelTour !== undefined) return citadelTour;
      citadel = await serveHomeserver({
        hostname: "127.0.0.1",
        users: [TOUR_USER],
        accessTokenLifetimeMs: ACCESS_TOKEN_LIFETIME_MS,
        onRequest: (entry) => requests.push(entry),
      }, createCitadelHomeserver);
      const server = citadel;
      const citadelUser =
        `@${TOUR_USER.localpart}:${server.homeserver.serverName}`;
      write(
        `\n${
          bold(`== Thales Citadel development homeserver at ${server.url}`)
        }\n` +
          `   For the chapter on Citadel's dialect: its portal is at\n` +
          `   ${server.homeserver.portalUrl}/api/get_domain, and ${
            TOUR_USER.emails[0]
          } logs in there by email.\n`,
      );
      citadelTour = {
        ...tour,
        url: server.url,
        host: `127.0.0.1:${server.port}`,
        userId: citadelUser,
        devices: () =>
          server.homeserver.devices(citadelUser).map((d) => d.deviceId),
      };
      return citadelTour;
    };
    /** The context of a step on the OAuth 2.0 server, once it is served. */
    let oauthTour: TourContext | undefined;
    const oauthContext = async (): Promise<TourContext> => {
      if (oauthTour !== undefined) return oauthTour;
      oauth = await serveHomeserver({
        hostname: "127.0.0.1",
        users: [TOUR_USER],
        accessTokenLifetimeMs: ACCESS_TOKEN_LIFETIME_MS,
        oauth: "only",
        onRequest: (entry) => requests.push(entry),
      });
      const server = oauth;
      const oauthUser =
        `@${TOUR_USER.localpart}:${server.homeserver.serverName}`;
      write(
        `\n${bold(`== OAuth 2.0 development homeserver at ${server.url}`)}\n` +
          `   For the chapter on the OAuth 2.0 API: it offers that API only, as a\n` +
          `   homeserver behind the Matrix Authentication Service may.\n`,
      );
      oauthTour = {
        ...tour,
        url: server.url,
        host: `127.0.0.1:${server.port}`,
        userId: oauthUser,
        devices: () =>
          server.homeserver.devices(oauthUser).map((d) => d.deviceId),
      };
      return oauthTour;
    };
    write(
      `\n${bold(`== Development homeserver at ${served.url}`)}\n` +
        `   User ${userId} (also ${
          TOUR_USER.emails[0]
        }). Its password reaches the\n` +
        `   examples through MATRIX_PASSWORD and is never shown.\n` +
        `   Access tokens expire after ${
          seconds(ACCESS_TOKEN_LIFETIME_MS)
        } for clients that take refresh tokens.\n` +
        `   Scratch directory for the session file: ${dir} (removed at the end).\n`,
    );

    const indexOf = (path: string) => book.findIndex((c) => c.path === path);
    /** Mentions the chapters without an example before book index `end`. */
    let mentioned = -1;
    const mentionWaiting = (end: number) => {
      for (const chapter of book.slice(mentioned + 1, end)) {
        const reason = waiting.get(chapter.path);
        if (reason !== undefined) {
          write(
            `\n== Chapter ${chapter.number}, ${chapter.title}: no example yet (${reason})\n`,
          );
        }
      }
      mentioned = Math.max(mentioned, end - 1);
    };

    for (const step of steps) {
      mentionWaiting(indexOf(step.chapter));
      if (signal?.aborted) {
        return { outcome: "interrupted", steps: results, url: served.url, dir };
      }

      const context = step.homeserver === "citadel"
        ? await citadelContext()
        : step.homeserver === "oauth"
        ? await oauthContext()
        : tour;
      const chapter = chapters.get(step.chapter);
      const title = chapter
        ? `Chapter ${chapter.number}, ${chapter.title} (${chapter.path})`
        : step.chapter;
      const env = step.secretEnv?.(context) ?? {};
      const denoArgs = [
        "run",
        "--no-prompt",
        ...step.permissions(context),
        step.example,
        ...step.args(context),
      ];
      // As a reader would type it: secret values left out, and without
      // --no-prompt, which is only there because nobody may be watching.
      const words = [
        ...Object.keys(env).map((name) => `${name}=…`),
        "deno",
        ...denoArgs.filter((arg) => arg !== "--no-prompt").map(shellQuote),
      ];
      const command = words.join(" ");
      const about = { chapter: step.chapter, example: step.example, command };
      write(
        `\n${bold(`== ${title}`)}\n   Shows: ${step.shows}.\n   $ ${
          wrapCommand(words)
        }\n`,
      );

      requests = [];
      const started = performance.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: denoArgs,
        cwd: root,
        env: {
          ...env,
          DENO_NO_UPDATE_CHECK: "1",
          ...(options.color ? {} : { NO_COLOR: "1" }),
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let stoppedBecause: string | undefined;
      const stop = (why: string) => {
        stoppedBecause ??= why;
        try {
          child.kill("SIGTERM");
        } catch {
          // It has just ended.
        }
      };
      const onAbort = () => stop("interrupted");
      signal?.addEventListener("abort", onAbort);
      if (signal?.aborted) onAbort();
      const timeoutMs = options.stepTimeoutMs ?? 60_000;
      const timer = setTimeout(
        () => stop(`did not finish within ${seconds(timeoutMs)}`),
        timeoutMs,
      );
      let output: Deno.CommandOutput;
      try {
        output = await child.output();
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
      const decoder = new TextDecoder();
      const text = decoder.decode(output.stdout) +
        decoder.decode(output.stderr);
      const ms = performance.now() - started;

      const leaked = leak(text, await knownSecrets(context, env));
      if (leaked !== undefined) {
        write(`   (output withheld: it contains ${leaked})\n`);
      } else if (text.trim() === "") {
        write("   (no output)\n");
      } else {
        write(
          text.replace(/\n$/, "").split("\n").map((line) => `   | ${line}\n`)
            .join(""),
        );
      }

      let problem: string | undefined;
      if (stoppedBecause === "interrupted") {
        write(red("   Interrupted.\n"));
        results.push({ ...about, passed: false, problem: "interrupted", ms });
        return { outcome: "interrupted", steps: results, url: served.url, dir };
      } else if (stoppedBecause !== undefined) {
        problem = `the example ${stoppedBecause} and was stopped`;
      } else if (!output.success) {
        problem = `the example exited with status ${output.code}`;
      } else if (leaked !== undefined) {
        problem = `the example printed ${leaked}`;
      } else {
        problem = await step.check?.(context);
      }
      const happened = [
        describeRequests(requests),
        problem ? undefined : step.explain?.(context, requests),
      ].filter((s) => s !== undefined).join(" ");
      if (problem !== undefined) {
        write(`   ${red("FAILED")}: ${problem}. ${happened}\n`);
        results.push({ ...about, passed: false, problem, ms });
        return { outcome: "failed", steps: results, url: served.url, dir };
      }
      write(`   ${green("passed")} in ${seconds(ms)}. ${happened}\n`);
      results.push({ ...about, passed: true, ms });
    }
    mentionWaiting(book.length);
    return { outcome: "passed", steps: results, url: served.url, dir };
  } finally {
    await served.close();
    await citadel?.close();
    await oauth?.close();
    if (dir !== "") await Deno.remove(dir, { recursive: true });
  }
}
