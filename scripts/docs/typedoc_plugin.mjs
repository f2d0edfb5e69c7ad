// The typedoc plugin of `npm run docs` (typedoc.json's "plugin"). It renames
// pages, never moves them: addresses stay the file names
// (documents/01_discovery.html, modules/mod.html), short and stable.
//
// - A chapter's page is titled with the chapter's first heading ("Discovery:
//   from a user ID to a homeserver") rather than its file name. A `title` in
//   YAML front matter would do it too, but GitHub shows front matter as a
//   table above the chapter, and the address would follow the title.
// - A module is named as it is imported, from deno.json's name and exports
//   ("@matrixlib/matrixlib/file_lock") rather than by its path
//   ("src/file_lock").
import { readFileSync } from "node:fs";
import { Converter, ReflectionKind, RendererEvent } from "typedoc";

/**
 * The text of a Markdown document's first level-one heading, if any, with
 * its code spans' backticks removed (titles are plain text).
 *
 * @param {string} markdown
 * @returns {string | undefined}
 */
export function firstHeading(markdown) {
  return /^# +(.+?)\s*#*\s*$/m.exec(markdown)?.[1].replaceAll("`", "");
}

/**
 * The import specifier of each entry point, by typedoc's module name: its
 * path without `./` and `.ts` (`src/file_lock` gives
 * `@matrixlib/matrixlib/file_lock`).
 *
 * @param {{ name: string, exports: string | Record<string, string> }} config
 * @returns {Map<string, string>}
 */
export function moduleNames(config) {
  const exports = typeof config.exports === "string"
    ? { ".": config.exports }
    : config.exports;
  return new Map(
    Object.entries(exports).map(([subpath, path]) => [
      path.replace(/^\.\//, "").replace(/\.ts$/, ""),
      config.name + subpath.slice(1),
    ]),
  );
}

/** @param {import("typedoc").Application} app */
export function load(app) {
  /** @type {Map<import("typedoc").Reflection, string>} */
  const names = new Map();
  app.converter.on(Converter.EVENT_CREATE_DOCUMENT, (_context, document) => {
    const text = document.content.map((part) => part.text).join("");
    const heading = firstHeading(text);
    if (heading !== undefined) names.set(document, heading);
  });
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const config = JSON.parse(readFileSync("deno.json", "utf8"));
    const specifiers = moduleNames(config);
    for (
      const module of context.project.getReflectionsByKind(
        ReflectionKind.Module,
      )
    ) {
      const specifier = specifiers.get(module.name);
      if (specifier !== undefined) names.set(module, specifier);
    }
  });
  // Pages get their addresses before BEGIN, from the names; titles,
  // navigation and the search index are made after it. So rename here, first.
  app.renderer.on(RendererEvent.BEGIN, () => {
    for (const [reflection, name] of names) reflection.name = name;
  }, 1000);
}
