/**
 * The book's offline search: a MiniSearch index built at generation time
 * and embedded as a classic script, so searching works from `file://` (where
 * Chromium refuses to fetch index files) as well as from any static server.
 *
 * {@linkcode buildSearch} writes three files into `site/assets/`, which every
 * page loads in this order:
 *
 * - `minisearch.js`: MiniSearch's UMD build, copied from `node_modules`;
 * - `search-index.js`: `window.BOOK_SEARCH_INDEX = {options, index}`, the
 *   serialized index (pages and code chunks; short snippets, not whole
 *   texts);
 * - `search.js`: wires `#search-input` and `#search-results`.
 *
 * @module
 */
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import MiniSearch from "minisearch";

/** One woven page, as the generator describes it. */
export interface SearchPage {
  /** Relative to `site/`, e.g. `04_refresh_tokens.html` (maybe with `#anchor`). */
  url: string;
  title: string;
  headings: string[];
  /** The page's plain text. */
  text: string;
  /** The code chunks on the page, with their anchors. */
  chunks: { name: string; anchor: string }[];
}

/** One indexed document: a page, or a code chunk on a page. */
export interface SearchDocument {
  id: number;
  kind: "page" | "chunk";
  /** Relative to `site/`. */
  url: string;
  title: string;
  /** The chunk's name; empty for pages. */
  name: string;
  headings: string;
  text: string;
  /** Shown under the title in the results. */
  snippet: string;
}

/** The options MiniSearch needs both to build the index and to load it. */
export const SEARCH_OPTIONS = {
  idField: "id",
  fields: ["name", "title", "headings", "text"],
  storeFields: ["kind", "url", "title", "name", "snippet"],
} as const;

/** The options of a query, in the page (see `SEARCH_JS`) and in the tests. */
export const QUERY_OPTIONS = {
  boost: { name: 4, title: 2, headings: 1.5 },
  prefix: true,
  fuzzy: 0.2,
} as const;

/** How long a snippet is, in characters. */
const SNIPPET = 160;

/** The folder this module is in. */
const HERE = dirname(fileURLToPath(import.meta.url));

/** MiniSearch's UMD build (a classic script defining `window.MiniSearch`). */
export const MINISEARCH_UMD = join(
  HERE,
  "../../node_modules/minisearch/dist/umd/index.js",
);

/** `text` with runs of white space made one space, cut to `max` characters. */
export function snippet(text: string, max = SNIPPET): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(" ");
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}

/**
 * Throws unless `url` is relative and stays inside the site: the search
 * links must work from `file://` and under any path prefix.
 */
