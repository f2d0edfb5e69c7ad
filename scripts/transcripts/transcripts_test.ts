import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  findTranscripts,
  passed,
  report,
  runTranscript,
  type TranscriptResult,
  updatedText,
} from "./transcripts.ts";
import { CommandError, parseCommand } from "./command.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const chapters: string[] = JSON.parse(
  readFileSync(join(root, "lit.json"), "utf8"),
).chapters;

describe("the book's transcripts", () => {
  for (const chapter of chapters) {
    const { transcripts, problems } = findTranscripts(
      chapter,
      readFileSync(join(root, chapter), "utf8"),
    );
    it(`${chapter}: every console block is a transcript or marked illustrative`, () => {
      assert.deepEqual(problems, []);
    });
    for (const transcript of transcripts) {
      it(`${chapter}:${transcript.line} shows what its commands print`, async () => {
        const result = await runTranscript(transcript, { root });
        assert.ok(
          passed(result),
          `${report(result)}\nIf the new output is right, run ` +
            "`npm run transcripts -- --update`.",
        );
      });
    }
  }
});

/** Runs the transcripts of a made-up chapter. */
async function run(text: string): Promise<TranscriptResult[]> {
  const { transcripts, problems } = findTranscripts("fixture.md", text);
  assert.deepEqual(problems, []);
  return await Promise.all(transcripts.map((t) => runTranscript(t, { root })));
}

const WRONG = `# A chapter

\`\`\`console
$ deno run examples/endpoint_url.ts https://matrix.example.org
https://matrix.example.org/_matrix/client/v3/logout
$ echo $?
0
\`\`\`
`;

const RIGHT = WRONG.replace("v3/logout", "v3/login");

