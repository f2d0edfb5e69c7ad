/**
 * The book generator on a tiny project (two chapters, a file root, a chunk
 * defined in one chapter and continued in the other), and on the real book:
 * every internal link and anchor of the site resolves.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tangleToDisk } from "../../lit/mod.ts";
import { buildBook } from "./build.ts";
import { checkLinks } from "./links.ts";

const F = "```";
const ONE = `# One

Read [chapter two](02_two.md#more), [the code](../src/greet.ts) and
[the licence](../LICENSE).

${F}ts
// file: src/greet.ts
// <<greet imports>>
/** Greets someone. */
export function greet(name: string): string {
  // <<greet body>>
}
${F}

${F}ts
// <<greet body>>=
const text = \`Hello, \${name}\`;
${F}

${F}mermaid
sequenceDiagram
  Client->>Server: hello
${F}

${F}console
$ deno run examples/greet.ts
Hello, you
${F}

${F}console illustrative
$ echo hi
hi
${F}
`;
const TWO = `# Two

## More

${F}ts
// <<greet body>>+=
return text;
${F}

${F}ts
// <<greet imports>>=
// (none)
${F}
`;

/** Search hooks and assets, as the search part of the book expects them. */
const SEARCH_INPUT =
  '<input id="search-input" type="search" placeholder="Search">';
const SEARCH_RESULTS = '<div id="search-results"></div>';

