/**
 * `npm run build:npm`: builds the npm package in `npm/` from the tangled
 * library (`mod.ts`, `src/`) with tsc and `tsconfig.build.json`.
 *
 * Usage: npm run build:npm [-- --help | --quiet]
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  copyFile,
  mkdir,
  readdir,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { join, posix, relative, sep } from "node:path";
import process from "node:process";
import { readFlags } from "./cli.ts";
import { fileURLToPath } from "node:url";
import {
  type DenoJson,
  ESM_DIR,
  packageJson,
  relocateSourceMap,
  replaceLitHeader,
  type SourceMap,
} from "./package.ts";
import { findGeneratedFiles, loadConfig } from "../../lit/mod.ts";

const HELP =
  `Usage: npm run build:npm [-- OPTIONS]      (or: deno task build:npm)

Builds the npm package "matrixlib" in npm/ from the tangled library (mod.ts,
src/): removes npm/, compiles with tsc -p tsconfig.build.json to ES modules,
type declarations and their maps, and source maps in npm/esm/; copies the
TypeScript sources the maps point to (npm/mod.ts, npm/src/); writes
npm/package.json (name matrixlib, version from deno.json, exports from
deno.json's exports), npm/README.md (from scripts/npm/README.md) and
npm/LICENSE. The chapters are not tangled first: run "npm run lit -- tangle"
after changing them.

Then: npm run check:package (publint, attw), npm run test:node (the tests on
Node against npm/esm), npm run smoke:npm (the packed tarball installed in a
scratch project, logging in against the development homeserver).

Options:
  --quiet     print nothing but problems
  -h, --help  this text

Exit status: 0 when built, 1 when tsc or a step failed, 2 for a wrong
command line.`;

/** The project root: the folder above scripts/. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The package folder, relative to the root. */
export const PACKAGE_DIR = "npm";

/** Every file under `dir`, relative to it, with `/`. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile())
    .map((entry) =>
      relative(dir, join(entry.parentPath, entry.name)).split(sep).join("/")
    )
    .sort();
}

/** Runs a program from node_modules/.bin; its output goes to ours. */
export function runBin(
  name: string,
  args: string[],
  cwd: string = ROOT,
): number {
  const result = spawnSync(join(ROOT, "node_modules", ".bin", name), args, {
    cwd,
    stdio: "inherit",
  });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

/**
 * Replaces lit's header in every .js and .ts file under `dir` (see
 * {@linkcode replaceLitHeader}), then makes sure lit finds no generated file
 * there. `header` is the book's header template (`lit.json`'s `"header"`).
 */
export async function replaceLitHeaders(
  dir: string,
  header?: string,
): Promise<void> {
  for (const file of await listFiles(dir)) {
    if (!/\.(js|ts)$/.test(file)) continue;
    const path = join(dir, file);
    const text = await readFile(path, "utf8");
    const replaced = replaceLitHeader(text, header);
    if (replaced !== text) await writeFile(path, replaced);
  }
  const left = findGeneratedFiles(dir, { header });
  if (left.length) {
    throw new Error(`lit's header is left in ${left.join(", ")}`);
  }
}

/** Builds the package; returns the files written, relative to npm/. */
export async function build(root: string = ROOT): Promise<string[]> {
  const out = join(root, PACKAGE_DIR);
  await rm(out, { recursive: true, force: true });
  const code = runBin("tsc", ["-p", "tsconfig.build.json"], root);
  if (code !== 0) throw new Error(`tsc -p tsconfig.build.json: exit ${code}`);

  const compiled = await listFiles(join(out, ESM_DIR));
  for (const file of compiled.filter((f) => f.endsWith(".map"))) {
    const path = join(out, ESM_DIR, file);
    const map = JSON.parse(await readFile(path, "utf8")) as SourceMap;
    const mapFile = posix.join(PACKAGE_DIR, ESM_DIR, file);
    const moved = relocateSourceMap(map, mapFile, PACKAGE_DIR);
    await writeFile(path, JSON.stringify(moved));
  }
  // The sources the maps name: one .ts for each compiled .js.
  for (const file of compiled.filter((f) => f.endsWith(".js"))) {
    const source = file.slice(0, -".js".length) + ".ts";
    await mkdir(join(out, posix.dirname(source)), { recursive: true });
    await copyFile(join(root, source), join(out, source));
  }
  // The book's header, as lit.json sets it (lit's default when it cannot).
  await replaceLitHeaders(out, loadConfig(root).config?.header);

  const deno = JSON.parse(
    await readFile(join(root, "deno.json"), "utf8"),
  ) as DenoJson;
  const manifest = packageJson(deno);
  await writeFile(
    join(out, "package.json"),
    JSON.stringify(manifest, null, 2) + "\n",
  );
  await copyFile(
    join(root, "scripts", "npm", "README.md"),
    join(out, "README.md"),
  );
  await copyFile(join(root, "LICENSE"), join(out, "LICENSE"));
  return await listFiles(out);
}

/** The command line; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const values = readFlags("build:npm", args, ["quiet"], HELP);
  if (typeof values === "number") return values;
  const started = performance.now();
  try {
    const files = await build();
    if (!values.quiet) {
      const manifest = JSON.parse(
        await readFile(join(ROOT, PACKAGE_DIR, "package.json"), "utf8"),
      );
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `build:npm: ${manifest.name}@${manifest.version} in ${PACKAGE_DIR}/ ` +
          `(${files.length} files, ${seconds} s); exports: ` +
          Object.keys(manifest.exports).join(", "),
      );
    }
    return 0;
  } catch (error) {
    console.error(`build:npm: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