export function checkRelative(url: string): void {
  if (
    url === "" || /^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith("/") ||
    url.startsWith("\\") || url.split(/[/#?]/).includes("..")
  ) {
    throw new Error(`search: not a URL relative to the site: ${url}`);
  }
}

/** The page's URL without its `#anchor`. */
function withoutHash(url: string): string {
  const hash = url.indexOf("#");
  return hash === -1 ? url : url.slice(0, hash);
}

/**
 * Where a chunk's link goes, relative to the site: its anchor on the page
 * (`anchor` is `name`, `#name`, or already a URL relative to the site such
 * as `04_refresh_tokens.html#name`).
 */
export function chunkUrl(pageUrl: string, anchor: string): string {
  const bare = anchor.startsWith("#") ? anchor.slice(1) : anchor;
  if (bare.includes("#")) {
    checkRelative(bare);
    if (/\s/.test(bare) || bare.endsWith("#")) {
      throw new Error(`search: bad chunk anchor "${anchor}" on ${pageUrl}`);
    }
    return bare;
  }
  if (bare === "" || /\s/.test(bare)) {
    throw new Error(`search: bad chunk anchor "${anchor}" on ${pageUrl}`);
  }
  return `${withoutHash(pageUrl)}#${bare}`;
}

/** The documents to index: each page, then each of its chunks. */
export function searchDocuments(pages: SearchPage[]): SearchDocument[] {
  const documents: SearchDocument[] = [];
  for (const page of pages) {
    checkRelative(page.url);
    documents.push({
      id: documents.length,
      kind: "page",
      url: page.url,
      title: page.title,
      name: "",
      headings: page.headings.join("\n"),
      text: page.text,
      snippet: snippet(page.text),
    });
    for (const chunk of page.chunks) {
      documents.push({
        id: documents.length,
        kind: "chunk",
        url: chunkUrl(page.url, chunk.anchor),
        title: `⟨${chunk.name}⟩`,
        name: chunk.name,
        headings: "",
        text: "",
        snippet: `A code chunk in “${page.title}”`,
      });
    }
  }
  return documents;
}

/** The index, built from `pages`. */
export function buildIndex(pages: SearchPage[]): MiniSearch<SearchDocument> {
  const search = new MiniSearch<SearchDocument>({
    ...SEARCH_OPTIONS,
    fields: [...SEARCH_OPTIONS.fields],
    storeFields: [...SEARCH_OPTIONS.storeFields],
  });
  search.addAll(searchDocuments(pages));
  return search;
}

/** What `search-index.js` assigns to `window.BOOK_SEARCH_INDEX`. */
export interface SearchIndexData {
  options: typeof SEARCH_OPTIONS;
  query: typeof QUERY_OPTIONS;
  index: ReturnType<MiniSearch["toJSON"]>;
}

/** The text of `search-index.js`. */
export function indexScript(pages: SearchPage[]): string {
  const data: SearchIndexData = {
    options: SEARCH_OPTIONS,
    query: QUERY_OPTIONS,
    index: buildIndex(pages).toJSON(),
  };
  // "<\/" keeps the script safe to inline too; U+2028/9 are valid JSON but
  // were not valid in older JavaScript string literals.
  const json = JSON.stringify(data).replace(/<\//g, "<\\/")
    .replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return "// The book's search index (a serialized MiniSearch), generated: " +
    `do not edit.\nwindow.BOOK_SEARCH_INDEX = ${json};\n`;
}

/**
 * Reads the data a `search-index.js` text assigns, without a browser: runs
 * it with a stand-in `window`.
 */
export function readIndexScript(script: string): SearchIndexData {
  const window: { BOOK_SEARCH_INDEX?: SearchIndexData } = {};
  new Function("window", script)(window);
  if (window.BOOK_SEARCH_INDEX === undefined) {
    throw new Error("search: the index script assigns no BOOK_SEARCH_INDEX");
  }
  return window.BOOK_SEARCH_INDEX;
}

/** Loads the index that `indexScript` serialized. */
export function loadIndex(data: SearchIndexData): MiniSearch<SearchDocument> {
  return MiniSearch.loadJS<SearchDocument>(data.index, {
    ...data.options,
    fields: [...data.options.fields],
    storeFields: [...data.options.storeFields],
  });
}

/** The chunks in a serialized index, in the order of the pages. */
export function indexedChunks(
  data: SearchIndexData,
): { name: string; url: string }[] {
  const stored = data.index.storedFields as Record<
    string,
    Partial<SearchDocument>
  >;
  return Object.keys(stored).map(Number).sort((a, b) => a - b)
    .map((id) => stored[id])
    .filter((fields) => fields.kind === "chunk")
    .map((fields) => ({ name: fields.name ?? "", url: fields.url ?? "" }));
}

/**
 * `search.js`: a classic script (no modules, works from `file://`) for every
 * page. Results link relative to the page: `data-root` on `<body>` (or
 * `<html>`) is the way from the page to the site's top (`./` or `../../`).
 */
export const SEARCH_JS = `// The book's search box, generated: do not edit.
(function () {
  "use strict";
  var MAX = 10;
  var DELAY = 120;
  function start() {
    var input = document.getElementById("search-input");
    var results = document.getElementById("search-results");
    var data = window.BOOK_SEARCH_INDEX;
    if (!input || !results || !data || !window.MiniSearch) return;
    var index = null;
    function load() {
      if (index === null) {
        index = window.MiniSearch.loadJS(data.index, data.options);
      }
      return index;
    }
    var root = (document.body && document.body.dataset.root) ||
      document.documentElement.dataset.root || "./";
    if (root.charAt(root.length - 1) !== "/") root += "/";
    var timer = 0;
    function clear() {
      results.textContent = "";
      results.hidden = true;
    }
    function search(query) {
      var found = load().search(query, Object.assign({}, data.query, {
        combineWith: "AND",
      }));
      if (found.length === 0) found = load().search(query, data.query);
      return found.slice(0, MAX);
    }
    function show() {
      var query = input.value.trim();
      results.textContent = "";
      if (query === "") {
        clear();
        return;
      }
      var found = search(query);
      results.hidden = false;
      if (found.length === 0) {
        var none = document.createElement("p");
        none.className = "search-none";
        none.textContent = "Nothing found for “" + query + "”.";
        results.appendChild(none);
        return;
      }
      var list = document.createElement("ol");
      list.className = "search-list";
      found.forEach(function (result) {
        var item = document.createElement("li");
        item.className = "search-" + result.kind;
        var link = document.createElement("a");
        link.href = root + result.url;
        var title = document.createElement("span");
        title.className = "search-title";
        title.textContent = result.title;
        var snippet = document.createElement("span");
        snippet.className = "search-snippet";
        snippet.textContent = result.snippet;
        link.appendChild(title);
        link.appendChild(snippet);
        item.appendChild(link);
        list.appendChild(item);
      });
      results.appendChild(list);
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(show, DELAY);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        clearTimeout(timer);
        show();
        var first = results.querySelector("a");
        if (first) window.location.href = first.href;
      } else if (event.key === "Escape") {
        clearTimeout(timer);
        input.value = "";
        clear();
      }
    });
    clear();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
`;

/**
 * Writes `minisearch.js`, `search-index.js` and `search.js` into
 * `siteDir/assets/`. The generator calls it after writing all pages.
 */
export async function buildSearch(
  siteDir: string,
  pages: SearchPage[],
): Promise<void> {
  const assets = join(siteDir, "assets");
  await mkdir(assets, { recursive: true });
  const script = indexScript(pages);
  await copyFile(MINISEARCH_UMD, join(assets, "minisearch.js"));
  await writeFile(join(assets, "search-index.js"), script);
  await writeFile(join(assets, "search.js"), SEARCH_JS);
}
