/**
 * The book's page frame and stylesheet: a header with the search box, a
 * sidebar table of contents that folds away on a phone (CSS only), the
 * content, prev/next links. Every URL is relative, every script classic, so
 * the site works from `file://` with no network.
 *
 * @module
 */

import { escapeHtml } from "./highlight.ts";

/** A link in the sidebar. */
export interface NavEntry {
  href: string;
  label: string;
  current?: boolean;
  children?: NavEntry[];
}

/** What one page holds. */
export interface PageSpec {
  /** Relative path from this page to the site root: `""`, `"../"`, … */
  base: string;
  title: string;
  bookTitle: string;
  nav: NavEntry[];
  main: string;
  prev?: { href: string; label: string };
  next?: { href: string; label: string };
  mermaid?: boolean;
  /** Let the content use the page's width (assembled views). */
  wide?: boolean;
}

function navList(entries: NavEntry[], base: string): string {
  return `<ul>${
    entries.map((e) =>
      `<li${e.current ? ' class="current"' : ""}><a href="${base}${e.href}"${
        e.current ? ' aria-current="page"' : ""
      }>${e.label}</a>${
        e.children?.length ? navList(e.children, base) : ""
      }</li>`
    ).join("")
  }</ul>`;
}

/** A whole HTML page. */
export function page(spec: PageSpec): string {
  const { base } = spec;
  const pager = spec.prev || spec.next
    ? `<nav class="pager">${
      spec.prev
        ? `<a rel="prev" href="${base}${spec.prev.href}">← ${spec.prev.label}</a>`
        : "<span></span>"
    }${
      spec.next
        ? `<a rel="next" href="${base}${spec.next.href}">${spec.next.label} →</a>`
        : "<span></span>"
    }</nav>`
    : "";
  const mermaid = spec.mermaid
    ? `<script src="${base}assets/mermaid.min.js"></script>
<script>mermaid.initialize({ startOnLoad: false, theme: matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "default" }); mermaid.run({ querySelector: "pre.mermaid" });</script>\n`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(spec.title)}${
    spec.title === spec.bookTitle ? "" : ` · ${escapeHtml(spec.bookTitle)}`
  }</title>
<link rel="stylesheet" href="${base}assets/book.css">
</head>
<body data-root="${base}">
<input type="checkbox" id="nav-toggle" class="nav-toggle" aria-hidden="true">
<header class="top">
<label for="nav-toggle" class="nav-button" title="Contents">☰</label>
<a class="book-title" href="${base}index.html">${escapeHtml(spec.bookTitle)}</a>
<div class="search"><input id="search-input" type="search" placeholder="Search"><div id="search-results"></div></div>
</header>
<div class="frame">
<nav class="sidebar" aria-label="Contents">${navList(spec.nav, base)}</nav>
<main${spec.wide ? ' class="wide"' : ""}>
${spec.main}
${pager}
</main>
</div>
<script src="${base}assets/minisearch.js"></script>
<script src="${base}assets/search-index.js"></script>
<script src="${base}assets/search.js"></script>
${mermaid}</body>
</html>
`;
}

/** The stylesheet (the highlighter's colour classes are appended). */
export const CSS = `:root {
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --soft: #f6f8fa;
  --line: #d1d9e0; --accent: #0969da; --code-bg: #f6f8fa;
  --term-bg: #161b22; --term-fg: #e6edf3; --prompt: #7ee787; --cmd: #ffffff;
  --sidebar: 17rem;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --soft: #151b23;
    --line: #3d444d; --accent: #4493f8; --code-bg: #151b23; --term-bg: #010409; }
}
* { box-sizing: border-box; }
[id] { scroll-margin-top: 4rem; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 17px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.85em; }
:not(pre) > code { background: var(--soft); padding: 0.1em 0.3em; border-radius: 4px; }
header.top { position: sticky; top: 0; z-index: 10; display: flex; align-items: center; gap: 1rem;
  padding: 0.5rem 1rem; background: var(--bg); border-bottom: 1px solid var(--line); }
.book-title { font-weight: 700; color: var(--fg); }
.search { margin-left: auto; position: relative; }
#search-input { font: inherit; font-size: 0.9rem; padding: 0.3rem 0.6rem; width: 16rem; max-width: 50vw;
  border: 1px solid var(--line); border-radius: 6px; background: var(--soft); color: var(--fg); }
