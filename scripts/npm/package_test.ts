/**
 * Tests of the npm package's build logic: the generated package.json follows
 * deno.json, source maps point into the package, lit's header is replaced,
 * the compiled tests' imports of the library are pointed at the package, the
 * Node test list, and the counts read from node's TAP report. Pure functions
 * only, apart from reading deno.json, tsconfig.build.json and tests/.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  type DenoJson,
  type ExportTarget,
  NODE_EXCLUDED_TESTS,
  nodeTests,
  npmExports,
  packageJson,
  relocateSourceMap,
  replaceLitHeader,
  rewriteLibraryImports,
  summaryLine,
  tapCounts,
} from "./package.ts";
import { isHeader } from "../../lit/mod.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const denoJson = JSON.parse(
  await readFile(`${ROOT}/deno.json`, "utf8"),
) as DenoJson;

describe("the generated package.json", () => {
  it("exports each of deno.json's exports, compiled, types first", () => {
    const exports = npmExports(denoJson.exports, {});
    const denoKeys = Object.keys(denoJson.exports as Record<string, string>);
    assert.deepEqual(Object.keys(exports), [...denoKeys, "./package.json"]);
    for (const key of denoKeys) {
      const target = exports[key] as ExportTarget;
      assert.deepEqual(Object.keys(target), ["types", "default"]);
      const source = (denoJson.exports as Record<string, string>)[key];
      const stem = source.replace(/^\.\//, "").replace(/\.ts$/, "");
      assert.equal(target.default, `./esm/${stem}.js`);
      assert.equal(target.types, `./esm/${stem}.d.ts`);
    }
    assert.deepEqual(exports["."], {
      types: "./esm/mod.d.ts",
      default: "./esm/mod.js",
    });
  });

  it("leaves out excluded exports, and refuses to exclude unknown ones", () => {
    const exports = npmExports(denoJson.exports, {
      "./file_lock": "a reason",
    });
    assert.ok(!("./file_lock" in exports));
    assert.ok("./file_storage" in exports);
    assert.throws(
      () => npmExports(denoJson.exports, { "./nowhere": "a reason" }),
      /not in deno.json's exports/,
    );
    assert.throws(
      () => npmExports({ "./x": "./x.js" }),
      /not a TypeScript module/,
    );
  });

  it("takes name, version and license, and says ESM, Node 20, no side effects", () => {
    const manifest = packageJson(denoJson);
    assert.equal(manifest.name, "matrixlib");
    assert.equal(manifest.version, denoJson.version);
    assert.equal(manifest.license, denoJson.license);
    assert.equal(manifest.type, "module");
    assert.equal(manifest.sideEffects, false);
    assert.deepEqual(manifest.engines, { node: ">=20" });
    assert.deepEqual(manifest.files, ["esm", "mod.ts", "src"]);
    assert.equal(manifest.main, "./esm/mod.js");
    assert.equal(manifest.types, "./esm/mod.d.ts");
    assert.ok(!("repository" in manifest));
    assert.deepEqual(
      packageJson(denoJson, { repository: "https://example.org/m.git" })
        .repository,
      { type: "git", url: "https://example.org/m.git" },
    );
    assert.throws(
      () => packageJson({ ...denoJson, version: "1.0" }),
      /not semver/,
    );
  });

  it("compiles what deno.json exports: tsconfig.build.json includes it", async () => {
    const tsconfig = JSON.parse(
      await readFile(`${ROOT}/tsconfig.build.json`, "utf8"),
    );
    assert.equal(tsconfig.compilerOptions.outDir, "npm/esm");
    assert.equal(tsconfig.compilerOptions.rootDir, ".");
    const include: string[] = tsconfig.include;
    for (const source of Object.values(denoJson.exports)) {
      const path = source.replace(/^\.\//, "");
      assert.ok(
        include.includes(path) ||
          include.some((glob) =>
            glob.endsWith("/*.ts") &&
            path.startsWith(glob.slice(0, -"*.ts".length)) &&
            !path.slice(glob.length - "*.ts".length).includes("/")
          ),
        `${path} is not in tsconfig.build.json's include`,
      );
    }
  });
});

describe("source maps", () => {
  it("point at the sources copied into the package", () => {
    const map = { version: 3, sources: ["../../../src/client.ts"] };
    assert.deepEqual(
      relocateSourceMap(map, "npm/esm/src/client.js.map", "npm").sources,
      ["../../src/client.ts"],
    );
    assert.deepEqual(
      relocateSourceMap(
        { sources: ["../../mod.ts"] },
        "npm/esm/mod.d.ts.map",
        "npm",
      )
        .sources,
      ["../mod.ts"],
    );
  });

  it("refuse sources outside the project or already in the package", () => {
    assert.throws(
      () =>
        relocateSourceMap(
          { sources: ["../../../../x.ts"] },
          "npm/esm/src/a.js.map",
          "npm",
        ),
      /unexpected source/,
    );
    assert.throws(
      () =>
        relocateSourceMap(
          { sources: ["../src/a.ts"] },
          "npm/esm/a.js.map",
          "npm",
        ),
      /unexpected source/,
    );
  });
});

describe("lit's header in built files", () => {
  const header =
    '// Generated by lit from chapters/03_password_login.md. Do not edit: change the chapter, then run "npm run lit -- tangle".';

  it("is replaced by a note on one line, so maps stay right", () => {
    const replaced = replaceLitHeader(`${header}\nexport const x = 1;\n`);
    assert.equal(
      replaced,
      "// From chapters/03_password_login.md, the chapter of the matrixlib book that explains it.\nexport const x = 1;\n",
    );
    assert.ok(!isHeader(replaced.split("\n")[0]));
    assert.equal(replaceLitHeader(header).split("\n").length, 1);
  });

  it("is left alone elsewhere than on the first line", () => {
    const text = `export const x = 1;\n${header}\n`;
    assert.equal(replaceLitHeader(text), text);
  });

  it("is the book's own header when lit.json sets one", () => {
    const template = "Woven from {chapter}; edit the chapter instead";
    const own =
      "// Woven from chapters/01_discovery.md; edit the chapter instead";
    assert.equal(
      replaceLitHeader(`${own}\nexport const y = 2;\n`, template),
      "// From chapters/01_discovery.md, the chapter of the matrixlib book that explains it.\nexport const y = 2;\n",
    );
    const mine = "// Woven by hand\nexport const z = 3;\n";
    assert.equal(replaceLitHeader(mine, template), mine);
  });
});

describe("the compiled tests' imports", () => {
  it("of the library load the package's files; the others stay", () => {
    const text = [
      'import { Client } from "../mod.js";',
      'import { JsonFileStorage } from "../src/file_storage.js";',
      'import { FakeClock } from "./fake_clock.js";',
      'import { createHomeserver } from "../devserver/server.js";',
      'import assert from "node:assert/strict";',
      'const later = await import("../src/http.js");',
      'export { x } from "../src/storage.js";',
    ].join("\n");
    const result = rewriteLibraryImports(text, "tests/a_test.js", "../npm/esm");
    assert.equal(result.rewritten, 4);
    assert.equal(
      result.text,
      [
        'import { Client } from "../../npm/esm/mod.js";',
        'import { JsonFileStorage } from "../../npm/esm/src/file_storage.js";',
        'import { FakeClock } from "./fake_clock.js";',
        'import { createHomeserver } from "../devserver/server.js";',
        'import assert from "node:assert/strict";',
        'const later = await import("../../npm/esm/src/http.js");',
        'export { x } from "../../npm/esm/src/storage.js";',
      ].join("\n"),
    );
  });

  it("from a deeper folder count the right number of ../", () => {
    const result = rewriteLibraryImports(
      'import { Client } from "../../mod.js";',
      "scripts/spec/schemas.js",
      "../npm/esm",
    );
    assert.equal(
      result.text,
      'import { Client } from "../../../npm/esm/mod.js";',
    );
  });
});

describe("the tests on Node", () => {
  it("are every test under tests/ but the excluded ones, each with a reason", async () => {
    const all = (await readdir(`${ROOT}/tests`))
      .filter((name) => name.endsWith("_test.ts"))
      .map((name) => `tests/${name}`);
    const onNode = nodeTests(all);
    assert.equal(
      onNode.length + Object.keys(NODE_EXCLUDED_TESTS).length,
      all.length,
    );
    for (const reason of Object.values(NODE_EXCLUDED_TESTS)) {
      assert.ok(reason.length > 10);
    }
    assert.ok(onNode.includes("tests/client_test.ts"));
    assert.throws(
      () => nodeTests(["tests/a_test.ts"], { "tests/gone_test.ts": "why" }),
      /do not exist: tests\/gone_test.ts/,
    );
  });
});

describe("node's counts", () => {
  it("are read from the last summary of the TAP report", () => {
    const tap = [
      "TAP version 13",
      "# Subtest: x",
      "# tests 12",
      "# suites 3",
      "# pass 9",
      "# fail 1",
      "# cancelled 1",
      "# skipped 1",
      "# todo 0",
      "# duration_ms 12.5",
    ].join("\n");
    const counts = tapCounts(tap);
    assert.deepEqual(counts, { passed: 9, failed: 2, skipped: 1 });
    assert.equal(summaryLine(counts!), "tests: 9 passed, 2 failed, 1 skipped");
    assert.equal(
      summaryLine({ passed: 3, failed: 0, skipped: 0 }),
      "tests: 3 passed, 0 failed",
    );
    assert.equal(tapCounts("TAP version 13\nnot ok 1 - x\n"), undefined);
  });
});
