/**
 * Pointing diagnostics back to chapters. TypeScript has no `#line` directive
 * and `deno check` ignores source maps, so lit rewrites the output itself:
 * every `path:line:col` that names a generated file becomes the chapter line
 * and column that produced it.
 *
 * @module
 */

import { isAbsolute, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { GeneratedFile } from "./tangle.ts";

const POSITION_RE =
  /(file:\/\/[^\s:()'"`]+|(?:\.{0,2}\/)?[\w@.\-/]+)\.(ts|tsx|mts|cts|js|mjs|cjs|jsx):(\d+)(?::(\d+))?/g;

/**
 * Rewrites positions in generated files to chapter positions.
 *
 * @example
 * ```ts
 * const remap = new Remapper("/work/book", files);
 * remap.line("error at file:///work/book/src/a.ts:3:7");
 * // => "error at chapters/01_a.md:42:7"
 * ```
 */
export class Remapper {
  #root: string;
  #files = new Map<string, GeneratedFile>();

  constructor(root: string, files: GeneratedFile[]) {
    this.#root = root;
    for (const f of files) this.#files.set(f.path, f);
  }

  /** The chapter position for a generated position, or undefined. */
  position(path: string, line: number, col?: number): string | undefined {
    const file = this.#files.get(path);
    const origin = file?.origins[line - 1];
    if (!origin) return undefined;
    if (col === undefined) return `${origin.file}:${origin.line}`;
    const chapterCol = col <= origin.indent
      ? origin.col
      : origin.col + (col - origin.indent - 1);
    return `${origin.file}:${origin.line}:${chapterCol}`;
  }

  /** Rewrites every generated-file position in one line of output. */
  line(text: string): string {
    return text.replace(
      POSITION_RE,
      (whole, stem: string, ext: string, l: string, c?: string) => {
        const path = this.#projectPath(`${stem}.${ext}`);
        if (!path) return whole;
        return this.position(
          path,
          Number(l),
          c === undefined ? undefined : Number(c),
        ) ?? whole;
      },
    );
  }

  #projectPath(raw: string): string | undefined {
    let abs: string;
    try {
      abs = raw.startsWith("file://") ? fileURLToPath(raw) : raw;
    } catch {
      return undefined;
    }
    const rel = isAbsolute(abs) ? relative(this.#root, abs) : normalize(abs);
    if (rel.startsWith("..") || isAbsolute(rel)) return undefined;
    return rel.split("\\").join("/");
  }
}

/**
 * Copies a stream to a writer line by line, rewriting each line. Returns the
 * whole rewritten text too (for callers that parse it).
 */
export async function pipeRemapped(
  stream: ReadableStream<Uint8Array>,
  remap: (line: string) => string,
  write: (text: string) => void,
): Promise<string> {
  let pending = "";
  let all = "";
  const decoder = new TextDecoderStream();
  for await (const chunk of stream.pipeThrough(decoder)) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const l of lines) {
      const out = remap(l) + "\n";
      all += out;
      write(out);
    }
  }
  if (pending !== "") {
    const out = remap(pending);
    all += out;
    write(out);
  }
  return all;
}
