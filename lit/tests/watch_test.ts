/**
 * `lit watch` survives what happens while a chapter is being written: a
 * half-written chunk prints diagnostics and keeps the last good output; a
 * deleted chapter is an error, not a crash; a fix is picked up.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { F, LIT_MAIN, makeProject } from "./test_util.ts";

/** Polls until `check` returns true (bounded: fails after `ms`). */
async function until(
  check: () => Promise<boolean> | boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

describe("lit watch", () => {
  it("keeps the last good output through a half-written chapter and a deleted one", async () => {
    const good = `${F}ts\n// file: out.ts\nexport const v = 1;\n${F}\n`;
    const p = await makeProject({
      "lit.json": JSON.stringify({ chapters: ["chapters/a.md"] }),
      "chapters/a.md": good,
    });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", LIT_MAIN, "watch"],
      cwd: p.root,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    let output = "";
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        output += chunk;
      }
    };
    const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
    const outFile = join(p.root, "out.ts");
    const chapter = join(p.root, "chapters/a.md");
    try {
      await until(
        async () =>
          (await readFile(outFile, "utf8").catch(() => "")).includes("v = 1"),
        "first tangle",
      );
      await until(
        () => output.includes("waiting for changes"),
        "watcher ready",
      );
      // Let the file system watcher attach before changing anything.
      await new Promise((r) => setTimeout(r, 300));

      // Half written: a reference to a chunk not written yet, and an unclosed fence.
      await writeFile(
        chapter,
        `${F}ts\n// file: out.ts\nexport const v = 2;\n// <<still to wri`,
      );
      await writeFile(
        chapter,
        `${F}ts\n// file: out.ts\nexport const v = 2;\n// <<still to write>>\n`,
      );
      await until(
        () => output.includes("<<still to write>> is not defined"),
        "diagnostic for the half-written chapter",
      );
      assert.match(
        output,
        /chapters\/a\.md:4:1: error: <<still to write>> is not defined/,
      );
      assert.match(
        await readFile(outFile, "utf8"),
        /v = 1/,
        "the last good output stays",
      );

      await rm(chapter);
      await until(
        () => output.includes("chapters/a.md is listed but does not exist"),
        "deleted chapter reported",
      );
      assert.match(await readFile(outFile, "utf8"), /v = 1/);

      await writeFile(chapter, good.replace("v = 1", "v = 3"));
      await until(
        async () => (await readFile(outFile, "utf8")).includes("v = 3"),
        "fixed chapter tangled",
      );
      assert.equal(child.pid > 0, true);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reading;
      await p.cleanup();
    }
  });
});
