/**
 * The identifier index: every symbol the library exports (from `deno doc
 * --json` on each entry of deno.json's `exports`), with the chunk that
 * defines it, found through the tangle's line origins.
 *
 * @module
 */

import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { GeneratedFile } from "../../lit/mod.ts";
import type { Part, Web } from "./model.ts";

/** One exported identifier. */
export interface Identifier {
  /** `Client`, or `Client.login` for a class member. */
  name: string;
  /** deno doc's kind: class, function, interface, typeAlias, method, … */
  kind: string;
  /** The export it comes from, e.g. `.` or `./file_storage`. */
  entry: string;
  /** The generated file and 1-based line that declare it. */
  file: string;
  line: number;
  /** The block that holds that line, if any. */
  part?: Part;
}

interface DocLocation {
  filename: string;
  line: number;
}
interface DocDeclaration {
  kind: string;
  location: DocLocation;
  def?: {
    methods?: { name: string; kind: string; location: DocLocation }[];
    properties?: { name: string; location: DocLocation }[];
    constructors?: { location: DocLocation }[];
  };
}
interface DocSymbol {
  name: string;
  declarations: DocDeclaration[];
}

/** Runs `deno doc --json` on the project's exports. */
export async function readExports(
  root: string,
): Promise<{ entry: string; symbols: DocSymbol[] }[]> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const exports: Record<string, string> = typeof config.exports === "string"
    ? { ".": config.exports }
    : config.exports ?? {};
  const entries = Object.entries(exports);
  if (!entries.length) return [];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...entries.map(([, path]) => path)],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `deno doc failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const nodes: Record<string, { symbols?: DocSymbol[] }> = doc.nodes ?? {};
  return entries.map(([entry, path]) => {
    const key = Object.keys(nodes).find((url) =>
      url.startsWith("file:") &&
      relative(root, fileURLToPath(url)).replaceAll("\\", "/") ===
        path.replace(/^\.\//, "")
    );
    return { entry, symbols: key ? nodes[key].symbols ?? [] : [] };
  });
}

/** Maps each exported symbol to the chunk that defines it. */
export function buildIdentifiers(
  root: string,
  exports: { entry: string; symbols: DocSymbol[] }[],
  files: GeneratedFile[],
  web: Web,
): Identifier[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const out: Identifier[] = [];
  const seen = new Set<string>();
  const add = (
    name: string,
    kind: string,
    entry: string,
    loc: DocLocation,
  ) => {
    if (!loc.filename.startsWith("file:")) return;
    const file = relative(root, fileURLToPath(loc.filename)).replaceAll(
      "\\",
      "/",
    );
    const key = `${name}\u0000${kind}\u0000${file}\u0000${loc.line}`;
    if (seen.has(key)) return;
    seen.add(key);
    // deno doc counts lines from 0; origins[0] is the file's first line.
    const origin = byPath.get(file)?.origins[loc.line];
    out.push({
      name,
      kind,
      entry,
      file,
      line: loc.line + 1,
      part: origin ? web.partAt(origin.file, origin.line) : undefined,
    });
  };
  for (const { entry, symbols } of exports) {
    for (const symbol of symbols) {
      for (const d of symbol.declarations ?? []) {
        add(symbol.name, d.kind, entry, d.location);
        if (d.kind !== "class" && d.kind !== "interface") continue;
        for (const c of d.def?.constructors ?? []) {
          add(`new ${symbol.name}`, "constructor", entry, c.location);
        }
        for (const m of d.def?.methods ?? []) {
          add(`${symbol.name}.${m.name}`, m.kind, entry, m.location);
        }
        // Interfaces' fields (ClientOptions.fetch, say) are looked up as
        // often as classes' methods.
        for (const p of d.def?.properties ?? []) {
          add(`${symbol.name}.${p.name}`, "property", entry, p.location);
        }
      }
    }
  }
  return out.sort((a, b) =>
    a.name.localeCompare(b.name, "en", { sensitivity: "base" }) ||
    a.kind.localeCompare(b.kind)
  );
}
