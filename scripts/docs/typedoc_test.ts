import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { exportEntries, readDenoJson } from "../jsr/check.ts";
import { firstHeading, moduleNames } from "./typedoc_plugin.mjs";

/** The project's root. */
const root = fileURLToPath(new URL("../..", import.meta.url));

/** Reads a JSON file of the project. */
async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(`${root}/${path}`));
}

describe("npm run docs (typedoc.json)", () => {
  it("documents every entry of deno.json's exports, and nothing else", async () => {
    const typedoc = await readJson("typedoc.json");
    assert.deepEqual(
      typedoc.entryPoints,
      exportEntries(await readDenoJson()),
      "typedoc.json's entryPoints differ from deno.json's exports",
    );
  });

  it("has every chapter of lit.json as a page, in book order", async () => {
    const typedoc = await readJson("typedoc.json");
    const lit = await readJson("lit.json");
    assert.deepEqual(
      typedoc.projectDocuments,
      lit.chapters,
      "typedoc.json's projectDocuments differ from lit.json's chapters",
    );
  });

  it("fails on warnings, broken links and missing exports", async () => {
    const typedoc = await readJson("typedoc.json");
    assert.equal(typedoc.treatWarningsAsErrors, true);
    const validation = typedoc.validation as Record<string, boolean>;
    assert.equal(validation.invalidLink, true);
    assert.equal(validation.notExported, true);
  });

  it("titles a chapter with its first heading", () => {
    assert.equal(
      firstHeading("Some text\n\n# Single sign-on: `m.login.token`\n\n## A"),
      "Single sign-on: m.login.token",
    );
    assert.equal(firstHeading("## Only a section"), undefined);
  });

  it("names a module as it is imported", () => {
    assert.deepEqual(
      moduleNames({
        name: "@scope/pkg",
        exports: { ".": "./mod.ts", "./file_lock": "./src/file_lock.ts" },
      }),
      new Map([
        ["mod", "@scope/pkg"],
        ["src/file_lock", "@scope/pkg/file_lock"],
      ]),
    );
  });
});
