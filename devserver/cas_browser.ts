/**
 * A browser without a screen, for the development homeserver's single
 * sign-on: it requests an address, follows every redirect, fills in the
 * built-in CAS provider's login form, and stops at the client's callback.
 * The tests and the guided tour use it where a person would click.
 *
 * ```console
 * CAS_PASSWORD=secret deno run --allow-net=localhost:8008,127.0.0.1 \
 *   --allow-env=CAS_PASSWORD devserver/cas_browser.ts --user alice ADDRESS
 * ```
 *
 * The password comes from the environment variable `CAS_PASSWORD`, never from
 * the command line, which every process of the computer can read. It prints
 * nothing but errors, and no error contains a query string: the addresses it
 * follows carry CAS tickets and login tokens.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";

/** What {@linkcode casRedirects} needs. */
export interface CasBrowserOptions {
  /** The CAS user name to sign in as. */
  user: string;
  /** Its password. */
  password: string;
  /** The `fetch` to use. Default: the global one. */
  fetch?: (
    input: Request | URL | string,
    init?: RequestInit,
  ) => Promise<Response>;
  /**
   * Stop before requesting the first address for which this is true, and
   * return it: for tests that have no listener at the callback.
   */
  until?: (url: URL) => boolean;
  /** How many requests it may make. Default: 10. */
  maxRequests?: number;
}

/** Why the headless browser stopped; the message contains no query. */
export class CasBrowserError extends Error {
  /** The error's name: always `"CasBrowserError"`. */
  override name = "CasBrowserError";
}

/** An address for messages: without its query, which may hold secrets. */
function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Reads the CAS form's action and `service` field from its page. */
function casForm(
  page: string,
): { action: string; service: string } | undefined {
  const form = /<form method="post" action="([^"]*)">/.exec(page);
  const service = /name="service" value="([^"]*)"/.exec(page);
  if (form === null || service === null) return undefined;
  const unescape = (s: string) =>
    s.replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&gt;", ">")
      .replaceAll("&#39;", "'").replaceAll("&amp;", "&");
  return { action: unescape(form[1]), service: unescape(service[1]) };
}

/**
 * Follows a single sign-on from `start` (the homeserver's SSO or CAS
 * redirect) through the development homeserver's CAS login form to the
 * client's callback, the address that carries `loginToken`.
 *
 * Without `until`, it requests the callback too, and succeeds when that
 * answers 200. With it, it returns the first address `until` accepts,
 * without requesting it.
 *
 * @returns The callback's address (a secret: it holds the login token).
 * @throws {CasBrowserError} If a page answers an error, the CAS provider
 * refuses the password, or the sign-on leads nowhere.
 */
export async function casRedirects(
  start: URL | string,
  options: CasBrowserOptions,
): Promise<URL> {
  const fetch = options.fetch ?? globalThis.fetch;
  let url = new URL(start);
  let init: RequestInit = {};
  let posted = false;
  for (let i = 0; i < (options.maxRequests ?? 10); i++) {
    if (options.until?.(url)) return url;
    const response = await fetch(url, { ...init, redirect: "manual" });
    const page = await response.text();
    init = {};
    const location = response.headers.get("Location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      url = new URL(location, url);
      continue;
    }
    if (url.searchParams.has("loginToken")) {
      if (response.status === 200) return url;
      throw new CasBrowserError(
        `the callback at ${shown(url)} answered ${response.status}`,
      );
    }
    const form = casForm(page);
    if (form !== undefined) {
      if (posted) {
        throw new CasBrowserError(
          `the CAS provider at ${shown(url)} refused user ${
            JSON.stringify(options.user)
          } (status ${response.status})`,
        );
      }
      posted = true;
      url = new URL(form.action, url);
      init = {
        method: "POST",
        body: new URLSearchParams({
          username: options.user,
          password: options.password,
          service: form.service,
        }),
      };
      continue;
    }
    throw new CasBrowserError(
      `${
        shown(url)
      } answered ${response.status} with a page that is neither the CAS login form nor a redirect`,
    );
  }
  throw new CasBrowserError(
    `gave up after ${options.maxRequests ?? 10} requests, at ${shown(url)}`,
  );
}

/** The command line: `--user NAME ADDRESS`, the password in `CAS_PASSWORD`. */
async function main(args: string[]): Promise<number> {
  const usage =
    "usage: CAS_PASSWORD=… deno run --allow-net=HOST,127.0.0.1 --allow-env=CAS_PASSWORD devserver/cas_browser.ts --user NAME ADDRESS";
  let values: { user?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { user: { type: "string" } },
      allowPositionals: true,
    }));
  } catch (error) {
    console.error(`cas_browser: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  const password = process.env.CAS_PASSWORD;
  if (values.user === undefined || positionals.length !== 1) {
    console.error(
      `cas_browser: expected --user NAME and one ADDRESS\n${usage}`,
    );
    return 2;
  }
  if (password === undefined) {
    console.error(`cas_browser: CAS_PASSWORD is not set\n${usage}`);
    return 2;
  }
  try {
    await casRedirects(positionals[0], { user: values.user, password });
    return 0;
  } catch (error) {
    if (error instanceof CasBrowserError) {
      console.error(`cas_browser: ${error.message}`);
      return 1;
    }
    if (error instanceof TypeError) {
      // A network failure or a malformed address; its message may hold the
      // address, so say only what kind of failure it was.
      console.error(`cas_browser: a request failed (${error.name})`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