describe("the transcript check", () => {
  it("reports a difference with the chapter line, the command and a diff", async () => {
    const [result] = await run(WRONG);
    assert.equal(passed(result), false);
    assert.equal(
      report(result),
      [
        "fixture.md:4: error: the output differs from the transcript (- in the chapter, + printed now)",
        "  $ deno run examples/endpoint_url.ts https://matrix.example.org",
        "--- fixture.md",
        "+++ (printed now)",
        "@@ -5,1 +1,1 @@",
        "-https://matrix.example.org/_matrix/client/v3/logout",
        "+https://matrix.example.org/_matrix/client/v3/login",
        "",
      ].join("\n"),
    );
  });

  it("passes a transcript that shows what the commands print", async () => {
    const [result] = await run(RIGHT);
    assert.ok(passed(result), report(result));
  });

  it("rewrites the output, and only the output, on update", async () => {
    const [result] = await run(WRONG);
    assert.equal(updatedText(WRONG, result), RIGHT);
  });

  it("keeps a block quote's marker on the lines it writes", async () => {
    const quoted = WRONG.replace(/^(?=.)/gm, "> ").replace(
      /^> # A chapter/,
      "# A chapter",
    );
    const [result] = await run(quoted);
    assert.equal(
      updatedText(quoted, result),
      RIGHT.replace(/^(?=.)/gm, "> ").replace(/^> # A chapter/, "# A chapter"),
    );
  });

  it("shows the exit status, and standard error after standard output", async () => {
    const [result] = await run(`\`\`\`console
$ deno run examples/login.ts
$ echo $? done
\`\`\`
`);
    assert.deepEqual(result.steps.map((s) => s.actual), [
      ["login: expected one argument, USER (see --help)"],
      ["2 done"],
    ]);
  });

  it("runs with an empty standard input, or what printf pipes into it", async () => {
    const [result] = await run(`\`\`\`console
$ deno run --allow-net=localhost:8008 --allow-env=MATRIX_PASSWORD \\
>   --allow-read=. --allow-write=. examples/login.ts alice
$ printf 'wrong\\n' | deno run --allow-net=localhost:8008 \\
>   --allow-env=MATRIX_PASSWORD --allow-read=. --allow-write=. examples/login.ts alice
$ MATRIX_PASSWORD='secret' deno run --allow-net=localhost:8008 \\
>   --allow-env=MATRIX_PASSWORD --allow-read=. --allow-write=. examples/login.ts alice
\`\`\`
`);
    const [empty, wrong, right] = result.steps.map((s) => s.actual.join("\n"));
    assert.match(empty, /No password was given/);
    assert.match(wrong, /403 M_FORBIDDEN/);
    assert.match(right, /^Logged in as @alice:localhost:8008 with device ID /);
  });

  it("gives a lifetime=MS block's homeserver expiring tokens and refresh tokens", async () => {
    const login =
      `$ MATRIX_PASSWORD=secret deno run --allow-net=localhost:8008 \\
>   --allow-env=MATRIX_PASSWORD --allow-read=. --allow-write=. \\
>   examples/refresh.ts alice --until-refreshes 1
`;
    const [short, forever] = await run(
      `\`\`\`console lifetime=1000\n${login}\`\`\`\n\n` +
        `\`\`\`console\n${
          login.replace("--until-refreshes 1", "--for 2")
        }\`\`\`\n`,
    );
    assert.match(
      short.steps[0].actual.join("\n"),
      /^Renewed the access token \(renewal 1\)$/m,
    );
    assert.doesNotMatch(forever.steps[0].actual.join("\n"), /Renewed/);
  });

  it("gives a citadel block's homeserver Thales Citadel's dialect, portal included", async () => {
    const login =
      `$ EMAIL=alice@example.org PASSWORD=secret deno run --allow-net=localhost:8008 \\
>   --allow-env=EMAIL,PASSWORD --allow-read=. --allow-write=. \\
>   examples/citadel.ts --portal localhost:8008 --allow-http --for 1
`;
    const [citadel, standard] = await run(
      `\`\`\`console citadel\n${login}\`\`\`\n\n\`\`\`console\n${login}\`\`\`\n`,
    );
    assert.match(
      citadel.steps[0].actual.join("\n"),
      /^Logged in as @alice:localhost:8008 \(device \w+\)$/m,
    );
    assert.match(
      standard.steps[0].actual.join("\n"),
      /did not say which server serves example\.org \(HTTP 404\)/,
    );
  });

  it("gives an oauth block's homeserver the OAuth 2.0 API only, and devserver/ in the working folder", async () => {
    const login =
      `$ deno run --allow-net=localhost:8008 --allow-read=. --allow-write=. \\
>   examples/oauth_login.ts --timeout 1
$ OAUTH_PASSWORD=secret deno run --allow-net=localhost:8008 --allow-read=. \\
>   --allow-write=. --allow-run=deno examples/oauth_login.ts \\
>   --device-id TRANSCRIPT --open-with 'deno run --allow-net=localhost:8008 \\
>   --allow-env=OAUTH_PASSWORD devserver/oauth_browser.ts --user alice'
`;
    const [oauth, standard] = await run(
      `\`\`\`console oauth\n${login}\`\`\`\n\n\`\`\`console\n${login}\`\`\`\n`,
    );
    assert.match(
      oauth.steps[0].actual.join("\n"),
      /^oauth_login: nobody answered within 1 s/m,
    );
    assert.match(
      standard.steps[0].actual.join("\n"),
      /does not offer the OAuth 2\.0 API/,
    );
    assert.match(
      oauth.steps[1].actual.join("\n"),
      /^Logged in as @alice:localhost:8008 with device ID TRANSCRIPT$/m,
    );
  });

  it("reports a request that leaves the development homeserver", async () => {
    const [result] = await run(`\`\`\`console
$ deno run --allow-net examples/discover.ts http://matrix.example.org
\`\`\`
`);
    assert.equal(passed(result), false);
    assert.deepEqual(result.strays, [
      "GET http://matrix.example.org/.well-known/matrix/client",
    ]);
    assert.match(
      report(result),
      /fixture\.md:1: error: .* transcripts run offline/,
    );
  });

  it("refuses output that shows a token, without quoting it", async () => {
    const [result] = await run(`\`\`\`console
$ echo syt_alice_abc
\`\`\`
`);
    assert.equal(
      result.steps[0].problem,
      "the command printed a token; no example may print a secret",
    );
    assert.throws(() => updatedText("", result), /cannot update/);
  });

  it("names the chapter line of a command it cannot run, and stops there", async () => {
    const [result] = await run(`# A chapter

\`\`\`console
$ echo one
one
$ cat matrix_session.json
$ echo two
two
\`\`\`
`);
    assert.equal(passed(result), false);
    assert.match(
      report(result),
      /^fixture\.md:6: error: "cat matrix_session.json" is not a command transcripts can run: /,
    );
    assert.match(
      report(result),
      /fixture\.md:3: note: 1 later command was not run/,
    );
  });
});

describe("finding transcripts", () => {
  it("skips blocks marked illustrative, and other languages", () => {
    const { transcripts, problems } = findTranscripts(
      "a.md",
      "```console illustrative\n$ rm -rf /\n```\n\n```sh\n$ ls\n```\n",
    );
    assert.deepEqual([transcripts, problems], [[], []]);
  });

  it("refuses a console block that is neither a transcript nor illustrative", () => {
    const { problems } = findTranscripts(
      "a.md",
      "Text.\n\n```console\ndeno run examples/login.ts USER\n```\n",
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0].line, 3);
    assert.match(problems[0].message, /```console illustrative/);
  });

  it("reads lifetime=MS, and leaves tokens unlimited without it", () => {
    const { transcripts, problems } = findTranscripts(
      "a.md",
      "```console lifetime=3000\n$ echo a\na\n```\n\n" +
        "```console\n$ echo b\nb\n```\n",
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(transcripts.map((t) => t.lifetimeMs), [3000, undefined]);
  });

  it("reads oauth, alone or with lifetime=MS, never with citadel", () => {
    const { transcripts, problems } = findTranscripts(
      "a.md",
      "```console oauth\n$ echo a\na\n```\n\n" +
        "```console lifetime=3000 oauth\n$ echo b\nb\n```\n\n" +
        "```console oauth citadel\n$ echo c\nc\n```\n",
    );
    assert.deepEqual(
      transcripts.map((t) => [t.oauth ?? false, t.lifetimeMs]),
      [[true, undefined], [true, 3000]],
    );
    assert.match(problems[0].message, /two different homeservers: give one/);
  });

  it("reads citadel, alone or with lifetime=MS", () => {
    const { transcripts, problems } = findTranscripts(
      "a.md",
      "```console citadel\n$ echo a\na\n```\n\n" +
        "```console lifetime=3000 citadel\n$ echo b\nb\n```\n\n" +
        "```console\n$ echo c\nc\n```\n",
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(
      transcripts.map((t) => [t.citadel ?? false, t.lifetimeMs]),
      [[true, undefined], [true, 3000], [false, undefined]],
    );
  });

  for (
    const [info, expected] of [
      [
        "console lifetme=3000",
        /^unknown console block option "lifetme=3000": write ```console illustrative .*```console lifetime=MS \(such as lifetime=3000\)/,
      ],
      ["console verbose", /^unknown console block option "verbose"/],
      [
        "console lifetime",
        /^"lifetime" needs a lifetime in milliseconds, .*write lifetime=MS, such as lifetime=3000$/,
      ],
      ["console lifetime=", /^"lifetime=" needs a lifetime in milliseconds/],
      ["console lifetime=0", /^"lifetime=0" needs .* 1 or more/],
      ["console lifetime=3s", /^"lifetime=3s" needs/],
      ["console lifetime=-5", /^"lifetime=-5" needs/],
      ["console lifetime=1e3", /^"lifetime=1e3" needs/],
      ["console lifetime=99999999999999999999", /needs a lifetime/],
      ["console lifetime=1000 lifetime=2000", /^"lifetime" is given twice/],
      [
        "console illustrative lifetime=1000",
        /^an illustrative block is not run, so "lifetime" has no effect/,
      ],
      ["console illustrative illustrative", /^"illustrative" is given twice/],
      ["console citadel=yes", /^"citadel=yes" takes no value: write citadel/],
      ["console citadel citadel", /^"citadel" is given twice/],
      [
        "console illustrative citadel",
        /^an illustrative block is not run, so "citadel" has no effect/,
      ],
      [
        "console citadels",
        /^unknown console block option "citadels": .*```console citadel for/,
      ],
    ] as const
  ) {
    it(`refuses \`\`\`${info} at the fence's line, saying what to write`, () => {
      const { transcripts, problems } = findTranscripts(
        "a.md",
        `Text.\n\n\`\`\`${info}\n$ echo a\na\n\`\`\`\n`,
      );
      assert.deepEqual(transcripts, []);
      assert.equal(problems.length, 1);
      assert.equal(problems[0].line, 3);
      assert.match(problems[0].message, expected);
    });
  }

  it("refuses output before the first command", () => {
    const { problems } = findTranscripts(
      "a.md",
      "```console\nhello\n$ echo hello\nhello\n```\n",
    );
    assert.deepEqual(problems.map((p) => p.line), [2]);
  });

  it("joins continuation lines, and finds blocks in lists", () => {
    const { transcripts } = findTranscripts(
      "a.md",
      "- item\n\n  ```console\n  $ echo a \\\n  >   b\n  a b\n  ```\n",
    );
    assert.equal(transcripts[0].prefix, "  ");
    assert.deepEqual(transcripts[0].steps, [{
      line: 4,
      source: ["$ echo a \\", ">   b"],
      command: "echo a   b",
      expected: ["a b"],
    }]);
  });
});

