/**
 * `lit watch`: tangle now, then again whenever a chapter or `lit.json`
 * changes. A half-written chapter only prints diagnostics: `tangle` writes
 * nothing while there are errors, so the last good output stays. A deleted
 * or renamed chapter folder does not stop the watcher either.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { formatDiagnostic, hasErrors } from "./diagnostics.ts";
import { loadConfig, tangleToDisk } from "./project.ts";

/** Options for {@link watch}. */
export interface WatchOptions {
  strict?: boolean;
  /** Wait this long after the last change before tangling (ms). */
  debounceMs?: number;
  /** Stops the watcher (tests use it; Ctrl+C works too). */
  signal?: AbortSignal;
}

async function tangleOnce(root: string, strict: boolean): Promise<void> {
  const stamp = new Date().toTimeString().slice(0, 8);
  try {
    const report = await tangleToDisk(root, { strict });
    for (const d of report.diagnostics) console.error(formatDiagnostic(d));
    if (hasErrors(report.diagnostics)) {
      console.error(
        `[${stamp}] lit watch: errors, kept the last good output; waiting for changes`,
      );
    } else {
      const changed = [
        ...report.written,
        ...report.deleted.map((p) => `${p} (deleted)`),
      ];
      console.log(
        `[${stamp}] lit watch: ${
          changed.length ? `updated ${changed.join(", ")}` : "no changes"
        }; waiting for changes`,
      );
    }
  } catch (e) {
    console.error(
      `[${stamp}] lit watch: ${(e as Error).message}; waiting for changes`,
    );
  }
}

/** The folders to watch: the project root (for lit.json) and each chapter folder that exists. */
async function watchedPaths(root: string): Promise<string[]> {
  const paths = new Set<string>([root]);
  const { config } = loadConfig(root);
  for (const chapter of config?.chapters ?? []) {
    const dir = resolve(root, dirname(chapter));
    try {
      if ((await Deno.stat(dir)).isDirectory) paths.add(dir);
    } catch { /* not there (yet) */ }
  }
  return [...paths];
}

/** Runs until the signal aborts (or the process is interrupted). */
export async function watch(
  root: string,
  options: WatchOptions = {},
): Promise<number> {
  const strict = options.strict ?? false;
  const debounceMs = options.debounceMs ?? 120;
  await tangleOnce(root, strict);
  while (!options.signal?.aborted) {
    const paths = await watchedPaths(root);
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(paths, { recursive: false });
    } catch (e) {
      console.error(
        `lit watch: cannot watch ${paths.join(", ")}: ${
          (e as Error).message
        }; retrying`,
      );
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    const onAbort = () => watcher.close();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let restart = false;
    try {
      for await (const event of watcher) {
        const relevant = event.paths.some((p) =>
          p.endsWith(".md") || p === join(root, "lit.json")
        );
        if (!relevant) continue;
        if (event.paths.includes(join(root, "lit.json"))) restart = true;
        clearTimeout(timer);
        timer = setTimeout(() => {
          void tangleOnce(root, strict).then(() => {
            // lit.json may list new chapter folders: watch those too.
            if (restart) watcher.close();
          });
        }, debounceMs);
      }
    } catch (e) {
      if (!options.signal?.aborted) {
        console.error(`lit watch: ${(e as Error).message}; watching again`);
      }
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
    restart = false;
  }
  return 0;
}
