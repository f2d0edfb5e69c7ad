/**
 * `lit`: the book's literate tool. Run it as `npm run lit -- COMMAND` (or
 * `deno task lit COMMAND`); `lit help` lists the commands.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Diagnostic, formatDiagnostic, hasErrors } from "./diagnostics.ts";
import { checkProject, tangleToDisk } from "./project.ts";
import { resolve } from "./fs.ts";

const USAGE =
  `lit — tangle the book's chapters into code, and keep the two in sync

Usage: npm run lit -- COMMAND [OPTIONS]      (or: deno task lit COMMAND)

Commands:
  tangle            write every generated file the chapters define; delete
                    generated files no chapter defines any more
  check             tangle in memory and compare with the working tree; print a
                    diff (hunks name the chapter lines) for each difference
  test [PATHS] [-- DENO_TEST_ARGS]
                    check, then 'deno check' the generated files and
                    'deno test' (default: the paths in deno.json), with every
                    position in a generated file rewritten to its chapter line
  deno ARGS...      run any deno command, rewriting positions the same way
                    (e.g. lit deno lint, lit deno check examples/x.ts)
  watch             tangle now and on every change to a chapter or lit.json;
                    keeps the last good output while a chapter is half written
  help              this text

Options:
  --root DIR        the project root (default: the current folder)
  --strict          warnings (unused chunks, unlisted chapters) are errors
  --json            check: print the result as JSON, for tools
  --tangle          test: tangle first instead of failing when out of sync
  --quiet           tangle, check: print only problems
  -h, --help        this text

Diagnostics read FILE:LINE:COL: severity: message. Exit status: 0 when all is
well, 1 when lit found problems, 2 for a wrong command line.
The configuration is lit.json: {"chapters": [...chapter paths in book order]},
and optionally "strict": true (as --strict) and "header": "... {chapter} ...",
the generated files' first line, {chapter} standing for the chapter's path.
More in lit/README.md.
`;

function printDiagnostics(ds: Diagnostic[]): void {
  for (const d of ds) console.error(formatDiagnostic(d));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Runs one lit command line, as `lit ARGS` would (`lit help` lists them),
 * printing what the command prints; returns its exit status: 0 when all is
 * well, 1 when lit found problems, 2 for a wrong command line.
 *
 * @example
 * ```ts
 * if (await main(["check", "--quiet"]) !== 0) {
 *   console.error("the generated files differ from the chapters");
 * }
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (
    command === undefined || command === "help" || command === "-h" ||
    command === "--help"
  ) {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === "deno") {
    // Everything after "deno" goes to deno untouched, except a leading --root.
    let root = ".";
    let args = rest;
    if (args[0] === "--root" && args[1] !== undefined) {
      root = args[1];
      args = args.slice(2);
    }
    if (args[0] === "--") args = args.slice(1);
    if (args.length === 0) {
      console.error(
        "lit deno: give the deno command to run, e.g. `npm run lit -- deno check src/client.ts`",
      );
      return 2;
    }
    const { runDeno } = await import("./run.ts");
    return await runDeno(resolve(root), args);
  }
  const known = ["tangle", "check", "test", "watch"];
  if (!known.includes(command)) {
    console.error(
      `lit: unknown command ${JSON.stringify(command)}; the commands are ${
        known.join(", ")
      }, deno, help`,
    );
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        root: { type: "string", default: "." },
        strict: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        tangle: { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(
      `lit ${command}: ${(e as Error).message}. See: npm run lit -- help`,
    );
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const root = resolve(values.root);
  const extra = rest.includes("--") ? rest.slice(rest.indexOf("--") + 1) : [];
  const paths = rest.includes("--")
    ? positionals.slice(0, positionals.length - extra.length)
    : positionals;
  if (command !== "test" && paths.length > 0) {
    console.error(
      `lit ${command}: unexpected argument ${
        JSON.stringify(paths[0])
      }. See: npm run lit -- help`,
    );
    return 2;
  }

  switch (command) {
    case "tangle": {
      const report = await tangleToDisk(root, { strict: values.strict });
      printDiagnostics(report.diagnostics);
      if (hasErrors(report.diagnostics)) {
        console.error(
          "lit tangle: nothing written, fix the errors above first",
        );
        return 1;
      }
      if (!values.quiet) {
        const changes = [
          `${report.written.length} written`,
          `${report.unchanged.length} unchanged`,
          ...(report.deleted.length
            ? [
              `${report.deleted.length} deleted (${report.deleted.join(", ")})`,
            ]
            : []),
        ];
        console.log(
          `lit tangle: ${
            plural(report.written.length + report.unchanged.length, "file")
          } (${changes.join(", ")})`,
        );
      }
      return 0;
    }
    case "check": {
      const report = await checkProject(root, { strict: values.strict });
      const ok = !hasErrors(report.diagnostics) &&
        report.differences.length === 0;
      if (values.json) {
        console.log(
          JSON.stringify(
            {
              ok,
              diagnostics: report.diagnostics,
              differences: report.differences,
            },
            null,
            2,
          ),
        );
        return ok ? 0 : 1;
      }
      printDiagnostics(report.diagnostics);
      for (const d of report.differences) {
        if (d.status === "orphan") {
          console.error(
            `${d.path}: generated by lit, but no chapter defines it any more (lit tangle deletes it)`,
          );
        } else if (d.status === "not-generated") {
          console.error(
            `${d.path}: a chapter defines this file, but the file on disk was not written by lit (no header); move it away, then tangle`,
          );
        } else {
          console.error(d.diff!.trimEnd());
        }
      }
      if (report.differences.length) {
        console.error(
          `lit check: ${
            plural(report.differences.length, "file")
          } out of sync with the chapters. ` +
            `Change the chapters, not the generated files, then run: npm run lit -- tangle`,
        );
      } else if (hasErrors(report.diagnostics)) {
        console.error("lit check: the chapters have errors (above)");
      } else if (!values.quiet) {
        console.log(
          `lit check: ${
            plural(report.files.length, "generated file")
          } in sync with the chapters`,
        );
      }
      return ok ? 0 : 1;
    }
    // test and watch load their modules only when used: tangle and check
    // stay quick to start.
    case "test": {
      const { runTests } = await import("./run.ts");
      return await runTests(root, {
        paths,
        denoArgs: extra,
        tangle: values.tangle,
        strict: values.strict,
      });
    }
    case "watch": {
      const { watch } = await import("./watch.ts");
      return await watch(root, { strict: values.strict });
    }
  }
  return 2;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (e) {
    // An unexpected failure (a disk error, say): one line, not a stack trace.
    console.error(`lit: ${(e as Error).message ?? e}`);
    if (Deno.env.get("LIT_DEBUG")) console.error(e);
    Deno.exitCode = 1;
  }
}
