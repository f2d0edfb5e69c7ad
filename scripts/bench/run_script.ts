/**
 * For the benchmarks' tests: runs a benchmark script in a child `deno`, as
 * a reader would, and returns its exit status and output.
 *
 * @module
 */

/** What a run of a script gave. */
export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A SCRIPT ARGS…` and waits for it. */
export async function runScript(
  script: string,
  ...args: string[]
): Promise<ScriptRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}
