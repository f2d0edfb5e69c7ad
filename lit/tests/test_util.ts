/** Helpers shared by lit's tests: temporary projects and running the CLI. */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export { dirname, join };
export const fromFileUrl = (url: string): string => fileURLToPath(url);

/** The lit entry point. */
export const LIT_MAIN = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "main.ts",
);

/** Creates a temporary project from a map of relative paths to contents. */
export async function makeProject(
  files: Record<string, string>,
): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), "lit-"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Runs `lit ARGS` in `root` as a separate process. */
export async function runLit(
  root: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", LIT_MAIN, ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** A fence, so tests can write chapters without escaping backticks. */
export const F = "```";
