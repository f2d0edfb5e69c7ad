/**
 * A chapter's Markdown as a book page: markdown-it (CommonMark with GFM
 * tables), headings with stable ids, tangled blocks with a caption, an
 * anchor, links for their references and cross-references under them,
 * console transcripts as terminal output, Mermaid fences as diagrams.
 *
 * @module
 */

import MarkdownIt from "markdown-it/browser";
import { escapeHtml, type Highlighter } from "./highlight.ts";
import { type Chapter, filePage, type Part, slug, type Web } from "./model.ts";

/** A heading of a chapter. */
export interface Heading {
  level: number;
  text: string;
  id: string;
}

/** A chapter rendered to HTML (the page's main content). */
export interface RenderedChapter {
  title: string;
  html: string;
  headings: Heading[];
  hasMermaid: boolean;
}

const md = new MarkdownIt("commonmark").enable(["table", "strikethrough"]);

/** `⟨name⟩`, escaped. */
export function chunkLabel(name: string): string {
  return `⟨${escapeHtml(name)}⟩`;
}

/** `⟨name⟩` for a chunk, `file: path` for a file root. */
export function usedLabel(part: Part): string {
  return part.chunk.kind === "file"
    ? `file:&nbsp;${escapeHtml(part.chunk.name)}`
    : chunkLabel(part.chunk.name);
}

/** A short label for where a part is: chapter number and part number. */
export function partLabel(part: Part): string {
  const n = part.chunk.parts.length > 1 ? ` (${part.index + 1})` : "";
  return `ch.&nbsp;${part.chapter.index}${n}`;
}

/** A link from a page at `base` (e.g. `""` or `"../../"`) to a part. */
export function partHref(base: string, part: Part): string {
  return `${base}${part.chapter.page}#${part.anchor}`;
}

