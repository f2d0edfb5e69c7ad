/**
 * A plain link check for the woven site: every relative `href` and `src`
 * must name a file of the site, and every fragment an id in that file.
 *
 * @module
 */

import { readdir, readFile } from "node:fs/promises";
import { dirname, join, normalize, relative } from "node:path";

async function htmlFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await htmlFiles(path, root));
    else if (entry.name.endsWith(".html")) out.push(relative(root, path));
  }
  return out;
}

function unescape(value: string): string {
  return value.replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/**
 * Every broken internal link of the site under `dir`, as
 * `page: link (reason)`. URLs with a scheme (`https:`, `mailto:`) are
 * external and not followed; `skip` lists site paths not checked.
 */
export async function checkLinks(
  dir: string,
  skip: string[] = [],
): Promise<string[]> {
  const pages = await htmlFiles(dir);
  const ids = new Map<string, Set<string>>();
  const texts = new Map<string, string>();
  for (const page of pages) {
    const text = await readFile(join(dir, page), "utf8");
    texts.set(page, text);
    ids.set(
      page,
      new Set([...text.matchAll(/\sid="([^"]*)"/g)].map((m) => unescape(m[1]))),
    );
  }
  const problems: string[] = [];
  const exists = async (path: string) => {
    if (ids.has(path)) return true;
    try {
      await readFile(join(dir, path));
      return true;
    } catch {
      return false;
    }
  };
  for (const [page, text] of texts) {
    for (const m of text.matchAll(/\s(href|src)="([^"]*)"/g)) {
      const link = unescape(m[2]);
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
      const hash = link.indexOf("#");
      const path = hash >= 0 ? link.slice(0, hash) : link;
      const frag = hash >= 0 ? decodeURIComponent(link.slice(hash + 1)) : "";
      const target = path === ""
        ? page
        : normalize(join(dirname(page), decodeURI(path))).replaceAll("\\", "/");
      if (target.startsWith("..")) {
        problems.push(`${page}: ${link} (leaves the site)`);
        continue;
      }
      if (skip.includes(target)) continue;
      if (!await exists(target)) {
        problems.push(`${page}: ${link} (no such file)`);
        continue;
      }
      if (frag && ids.has(target) && !ids.get(target)!.has(frag)) {
        problems.push(`${page}: ${link} (no id "${frag}" in ${target})`);
      }
    }
  }
  return problems;
}