#search-results:empty { display: none; }
#search-results { position: absolute; right: 0; top: 2.4rem; width: min(32rem, 90vw); max-height: 70vh; overflow: auto;
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem; }
.nav-toggle { display: none; }
.nav-button { display: none; cursor: pointer; font-size: 1.3rem; user-select: none; }
.frame { display: flex; }
.sidebar { flex: 0 0 var(--sidebar); position: sticky; top: 3.2rem; align-self: flex-start;
  max-height: calc(100vh - 3.2rem); overflow-y: auto; padding: 1rem; font-size: 0.9rem; border-right: 1px solid var(--line); }
.sidebar ul { list-style: none; margin: 0; padding: 0; }
.sidebar ul ul { padding-left: 0.9rem; margin: 0.2rem 0 0.4rem; border-left: 1px solid var(--line); }
.sidebar li { margin: 0.25rem 0; }
.sidebar li.current > a { font-weight: 700; color: var(--fg); }
main { flex: 1 1 auto; min-width: 0; max-width: 50rem; padding: 1rem 2rem 3rem; }
main.wide { max-width: none; }
table.assembled .ch { color: var(--muted); }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.8em 0 0.6em; }
h1 { font-size: 2rem; margin-top: 0.5em; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
table { border-collapse: collapse; display: block; overflow-x: auto; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.6rem; vertical-align: top; }
blockquote { margin: 1rem 0; padding: 0 1rem; color: var(--muted); border-left: 4px solid var(--line); }
pre { overflow-x: auto; }
pre.code { background: var(--code-bg); padding: 0.8rem 1rem; border-radius: 6px; line-height: 1.45; }
figure { margin: 1.2rem 0; }
figure.chunk { border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
figure.chunk:target { outline: 3px solid var(--accent); }
figure.chunk figcaption { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85rem;
  padding: 0.3rem 0.8rem; background: var(--soft); border-bottom: 1px solid var(--line); }
figure.chunk pre.code { margin: 0; border-radius: 0; }
.chunk-name { font-weight: 600; }
.op, .note { color: var(--muted); }
.anchor { float: right; color: var(--muted); }
.ref { font-style: italic; font-weight: 600; }
.xref { margin: 0; padding: 0.3rem 0.8rem; font-size: 0.8rem; color: var(--muted); background: var(--soft); border-top: 1px solid var(--line); }
figure.terminal { position: relative; background: var(--term-bg); color: var(--term-fg); border-radius: 6px; }
figure.terminal pre { margin: 0; padding: 0.8rem 1rem; line-height: 1.45; }
figure.terminal .prompt { color: var(--prompt); user-select: none; }
figure.terminal .cmd { color: var(--cmd); font-weight: 600; }
figure.terminal .out { color: #b7bdc6; }
figure.terminal .label { position: absolute; right: 0.5rem; top: 0.2rem; font-size: 0.7rem; color: #9198a1; }
figure.terminal.illustrative .label { color: #e3b341; }
pre.mermaid { background: transparent; text-align: center; }
.pager { display: flex; justify-content: space-between; gap: 1rem; margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line); }
.repo-file { font-style: italic; }
.toc > li { margin: 0.6rem 0; }
.toc ul { font-size: 0.9rem; }
.subtitle { color: var(--muted); font-size: 1.1rem; }
.index-list { list-style: none; padding: 0; }
.index-list > li { margin: 0.5rem 0; }
.index-list .meta { color: var(--muted); font-size: 0.85rem; }
.kind { color: var(--muted); font-size: 0.8rem; }
.assembled-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table.assembled { display: table; border-collapse: collapse; margin: 0; font-size: 0.8rem; width: 100%;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--code-bg); }
table.assembled td { border: 0; padding: 0 0.6rem; white-space: pre; line-height: 1.45; }
table.assembled tr.start td { border-top: 1px solid var(--line); }
table.assembled td.src { font-size: 0.75rem; white-space: nowrap; max-width: 14rem; overflow: hidden; text-overflow: ellipsis; background: var(--soft); }
table.assembled td.ln { text-align: right; user-select: none; }
table.assembled td.ln a { color: var(--muted); }
table.assembled tr:target { background: rgba(255, 200, 0, 0.2); }
@media (max-width: 800px) {
  body { font-size: 16px; }
  .nav-button { display: block; }
  .sidebar { display: none; position: fixed; top: 3rem; left: 0; bottom: 0; z-index: 20; width: 85vw; max-width: 22rem;
    max-height: none; background: var(--bg); box-shadow: 0 0 1rem rgba(0,0,0,0.3); }
  .nav-toggle:checked ~ .frame .sidebar { display: block; }
  main { padding: 0.5rem 1rem 2rem; }
  #search-input { width: 10rem; }
  table.assembled td.src { max-width: 7rem; }
}
`;
