/**
 * A browser without a screen, for the development homeserver's single
 * sign-on: it requests an address, follows every redirect, fills in the
 * built-in CAS provider's login form, clicks Continue on the homeserver's
 * "Continue to your account" page if one comes, and stops at the client's
 * callback. The tests and the guided tour use it where a person would click.
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
  /**
   * Whether to click Continue on the homeserver's "Continue to your
   * account" page, which it shows instead of redirecting to a `redirectUrl`
   * it does not trust. Default: true. With false, the page is an error, as
   * any other page is.
   */
  confirm?: boolean;
  /**
   * The `redirectUrl` the sign-on was started with, which a Continue link
   * must lead to. Default: the `redirectUrl` query parameter of the start
   * address.
   */
  redirectUrl?: URL | string;
}

/** The "Continue to your account" page the browser passed through. */
export interface ConfirmationPage {
  /** Its address without the query (which holds the CAS ticket). */
  address: string;
  /**
   * Its text without the markup, such as "Continue to your account …
   * Continuing will grant http://127.0.0.1:41234/callback access to your
   * account …": what the user reads. The login token, which only the link
   * holds, is replaced by `[login token]` should it appear in the text.
   */
  text: string;
}

/** Where {@linkcode casSignOn} stopped, and what it passed through. */
export interface CasSignOn {
  /** The callback's address (a secret: it holds the login token). */
  callback: URL;
  /** The confirmation page whose Continue it clicked, if there was one. */
  confirmation?: ConfirmationPage;
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

/**
 * An attribute value or text as the browser reads it: the character
 * references `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;` and the numeric
 * ones (`&#39;`, `&#x27;`) replaced, in one pass, so that `&amp;lt;` stays
 * `&lt;`.
 */
export function unescapeHtml(s: string): string {
  const named: Record<string, string> = {
    amp: "&",
    lt: "<",
    gt: ">",
    quot: '"',
    apos: "'",
  };
  return s.replace(
    /&(?:#x([0-9a-f]{1,6})|#([0-9]{1,7})|([a-z]+));/gi,
    (whole, hex?: string, dec?: string, name?: string) => {
      if (name !== undefined) return named[name.toLowerCase()] ?? whole;
      const code = parseInt(hex ?? dec!, hex === undefined ? 10 : 16);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    },
  );
}

/** Reads the CAS form's action and `service` field from its page. */
function casForm(
  page: string,
): { action: string; service: string } | undefined {
  const form = /<form method="post" action="([^"]*)">/.exec(page);
  const service = /name="service" value="([^"]*)"/.exec(page);
  if (form === null || service === null) return undefined;
  return { action: unescapeHtml(form[1]), service: unescapeHtml(service[1]) };
}

/**
 * The `href` of a page's Continue link, as written (still escaped): the
 * button of Synapse's `sso_redirect_confirm.html` (`<a href="…"
 * class="primary-button">Continue</a>`) and of the development homeserver's
 * page.
 */
function continueLink(page: string): string | undefined {
  const link = /<a\s[^>]*?\bhref="([^"]*)"[^>]*>\s*Continue\s*<\/a>/i.exec(
    page,
  );
  return link?.[1];
}

/**
 * A page's text as a reader sees it: its body without markup, styles,
 * scripts or images, white space as one space.
 */
function visibleText(page: string): string {
  return unescapeHtml(
    page.replace(/<(head|style|script|svg)\b[\s\S]*?<\/\1\s*>/gi, " ")
      .replace(/<!--[\s\S]*?-->/g, " ")
      .replace(/<[^>]*>/g, " "),
  ).replace(/\s+/g, " ").trim();
}

/**
 * Checks the Continue link of the confirmation page at `page` and returns
 * where it leads: only a page of the homeserver's origin is believed, and
 * only a link to the `redirectUrl` the sign-on started with (its origin and
 * path) that carries a `loginToken` is followed.
 */
function confirmationTarget(
  page: URL,
  href: string,
  homeserver: string,
  redirectUrl: URL | undefined,
): URL {
  if (page.origin !== homeserver) {
    throw new CasBrowserError(
      `${
        shown(page)
      } answered 200 with a page that has a Continue link, but it is not the homeserver's (${homeserver}): not followed`,
    );
  }
  if (redirectUrl === undefined) {
    throw new CasBrowserError(
      `${
        shown(page)
      } answered 200 with a "Continue to your account" page, and the start address has no redirectUrl to check its link against`,
    );
  }
  let target: URL;
  try {
    target = new URL(unescapeHtml(href), page);
  } catch {
    throw new CasBrowserError(
      `the "Continue to your account" page at ${
        shown(page)
      } has a Continue link that is not an address`,
    );
  }
  if (
    target.origin !== redirectUrl.origin ||
    target.pathname !== redirectUrl.pathname
  ) {
    throw new CasBrowserError(
      `the "Continue to your account" page at ${shown(page)} links to ${
        shown(target)
      }, not to the redirectUrl ${shown(redirectUrl)}: not followed`,
    );
  }
  if (!target.searchParams.has("loginToken")) {
    throw new CasBrowserError(
      `the "Continue to your account" page at ${shown(page)} links to ${
        shown(target)
      } without a loginToken: not followed`,
    );
  }
  return target;
}

