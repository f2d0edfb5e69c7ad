/**
 * Build-time syntax highlighting with shiki: code in, one HTML string a line
 * out. Colours become classes (one per light/dark pair) so pages stay small;
 * {@link Highlighter.css} writes the stylesheet for them.
 *
 * @module
 */

import { type BundledLanguage, createHighlighter } from "shiki";

/** The languages the book's fences use, by fence info word. */
const LANGS: Readonly<Record<string, string>> = {
  ts: "ts",
  typescript: "ts",
  tsx: "tsx",
  js: "js",
  javascript: "js",
  json: "json",
  jsonc: "jsonc",
  http: "http",
  sh: "shellscript",
  bash: "shellscript",
  shell: "shellscript",
  markdown: "markdown",
  md: "markdown",
  yaml: "yaml",
  yml: "yaml",
};

const LIGHT = "github-light";
const DARK = "github-dark";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

/** A loaded highlighter. */
export interface Highlighter {
  /** Highlights `code` (lines split on `\n`); one HTML string a line. */
  lines(code: string, lang: string): string[];
  /** The CSS for every colour class handed out so far. */
  css(): string;
}

/** Loads shiki with the book's themes and languages. */
export async function loadHighlighter(): Promise<Highlighter> {
  const shiki = await createHighlighter({
    themes: [LIGHT, DARK],
    langs: [...new Set(Object.values(LANGS))],
  });
  const classes = new Map<string, string>();
  const classFor = (style: Record<string, string>): string => {
    const key = Object.entries(style).map(([k, v]) => `${k}:${v}`).sort()
      .join(";");
    let name = classes.get(key);
    if (!name) classes.set(key, name = `c${classes.size}`);
    return name;
  };
  return {
    lines(code, lang) {
      const shikiLang = LANGS[lang.toLowerCase()];
      if (!shikiLang) return code.split("\n").map(escapeHtml);
      const { tokens, fg } = shiki.codeToTokens(code, {
        lang: shikiLang as BundledLanguage,
        themes: { light: LIGHT, dark: DARK },
      });
      const plain = (fg ?? "").toLowerCase();
      return tokens.map((line) => {
        // Adjacent tokens of one colour share a span; the default colour
        // needs none.
        const runs: { cls: string; text: string }[] = [];
        for (const t of line) {
          const style = t.htmlStyle as Record<string, string> | undefined;
          const keys = style ? Object.keys(style) : [];
          const isPlain = !style || keys.length === 0 ||
            (keys.length === 2 &&
              `${style.color};--shiki-dark:${style["--shiki-dark"]}`
                  .toLowerCase() === plain);
          const cls = isPlain ? "" : classFor(style!);
          const last = runs[runs.length - 1];
          if (last && last.cls === cls) last.text += t.content;
          else runs.push({ cls, text: t.content });
        }
        return runs.map((r) =>
          r.cls
            ? `<span class="${r.cls}">${escapeHtml(r.text)}</span>`
            : escapeHtml(r.text)
        ).join("");
      });
    },
    css() {
      const light: string[] = [];
      const dark: string[] = [];
      for (const [key, name] of classes) {
        const decl = Object.fromEntries(
          key.split(";").map((kv) => {
            const i = kv.indexOf(":");
            return [kv.slice(0, i), kv.slice(i + 1)];
          }),
        );
        const own = Object.entries(decl).filter(([k]) => !k.startsWith("--"))
          .map(([k, v]) => `${k}:${v}`).join(";");
        light.push(`.code .${name}{${own}}`);
        const darkDecl = Object.entries(decl).filter(([k]) =>
          k.startsWith("--shiki-dark")
        ).map(([k, v]) =>
          `${
            k === "--shiki-dark" ? "color" : k.replace("--shiki-dark-", "")
          }:${v}`
        ).join(";");
        if (darkDecl) dark.push(`.code .${name}{${darkDecl}}`);
      }
      return light.join("\n") +
        `\n@media (prefers-color-scheme: dark){\n${dark.join("\n")}\n}\n`;
    },
  };
}
