/**
 * Hermetic tests of the book's search: the assets buildSearch writes, and
 * what the serialized index finds once loaded again with MiniSearch. The
 * search box in a real browser is `npm run book:check`.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildSearch,
  checkRelative,
  chunkUrl,
  indexedChunks,
  loadIndex,
  QUERY_OPTIONS,
  readIndexScript,
  SEARCH_JS,
  type SearchPage,
  snippet,
} from "./search.ts";

const PAGES: SearchPage[] = [
  {
    url: "index.html",
    title: "matrixlib",
    headings: ["Contents"],
    text: "A literate book on Matrix client authentication.",
    chunks: [],
  },
  {
    url: "04_refresh_tokens.html",
    title: "Refresh tokens",
    headings: ["Refreshing", "When the server says no"],
    text: "An access token expires; the client trades its refresh token " +
      "for a new pair. Two requests must not race: a storm of 401s " +
      "becomes one refresh. ".repeat(20),
    chunks: [
      { name: "refresh tests", anchor: "chunk-refresh-tests" },
      { name: "single flight", anchor: "chunk-single-flight" },
    ],
  },
  {
    url: "files/src/refresh.ts.html",
    title: "src/refresh.ts",
    headings: [],
    text: "export function refresh() {}",
    chunks: [],
  },
];

async function built(): Promise<{ dir: string; files: Map<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), "book-search-"));
  await buildSearch(dir, PAGES);
  const files = new Map<string, string>();
  for (const name of ["minisearch.js", "search-index.js", "search.js"]) {
    files.set(name, await readFile(join(dir, "assets", name), "utf8"));
  }
  return { dir, files };
}

Deno.test("buildSearch writes the three assets", async () => {
  const { dir, files } = await built();
  try {
    assert(files.get("minisearch.js")!.includes("MiniSearch"));
    assert(files.get("search-index.js")!.startsWith("// "));
    assert(files.get("search-index.js")!.includes("window.BOOK_SEARCH_INDEX"));
    assert.equal(files.get("search.js"), SEARCH_JS);
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("the index finds a chunk by its name, linking to its anchor", async () => {
  const { dir, files } = await built();
  try {
    const index = loadIndex(readIndexScript(files.get("search-index.js")!));
    const found = index.search("refresh tests", {
      ...QUERY_OPTIONS,
      combineWith: "AND",
    });
    assert.equal(found[0].url, "04_refresh_tokens.html#chunk-refresh-tests");
    assert.equal(found[0].title, "⟨refresh tests⟩");
    assert.equal(found[0].kind, "chunk");
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("the index finds a page by a word of its text", async () => {
  const { dir, files } = await built();
  try {
    const index = loadIndex(readIndexScript(files.get("search-index.js")!));
    const found = index.search("storm", QUERY_OPTIONS);
    assert.equal(found[0].url, "04_refresh_tokens.html");
    assert.equal(found[0].kind, "page");
    assert(found[0].snippet.length <= 161);
    assert.equal(
      index.search("authentication", QUERY_OPTIONS)[0].url,
      "index.html",
    );
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("the index keeps snippets, not whole texts", async () => {
  const { dir, files } = await built();
  try {
    const script = files.get("search-index.js")!;
    assert(!script.includes(PAGES[1].text));
    assert.deepEqual(
      indexedChunks(readIndexScript(script)).map((chunk) => chunk.name),
      ["refresh tests", "single flight"],
    );
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("no absolute or remote URLs in the assets", async () => {
  const { dir, files } = await built();
  try {
    const data = readIndexScript(files.get("search-index.js")!);
    for (const stored of Object.values(data.index.storedFields)) {
      checkRelative((stored as { url: string }).url);
    }
    for (const name of ["search-index.js", "search.js"]) {
      assert.equal(files.get(name)!.match(/\b(?:https?|file):\/\//g), null);
    }
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("search.js is a classic script that parses", () => {
  new Function(SEARCH_JS);
  assert(!/^\s*(?:import|export)\s/m.test(SEARCH_JS));
});

Deno.test("checkRelative refuses URLs that leave the site", () => {
  for (
    const url of [
      "https://example.org/",
      "//cdn.example/x.html",
      "/index.html",
      "../index.html",
      "files/../../x.html",
      "file:///tmp/x.html",
      "",
    ]
  ) {
    assert.throws(() => checkRelative(url), /not a URL relative/);
  }
  checkRelative("files/src/refresh.ts.html#L3");
  checkRelative("04_refresh_tokens.html");
});

Deno.test("buildSearch refuses a chunk without a usable anchor", async () => {
  const dir = await mkdtemp(join(tmpdir(), "book-search-"));
  try {
    let error: Error | undefined;
    try {
      await buildSearch(dir, [{
        ...PAGES[0],
        chunks: [{ name: "x", anchor: "has space" }],
      }]);
    } catch (caught) {
      error = caught as Error;
    }
    assert(error?.message.includes("bad chunk anchor"));
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("snippet flattens white space and cuts at a word", () => {
  assert.equal(snippet("a\n\n b  c"), "a b c");
  assert.equal(snippet("alpha beta gamma", 12), "alpha beta…");
});

Deno.test("a chunk's anchor may be bare, with #, or a URL in the site", () => {
  const page = "04_refresh_tokens.html#top";
  for (const anchor of ["x", "#x", "04_refresh_tokens.html#x"]) {
    assert.equal(chunkUrl(page, anchor), "04_refresh_tokens.html#x");
  }
  assert.equal(
    chunkUrl("a.html", "files/mod.ts.html#L1"),
    "files/mod.ts.html#L1",
  );
  for (const anchor of ["", "#", "a b", "https://x.org/a.html#x", "a.html#"]) {
    assert.throws(() => chunkUrl(page, anchor), Error, anchor);
  }
});
