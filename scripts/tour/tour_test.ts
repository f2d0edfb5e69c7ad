import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { main } from "../start.ts";
import {
  type Chapter,
  checkTour,
  type ExampleFile,
  readBook,
  readExamples,
} from "./book.ts";
import { NO_EXAMPLE_YET, TOUR, type TourStep } from "./steps.ts";
import { runTour, TOUR_USER, wrapCommand } from "./tour.ts";

/** The project's root. */
const root = fileURLToPath(new URL("../..", import.meta.url));

/** Tokens shaped like the development homeserver's (and Synapse's). */
const TOKEN_RE = /sy[tr]_/;

/** Runs `main` in this process, capturing what it writes. */
async function start(
  args: string[],
  options: {
    steps?: TourStep[];
    onOutput?: (all: string) => void;
  } = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(args, {
    steps: options.steps,
    color: false,
    out: (text) => {
      out += text;
      options.onOutput?.(out);
    },
    err: (text) => {
      err += text;
    },
  });
  return { code, out, err };
}

/** The scratch directory and server URL a tour's narration names. */
function leftovers(out: string): { dir: string; url: string } {
  const dir = /Scratch directory for the session file: (\S+)/.exec(out)?.[1];
  const url = /Development homeserver at (\S+)/.exec(out)?.[1];
  assert.ok(dir && url, `the narration names no directory or URL:\n${out}`);
  return { dir, url };
}

/** Asserts that the tour removed its directory and stopped its server. */
async function assertCleanedUp(out: string): Promise<void> {
  const { dir, url } = leftovers(out);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  await assert.rejects(fetch(`${url}/_matrix/client/versions`));
}

/** A step for the rule's tests: only its chapter and example matter. */
function step(chapter: string, example: string, needs?: string[]): TourStep {
  return {
    chapter,
    example,
    shows: "something",
    needs,
    permissions: () => [],
    args: () => [],
  };
}

describe("the tour and the book", () => {
  it("has a step for every chapter in lit.json and runs every example", () => {
    const book = readBook(root);
    assert.deepEqual(
      checkTour(book, TOUR, NO_EXAMPLE_YET, readExamples(root)),
      [],
    );
    assert.ok(book.length >= 4);
  });

  it("counts files other examples import as shared modules, not examples", () => {
    const examples = readExamples(root);
    const paths = examples.map((e) => e.path);
    assert.ok(!paths.includes("examples/cli.ts"));
    assert.ok(!paths.includes("examples/terminal.ts"));
    assert.deepEqual(
      examples.find((e) => e.path === "examples/login.ts"),
      { path: "examples/login.ts", chapter: "chapters/03_password_login.md" },
    );
  });

  describe("checkTour names what is missing and what to do", () => {
    const book: Chapter[] = [
      { path: "chapters/00_a.md", number: 0, title: "A" },
      { path: "chapters/01_b.md", number: 1, title: "B" },
    ];
    const examples: ExampleFile[] = [
      { path: "examples/a.ts", chapter: "chapters/00_a.md" },
      { path: "examples/b.ts", chapter: "chapters/01_b.md" },
    ];
    const a = step("chapters/00_a.md", "examples/a.ts");
    const b = step("chapters/01_b.md", "examples/b.ts");

    it("accepts a tour that covers the book", () => {
      assert.deepEqual(checkTour(book, [a, b], [], examples), []);
    });
    it("a chapter with neither a step nor a reason", () => {
      const problems = checkTour(book, [a], [], examples.slice(0, 1));
      assert.equal(problems.length, 1);
      assert.match(
        problems[0],
        /chapter 1 \(chapters\/01_b\.md\) is not in the tour; add a step .* or list it in NO_EXAMPLE_YET/,
      );
    });
    it("a chapter without an example yet, with its reason", () => {
      const waiting = [{ chapter: "chapters/01_b.md", reason: "not written" }];
      assert.deepEqual(checkTour(book, [a], waiting, examples.slice(0, 1)), []);
      const noReason = [{ chapter: "chapters/01_b.md", reason: " " }];
      assert.match(
        checkTour(book, [a], noReason, examples.slice(0, 1)).join("\n"),
        /without a reason/,
      );
      assert.match(
        checkTour(book, [a, b], waiting, examples).join("\n"),
        /has a step in TOUR and is in NO_EXAMPLE_YET/,
      );
    });
    it("an example no step runs, even in a chapter listed as waiting", () => {
      const waiting = [{ chapter: "chapters/01_b.md", reason: "not written" }];
      assert.deepEqual(checkTour(book, [a], waiting, examples), [
        "scripts/tour/steps.ts: examples/b.ts (from chapters/01_b.md) is an example no step of the tour runs; add a step for it to TOUR",
      ]);
    });
    it("steps out of book order, or for a chapter lit.json lacks", () => {
      assert.match(
        checkTour(book, [b, a], [], examples).join("\n"),
        /keep TOUR in book order/,
      );
      const c = step("chapters/02_c.md", "examples/a.ts");
      assert.match(
        checkTour(book, [a, b, c], [], examples).join("\n"),
        /belongs to chapters\/02_c\.md, which lit\.json does not list/,
      );
    });
    it("a step running a missing example, or another chapter's", () => {
      const missing = step("chapters/01_b.md", "examples/gone.ts");
      assert.match(
        checkTour(book, [a, b, missing], [], examples).join("\n"),
        /runs examples\/gone\.ts, which is not an example/,
      );
      const wrong = step("chapters/01_b.md", "examples/a.ts");
      assert.match(
        checkTour(book, [a, wrong, b], [], examples).join("\n"),
        /runs examples\/a\.ts, which chapters\/00_a\.md generates/,
      );
    });
    it("a step that needs a later chapter", () => {
      const needy = step("chapters/00_a.md", "examples/a.ts", [
        "chapters/01_b.md",
      ]);
      assert.match(
        checkTour(book, [needy, b], [], examples).join("\n"),
        /needs chapters\/01_b\.md, which is not an earlier chapter/,
      );
    });
  });
});