function linkList(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** The cross-reference line under a tangled block. */
export function crossReferences(
  part: Part,
  base: string,
): string {
  const chunk = part.chunk;
  const out: string[] = [];
  const link = (p: Part, label = partLabel(p)) =>
    `<a href="${partHref(base, p)}" title="${
      escapeHtml(titleOf(p.chapter))
    }">${label}</a>`;
  if (chunk.kind === "file") {
    out.push(
      `Assembled: <a href="${base}${filePage(chunk.name)}">${
        escapeHtml(chunk.name)
      }</a>.`,
    );
  } else {
    const others = chunk.parts.filter((p) => p !== part);
    if (part.index > 0) {
      out.push(`Continues ${link(chunk.parts[0])}.`);
    }
    const rest = others.filter((p) => p.index > 0);
    if (rest.length) {
      out.push(
        `${part.index === 0 ? "Continued in" : "Also in"} ${
          linkList(rest.map((p) => link(p)))
        }.`,
      );
    }
    if (chunk.usedIn.length) {
      out.push(
        `Used in ${
          linkList(chunk.usedIn.map((u) =>
            link(u, `${usedLabel(u)} ${partLabel(u)}`)
          ))
        }.`,
      );
    } else out.push("Not used by any other chunk.");
    if (chunk.files.length) {
      out.push(
        `In ${
          linkList(chunk.files.map((f) =>
            `<a href="${base}${filePage(f)}">${escapeHtml(f)}</a>`
          ))
        }.`,
      );
    }
  }
  return `<p class="xref">${out.join(" ")}</p>`;
}

const titles = new Map<string, string>();

/** A chapter's title: its first level-1 heading, else its file name. */
export function titleOf(chapter: Chapter): string {
  let t = titles.get(chapter.text);
  if (t === undefined) {
    const m = /^#\s+(.+?)\s*#*\s*$/m.exec(chapter.text);
    t = m ? m[1].replace(/[`*_]/g, "") : chapter.page.replace(/\.html$/, "");
    titles.set(chapter.text, t);
  }
  return t;
}

function renderPart(web: Web, part: Part, hl: Highlighter): string {
  const { block, chunk } = part;
  const code = block.body.map((l) => l.text).join("\n");
  const lines = hl.lines(code, block.lang);
  const html = block.body.map((line, i) => {
    if (!line.ref) return lines[i] ?? "";
    const target = web.target(line.ref.name);
    const label = chunkLabel(line.ref.name);
    return `<span class="ref-line">${escapeHtml(line.ref.indent)}${
      target
        ? `<a class="ref" href="${partHref("", target)}">${label}</a>`
        : `<span class="ref">${label}</span>`
    }</span>`;
  });
  const caption = chunk.kind === "file"
    ? `<span class="op">file:</span> <a class="chunk-name" href="${
      filePage(chunk.name)
    }">${escapeHtml(chunk.name)}</a>`
    : `<a class="chunk-name" href="#${part.anchor}">${
      chunkLabel(chunk.name)
    }</a> <span class="op">${block.kind === "append" ? "+=" : "="}</span>${
      block.unused ? ' <span class="note">[unused]</span>' : ""
    }`;
  return `<figure class="chunk" id="${part.anchor}"><figcaption>${caption}<a class="anchor" href="#${part.anchor}" aria-label="Link to this block">#</a></figcaption>` +
    `<pre class="code lang-${escapeHtml(block.lang)}"><code>${
      html.join("\n")
    }</code></pre>${crossReferences(part, "")}</figure>\n`;
}

/** Renders a console transcript: prompts apart from output. */
export function renderTerminal(content: string, info: string[]): string {
  const illustrative = info.includes("illustrative");
  const lines = content.replace(/\n$/, "").split("\n");
  let continued = false;
  const html = lines.map((line) => {
    if (continued || line.startsWith("$ ") || line === "$") {
      const cmd = continued ? line : line.slice(2);
      const prompt = continued ? "" : '<span class="prompt">$ </span>';
      continued = /\\$/.test(line);
      return `${prompt}<span class="cmd">${escapeHtml(cmd)}</span>`;
    }
    return `<span class="out">${escapeHtml(line)}</span>`;
  });
  const label = illustrative
    ? '<span class="label">illustrative</span>'
    : '<span class="label">checked transcript</span>';
  return `<figure class="terminal${
    illustrative ? " illustrative" : ""
  }">${label}<pre><code>${html.join("\n")}</code></pre></figure>\n`;
}

/** Context for rewriting links to repository files. */
export interface LinkContext {
  /** Chapter path → page. */
  chapters: Map<string, string>;
  /** Generated file paths. */
  generated: Set<string>;
}

function normalisePath(from: string, rel: string): string | undefined {
  const parts = from.split("/").slice(0, -1);
  for (const seg of rel.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (!parts.length) return undefined;
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join("/");
}

/**
 * Rewrites a link found in `chapterPath`: other chapters → their page, a
 * generated file → its assembled view; `undefined` for any other repository
 * file (shown as text: the site does not hold it).
 */
export function rewriteHref(
  href: string,
  chapterPath: string,
  ctx: LinkContext,
): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("#")) return href;
  const hash = href.indexOf("#");
  const path = hash >= 0 ? href.slice(0, hash) : href;
  const frag = hash >= 0 ? href.slice(hash) : "";
  const target = normalisePath(chapterPath, decodeURI(path));
  if (target === undefined) return undefined;
  const page = ctx.chapters.get(target);
  if (page) return page + frag;
  if (ctx.generated.has(target)) return filePage(target);
  return undefined;
}

function inlineText(tokens: { type: string; content: string }[]): string {
  return tokens.filter((t) => t.type === "text" || t.type === "code_inline")
    .map((t) => t.content).join("");
}

/** Renders one chapter's Markdown. */
export function renderChapter(
  web: Web,
  chapter: Chapter,
  hl: Highlighter,
  ctx: LinkContext,
): RenderedChapter {
  const tokens = md.parse(chapter.text, {});
  const headings: Heading[] = [];
  const ids = new Set(
    web.parts.filter((p) => p.chapter === chapter).map((p) => p.anchor),
  );
  let hasMermaid = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type === "heading_open") {
      const text = inlineText(tokens[i + 1].children ?? []);
      let id = slug(text);
      for (let n = 1; ids.has(id); n++) id = `${slug(text)}-${n}`;
      ids.add(id);
      t.attrSet("id", id);
      headings.push({ level: Number(t.tag.slice(1)), text, id });
    }
    if (t.type === "inline" && t.children) {
      const kids = t.children;
      for (let k = 0; k < kids.length; k++) {
        if (kids[k].type !== "link_open") continue;
        const href = String(kids[k].attrGet("href") ?? "");
        const to = rewriteHref(href, chapter.path, ctx);
        if (to !== undefined) {
          kids[k].attrSet("href", to);
          continue;
        }
        // A repository file the site does not hold: text, with a note.
        kids[k].tag = "span";
        kids[k].attrs = [
          ["class", "repo-file"],
          ["title", `${href} (in the repository)`],
        ];
        let depth = 0;
        for (let j = k + 1; j < kids.length; j++) {
          if (kids[j].type === "link_open") depth++;
          if (kids[j].type === "link_close" && depth-- === 0) {
            kids[j].tag = "span";
            break;
          }
        }
      }
    }
  }
  const title = headings.find((h) => h.level === 1)?.text ?? titleOf(chapter);
  const renderer = md.renderer;
  const out: string[] = [];
  const rules = {
    fence: (idx: number): string => {
      const token = tokens[idx];
      const info = token.info.trim().split(/\s+/);
      const lang = (info[0] ?? "").toLowerCase();
      if (token.map) {
        const part = web.partAt(chapter.path, token.map[0] + 2);
        if (part && part.block.line === token.map[0] + 2) {
          return renderPart(web, part, hl);
        }
      }
      if (lang === "mermaid") {
        hasMermaid = true;
        return `<pre class="mermaid">${escapeHtml(token.content)}</pre>\n`;
      }
      if (lang === "console") return renderTerminal(token.content, info);
      const lines = hl.lines(token.content.replace(/\n$/, ""), lang);
      return `<pre class="code${
        lang ? ` lang-${escapeHtml(lang)}` : ""
      }"><code>${lines.join("\n")}</code></pre>\n`;
    },
  };
  const saved = renderer.rules.fence;
  renderer.rules.fence = (_tokens, idx) => rules.fence(idx);
  try {
    out.push(renderer.render(tokens, md.options, {}));
  } finally {
    renderer.rules.fence = saved;
  }
  return { title, html: out.join(""), headings, hasMermaid };
}