/** The page's text with the link's login token, should it be there, hidden. */
function confirmationPage(
  page: URL,
  text: string,
  target: URL,
): ConfirmationPage {
  const token = target.searchParams.get("loginToken")!;
  return {
    address: shown(page),
    text: token === "" ? text : text.replaceAll(token, "[login token]"),
  };
}

/**
 * Follows a single sign-on from `start` (the homeserver's SSO or CAS
 * redirect) through the development homeserver's CAS login form to the
 * client's callback, the address that carries `loginToken`; it returns only
 * that address. {@linkcode casSignOn} also tells whether a "Continue to your
 * account" page came on the way.
 *
 * @returns The callback's address (a secret: it holds the login token).
 * @throws {CasBrowserError} As {@linkcode casSignOn}.
 */
export async function casRedirects(
  start: URL | string,
  options: CasBrowserOptions,
): Promise<URL> {
  return (await casSignOn(start, options)).callback;
}

/**
 * Follows a single sign-on from `start` (the homeserver's SSO or CAS
 * redirect) through the development homeserver's CAS login form to the
 * client's callback, the address that carries `loginToken`.
 *
 * When the homeserver does not trust the `redirectUrl`, it answers with a
 * "Continue to your account" page instead of a redirect (Synapse for any
 * address not on `sso.client_whitelist`). Unless `confirm` is false, the
 * browser clicks its Continue link, as a user would, but only a link on a
 * page of the homeserver's own origin (that of `start`), and only one that
 * leads to the `redirectUrl` the sign-on started with (same origin and path)
 * with a `loginToken`. The result says that it did.
 *
 * Without `until`, it requests the callback too, and succeeds when that
 * answers 200. With it, it returns the first address `until` accepts,
 * without requesting it.
 *
 * @returns The callback's address (a secret: it holds the login token), and
 * the confirmation page passed through, if any.
 * @throws {CasBrowserError} If a page answers an error, the CAS provider
 * refuses the password, a confirmation page's link leads elsewhere, or the
 * sign-on leads nowhere.
 */
export async function casSignOn(
  start: URL | string,
  options: CasBrowserOptions,
): Promise<CasSignOn> {
  const fetch = options.fetch ?? globalThis.fetch;
  let url = new URL(start);
  const homeserver = url.origin;
  const redirectParameter = options.redirectUrl ??
    url.searchParams.get("redirectUrl") ?? undefined;
  let redirectUrl: URL | undefined;
  try {
    redirectUrl = redirectParameter === undefined
      ? undefined
      : new URL(redirectParameter);
  } catch {
    redirectUrl = undefined;
  }
  let init: RequestInit = {};
  let posted = false;
  let confirmation: ConfirmationPage | undefined;
  for (let i = 0; i < (options.maxRequests ?? 10); i++) {
    if (options.until?.(url)) return { callback: url, confirmation };
    const response = await fetch(url, { ...init, redirect: "manual" });
    const page = await response.text();
    init = {};
    const location = response.headers.get("Location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      url = new URL(location, url);
      continue;
    }
    if (url.searchParams.has("loginToken")) {
      if (response.status === 200) return { callback: url, confirmation };
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
    const href = continueLink(page);
    const confirming = response.status === 200 && href !== undefined &&
      /^text\/html\b/i.test(response.headers.get("Content-Type") ?? "");
    if (confirming && options.confirm !== false && confirmation === undefined) {
      const target = confirmationTarget(url, href, homeserver, redirectUrl);
      confirmation = confirmationPage(url, visibleText(page), target);
      url = target;
      continue;
    }
    const what = !confirming
      ? "a page that is neither the CAS login form nor a redirect"
      : confirmation === undefined
      ? 'a "Continue to your account" page, not clicked (confirm is false)'
      : 'a second "Continue to your account" page';
    throw new CasBrowserError(
      `${shown(url)} answered ${response.status} with ${what}`,
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
