/**
 * `book`: weave the chapters into the book's static site. Run it as
 * `npm run book` (or `deno task book`); `--help` says more.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { buildBook, folderSize } from "./build.ts";

const USAGE = `book — weave the chapters into a static HTML site

Usage: npm run book [-- OPTIONS]      (or: deno task book [OPTIONS])

Writes one page per chapter (in lit.json's order), a chunk index, an
identifier index of the library's exports, and an assembled view of every
generated file, each line linked to the chunk it came from. Open
site/index.html in a browser: the site needs no server and no network.

Options:
  --root DIR          the project root (default: the current folder)
  --out DIR           the output folder (default: ROOT/site); replaced
  --no-identifiers    skip the identifier index (no 'deno doc' run)
  -h, --help          this text
`;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        root: { type: "string", default: "." },
        out: { type: "string" },
        "no-identifiers": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`book: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const root = resolve(values.root);
  const out = resolve(values.out ?? resolve(root, "site"));
  const started = performance.now();
  try {
    const result = await buildBook({
      root,
      out,
      noIdentifiers: values["no-identifiers"],
    });
    const size = await folderSize(out);
    console.log(
      `book: ${result.pages.length} pages (${result.chapters} chapters, ${result.chunks} chunks, ${result.identifiers} identifiers), ${
        (size / 1e6).toFixed(1)
      } MB in ${out} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    return 0;
  } catch (e) {
    console.error(`book: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
