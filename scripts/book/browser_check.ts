/**
 * `deno run -A scripts/book/browser_check.ts [--site DIR]` (`npm run
 * book:check`): the woven book in a real browser, headless Chromium. See
 * {@linkcode HELP}.
 *
 * Builds nothing: it checks the `site/` that `npm run book` wrote. It is a
 * script, not a `*_test.ts`, so `npm test` stays hermetic; its pure parts
 * are tested in `browser_check_test.ts`.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { dirname, extname, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
} from "playwright-core";
import { indexedChunks, readIndexScript } from "./search.ts";

/** The exit status of a check that could not run here (as the Synapse suite's). */
export const SKIPPED = 77;

/** The project's root folder. */
const PROJECT = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

export const HELP =
  `Usage: deno run -A scripts/book/browser_check.ts [OPTIONS]   (npm run book:check)

Checks the woven book (site/, from npm run book) in headless Chromium, once
from a static server on 127.0.0.1 and once from file://: every page loads
without console errors, failed requests or network requests; every internal
link reaches a page and its #anchor; the search box finds a code chunk by
name; Mermaid diagrams render; a chapter fits a phone's width. Saves
screenshots of that chapter (desktop and phone). Ends with
"tests: N passed, N failed".

Needs Debian's chromium package (${CHROMIUM}); as root on Debian it
installs it with apt-get when missing. Elsewhere it says why in one line and
exits with status ${SKIPPED} (skipped).

Options:
  --site DIR          the site to check (default site/)
  --screenshots DIR   where the screenshots go (default site-screenshots/)
  --chapter FILE      the page to screenshot and check on a phone, relative
                      to the site (default the 4th numbered chapter)

Environment:
  BOOK_CHROMIUM       another Chromium binary (no installing then)
`;

const say = (line: string) => console.log(`book:check: ${line}`);

/** What the host offers, for {@linkcode skipReason}. */
export interface HostFacts {
  os: string;
  uid: number | null;
  debian: boolean;
  /** Whether the browser binary is there already. */
  chromium: boolean;
  apt: boolean;
}

/** Why the check cannot run here, in one line; `undefined` if it can. */
export function skipReason(facts: HostFacts): string | undefined {
  if (facts.chromium) return undefined;
  if (facts.os !== "linux") {
    return `needs Chromium at ${CHROMIUM} (Debian's chromium package), this is ${facts.os}`;
  }
  if (!facts.debian || !facts.apt) {
    return `needs Chromium at ${CHROMIUM}; not Debian with apt-get, so it cannot install it`;
  }
  if (facts.uid !== 0) {
    return `needs Chromium at ${CHROMIUM}; run as root to install it (apt-get install chromium)`;
  }
  return undefined;
}

/** Whether `command` is on the PATH. */
function has(command: string): boolean {
  const path = Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  return path.split(":").some((dir) => existsSync(join(dir, command)));
}

/** Runs a command quietly; its output's tail if it fails. */
async function run(args: string[]): Promise<string | undefined> {
  const output = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (output.success) return undefined;
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  return text.trimEnd().split("\n").slice(-5).join("\n");
}

/**
 * The browser binary: there already, or installed now (root on Debian);
 * a string starting with "skip:" says why it cannot run.
 */
