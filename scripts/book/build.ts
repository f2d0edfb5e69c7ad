/**
 * Weaving: the chapters, the chunk web, the tangled files and the library's
 * exports become the book's static site. {@link buildBook} writes every page,
 * then hands the pages to the search index.
 *
 * @module
 */

import {
  copyFile,
  mkdir,
  readdir,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatDiagnostic, hasErrors, tangleProject } from "../../lit/mod.ts";
import { escapeHtml, loadHighlighter } from "./highlight.ts";
import { buildIdentifiers, readExports } from "./identifiers.ts";
import { CSS, type NavEntry, page } from "./layout.ts";
import {
  chunkLabel,
  partHref,
  partLabel,
  renderChapter,
  type RenderedChapter,
  usedLabel,
} from "./markdown.ts";
import { buildWeb, type Chunk, filePage, type Part } from "./model.ts";
import { buildSearch, type SearchPage } from "./search.ts";

/** Options for {@link buildBook}. */
export interface BuildOptions {
  /** The project root (holds lit.json and deno.json). */
  root: string;
  /** The output folder; replaced. */
  out: string;
  /** Skip the identifier index (no `deno doc` run). */
  noIdentifiers?: boolean;
}

/** What {@link buildBook} wrote. */
export interface BuildResult {
  /** Site-relative paths of the HTML pages, in writing order. */
  pages: string[];
  chapters: number;
  chunks: number;
  identifiers: number;
}

const MERMAID = fileURLToPath(
  new URL("../../node_modules/mermaid/dist/mermaid.min.js", import.meta.url),
);

/** Plain text of an HTML fragment, for the search index. */
export function plainText(html: string): string {
  return html.replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&nbsp;/g, " ").replace(/&amp;/g, "&")
    .replace(/\s+/g, " ").trim();
}

/** `../` once per folder in a site-relative path. */
function baseOf(sitePath: string): string {
  return "../".repeat(sitePath.split("/").length - 1);
}

function langOf(path: string): string {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return ext === "mts" || ext === "cts" ? "ts" : ext;
}

async function clearOutput(out: string): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await readdir(out);
  } catch {
    return;
  }
  if (entries.length && !entries.includes("index.html")) {
    throw new Error(
      `${out} is not empty and holds no index.html: not a book site, so it is left alone`,
    );
  }
  await rm(out, { recursive: true, force: true });
}