describe("reading commands", () => {
  it("reads env prefixes, quotes and a printf pipe", () => {
    assert.deepEqual(
      parseCommand(
        `printf 'pa ss\\n' | A=1 B="two words" deno run --allow-net=x "ex"amples/a.ts 'an arg' b\\ c`,
      ),
      {
        kind: "deno",
        env: { A: "1", B: "two words" },
        args: ["run", "--allow-net=x", "examples/a.ts", "an arg", "b c"],
        scriptIndex: 2,
        stdin: "pa ss\n",
      },
    );
  });

  it("reads echo $?", () => {
    assert.deepEqual(parseCommand("echo $?"), {
      kind: "echo",
      words: [undefined],
    });
  });

  for (
    const line of [
      "ls",
      "deno test",
      "deno run a.ts > out.txt",
      "deno run a.ts; echo",
      "echo $HOME",
      "cat a | deno run a.ts",
      "printf '%s' x | deno run a.ts",
      "deno run 'a.ts",
      "deno run --allow-net",
    ]
  ) {
    it(`refuses ${JSON.stringify(line)}, saying why`, () => {
      assert.throws(() => parseCommand(line), CommandError);
    });
  }
});

describe("npm run transcripts", () => {
  async function cli(
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "scripts/transcripts/main.ts"), ...args],
      cwd: root,
      env: { NO_COLOR: "1" },
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }

  it("fails on a stale transcript, and --update makes it right", async () => {
    const dir = await mkdtemp(join(tmpdir(), "transcripts-test-"));
    try {
      const chapter = join(dir, "chapter.md");
      await writeFile(chapter, WRONG);
      const check = await cli(chapter);
      assert.equal(check.code, 1);
      assert.match(check.stderr, /chapter\.md:4: error: the output differs/);
      assert.match(
        check.stderr,
        /^\+https:\/\/matrix\.example\.org\/_matrix\/client\/v3\/login$/m,
      );
      assert.equal(
        await readFile(chapter, "utf8"),
        WRONG,
        "a check writes nothing",
      );

      const update = await cli("--update", chapter);
      assert.equal(update.code, 0, update.stderr);
      assert.equal(await readFile(chapter, "utf8"), RIGHT);

      const again = await cli(chapter);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, "transcripts: 1 transcript match\n");
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("explains itself", async () => {
    const help = await cli("--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: npm run transcripts -- \[--update\]/);
    const wrong = await cli("--updat");
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^transcripts: .*--updat.* \(see --help\)\n$/);
  });
});
