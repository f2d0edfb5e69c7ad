/**
 * `npm start`: tangle the chapters, check the generated files are in sync,
 * and run this chapter's example, so a fresh clone shows the book working.
 * (A later chapter turns this into a guided tour against a development
 * homeserver.)
 *
 * Usage: npm start [-- --help]
 *
 * @module
 */

import { main as lit } from "./lit/main.ts";

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(`Usage: npm start

Tangles the chapters into src/, tests/ and examples/ (npm run lit -- tangle),
checks that every generated file matches its chapter (npm run lit -- check),
then runs the introduction's example. Next: read chapters/00_introduction.md
and run npm test.`);
  Deno.exit(0);
}

function step(title: string): void {
  console.log(`\n== ${title}`);
}

step("Tangling the chapters (npm run lit -- tangle)");
if (await lit(["tangle"]) !== 0) Deno.exit(1);

step(
  "Checking the generated files against the chapters (npm run lit -- check)",
);
if (await lit(["check"]) !== 0) Deno.exit(1);

step(
  "Chapter 0's example: deno run examples/endpoint_url.ts http://localhost:8008 v3/login",
);
const example = await new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "examples/endpoint_url.ts",
    "http://localhost:8008",
    "v3/login",
  ],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (!example.success) Deno.exit(1);

console.log(`
Everything is in place. Next:
  read   chapters/00_introduction.md (the book starts there)
  run    npm test                    (every chapter's tests, and lit's own)
  write  npm run lit -- watch        (re-tangles as you edit a chapter)`);