/** Builds the whole site into `options.out`. */
export async function buildBook(options: BuildOptions): Promise<BuildResult> {
  const { root, out } = options;
  // lit.json, its chapters and their tangling, as lit tangle sees them (the
  // book's own header included).
  const tangled = tangleProject(root);
  const sources = tangled.chapters;
  if (!tangled.config || hasErrors(tangled.diagnostics)) {
    throw new Error(
      "the chapters do not tangle:\n" +
        tangled.diagnostics.map(formatDiagnostic).join("\n"),
    );
  }
  const files = tangled.files;
  const web = buildWeb(sources, files);
  const hl = await loadHighlighter();
  const bookTitle = readBookTitle(root);

  const written = new Map<string, string>();
  const put = (path: string, html: string) => written.set(path, html);

  // Chapters.
  const ctx = {
    chapters: new Map(web.chapters.map((c) => [c.path, c.page])),
    generated: new Set(files.map((f) => f.path)),
  };
  const rendered: RenderedChapter[] = web.chapters.map((c) =>
    renderChapter(web, c, hl, ctx)
  );
  const chapterLabel = (i: number) => `${i}. ${rendered[i].title}`;
  const extras: NavEntry[] = [
    { href: "chunks.html", label: "Chunk index" },
    { href: "identifiers.html", label: "Identifier index" },
    { href: "index.html#files", label: "Generated files" },
  ];
  const nav = (current?: number, currentExtra?: string): NavEntry[] => [
    ...web.chapters.map((c, i) => ({
      href: c.page,
      label: escapeHtml(chapterLabel(i)),
      current: i === current,
      children: i === current
        ? rendered[i].headings.filter((h) => h.level === 2).map((h) => ({
          href: `${c.page}#${h.id}`,
          label: escapeHtml(h.text),
        }))
        : undefined,
    })),
    ...extras.map((e) => ({ ...e, current: e.href === currentExtra })),
  ];
  const search: SearchPage[] = [];
  web.chapters.forEach((c, i) => {
    const r = rendered[i];
    const prev = i > 0
      ? { href: web.chapters[i - 1].page, label: chapterLabel(i - 1) }
      : { href: "index.html", label: "Contents" };
    const next = i + 1 < web.chapters.length
      ? { href: web.chapters[i + 1].page, label: chapterLabel(i + 1) }
      : { href: "chunks.html", label: "Chunk index" };
    put(
      c.page,
      page({
        base: "",
        title: r.title,
        bookTitle,
        nav: nav(i),
        main: `<article class="chapter">\n${r.html}</article>`,
        prev: { ...prev, label: escapeHtml(prev.label) },
        next: { ...next, label: escapeHtml(next.label) },
        mermaid: r.hasMermaid,
      }),
    );
    search.push({
      url: c.page,
      title: r.title,
      headings: r.headings.map((h) => h.text),
      text: plainText(r.html),
      chunks: web.parts.filter((p) => p.chapter === c).map((p) => ({
        name: p.chunk.name,
        anchor: `${c.page}#${p.anchor}`,
      })),
    });
  });

  // Title page and table of contents.
  const toc = web.chapters.map((c, i) =>
    `<li><a href="${c.page}">${escapeHtml(chapterLabel(i))}</a><ul>${
      rendered[i].headings.filter((h) => h.level === 2).map((h) =>
        `<li><a href="${c.page}#${h.id}">${escapeHtml(h.text)}</a></li>`
      ).join("")
    }</ul></li>`
  ).join("\n");
  const fileList = files.map((f) => {
    const root = web.roots.get(f.path)?.parts[0];
    return `<li><a href="${filePage(f.path)}">${escapeHtml(f.path)}</a>${
      root
        ? ` <span class="meta">rooted in <a href="${partHref("", root)}">${
          escapeHtml(chapterLabel(root.chapter.index))
        }</a></span>`
        : ""
    }</li>`;
  }).join("\n");
  put(
    "index.html",
    page({
      base: "",
      title: bookTitle,
      bookTitle,
      nav: nav(),
      main: `<h1>${escapeHtml(bookTitle)}</h1>
<p class="subtitle">${escapeHtml(readDescription(root))}</p>
<h2 id="contents">Contents</h2>
<ol class="toc" start="0">
${toc}
</ol>
<h2 id="indexes">Indexes</h2>
<ul><li><a href="chunks.html">Chunk index</a>: every chunk, where it is defined, continued and used</li>
<li><a href="identifiers.html">Identifier index</a>: every export of the library, and the chunk that defines it</li></ul>
<h2 id="files">Generated files</h2>
<p>The chapters tangle into these files; each view links every line back to its chunk.</p>
<ul class="index-list">
${fileList}
</ul>`,
      next: web.chapters.length
        ? {
          href: web.chapters[0].page,
          label: escapeHtml(chapterLabel(0)),
        }
        : undefined,
    }),
  );

  // Chunk index.
  const link = (p: Part, label: string) =>
    `<a href="${partHref("", p)}">${label}</a>`;
  const indexEntry = (chunk: Chunk) => {
    const [first, ...rest] = chunk.parts;
    const name = chunk.kind === "file"
      ? `<a href="${filePage(chunk.name)}">${escapeHtml(chunk.name)}</a>`
      : chunkLabel(chunk.name);
    const meta = [
      first ? `defined in ${link(first, partLabel(first))}` : "never defined",
      rest.length
        ? `continued in ${rest.map((p) => link(p, partLabel(p))).join(", ")}`
        : "",
      chunk.kind === "chunk"
        ? chunk.usedIn.length
          ? `used in ${
            chunk.usedIn.map((u) => link(u, `${usedLabel(u)} ${partLabel(u)}`))
              .join(", ")
          }`
          : "not used by another chunk"
        : `root: ${
          first
            ? link(first, escapeHtml(chapterLabel(first.chapter.index)))
            : ""
        }`,
    ].filter(Boolean).join("; ");
    return `<li id="index-${
      first?.anchor ?? "x"
    }"><strong>${name}</strong><br><span class="meta">${meta}</span></li>`;
  };
  const byName = (a: Chunk, b: Chunk) =>
    a.name.localeCompare(b.name, "en", { sensitivity: "base" });
  put(
    "chunks.html",
    page({
      base: "",
      title: "Chunk index",
      bookTitle,
      nav: nav(undefined, "chunks.html"),
      main: `<h1>Chunk index</h1>
<p>Every named chunk of the book, with the place it is defined, the places it is continued, and the chunks that use it. File roots come first.</p>
<h2 id="file-roots">File roots</h2>
<ul class="index-list">${
        [...web.roots.values()].sort(byName).map(indexEntry).join("\n")
      }</ul>
<h2 id="chunks">Chunks</h2>
<ul class="index-list">${
        [...web.chunks.values()].sort(byName).map(indexEntry).join("\n")
      }</ul>`,
      prev: web.chapters.length
        ? {
          href: web.chapters[web.chapters.length - 1].page,
          label: escapeHtml(chapterLabel(web.chapters.length - 1)),
        }
        : undefined,
      next: { href: "identifiers.html", label: "Identifier index" },
    }),
  );

  // Identifier index.
  const identifiers = options.noIdentifiers
    ? []
    : buildIdentifiers(root, await readExports(root), files, web);
  const idRows = identifiers.map((id) => {
    const where = id.part
      ? `<a href="${partHref("", id.part)}">${chunkLabel(id.part.chunk.name)} ${
        partLabel(id.part)
      }</a>`
      : "";
    return `<tr><td><code>${escapeHtml(id.name)}</code></td><td class="kind">${
      escapeHtml(id.kind)
    }</td><td><code>${
      escapeHtml(id.entry)
    }</code></td><td>${where}</td><td><a href="${
      filePage(id.file)
    }#L${id.line}">${escapeHtml(id.file)}:${id.line}</a></td></tr>`;
  }).join("\n");
  put(
    "identifiers.html",
    page({
      base: "",
      title: "Identifier index",
      bookTitle,
      nav: nav(undefined, "identifiers.html"),
      main: `<h1>Identifier index</h1>
<p>Every symbol the library exports (and the methods of its classes), from <code>deno doc</code>, with the chunk that defines it and its line in the generated file.</p>
<table class="identifiers"><thead><tr><th>identifier</th><th>kind</th><th>export</th><th>defined in</th><th>file</th></tr></thead>
<tbody>
${idRows}
</tbody></table>`,
      prev: { href: "chunks.html", label: "Chunk index" },
    }),
  );

  // Assembled views.
  for (const file of files) {
    const sitePath = filePage(file.path);
    const base = baseOf(sitePath);
    const text = file.text.endsWith("\n") ? file.text.slice(0, -1) : file.text;
    const lines = hl.lines(text, langOf(file.path));
    let previous: Part | undefined;
    const rows = lines.map((code, i) => {
      const origin = file.origins[i];
      const part = origin ? web.partAt(origin.file, origin.line) : undefined;
      const start = part !== previous;
      previous = part;
      const href = part ? partHref(base, part) : "";
      const src = start && part
        ? `<a href="${href}" title="${
          escapeHtml(`${part.chapter.path}:${origin.line}`)
        }">${usedLabel(part)}${
          part.chunk.parts.length > 1 ? ` ${part.index + 1}` : ""
        }</a> <span class="ch">ch.&nbsp;${part.chapter.index}</span>`
        : "";
      const n = i + 1;
      return `<tr id="L${n}"${
        start ? ' class="start"' : ""
      }><td class="src">${src}</td><td class="ln">${
        href ? `<a href="${href}">${n}</a>` : n
      }</td><td class="code">${code}</td></tr>`;
    });
    const rootPart = web.roots.get(file.path)?.parts[0];
    put(
      sitePath,
      page({
        base,
        title: file.path,
        bookTitle,
        nav: nav(undefined, "index.html#files"),
        wide: true,
        main: `<h1>${escapeHtml(file.path)}</h1>
<p>The file as tangled from the chapters${
          rootPart
            ? `, rooted in ${`<a href="${partHref(base, rootPart)}">${
              escapeHtml(chapterLabel(rootPart.chapter.index))
            }</a>`}`
            : ""
        }. The left column names the chunk each run of lines comes from; every line number links to its chunk.</p>
<div class="assembled-wrap"><table class="assembled code"><tbody>
${rows.join("\n")}
</tbody></table></div>`,
      }),
    );
  }

  await clearOutput(out);
  for (const [path, html] of written) {
    const target = join(out, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, html);
  }
  await mkdir(join(out, "assets"), { recursive: true });
  await writeFile(join(out, "assets", "book.css"), CSS + hl.css());
  if (rendered.some((r) => r.hasMermaid)) {
    await copyFile(MERMAID, join(out, "assets", "mermaid.min.js"));
  }
  await buildSearch(out, search);
  return {
    pages: [...written.keys()],
    chapters: web.chapters.length,
    chunks: web.chunks.size,
    identifiers: identifiers.length,
  };
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return {};
  }
}

function readBookTitle(root: string): string {
  const pkg = readJson(join(root, "deno.json"));
  const name = typeof pkg.name === "string" ? pkg.name : "";
  return name.replace(/^@[^/]+\//, "") || "The book";
}

function readDescription(root: string): string {
  const pkg = readJson(join(root, "package.json"));
  return typeof pkg.description === "string" ? pkg.description : "";
}

/** Total size in bytes of a folder's files. */
export async function folderSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory()
      ? await folderSize(path)
      : (await stat(path)).size;
  }
  return total;
}
