/**
 * `npm run transcripts`: runs the commands in the chapters' transcripts
 * against the development homeserver and compares what they print with what
 * the chapters show; `--update` writes the new output into the chapters.
 * `npm test` runs the same check (`transcripts_test.ts`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { relative, resolve } from "node:path";
import {
  bookChapters,
  findTranscripts,
  passed,
  report,
  runTranscript,
  updatedText,
} from "./transcripts.ts";

const USAGE =
  `Usage: npm run transcripts -- [--update] [--root DIR] [CHAPTER.md ...]
       (or: deno task transcripts [--update] [CHAPTER.md ...])

Runs the commands of every transcript in the chapters (a \`\`\`console block
whose lines starting with "$ " are commands) against a fresh development
homeserver at localhost:8008 (user alice, password secret), and compares what
each command prints with the lines the chapter shows after it. A block that is
only an illustration is marked \`\`\`console illustrative and not run. A block
marked \`\`\`console lifetime=MS (such as lifetime=3000) gets a homeserver whose
access tokens live MS milliseconds, with refresh tokens; otherwise tokens never
expire. A block marked \`\`\`console citadel gets a homeserver in Thales
Citadel's dialect (devserver/citadel.ts: a portal, login by email at r1/login);
the two may be combined. A block marked \`\`\`console oauth gets one that
offers the OAuth 2.0 API only (createHomeserver's oauth: "only"). Any other
word after console is an error. Commands run in a scratch folder holding a
link to devserver/, so that a command given as an option's value (a headless
browser) finds it.

  CHAPTER.md    the chapters to check (default: those listed in lit.json)
  --update      write what the commands print now into the chapters, instead
                of reporting differences; review the change with git diff
  --root DIR    the project root, against which scripts and lit.json are
                found (default: the current folder)
  -h, --help    print this help

Commands a transcript may show: deno run [FLAGS] SCRIPT [ARGS], with NAME=value
prefixes and printf 'TEXT' | before it; echo ($? is the last exit status).
What a command prints is its standard output, then its standard error.

Exit status: 0 when every transcript matches (or was updated), 1 when one
differs or cannot run, 2 for a wrong command line.`;

/** Runs the command; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        update: { type: "boolean", default: false },
        root: { type: "string", default: "." },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: true,
    });
  } catch (error) {
    console.error(`transcripts: ${(error as Error).message} (see --help)`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const root = resolve(values.root);
  let chapters: string[];
  try {
    chapters = positionals.length > 0 ? positionals : await bookChapters(root);
  } catch (error) {
    console.error(
      `transcripts: cannot read the chapter list in ${root}/lit.json: ${
        (error as Error).message
      }; run from the project root, or name the chapters`,
    );
    return 1;
  }
  let failures = 0;
  let count = 0;
  for (const chapter of chapters) {
    const path = resolve(root, chapter);
    const name = relative(root, path).startsWith("..")
      ? chapter
      : relative(root, path).replaceAll("\\", "/");
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      console.error(
        `transcripts: cannot read ${chapter}: ${(error as Error).message}`,
      );
      failures++;
      continue;
    }
    const found = findTranscripts(name, text);
    for (const p of found.problems) {
      console.error(`${p.file}:${p.line}: error: ${p.message}`);
      failures++;
    }
    // Run every block at once: each has its own homeserver and folder.
    const results = await Promise.all(
      found.transcripts.map((t) => runTranscript(t, { root })),
    );
    count += results.length;
    let updated = text;
    // From the last block up, so that earlier line numbers stay right.
    for (const result of results.toReversed()) {
      if (passed(result)) continue;
      if (values.update && result.strays.length === 0) {
        try {
          updated = updatedText(updated, result);
          continue;
        } catch (error) {
          console.error((error as Error).message);
          failures++;
          continue;
        }
      }
      console.error(report(result));
      failures++;
    }
    if (updated !== text) {
      await Deno.writeTextFile(path, updated);
      console.log(`transcripts: updated ${name}`);
    }
  }
  if (failures > 0) {
    console.error(
      `transcripts: ${failures} problem${failures === 1 ? "" : "s"} in ` +
        `${count} transcript${count === 1 ? "" : "s"}. If the new output is ` +
        "right, run `npm run transcripts -- --update` and review the chapters' diff.",
    );
    return 1;
  }
  console.log(
    `transcripts: ${count} transcript${count === 1 ? "" : "s"} ${
      values.update ? "up to date" : "match"
    }`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
