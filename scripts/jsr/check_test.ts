import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  checkSteps,
  type DenoJson,
  docCheckTargets,
  type DocJson,
  docJsonArgs,
  exportEntries,
  missingExamples,
  readDenoJson,
  runDeno,
} from "./check.ts";

/** A symbol of `deno doc --json`'s output, with or without an example. */
function symbol(name: string, example: boolean): DocJson["nodes"][string][
  "symbols"
][number] {
  return {
    name,
    declarations: [{
      kind: "function",
      jsDoc: { doc: name, tags: example ? [{ kind: "example" }] : [] },
      location: { filename: "src/x.ts", line: 7 },
    }],
  };
}

describe("check:jsr", () => {
  it("lints every entry of deno.json's exports", async () => {
    const config = await readDenoJson();
    const entries = exportEntries(config);
    assert.ok(entries.includes("mod.ts"));
    const [lint] = checkSteps(config);
    assert.deepEqual(lint.args.slice(0, 2), ["doc", "--lint"]);
    for (
      const path of Object.values(config.exports as Record<string, string>)
    ) {
      assert.ok(
        lint.args.includes(path.replace(/^\.\//, "")),
        `${path} (deno.json exports) is not given to deno doc --lint`,
      );
    }
  });

  it("follows deno.json: a new export is linted and needs examples", () => {
    const config: DenoJson = {
      exports: { ".": "./mod.ts", "./extra": "./src/extra.ts" },
      publish: { include: ["mod.ts", "src/", "README.md", "LICENSE"] },
    };
    assert.deepEqual(exportEntries(config), ["mod.ts", "src/extra.ts"]);
    assert.deepEqual(checkSteps(config)[0].args, [
      "doc",
      "--lint",
      "mod.ts",
      "src/extra.ts",
    ]);
    assert.deepEqual(docJsonArgs(config), [
      "doc",
      "--json",
      "mod.ts",
      "src/extra.ts",
    ]);
    assert.deepEqual(docCheckTargets(config), ["mod.ts", "src/"]);
    assert.deepEqual(docCheckTargets({ exports: "./mod.ts" }), ["mod.ts"]);
  });

  it("names an export without an @example, and an entry without a module doc", () => {
    const doc: DocJson = {
      nodes: {
        "mod.ts": {
          module_doc: { doc: "The library." },
          symbols: [symbol("documented", true), symbol("bare", false)],
        },
        "src/extra.ts": { symbols: [] },
      },
    };
    assert.deepEqual(missingExamples(doc), [
      "mod.ts: bare (src/x.ts:7) has no @example",
      "src/extra.ts: no module doc (a JSDoc block with @module)",
    ]);
  });

  it("finds an @example on every exported symbol of every entry", async () => {
    const { code, stdout, output } = await runDeno(
      docJsonArgs(await readDenoJson()),
    );
    assert.equal(code, 0, output);
    const problems = missingExamples(JSON.parse(stdout));
    assert.deepEqual(
      problems,
      [],
      `exports without an @example (add one in the chapter that defines them):\n${
        problems.join("\n")
      }`,
    );
  });
});
