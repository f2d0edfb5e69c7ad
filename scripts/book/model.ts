/**
 * The web of chunks, as the book shows it: every tangled block of every
 * chapter with a stable anchor, and for every chunk its parts (defined in,
 * continued in), the blocks that use it, and the generated files it ends up
 * in. Built from lit's own parser and tangler, never by re-reading fences.
 *
 * @module
 */

import {
  type Block,
  type GeneratedFile,
  parseChapter,
  type SourceFile,
} from "../../lit/mod.ts";

/** One chapter of the book. */
export interface Chapter {
  /** Project-relative path, e.g. `chapters/04_refresh_tokens.md`. */
  path: string;
  /** Its page, relative to the site root, e.g. `04_refresh_tokens.html`. */
  page: string;
  /** Position in book order, from 0. */
  index: number;
  text: string;
}

/** A tangled block, shown in its chapter with a caption and an anchor. */
export interface Part {
  block: Block;
  chapter: Chapter;
  /** The HTML id of the block in its chapter page. */
  anchor: string;
  /** The chunk (or file root) this block belongs to. */
  chunk: Chunk;
  /** 0 for the definition (or the file root), 1… for continuations. */
  index: number;
}

/** A named chunk, or a file root. */
export interface Chunk {
  name: string;
  kind: "chunk" | "file";
  /** Definition first, then continuations, in book order. */
  parts: Part[];
  /** The blocks whose code references this chunk, in book order. */
  usedIn: Part[];
  /** Generated files that contain this chunk's lines. */
  files: string[];
}

/** The whole book's chunk web. */
export interface Web {
  chapters: Chapter[];
  chunks: Map<string, Chunk>;
  roots: Map<string, Chunk>;
  parts: Part[];
  /** The part whose fence holds the chapter line, if any. */
  partAt(chapter: string, line: number): Part | undefined;
  /** The definition a reference points to, if the chunk is defined. */
  target(name: string): Part | undefined;
}

/** A lowercase, hyphenated slug for ids. */
export function slug(text: string): string {
  return text.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "x";
}

/** `chapters/04_refresh_tokens.md` → `04_refresh_tokens.html`. */
export function chapterPage(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1).replace(/\.md$/i, "");
  return `${base}.html`;
}

/** Where a generated file's assembled view lives, relative to the site. */
export function filePage(path: string): string {
  return `files/${path}.html`;
}

/** Builds the web of chunks from the chapters and the tangled files. */
export function buildWeb(
  sources: SourceFile[],
  files: GeneratedFile[],
): Web {
  const chapters: Chapter[] = sources.map((s, index) => ({
    path: s.path,
    page: chapterPage(s.path),
    index,
    text: s.text,
  }));
  const chunks = new Map<string, Chunk>();
  const roots = new Map<string, Chunk>();
  const parts: Part[] = [];
  const byChapter = new Map<string, Part[]>();
  const slugs = new Map<string, string>();
  const taken = new Set<string>();
  const slugFor = (key: string, prefix: string, name: string) => {
    let s = slugs.get(key);
    if (!s) {
      const base = `${prefix}-${slug(name)}`;
      s = base;
      for (let n = 2; taken.has(s); n++) s = `${base}-v${n}`;
      taken.add(s);
      slugs.set(key, s);
    }
    return s;
  };
  for (const chapter of chapters) {
    const list: Part[] = [];
    byChapter.set(chapter.path, list);
    for (const block of parseChapter(chapter).blocks) {
      const isFile = block.kind === "file";
      const name = isFile ? block.name.replace(/^\.\//, "") : block.name;
      const table = isFile ? roots : chunks;
      let chunk = table.get(name);
      if (!chunk) {
        chunk = {
          name,
          kind: isFile ? "file" : "chunk",
          parts: [],
          usedIn: [],
          files: [],
        };
        table.set(name, chunk);
      }
      const base = slugFor(
        (isFile ? "file\u0000" : "chunk\u0000") + name,
        isFile ? "file" : "chunk",
        name,
      );
      const index = chunk.parts.length;
      const part: Part = {
        block,
        chapter,
        chunk,
        index,
        anchor: index === 0 ? base : `${base}-${index + 1}`,
      };
      chunk.parts.push(part);
      parts.push(part);
      list.push(part);
    }
  }
  // A definition that follows an append (an error lit reports) still leads.
  for (const chunk of chunks.values()) {
    const def = chunk.parts.findIndex((p) => p.block.kind === "define");
    if (def > 0) chunk.parts.unshift(...chunk.parts.splice(def, 1));
  }
  for (const part of parts) {
    const seen = new Set<string>();
    for (const line of part.block.body) {
      if (!line.ref || seen.has(line.ref.name)) continue;
      seen.add(line.ref.name);
      chunks.get(line.ref.name)?.usedIn.push(part);
    }
  }
  const partAt = (chapter: string, line: number): Part | undefined => {
    const list = byChapter.get(chapter);
    if (!list) return undefined;
    // Parts are in chapter order; a fence's lines are its header line and
    // the body lines after it.
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = list[mid].block;
      if (line < b.line) hi = mid - 1;
      else if (line > b.line + b.body.length) lo = mid + 1;
      else return list[mid];
    }
    return undefined;
  };
  for (const file of files) {
    const seen = new Set<Chunk>();
    for (const origin of file.origins) {
      const part = partAt(origin.file, origin.line);
      if (part && !seen.has(part.chunk)) {
        seen.add(part.chunk);
        part.chunk.files.push(file.path);
      }
    }
  }
  return {
    chapters,
    chunks,
    roots,
    parts,
    partAt,
    target: (name) => chunks.get(name)?.parts[0],
  };
}