async function ensureChromium(): Promise<{ path: string } | { skip: string }> {
  const path = Deno.env.get("BOOK_CHROMIUM") ?? CHROMIUM;
  const facts: HostFacts = {
    os: Deno.build.os,
    uid: Deno.build.os === "windows" ? null : Deno.uid(),
    debian: existsSync("/etc/debian_version"),
    chromium: existsSync(path),
    apt: has("apt-get"),
  };
  const reason = skipReason(facts);
  if (reason !== undefined) return { skip: reason };
  if (facts.chromium) return { path };
  say("installing Debian's chromium package (apt-get, about 1-2 min)");
  const started = Date.now();
  let failed = await run(["apt-get", "install", "-y", "chromium"]);
  if (failed !== undefined) {
    failed = await run(["apt-get", "update"]) ??
      await run(["apt-get", "install", "-y", "chromium"]);
  }
  if (failed !== undefined || !existsSync(CHROMIUM)) {
    throw new Error(`apt-get install chromium failed:\n${failed ?? ""}`);
  }
  say(`chromium installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { path: CHROMIUM };
}

/** The `.html` files under `dir`, relative to it, with `/`, sorted. */
export async function htmlPages(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(".html"))
    .map((entry) =>
      relative(dir, join(entry.parentPath, entry.name)).split(sep).join("/")
    )
    .sort();
}

/**
 * The page to screenshot: the 4th of the top-level pages whose names start
 * with a number (the chapters), else the last of them, else the first page
 * other than `index.html`.
 */
export function chapterPage(pages: string[]): string | undefined {
  const top = pages.filter((page) => !page.includes("/"));
  const numbered = top.filter((page) => /^\d/.test(page));
  if (numbered.length > 0) return numbered[Math.min(3, numbered.length - 1)];
  return top.find((page) => page !== "index.html") ?? top[0];
}

/** Whether a link's `href` is one the check follows (not http, mailto…). */
export function internalHref(href: string): boolean {
  if (href.startsWith("//")) return false;
  return !/^[a-z][a-z0-9+.-]*:/i.test(href) || /^file:/i.test(href);
}

/**
 * The path (relative to the site, decoded, no `#`) that an absolute `url`
 * names under `base` (the site's root URL, ending in `/`), and its anchor;
 * `undefined` if the URL is outside the site. A folder means its
 * `index.html`.
 */
export function sitePath(
  url: string,
  base: string,
): { path: string; anchor: string | undefined } | undefined {
  const parsed = new URL(url);
  const hash = parsed.hash === "" ? undefined : decodeURIComponent(
    parsed.hash.slice(1),
  );
  parsed.hash = "";
  parsed.search = "";
  const href = parsed.href;
  if (!href.startsWith(base)) return undefined;
  let path = decodeURIComponent(href.slice(base.length));
  if (path === "" || path.endsWith("/")) path += "index.html";
  return { path, anchor: hash };
}

/** Whether a request to `url` stays on the site (no network). */
export function allowedRequest(url: string, base: string): boolean {
  if (/^(data|blob|about):/i.test(url)) return true;
  return url.startsWith(base);
}

/** One test's outcome. */
export interface Outcome {
  name: string;
  problems: string[];
}

/** The last line: "tests: N passed, N failed". */
export function summaryLine(outcomes: Outcome[]): string {
  const failed = outcomes.filter((outcome) => outcome.problems.length > 0);
  return `tests: ${
    outcomes.length - failed.length
  } passed, ${failed.length} failed`;
}

/** What one page shows once loaded. */
interface Visit {
  problems: string[];
  ids: Set<string>;
  links: { raw: string; href: string }[];
  diagrams: number;
  /** Diagrams not drawn (reported by the mermaid test, not the page's). */
  mermaid: string[];
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
};

/** A static server for `site` on 127.0.0.1 (a free port). */
function serve(site: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      let path: string;
      try {
        path = decodeURIComponent(new URL(request.url).pathname);
      } catch {
        return new Response("bad path", { status: 400 });
      }
      let file = resolve(site, `.${path}`);
      if (file !== site && !file.startsWith(site + sep)) {
        return new Response("outside the site", { status: 403 });
      }
      if (existsSync(file) && statSync(file).isDirectory()) {
        file = join(file, "index.html");
      }
      try {
        const body = await readFile(file);
        return new Response(body, {
          headers: {
            "content-type": CONTENT_TYPES[extname(file)] ??
              "application/octet-stream",
          },
        });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
}

/** In-page code, as a string: the in-page globals are not Deno's. */
const PAGE_FACTS = `(() => ({
  ids: [...document.querySelectorAll("[id]")].map((e) => e.id)
    .concat([...document.querySelectorAll("a[name]")].map((a) => a.getAttribute("name"))),
  links: [...document.querySelectorAll("a[href]")]
    .map((a) => ({ raw: a.getAttribute("href"), href: a.href })),
  diagrams: document.querySelectorAll("pre.mermaid").length,
}))()`;

const DIAGRAMS_DRAWN = `[...document.querySelectorAll("pre.mermaid")]
  .every((pre) => pre.querySelector("svg") !== null)`;

/**
 * Records what goes wrong on `page` into `problems` while `listening()`.
 * A request that fails is reported once: the browser's console line about
 * it ("Failed to load resource") is kept only if nothing else said so.
 * Returns a function to call before reading `problems`.
 */
function watch(
  page: Page,
  base: string,
  problems: Set<string>,
  listening: () => boolean = () => true,
): () => void {
  const reported = new Set<string>();
  const loadErrors: { url: string; text: string }[] = [];
  const add = (problem: string, url?: string) => {
    if (!listening()) return;
    if (url !== undefined) {
      if (reported.has(url)) return;
      reported.add(url);
    }
    problems.add(problem);
  };
  page.on("console", (message) => {
    if (message.type() !== "error" || !listening()) return;
    const text = message.text();
    if (text.startsWith("Failed to load resource")) {
      loadErrors.push({ url: message.location().url, text });
    } else add(`console error: ${text}`);
  });
  page.on("pageerror", (error) => add(`page error: ${error.message}`));
  page.on("request", (request) => {
    if (!allowedRequest(request.url(), base)) {
      add(`request leaves the site: ${request.url()}`, request.url());
    }
  });
  page.on("response", (response) => {
    if (response.status() >= 400) {
      add(`HTTP ${response.status()}: ${response.url()}`, response.url());
    }
  });
  page.on("requestfailed", (request) => {
    const error = request.failure()?.errorText;
    // A 404 ends as ERR_ABORTED after its response was reported.
    if (error === "net::ERR_ABORTED" && reported.has(request.url())) return;
    add(`request failed: ${request.url()} (${error})`, request.url());
  });
  return () => {
    for (const { url, text } of loadErrors) {
      if (!reported.has(url)) problems.add(`console error: ${text} (${url})`);
    }
    loadErrors.length = 0;
  };
}

/** Loads `path` in a new page of `context`; what it shows. */
async function visit(
  context: BrowserContext,
  base: string,
  path: string,
): Promise<Visit> {
  const page = await context.newPage();
  const problems = new Set<string>();
  const mermaid: string[] = [];
  const settle = watch(page, base, problems);
  try {
    await page.goto(base + encodeURI(path), {
      waitUntil: "load",
      timeout: 30_000,
    });
    const facts = await page.evaluate(PAGE_FACTS) as {
      ids: string[];
      links: { raw: string; href: string }[];
      diagrams: number;
    };
    if (facts.diagrams > 0) {
      try {
        await page.waitForFunction(DIAGRAMS_DRAWN, null, { timeout: 20_000 });
      } catch {
        mermaid.push(
          `${facts.diagrams} pre.mermaid, not all drawn as SVG within 20 s`,
        );
      }
    }
    // Late errors (a diagram that fails to render) count too.
    await page.waitForTimeout(100);
    settle();
    return {
      problems: [...problems],
      ids: new Set(facts.ids),
      links: facts.links,
      diagrams: facts.diagrams,
      mermaid,
    };
  } catch (error) {
    settle();
    problems.add(`did not load: ${(error as Error).message.split("\n")[0]}`);
    return {
      problems: [...problems],
      ids: new Set(),
      links: [],
      diagrams: 0,
      mermaid,
    };
  } finally {
    await page.close();
  }
}

/** The problems with `visit`'s links, given every page's visit. */
function linkProblems(
  seen: Visit,
  visits: Map<string, Visit>,
  site: string,
  base: string,
): string[] {
  const problems: string[] = [];
  for (const link of seen.links) {
    if (!internalHref(link.raw)) continue;
    const target = sitePath(link.href, base);
    if (target === undefined) {
      problems.push(`link ${link.raw} leaves the site`);
      continue;
    }
    const page = visits.get(target.path);
    if (page === undefined) {
      if (!existsSync(join(site, target.path))) {
        problems.push(`link ${link.raw}: no ${target.path}`);
      } else if (target.anchor !== undefined) {
        problems.push(
          `link ${link.raw}: an anchor in a file that is not a page`,
        );
      }
      continue;
    }
    if (target.anchor !== undefined && !page.ids.has(target.anchor)) {
      problems.push(
        `link ${link.raw}: no id "${target.anchor}" on ${target.path}`,
      );
    }
  }
  return problems;
}

/** In-page: the resolved hrefs of the search results. */
const RESULT_HREFS =
  `[...document.querySelectorAll("#search-results a")].map((a) => a.href)`;

/**
 * The search box on `index.html` (and on a page in a folder, if any): finds
 * a chunk by its name and links to its anchor; Escape clears; Enter opens
 * the first result.
 */
async function searchCheck(
  context: BrowserContext,
  base: string,
  site: string,
  pages: string[],
): Promise<string[]> {
  let script: string;
  try {
    script = await readFile(join(site, "assets/search-index.js"), "utf8");
  } catch {
    return ["no assets/search-index.js"];
  }
  const chunk = indexedChunks(readIndexScript(script))[0];
  if (chunk === undefined) return ["the search index has no code chunk"];
  const problems = new Set<string>();
  const page = await context.newPage();
  // Only what goes wrong while searching: the pages' own loading is
  // checked per page.
  let searching = false;
  const settle = watch(page, base, problems, () => searching);
  const expected = new URL(chunk.url, base).href;
  const anchor = decodeURIComponent(new URL(expected).hash.slice(1));
  const typeName = async () => {
    searching = true;
    await page.locator("#search-input").pressSequentially(chunk.name);
    try {
      await page.waitForSelector("#search-results a", { timeout: 5_000 });
    } catch {
      throw new Error(
        `typing "${chunk.name}" into #search-input showed no link in #search-results within 5 s (${page.url()})`,
      );
    }
    return await page.evaluate(RESULT_HREFS) as string[];
  };
  try {
    await page.goto(`${base}index.html`, { waitUntil: "load" });
    let hrefs = await typeName();
    if (!hrefs.includes(expected)) {
      problems.add(
        `"${chunk.name}" on index.html: no result links to ${chunk.url} (got ${
          hrefs.slice(0, 3).join(", ")
        })`,
      );
    }
    await page.locator("#search-input").press("Escape");
    const left = await page.evaluate(
      `[document.getElementById("search-input").value, document.querySelectorAll("#search-results a").length]`,
    ) as [string, number];
    if (left[0] !== "" || left[1] !== 0) {
      problems.add("Escape did not clear the search box and its results");
    }
    hrefs = await typeName();
    if (hrefs.includes(expected)) {
      searching = false;
      await Promise.all([
        page.waitForURL(expected, { timeout: 10_000 }),
        page.locator(
          `#search-results a[href$="${chunk.url.replace(/"/g, '\\"')}"]`,
        ).first().click(),
      ]);
      const found = await page.evaluate(
        `document.getElementById(${JSON.stringify(anchor)}) !== null`,
      );
      if (!found) problems.add(`${chunk.url}: no element with id "${anchor}"`);
    }
    const nested = pages.find((path) => path.includes("/"));
    if (nested !== undefined) {
      searching = false;
      await page.goto(base + encodeURI(nested), { waitUntil: "load" });
      hrefs = await typeName();
      if (!hrefs.includes(expected)) {
        problems.add(
          `"${chunk.name}" on ${nested}: no result links to ${chunk.url} (data-root?)`,
        );
      }
      searching = false; // the page Enter opens was checked on its own
      await Promise.all([
        page.waitForURL(hrefs[0], { timeout: 10_000 }),
        page.locator("#search-input").press("Enter"),
      ]);
    }
  } catch (error) {
    problems.add((error as Error).message.split("\n")[0]);
  } finally {
    await page.close();
  }
  settle();
  return [...problems];
}

/**
 * In-page: the page's width, the viewport's, and the outermost things
 * poking out on the right. On a phone, innerWidth grows to fit content
 * that is too wide (the browser zooms out), so the layout viewport
 * (clientWidth) counts too.
 */
const OVERFLOW = `(() => {
  const width = Math.min(window.innerWidth, document.documentElement.clientWidth);
  const scroll = document.documentElement.scrollWidth;
  const wide = [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > width + 1)
    .filter((e) => !e.parentElement || e.parentElement.getBoundingClientRect().right <= width + 1)
    .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
      (e.className && typeof e.className === "string" ? "." + e.className.split(/\\s+/).join(".") : "") +
      " (" + Math.round(e.getBoundingClientRect().right) + "px)");
  return { width, scroll, wide: [...new Set(wide)].slice(0, 3) };
})()`;

/** Screenshots of `chapter`, and whether it fits a phone. */
async function layoutCheck(
  browser: Browser,
  base: string,
  chapter: string,
  shots: string,
): Promise<Outcome[]> {
  await mkdir(shots, { recursive: true });
  const stem = chapter.replace(/\.html$/, "").replace(/[/\\]/g, "_");
  const url = base + encodeURI(chapter);
  const desktop = await browser.newContext({
    viewport: { width: 1280, height: 800 },
  });
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const problems: string[] = [];
  try {
    for (
      const [context, name] of [[desktop, "desktop"], [phone, "phone"]] as const
    ) {
      const page = await context.newPage();
      await page.goto(url, { waitUntil: "load" });
      await page.screenshot({ path: join(shots, `${stem}-${name}.png`) });
      if (name === "phone") {
        const fit = await page.evaluate(OVERFLOW) as {
          width: number;
          scroll: number;
          wide: string[];
        };
        if (fit.scroll > fit.width + 1) {
          problems.push(
            `scrolls sideways: ${fit.scroll}px wide in a ${fit.width}px viewport; wider: ${
              fit.wide.join(", ") || "?"
            }`,
          );
        }
      }
      await page.close();
    }
  } finally {
    await desktop.close();
    await phone.close();
  }
  return [{ name: `phone width (${chapter}, 390 px)`, problems }];
}

/** Every page, its links, search and diagrams, under `base`. */
async function checkMode(
  browser: Browser,
  mode: string,
  base: string,
  site: string,
  pages: string[],
): Promise<Outcome[]> {
  const context = await browser.newContext();
  // Nothing leaves the machine: requests off the site are answered with an
  // error (and reported by watch()).
  await context.route(
    "**/*",
    (route) =>
      allowedRequest(route.request().url(), base)
        ? route.continue()
        : route.abort("blockedbyclient"),
  );
  const outcomes: Outcome[] = [];
  try {
    const visits = new Map<string, Visit>();
    for (const path of pages) {
      visits.set(path, await visit(context, base, path));
    }
    for (const [path, seen] of visits) {
      outcomes.push({
        name: `${mode} ${path}`,
        problems: [
          ...seen.problems,
          ...linkProblems(seen, visits, site, base),
        ],
      });
    }
    outcomes.push({
      name: `${mode} search finds a code chunk by name`,
      problems: await searchCheck(context, base, site, pages),
    });
    const drawn = [...visits].filter(([, seen]) => seen.diagrams > 0);
    if (drawn.length > 0) {
      const count = drawn.reduce((sum, [, seen]) => sum + seen.diagrams, 0);
      outcomes.push({
        name: `${mode} mermaid: ${count} diagrams on ${drawn.length} pages`,
        problems: drawn.flatMap(([path, seen]) =>
          seen.mermaid.map((problem) => `${path}: ${problem}`)
        ),
      });
    }
  } finally {
    await context.close();
  }
  return outcomes;
}

/** Options from the command line. */
export function parseArgs(
  args: string[],
): { site: string; shots: string; chapter?: string; help: boolean } {
  const options = {
    site: join(PROJECT, "site"),
    shots: join(PROJECT, "site-screenshots"),
    chapter: undefined as string | undefined,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === "--help" || arg === "-h") options.help = true;
    else if (arg === "--site") options.site = resolve(value());
    else if (arg === "--screenshots") options.shots = resolve(value());
    else if (arg === "--chapter") options.chapter = value();
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

async function main(args: string[]): Promise<number> {
  const options = parseArgs(args);
  if (options.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const site = options.site;
  if (!existsSync(join(site, "index.html"))) {
    say(`no ${join(site, "index.html")}: run npm run book first`);
    return 1;
  }
  const found = await ensureChromium();
  if ("skip" in found) {
    say(`skipped: ${found.skip}`);
    return SKIPPED;
  }
  const started = Date.now();
  const pages = await htmlPages(site);
  const chapter = options.chapter ?? chapterPage(pages);
  const server = serve(site);
  const browser = await chromium.launch({
    executablePath: found.path,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const outcomes: Outcome[] = [];
  try {
    const http = `http://127.0.0.1:${server.addr.port}/`;
    const file = pathToFileURL(site).href.replace(/\/?$/, "/");
    say(
      `${pages.length} pages in ${site}, Chromium ${browser.version()}; ` +
        `from ${http} and from file://`,
    );
    outcomes.push(...await checkMode(browser, "http", http, site, pages));
    outcomes.push(...await checkMode(browser, "file", file, site, pages));
    if (chapter !== undefined) {
      outcomes.push(
        ...await layoutCheck(browser, http, chapter, options.shots),
      );
      say(
        `screenshots of ${chapter} in ${
          relative(Deno.cwd(), options.shots) || "."
        }/`,
      );
    }
  } finally {
    await browser.close();
    await server.shutdown();
  }
  for (const outcome of outcomes) {
    const ok = outcome.problems.length === 0;
    console.log(`${ok ? "ok  " : "FAIL"} ${outcome.name}`);
    for (const problem of outcome.problems.slice(0, 12)) {
      console.log(`       ${problem}`);
    }
    if (outcome.problems.length > 12) {
      console.log(`       … and ${outcome.problems.length - 12} more`);
    }
  }
  say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(summaryLine(outcomes));
  return outcomes.every((outcome) => outcome.problems.length === 0) ? 0 : 1;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(Deno.args);
  } catch (error) {
    console.error(`book:check: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
