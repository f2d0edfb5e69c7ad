/**
 * The book's offline search: a placeholder with the interface the generator
 * calls. The real index and its page script replace this module.
 *
 * @module
 */

/** One page of the book, as the search index sees it. */
export interface SearchPage {
  url: string;
  title: string;
  headings: string[];
  text: string;
  chunks: { name: string; anchor: string }[];
}

/** Writes the search index and its scripts into `siteDir` (not yet). */
export async function buildSearch(
  siteDir: string,
  pages: SearchPage[],
): Promise<void> {
  void siteDir;
  void pages;
}
