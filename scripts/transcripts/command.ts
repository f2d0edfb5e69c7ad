/**
 * The commands a transcript may show, read the way a POSIX shell reads them,
 * for the few shell features the book uses:
 *
 * - `[NAME=value ...] deno run [FLAGS] SCRIPT [ARGS]`: the examples;
 * - `printf 'TEXT' | deno run …`: the same, with `TEXT` on standard input
 *   (`\n`, `\t`, `\\` and `%%` are understood, as printf does);
 * - `echo [WORDS]`, where `$?` is the exit status of the command before.
 *
 * Words may be quoted with `'…'` or `"…"`, and a backslash escapes one
 * character. Every other shell feature (redirection, `;`, `&&`, variables,
 * globs, command substitution) is refused with a message, rather than run
 * differently from a shell.
 *
 * @module
 */

/** A command a transcript can run. */
export type Command =
  | {
    kind: "deno";
    /** `NAME=value` prefixes. */
    env: Record<string, string>;
    /** The arguments after `deno`, starting with `run`. */
    args: string[];
    /** Index in `args` of the script to run. */
    scriptIndex: number;
    /** What `printf` pipes into standard input, if anything. */
    stdin?: string;
  }
  | {
    kind: "echo";
    /** The words to print; `undefined` stands for `$?`. */
    words: (string | undefined)[];
  };

/** A command line that transcripts cannot run; the message says why. */
export class CommandError extends Error {
  /** The error's name: always `"CommandError"`. */
  override name = "CommandError";
}

/** What transcripts can run, for error messages. */
export const SUPPORTED =
  "transcripts run `deno run [FLAGS] SCRIPT [ARGS]` (with `NAME=value` " +
  "prefixes, and `printf 'TEXT' |` before it for standard input) and " +
  "`echo` (`echo $?` prints the exit status)";

/** One word of a command line, or the pipe operator. */
type Token =
  | { kind: "word"; text: string; quotedName: boolean; status: boolean }
  | { kind: "pipe" };

const SPECIAL = new Set([";", "&", "<", ">", "(", ")", "`", "$", "*", "?"]);

/** Splits a command line into words and `|`, as a shell would. */
function tokenize(line: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    if (c === "|") {
      if (line[i + 1] === "|") {
        throw new CommandError(`"||" is not supported: ${SUPPORTED}`);
      }
      tokens.push({ kind: "pipe" });
      i++;
      continue;
    }
    if (
      line.startsWith("$?", i) && /^[ \t]|^$/.test(line.slice(i + 2, i + 3))
    ) {
      tokens.push({
        kind: "word",
        text: "$?",
        quotedName: false,
        status: true,
      });
      i += 2;
      continue;
    }
    if (c === "#" || c === "~") {
      throw new CommandError(
        `"${c}" at the start of a word is not supported; quote it: ${SUPPORTED}`,
      );
    }
    let text = "";
    let quotedName = false;
    while (i < line.length && line[i] !== " " && line[i] !== "\t") {
      const ch = line[i];
      if (ch === "|") break;
      if (ch === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new CommandError("unterminated ' quote");
        if (!text.includes("=")) quotedName = true;
        text += line.slice(i + 1, end);
        i = end + 1;
      } else if (ch === '"') {
        if (!text.includes("=")) quotedName = true;
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === "\\" && '"\\$`'.includes(line[i + 1] ?? "")) i++;
          else if (line[i] === "$" || line[i] === "`") {
            throw new CommandError(
              `"${
                line[i]
              }" inside double quotes is not supported; use single quotes: ${SUPPORTED}`,
            );
          }
          text += line[i++];
        }
        if (i >= line.length) throw new CommandError('unterminated " quote');
        i++;
      } else if (ch === "\\") {
        if (i + 1 >= line.length) {
          throw new CommandError("a lone backslash ends the command");
        }
        text += line[i + 1];
        i += 2;
      } else if (SPECIAL.has(ch)) {
        throw new CommandError(
          `"${ch}" is not supported (quote it if it is meant literally): ${SUPPORTED}`,
        );
      } else {
        text += ch;
        i++;
      }
    }
    tokens.push({ kind: "word", text, quotedName, status: false });
  }
  return tokens;
}

/** What `printf FORMAT` prints, for the escapes a password line needs. */
export function printf(format: string): string {
  return format.replace(/\\(.)|%(.)|\\$|%$/g, (all, escape, percent) => {
    if (escape !== undefined) {
      const known: Record<string, string> = { n: "\n", t: "\t", "\\": "\\" };
      if (escape in known) return known[escape];
    } else if (percent === "%") {
      return "%";
    }
    throw new CommandError(
      `printf: ${
        JSON.stringify(all)
      } is not supported; use \\n, \\t, \\\\ or %%`,
    );
  });
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

/** Reads a command line (continuation lines already joined). */
export function parseCommand(line: string): Command {
  const tokens = tokenize(line);
  const pipes = tokens.filter((t) => t.kind === "pipe").length;
  let stdin: string | undefined;
  let rest = tokens;
  if (pipes > 1) {
    throw new CommandError(`only one "|" is supported: ${SUPPORTED}`);
  }
  if (pipes === 1) {
    const at = tokens.findIndex((t) => t.kind === "pipe");
    const left = tokens.slice(0, at).map(wordOf);
    if (left.length !== 2 || left[0].text !== "printf") {
      throw new CommandError(
        `only "printf 'TEXT' |" may come before a "|": ${SUPPORTED}`,
      );
    }
    stdin = printf(left[1].text);
    rest = tokens.slice(at + 1);
  }
  const words = rest.map(wordOf);
  const env: Record<string, string> = {};
  let start = 0;
  for (; start < words.length; start++) {
    const match = words[start].quotedName
      ? null
      : ASSIGNMENT.exec(words[start].text);
    if (!match) break;
    env[match[1]] = match[2];
  }
  const [program, ...args] = words.slice(start);
  if (program === undefined) {
    throw new CommandError(`the command is empty: ${SUPPORTED}`);
  }
  if (program.text === "echo" && stdin === undefined && start === 0) {
    return {
      kind: "echo",
      words: args.map((w) => w.status ? undefined : w.text),
    };
  }
  if (program.text !== "deno" || args[0]?.text !== "run") {
    throw new CommandError(
      `"${program.text}${
        args[0] ? ` ${args[0].text}` : ""
      }" is not a command transcripts can run: ${SUPPORTED}`,
    );
  }
  const texts = args.map((w) => {
    if (w.status) throw new CommandError(`"$?" is supported with echo only`);
    return w.text;
  });
  // Deno's own flags come first, written with "=" (--allow-net=HOST); the
  // first word that is not a flag is the script.
  const scriptIndex = texts.findIndex((t, i) => i > 0 && !t.startsWith("-"));
  if (scriptIndex < 0) {
    throw new CommandError(
      "deno run needs a script, such as examples/login.ts",
    );
  }
  return { kind: "deno", env, args: texts, scriptIndex, stdin };
}

function wordOf(token: Token): Extract<Token, { kind: "word" }> {
  if (token.kind !== "word") {
    throw new CommandError(`a "|" needs a command on each side`);
  }
  return token;
}
