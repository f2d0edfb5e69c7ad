/**
 * `npm run check:jsr`: what JSR would say about the package, offline.
 *
 * Everything is read from `deno.json`, so a new entry in `exports` or
 * `publish.include` is checked without touching this script:
 *
 * 1. `deno doc --lint` on every entry of `exports` (missing JSDoc, missing
 *    return types, private types in public signatures);
 * 2. every exported symbol of every entry has an `@example`, and every entry a
 *    module doc (from `deno doc --json`);
 * 3. `deno check --doc-only` on the published TypeScript: the JSDoc examples
 *    are type-checked, never run (some of them reach the network);
 * 4. `deno publish --dry-run --allow-dirty`: slow types, files, license.
 *
 * Exits 1 on any finding, including a warning of `deno publish`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The parts of `deno.json` this check reads. */
export interface DenoJson {
  /** The package name, such as `@matrixlib/matrixlib`. */
  name?: string;
  /** The package version. */
  version?: string;
  /** One entry point, or a map from subpath to entry point. */
  exports?: string | Record<string, string>;
  /** What `deno publish` ships. */
  publish?: { include?: string[]; exclude?: string[] };
}

/** One command of the check: what it is for, and deno's arguments. */
export interface Step {
  /** A few words for the report. */
  label: string;
  /** The arguments after `deno`. */
  args: string[];
}

/** The project's root. */
const root = fileURLToPath(new URL("../..", import.meta.url));

/** The entry points of `exports`, as paths relative to the root, in order. */
export function exportEntries(config: DenoJson): string[] {
  const exports = config.exports;
  if (exports === undefined) throw new Error("deno.json has no exports");
  const values = typeof exports === "string"
    ? [exports]
    : Object.values(exports);
  return [...new Set(values.map((path) => path.replace(/^\.\//, "")))];
}

/**
 * What `deno check --doc-only` looks at: the TypeScript files and folders of
 * `publish.include`, so the JSDoc of internal modules is checked too; the
 * entries of `exports` when there is no `publish.include`.
 */
export function docCheckTargets(config: DenoJson): string[] {
  const include = config.publish?.include;
  if (include === undefined) return exportEntries(config);
  return include
    .map((path) => path.replace(/^\.\//, ""))
    .filter((path) => /\.(m?ts|tsx)$/.test(path) || path.endsWith("/"));
}

/** The deno commands of the check, in the order they run. */
export function checkSteps(config: DenoJson): Step[] {
  const entries = exportEntries(config);
  return [
    { label: "deno doc --lint", args: ["doc", "--lint", ...entries] },
    {
      label: "JSDoc examples type-check",
      args: ["check", "--doc-only", ...docCheckTargets(config)],
    },
    {
      label: "deno publish --dry-run",
      args: ["publish", "--dry-run", "--allow-dirty"],
    },
  ];
}

/** The arguments of the `deno doc --json` whose output {@linkcode missingExamples} reads. */
export function docJsonArgs(config: DenoJson): string[] {
  return ["doc", "--json", ...exportEntries(config)];
}

/** A JSDoc block as `deno doc --json` gives it. */
interface JsDoc {
  doc?: string;
  tags?: { kind: string }[];
}

/** The output of `deno doc --json` (version 2), as far as it is read here. */
export interface DocJson {
  /** One node per module given on the command line, keyed by its URL. */
  nodes: Record<string, {
    module_doc?: JsDoc;
    symbols: {
      name: string;
      declarations: {
        kind: string;
        jsDoc?: JsDoc;
        location: { filename: string; line: number };
      }[];
    }[];
  }>;
}

/** `file:///root/src/x.ts` as `src/x.ts`. */
function relative(url: string): string {
  const path = url.startsWith("file:") ? fileURLToPath(url) : url;
  return path.startsWith(root) ? path.slice(root.length) : path;
}

/**
 * Every exported symbol without an `@example`, and every entry point without
 * a module doc, one line each: `mod.ts: Name (src/file.ts:12) has no
 * @example`. Empty when all is well.
 */
export function missingExamples(doc: DocJson): string[] {
  const problems: string[] = [];
  for (const [url, node] of Object.entries(doc.nodes)) {
    const entry = relative(url);
    if (!node.module_doc?.doc?.trim()) {
      problems.push(`${entry}: no module doc (a JSDoc block with @module)`);
    }
    for (const symbol of node.symbols) {
      // An overloaded function or a merged declaration needs one example.
      const documented = symbol.declarations.some((declaration) =>
        declaration.jsDoc?.tags?.some((tag) => tag.kind === "example")
      );
      if (documented) continue;
      const { filename, line } = symbol.declarations[0].location;
      problems.push(
        `${entry}: ${symbol.name} (${
          relative(filename)
        }:${line}) has no @example`,
      );
    }
  }
  return problems;
}

/** Reads the project's `deno.json`. */
export async function readDenoJson(dir: string = root): Promise<DenoJson> {
  return JSON.parse(await Deno.readTextFile(`${dir}/deno.json`));
}

/**
 * Runs `deno ARGS` in the root; returns its exit code, its standard output,
 * and all it printed (standard output, then standard error).
 */
export async function runDeno(
  args: string[],
): Promise<{ code: number; stdout: string; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const out = decoder.decode(stdout);
  return { code, stdout: out, output: out + decoder.decode(stderr) };
}

/** Runs the whole check; returns the exit code. */
export async function main(): Promise<number> {
  const config = await readDenoJson();
  console.log(
    `check:jsr: ${config.name}@${config.version}, exports ${
      exportEntries(config).join(", ")
    }`,
  );
  const failed: string[] = [];
  for (const step of checkSteps(config)) {
    console.log(`\n== ${step.label}: deno ${step.args.join(" ")}`);
    const { code, output } = await runDeno(step.args);
    // deno publish exits 0 on some warnings; they count as findings here.
    if (code !== 0 || /^warning/im.test(output)) {
      console.log(output.trimEnd());
      failed.push(step.label);
    } else {
      // The last line says what was done ("Checked 4 files", "Success Dry
      // run complete"); --doc-only only prints one line per example.
      const lines = output.trimEnd().split("\n");
      console.log(
        lines.every((line) => line.startsWith("Check "))
          ? `${lines.length} examples type-checked`
          : lines.at(-1),
      );
    }
  }
  console.log("\n== @example on every export");
  const doc = await runDeno(docJsonArgs(config));
  if (doc.code !== 0) {
    console.log(doc.output);
    failed.push("deno doc --json");
  } else {
    const problems = missingExamples(JSON.parse(doc.stdout));
    for (const problem of problems) console.log(problem);
    if (problems.length > 0) failed.push("@example on every export");
    else console.log("every exported symbol has an @example");
  }
  console.log(
    failed.length === 0
      ? "\ncheck:jsr: clean"
      : `\ncheck:jsr: findings in ${failed.join(", ")}`,
  );
  return failed.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exitCode = await main();
