/**
 * Hermetic tests of the browser check's pure parts: when it skips, which
 * links it follows and where they lead, which page it screenshots, its
 * summary line. The check itself, in Chromium, is `npm run book:check`.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  allowedRequest,
  chapterPage,
  CHROMIUM,
  type HostFacts,
  htmlPages,
  internalHref,
  parseArgs,
  sitePath,
  skipReason,
  summaryLine,
} from "./browser_check.ts";

const DEBIAN_ROOT: HostFacts = {
  os: "linux",
  uid: 0,
  debian: true,
  chromium: false,
  apt: true,
};

describe("skipReason", () => {
  it("runs where Chromium is installed, whoever runs it", () => {
    assert.equal(
      skipReason({ ...DEBIAN_ROOT, uid: 1000, debian: false, chromium: true }),
      undefined,
    );
  });
  it("installs it as root on Debian", () => {
    assert.equal(skipReason(DEBIAN_ROOT), undefined);
  });
  it("says why in one line elsewhere", () => {
    for (
      const facts of [
        { ...DEBIAN_ROOT, uid: 1000 },
        { ...DEBIAN_ROOT, debian: false },
        { ...DEBIAN_ROOT, apt: false },
        { ...DEBIAN_ROOT, os: "darwin" },
      ]
    ) {
      const reason = skipReason(facts);
      assert.ok(reason?.includes(CHROMIUM), reason);
      assert.ok(!reason?.includes("\n"));
    }
  });
});

describe("links", () => {
  it("follows relative and file links, not web ones", () => {
    for (const href of ["04.html", "#top", "../../index.html#x", "./"]) {
      assert.ok(internalHref(href), href);
    }
    for (
      const href of [
        "https://spec.matrix.org/",
        "http://x",
        "mailto:a@b",
        "//cdn.example/x",
      ]
    ) {
      assert.ok(!internalHref(href), href);
    }
  });
  it("maps a URL to a page of the site and its anchor", () => {
    const base = "http://127.0.0.1:8000/";
    assert.deepEqual(sitePath(`${base}files/src/a%20b.ts.html#L3`, base), {
      path: "files/src/a b.ts.html",
      anchor: "L3",
    });
    assert.deepEqual(sitePath(`${base}04.html#%E2%9F%A8x%E2%9F%A9`, base), {
      path: "04.html",
      anchor: "⟨x⟩",
    });
    assert.deepEqual(sitePath(base, base), {
      path: "index.html",
      anchor: undefined,
    });
    assert.equal(sitePath("http://127.0.0.1:9/x.html", base), undefined);
    assert.deepEqual(sitePath("file:///s/site/a.html?q=1", "file:///s/site/"), {
      path: "a.html",
      anchor: undefined,
    });
  });
  it("allows requests to the site only", () => {
    const base = "file:///s/site/";
    assert.ok(allowedRequest("file:///s/site/assets/search.js", base));
    assert.ok(allowedRequest("data:image/png;base64,AA", base));
    assert.ok(!allowedRequest("https://cdn.example/mermaid.js", base));
    assert.ok(!allowedRequest("file:///etc/passwd", base));
  });
});

describe("pages", () => {
  it("finds every .html file, in folders too", async () => {
    const dir = await mkdtemp(join(tmpdir(), "book-check-"));
    try {
      await mkdir(join(dir, "files/src"), { recursive: true });
      await mkdir(join(dir, "assets"));
      for (
        const name of [
          "index.html",
          "01_a.html",
          "files/src/x.ts.html",
          "assets/search.js",
        ]
      ) {
        await writeFile(join(dir, name), "");
      }
      assert.deepEqual(await htmlPages(dir), [
        "01_a.html",
        "files/src/x.ts.html",
        "index.html",
      ]);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
  it("screenshots the 4th chapter, or what there is", () => {
    const chapters = ["01.html", "02.html", "03.html", "04.html", "05.html"];
    assert.equal(
      chapterPage(["index.html", ...chapters, "files/0.html"]),
      "04.html",
    );
    assert.equal(chapterPage(["index.html", "01.html", "02.html"]), "02.html");
    assert.equal(chapterPage(["index.html", "about.html"]), "about.html");
    assert.equal(chapterPage(["index.html"]), "index.html");
  });
});

describe("the command line and the summary", () => {
  it("reads --site, --screenshots and --chapter", () => {
    const options = parseArgs(["--site", "/x/site", "--chapter", "02.html"]);
    assert.equal(options.site, "/x/site");
    assert.equal(options.chapter, "02.html");
    assert.throws(() => parseArgs(["--site"]), /needs a value/);
    assert.throws(() => parseArgs(["--fast"]), /unknown option/);
  });
  it("ends with the line CI adds up", () => {
    assert.equal(
      summaryLine([
        { name: "a", problems: [] },
        { name: "b", problems: ["broken"] },
        { name: "c", problems: [] },
      ]),
      "tests: 2 passed, 1 failed",
    );
  });
});