describe("book: a tiny project", () => {
  let root = "";
  let site = "";
  const read = (path: string) => readFile(join(site, path), "utf8");

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "book-test-"));
    await mkdir(join(root, "chapters"));
    await writeFile(join(root, "chapters/01_one.md"), ONE);
    await writeFile(join(root, "chapters/02_two.md"), TWO);
    await writeFile(
      join(root, "lit.json"),
      JSON.stringify({
        chapters: ["chapters/01_one.md", "chapters/02_two.md"],
      }),
    );
    await writeFile(
      join(root, "deno.json"),
      JSON.stringify({ name: "@x/tiny", exports: { ".": "./src/greet.ts" } }),
    );
    const tangled = await tangleToDisk(root);
    assert.deepEqual(tangled.diagnostics, []);
    site = join(root, "site");
    await buildBook({ root, out: site });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("writes a page per chapter, in order, with prev/next", async () => {
    const index = await read("index.html");
    assert.ok(
      index.indexOf('href="01_one.html"') < index.indexOf('href="02_two.html"'),
    );
    const one = await read("01_one.html");
    const two = await read("02_two.html");
    assert.match(one, /<a rel="prev" href="index.html">/);
    assert.match(one, /<a rel="next" href="02_two.html">/);
    assert.match(two, /<a rel="prev" href="01_one.html">/);
    assert.match(two, /<h2 id="more">More<\/h2>/);
  });

  it("captions each chunk, anchors it, and links its parts both ways", async () => {
    const one = await read("01_one.html");
    const two = await read("02_two.html");
    // The definition: caption, anchor, continued in, used in.
    assert.match(
      one,
      /<figure class="chunk" id="chunk-greet-body"><figcaption><a class="chunk-name" href="#chunk-greet-body">⟨greet body⟩<\/a> <span class="op">=<\/span>/,
    );
    assert.ok(!one.includes("&lt;&lt;greet body&gt;&gt;="), "header not shown");
    assert.match(one, /Continued in <a href="02_two.html#chunk-greet-body-2"/);
    assert.match(
      one,
      /Used in <a href="01_one.html#file-src-greet-ts"[^>]*>file:&nbsp;src\/greet.ts/,
    );
    // The continuation points back to the definition.
    assert.match(
      two,
      /<figure class="chunk" id="chunk-greet-body-2">.*<span class="op">\+=<\/span>/,
    );
    assert.match(two, /Continues <a href="01_one.html#chunk-greet-body"/);
    // References in code link to the definition; the file root to its view.
    assert.match(
      one,
      /<a class="ref" href="01_one.html#chunk-greet-body">⟨greet body⟩<\/a>/,
    );
    assert.match(one, /<a class="ref" href="02_two.html#chunk-greet-imports">/);
    assert.match(
      one,
      /file:<\/span> <a class="chunk-name" href="files\/src\/greet.ts.html">/,
    );
  });

  it("rewrites links to chapters and generated files", async () => {
    const one = await read("01_one.html");
    assert.match(one, /<a href="02_two.html#more">chapter two<\/a>/);
    assert.match(one, /<a href="files\/src\/greet.ts.html">the code<\/a>/);
    assert.match(one, /<span class="repo-file"[^>]*>the licence<\/span>/);
  });

  it("lists every chunk in the chunk index", async () => {
    const chunks = await read("chunks.html");
    assert.match(chunks, /⟨greet body⟩/);
    assert.match(chunks, /href="01_one.html#chunk-greet-body"/);
    assert.match(chunks, /href="02_two.html#chunk-greet-body-2"/);
    assert.match(chunks, /href="files\/src\/greet.ts.html">src\/greet.ts/);
  });

  it("indexes the exports with the chunk that defines them", async () => {
    const ids = await read("identifiers.html");
    assert.match(
      ids,
      /<code>greet<\/code><\/td><td class="kind">function<\/td><td><code>.<\/code><\/td><td><a href="01_one.html#file-src-greet-ts">/,
    );
    assert.match(ids, /href="files\/src\/greet.ts.html#L4">src\/greet.ts:4</);
  });

  it("links every line of an assembled view to its chunk", async () => {
    const view = await read("files/src/greet.ts.html");
    const rows = [
      ...view.matchAll(
        /<tr id="L(\d+)"[^>]*><td class="src">.*?<\/td><td class="ln"><a href="([^"]+)">\d+<\/a><\/td><td class="code">(.*?)<\/td><\/tr>/g,
      ),
    ].map((m) => ({ n: Number(m[1]), href: m[2], code: m[3] }));
    const source = await readFile(join(root, "src/greet.ts"), "utf8");
    assert.equal(rows.length, source.trimEnd().split("\n").length);
    const where = (text: string) =>
      rows.find((r) => r.code.replace(/<[^>]+>/g, "").includes(text))?.href;
    assert.equal(
      where("Generated by lit"),
      "../../01_one.html#file-src-greet-ts",
    );
    assert.equal(where("(none)"), "../../02_two.html#chunk-greet-imports");
    assert.equal(where("const text"), "../../01_one.html#chunk-greet-body");
    assert.equal(where("return text;"), "../../02_two.html#chunk-greet-body-2");
    assert.equal(
      where("export function"),
      "../../01_one.html#file-src-greet-ts",
    );
  });

  it("renders mermaid fences as diagrams, with the script beside the site", async () => {
    const one = await read("01_one.html");
    assert.match(
      one,
      /<pre class="mermaid">sequenceDiagram\n {2}Client-&gt;&gt;Server: hello\n<\/pre>/,
    );
    assert.match(one, /<script src="assets\/mermaid.min.js"><\/script>/);
    assert.ok((await stat(join(site, "assets/mermaid.min.js"))).size > 1e5);
    assert.ok(!(await read("02_two.html")).includes("mermaid.min.js"));
  });

  it("renders console blocks as terminal output", async () => {
    const one = await read("01_one.html");
    assert.match(
      one,
      /<figure class="terminal"><span class="label">checked transcript<\/span><pre><code><span class="prompt">\$ <\/span><span class="cmd">deno run examples\/greet.ts<\/span>\n<span class="out">Hello, you<\/span>/,
    );
    assert.match(
      one,
      /<figure class="terminal illustrative"><span class="label">illustrative<\/span>/,
    );
  });

  it("works offline: relative assets only, search hooks on every page", async () => {
    for (
      const page of [
        "index.html",
        "01_one.html",
        "02_two.html",
        "chunks.html",
        "identifiers.html",
        "files/src/greet.ts.html",
      ]
    ) {
      const html = await read(page);
      const base = "../".repeat(page.split("/").length - 1);
      for (const m of html.matchAll(/<(script|link|img)\b[^>]*>/g)) {
        const url = /(?:src|href)="([^"]*)"/.exec(m[0])?.[1];
        if (url === undefined) continue;
        assert.ok(
          !/^(?:[a-z]+:|\/)/i.test(url),
          `${page}: asset ${url} is not relative`,
        );
      }
      assert.ok(!/type="module"/.test(html), `${page}: ES module script`);
      assert.ok(html.includes(SEARCH_INPUT), `${page}: search input`);
      assert.ok(html.includes(SEARCH_RESULTS), `${page}: search results`);
      const mini = html.indexOf(`<script src="${base}assets/minisearch.js">`);
      const index = html.indexOf(
        `<script src="${base}assets/search-index.js">`,
      );
      const search = html.indexOf(`<script src="${base}assets/search.js">`);
      assert.ok(
        mini > 0 && index > mini && search > index,
        `${page}: search scripts, in order`,
      );
    }
    assert.deepEqual(await checkLinks(site), []);
  });
});

describe("book: the real book", () => {
  it("builds, and every internal link and anchor resolves", async () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
    const out = await mkdtemp(join(tmpdir(), "book-site-"));
    try {
      const result = await buildBook({ root, out: join(out, "site") });
      assert.ok(result.chapters >= 8 && result.identifiers > 50);
      const problems = await checkLinks(join(out, "site"));
      assert.deepEqual(problems.slice(0, 20), []);
      // Interfaces' fields are indexed, each linked to its chunk.
      const ids = await readFile(join(out, "site", "identifiers.html"), "utf8");
      assert.match(
        ids,
        /<code>ClientOptions\.fetch<\/code><\/td><td class="kind">property<\/td><td><code>.<\/code><\/td><td><a href="\d\d_[a-z_]+\.html#chunk-/,
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
