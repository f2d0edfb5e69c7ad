/**
 * The file operations lit needs, on Deno's own synchronous API. `tangle` runs
 * on every save, so its start-up matters: Deno's Node.js file system layer
 * takes longer to load than lit takes to tangle a chapter, and one
 * synchronous call is cheaper than one awaited promise per file.
 *
 * Paths are joined with "/", which every platform Deno runs on accepts.
 *
 * @module
 */

/** Joins path parts with "/", dropping empty parts and "." parts. */
export function join(...parts: string[]): string {
  const out = parts.filter((p) => p !== "" && p !== ".").join("/");
  return out.replace(/\/{2,}/g, "/").replace(/\/\.\//g, "/") || ".";
}

/** The folder part of a path ("." for a bare name). */
export function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** An absolute, normalised path for `path` relative to the current folder. */
export function resolve(path: string): string {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const parts: string[] = [];
  for (const seg of abs.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return "/" + parts.join("/");
}

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/** Reads a text file. Throws if it cannot. */
export function readText(path: string): string {
  return Deno.readTextFileSync(path);
}

/** Reads a text file, or undefined when it does not exist. */
export function readTextIfExists(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** True when something exists at `path`. */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The entries of a folder (empty when it cannot be read). */
export function readDir(path: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(path)];
  } catch {
    return [];
  }
}

/** A file's first line, reading at most 1 KiB; undefined if unreadable. */
export function firstLine(path: string): string | undefined {
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(path, { read: true });
    const buf = new Uint8Array(1024);
    const n = file.readSync(buf) ?? 0;
    return new TextDecoder().decode(buf.subarray(0, n)).split(/\r?\n/, 1)[0];
  } catch {
    return undefined;
  } finally {
    file?.close();
  }
}

/**
 * Writes a file atomically: the text goes to a temporary file in the same
 * folder, which is then renamed over the target, so a reader (or a crash)
 * never sees half a file. Creates missing folders.
 */
export function writeAtomic(path: string, text: string): void {
  Deno.mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.lit-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    Deno.writeTextFileSync(tmp, text);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never written */ }
    throw e;
  }
}

/** Removes a file if it exists. */
export function removeFile(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/** Removes a folder if it is empty; returns whether it did. */
export function removeEmptyDir(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  }
}