describe("npm start", () => {
  it("runs every chapter's example in book order, shows no secret, and leaves nothing behind", async () => {
    // The tour's scratch directory goes under TMPDIR: a fresh one shows
    // whether it was removed.
    const tmp = await Deno.makeTempDir({ prefix: "tour-test-" });
    try {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "scripts/start.ts", "--no-tangle"],
        cwd: root,
        env: { TMPDIR: tmp, TMP: tmp, TEMP: tmp },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      const out = decoder.decode(output.stdout);
      const err = decoder.decode(output.stderr);
      assert.equal(output.code, 0, out + err);
      assert.equal(err, "");

      const book = readBook(root);
      const number = (path: string) =>
        book.find((chapter) => chapter.path === path)!.number;
      // A chapter without an example gets a heading of its own, not a step.
      const headings = [...out.matchAll(/^== Chapter (\d+), (.*)$/gm)]
        .filter((m) => !m[2].includes(": no example yet ("))
        .map((m) => Number(m[1]));
      assert.deepEqual(headings, TOUR.map((s) => number(s.chapter)));
      for (const { chapter, reason } of NO_EXAMPLE_YET) {
        assert.ok(
          out.includes(`${number(chapter)}, `) &&
            out.includes(`: no example yet (${reason})`),
          `the tour does not say that ${chapter} has no example yet`,
        );
      }
      for (const { example } of TOUR) {
        // The command, wrapped or not, before the example's output.
        assert.match(
          out,
          new RegExp(`^ {3}\\$ [^|]*deno run [^|]*${example}`, "m"),
        );
      }
      assert.equal(out.match(/^ {3}passed in /gm)?.length, TOUR.length);
      assert.match(out, new RegExp(`\n${TOUR.length} steps, all passed in `));
      // The examples really talked to the server.
      assert.match(out, /^ {3}\| outcome: +SUCCESS$/m);
      assert.match(out, /^ {3}\| Logged in as @alice:127\.0\.0\.1:\d+ /m);
      assert.match(out, /GET \/_matrix\/client\/versions 200/);

      assert.ok(!out.includes(TOUR_USER.password), "the password was shown");
      assert.doesNotMatch(out, TOKEN_RE);
      assert.ok(!out.includes("\x1b["), "colours on a pipe");
      assert.deepEqual([...Deno.readDirSync(tmp)], []);
      await assertCleanedUp(out);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });

  it("stops at a failing step, names its chapter, exits 1 and cleans up", async () => {
    // Chapter 1's step asks for https from a server that speaks http.
    const steps = TOUR.map((s) =>
      s.chapter === "chapters/01_discovery.md"
        ? {
          ...s,
          args: (
            tour: { url: string },
          ) => [tour.url.replace("http:", "https:")],
        }
        : s
    );
    const { code, out } = await start(["--no-tangle"], { steps });
    assert.equal(code, 1, out);
    assert.match(out, /^== Chapter 1, Discovery/m);
    assert.match(out, /^ {3}\| outcome: +FAIL_PROMPT$/m);
    assert.match(out, /^ {3}FAILED: the example exited with status 1\./m);
    assert.match(
      out,
      /The tour stopped: chapter 1 \(chapters\/01_discovery\.md\) failed: the example exited with status 1\.\n {2}Command: deno run --allow-net=127\.0\.0\.1:\d+ examples\/discover\.ts https:/,
    );
    assert.doesNotMatch(out, /== Chapter 2/);
    await assertCleanedUp(out);
  });

  it("fails a step whose example prints a secret, without showing it", async () => {
    for (
      const secret of [TOUR_USER.password, "syt_YWxpY2U_abcdefghij_123456"]
    ) {
      let dir = "";
      const result = await runTour({
        root,
        book: readBook(root),
        steps: [{
          ...TOUR[0],
          // endpoint_url prints the path it is given.
          args: (tour) => {
            dir = tour.dir;
            return [tour.url, `v3/${secret}`];
          },
        }],
        write: () => {},
      });
      assert.equal(result.outcome, "failed");
      assert.match(result.steps[0].problem ?? "", /^the example printed /);
      await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    }
  });

  it("stops the running example on Ctrl+C, exits 130 and cleans up", async () => {
    const controller = new AbortController();
    let out = "";
    const code = await main(["--no-tangle"], {
      signal: controller.signal,
      color: false,
      out: (text) => {
        out += text;
        if (text.includes("== Chapter 1,")) controller.abort();
      },
      err: () => {},
    });
    assert.equal(code, 130, out);
    assert.match(out, /^ {3}Interrupted\.$/m);
    assert.match(out, /^Interrupted after 2 steps;/m);
    assert.doesNotMatch(out, /== Chapter 2/);
    await assertCleanedUp(out);
  });

  it("--only runs one chapter's steps", async () => {
    const { code, out } = await start([
      "--no-tangle",
      "--only",
      "02_login_methods",
    ]);
    assert.equal(code, 0, out);
    assert.deepEqual(
      [...out.matchAll(/^== Chapter (\d+)/gm)].map((m) => m[1]),
      ["2"],
    );
    assert.match(out, /\n1 step, all passed in /);
  });

  it("answers --help, --list and a wrong command line without running anything", async () => {
    const help = await start(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: npm start/);
    assert.match(help.out, /--only CHAPTER/);

    const list = await start(["--list"]);
    assert.equal(list.code, 0, list.err);
    for (const { example } of TOUR) assert.match(list.out, new RegExp(example));

    for (
      const [args, message] of [
        [["--bogus"], /^npm start: Unknown option '--bogus' \(see --help\)\n$/],
        [
          ["--only", "99"],
          /^npm start: --only 99: no such chapter; the book has 0 \(chapters\/00_introduction\.md\), /,
        ],
      ] as const
    ) {
      const { code, out, err } = await start([...args]);
      assert.equal(code, 2);
      assert.equal(out, "");
      assert.match(err, message);
      assert.doesNotMatch(err, /\n\s+at /);
    }
  });
});

describe("wrapCommand", () => {
  it("continues long commands with a backslash, keeping options with their values", () => {
    assert.equal(
      wrapCommand(["deno", "run", "--session", "/a/long/path"], 16),
      "deno run \\\n       --session /a/long/path",
    );
    assert.equal(wrapCommand(["deno", "run", "x.ts"]), "deno run x.ts");
  });
});
