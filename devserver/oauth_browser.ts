/**
 * A browser without a screen for the development homeserver's OAuth 2.0
 * pages (its `oauth` modes): given an authorisation URL, it follows the
 * redirects, fills in the login and consent form, clicks Allow (or Deny),
 * and stops at the client's redirect URI, whose query or fragment carries
 * `code` and `state` (or `error`). It also signs on through the single
 * sign-on of MAS's compatibility layer (`oauth: "both"`: an SSO redirect
 * URL in, the `redirectUrl` with `loginToken` out), and approves or denies
 * a device on the device authorisation grant's verification page. The tests
 * and the guided tour use it where a person would click.
 *
 * ```console
 * OAUTH_PASSWORD=secret deno run --allow-net=localhost:8008,127.0.0.1 \
 *   --allow-env=OAUTH_PASSWORD devserver/oauth_browser.ts --user alice URL
 * OAUTH_PASSWORD=secret deno run --allow-net=localhost:8008 \
 *   --allow-env=OAUTH_PASSWORD devserver/oauth_browser.ts --user alice \
 *   --user-code CODE http://localhost:8008/link
 * ```
 *
 * Its discipline is `cas_browser.ts`'s: the password comes from the
 * environment variable `OAUTH_PASSWORD`, never from the command line; it
 * only submits forms of pages on the homeserver's origin (that of the
 * address it starts from) to that origin; the first redirect that leaves
 * the origin must lead to the redirect URI the request named (its scheme,
 * host and path; any port on a loopback host), and is the end. It prints
 * nothing but errors, and no error holds a query, a fragment, a code or a
 * token.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { unescapeHtml } from "./cas_browser.ts";

/** What the browser needs. */
export interface OAuthBrowserOptions {
  /** The user name (localpart or user ID) to sign in as. */
  user: string;
  /** Its password. */
  password: string;
  /** Allow (the default) or deny the request. */
  decision?: "allow" | "deny";
  /** The `fetch` to use. Default: the global one. */
  fetch?: (
    input: Request | URL | string,
    init?: RequestInit,
  ) => Promise<Response>;
  /**
   * Whether to request the redirect URI once reached, as a browser does, so
   * that a client listening there gets the answer; it must then answer
   * `200`. Default: true for `http` and `https` redirect URIs; other schemes
   * (a native app's `com.example.app:/cb`) are never requested.
   */
  deliver?: boolean;
  /**
   * The redirect URI the browser must end at. Default: the start address's
   * `redirect_uri` (an authorisation request) or `redirectUrl` (single
   * sign-on).
   */
  redirectUri?: URL | string;
  /** How many requests it may make. Default: 10. */
  maxRequests?: number;
}

/** Where the browser stopped: the redirect URI, and what it carries. */
export interface OAuthCallback {
  /** The address (a secret: it holds the code or the login token). */
  url: URL;
  /** Its parameters, from the fragment if it has some, else the query. */
  params: URLSearchParams;
  /** `code`, `state`, `error`, `error_description`, `loginToken`, if there. */
  code?: string;
  state?: string;
  error?: string;
  errorDescription?: string;
  loginToken?: string;
}

/** Why the browser stopped; the message holds no query, code or token. */
export class OAuthBrowserError extends Error {
  /** The error's name: always `"OAuthBrowserError"`. */
  override name = "OAuthBrowserError";
}

/** An address for messages: without its query and fragment. */
function shown(url: URL): string {
  return url.protocol === "http:" || url.protocol === "https:"
    ? `${url.origin}${url.pathname}`
    : `${url.protocol}${url.pathname}`;
}

/** A form of a page: where it goes, its fields and its buttons. */
interface PageForm {
  action: string;
  /** Names of its text and password inputs, and hidden inputs' values. */
  inputs: Map<string, string>;
  /** Checkbox names. */
  checkboxes: string[];
  /** Submit buttons: their name and value (`""` when unnamed). */
  buttons: { name: string; value: string }[];
}

/** The attributes of one HTML tag, values unescaped. */
function attributes(tag: string): Map<string, string> {
  const found = new Map<string, string>();
  for (
    const m of tag.matchAll(
      /([a-zA-Z_:-]+)(?:\s*=\s*"([^"]*)"|\s*=\s*'([^']*)')?/g,
    )
  ) {
    found.set(m[1].toLowerCase(), unescapeHtml(m[2] ?? m[3] ?? ""));
  }
  return found;
}

/** The `method="post"` forms of a page. */
function formsOf(page: string): PageForm[] {
  const forms: PageForm[] = [];
  for (const m of page.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1]);
    if ((attrs.get("method") ?? "get").toLowerCase() !== "post") continue;
    const form: PageForm = {
      action: attrs.get("action") ?? "",
      inputs: new Map(),
      checkboxes: [],
      buttons: [],
    };
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const a = attributes(input[1]);
      const name = a.get("name");
      if (name === undefined) continue;
      const type = (a.get("type") ?? "text").toLowerCase();
      if (type === "checkbox") form.checkboxes.push(name);
      else form.inputs.set(name, a.get("value") ?? "");
    }
    for (const button of m[2].matchAll(/<button\b([^>]*)>/gi)) {
      const a = attributes(button[1]);
      if ((a.get("type") ?? "submit").toLowerCase() !== "submit") continue;
      form.buttons.push({
        name: a.get("name") ?? "",
        value: a.get("value") ?? "",
      });
    }
    forms.push(form);
  }
  return forms;
}

/** The text of a page's `<title>`, for messages. */
function titleOf(page: string): string {
  const m = /<title>([\s\S]*?)<\/title>/i.exec(page);
  return m === null ? "" : unescapeHtml(m[1]).replace(/\s+/g, " ").trim();
}

/** Whether a page shows a form error (`class="error"`). */
function showsError(page: string): boolean {
  return /class="error"/.test(page);
}

/** The button that makes `decision` on a form, if it has one. */
function buttonFor(
  form: PageForm,
  decision: "allow" | "deny",
): { name: string; value: string } | undefined {
  const allow = ["allow", "consent", "continue", ""];
  const deny = ["deny", "reject"];
  return form.buttons.find((b) =>
    (decision === "allow" ? allow : deny).includes(b.value)
  );
}

/** What the redirect URI must look like, from the options or the start. */
function expectedRedirect(
  start: URL,
  given: URL | string | undefined,
): URL | undefined {
  const raw = given ?? start.searchParams.get("redirect_uri") ??
    start.searchParams.get("redirectUrl") ?? undefined;
  if (raw === undefined) return undefined;
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

/** Whether `url` is at `expected`: scheme, host, path; a loopback's any port. */
function atRedirect(url: URL, expected: URL): boolean {
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(
    expected.hostname,
  );
  return url.protocol === expected.protocol &&
    url.hostname === expected.hostname &&
    (url.port === expected.port || (loopback && expected.port === "")) &&
    url.pathname === expected.pathname;
}

/** The callback's parameters. */
function callbackOf(url: URL): OAuthCallback {
  const params = url.hash.length > 1
    ? new URLSearchParams(url.hash.slice(1))
    : url.searchParams;
  const result: OAuthCallback = { url, params };
  const set = (key: keyof OAuthCallback, name: string) => {
    const value = params.get(name);
    if (value !== null) {
      (result as unknown as Record<string, string>)[key] = value;
    }
  };
  set("code", "code");
  set("state", "state");
  set("error", "error");
  set("errorDescription", "error_description");
  set("loginToken", "loginToken");
  return result;
}

/** The body of a form submitted with `decision`. */
function submission(
  form: PageForm,
  options: OAuthBrowserOptions,
  decision: "allow" | "deny",
  button: { name: string; value: string },
  userCode?: string,
): URLSearchParams {
  const body = new URLSearchParams();
  for (const [name, value] of form.inputs) {
    if (name === "username") body.set(name, options.user);
    else if (name === "password") body.set(name, options.password);
    else if (name === "code" && userCode !== undefined) {
      body.set(name, userCode);
    } else body.set(name, value);
  }
  if (decision === "allow") {
    for (const name of form.checkboxes) body.set(name, "on");
  }
  if (button.name !== "") body.set(button.name, button.value);
  return body;
}

/**
 * Follows an authorisation request (or, in the `both` mode, a single
 * sign-on redirect) from `start` through the homeserver's pages to the
 * client's redirect URI, allowing or denying as `options.decision` says.
 *
 * @returns The redirect URI reached, and its parameters (a secret: a code
 * or a login token).
 * @throws {OAuthBrowserError} If a page answers an error, the password is
 * refused, a form would leave the homeserver, a redirect leads elsewhere
 * than the redirect URI, or the redirect URI (when delivered to) does not
 * answer 200.
 */
export async function oauthAuthorize(
  start: URL | string,
  options: OAuthBrowserOptions,
): Promise<OAuthCallback> {
  const fetch = options.fetch ?? globalThis.fetch;
  const decision = options.decision ?? "allow";
  let url = new URL(start);
  const homeserver = url.origin;
  const expected = expectedRedirect(url, options.redirectUri);
  let init: RequestInit = {};
  const submitted = new Set<string>();
  const max = options.maxRequests ?? 10;
  for (let i = 0; i < max; i++) {
    if (url.origin !== homeserver) {
      if (expected === undefined || !atRedirect(url, expected)) {
        throw new OAuthBrowserError(
          `the homeserver redirected to ${
            shown(url)
          }, which is not the redirect URI${
            expected === undefined ? "" : ` ${shown(expected)}`
          }: not followed`,
        );
      }
      const callback = callbackOf(url);
      const web = url.protocol === "http:" || url.protocol === "https:";
      if (options.deliver === false || !web) return callback;
      const answer = await fetch(url, { redirect: "manual" });
      await answer.body?.cancel();
      if (answer.status !== 200) {
        throw new OAuthBrowserError(
          `the redirect URI ${shown(url)} answered ${answer.status}`,
        );
      }
      return callback;
    }
    const response = await fetch(url, { ...init, redirect: "manual" });
    init = {};
    const location = response.headers.get("Location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      url = new URL(location, url);
      continue;
    }
    const page = await response.text();
    const form =
      /^text\/html\b/i.test(response.headers.get("Content-Type") ?? "")
        ? formsOf(page)[0]
        : undefined;
    if (form === undefined) {
      const title = titleOf(page);
      throw new OAuthBrowserError(
        `${shown(url)} answered ${response.status} with ${
          title === ""
            ? "a page that is neither a form nor a redirect"
            : `"${title}"`
        }`,
      );
    }
    const action = new URL(form.action || url.href, url);
    if (action.origin !== homeserver) {
      throw new OAuthBrowserError(
        `the form at ${shown(url)} would send the password to ${
          shown(action)
        }, not to the homeserver: not submitted`,
      );
    }
    if (submitted.has(action.pathname) || showsError(page)) {
      throw new OAuthBrowserError(
        `${shown(url)} refused user ${
          JSON.stringify(options.user)
        } (status ${response.status})`,
      );
    }
    const button = buttonFor(form, decision);
    if (button === undefined) {
      throw new OAuthBrowserError(
        `the form at ${shown(url)} has no button to ${decision}`,
      );
    }
    submitted.add(action.pathname);
    url = action;
    init = {
      method: "POST",
      body: submission(form, options, decision, button),
    };
  }
  throw new OAuthBrowserError(
    `gave up after ${max} requests, at ${shown(url)}`,
  );
}

/**
 * Answers a device authorisation on the homeserver's verification page:
 * `verificationUri` with the user code in it (`verification_uri_complete`),
 * or the plain one with `userCode`. Signs in and allows (or denies).
 *
 * @returns What the last page said: `"granted"` or `"denied"`.
 * @throws {OAuthBrowserError} If the code is refused, the password is
 * refused, or a page answers an error.
 */
export async function oauthApproveDevice(
  verificationUri: URL | string,
  options: OAuthBrowserOptions & { userCode?: string },
): Promise<"granted" | "denied"> {
  const fetch = options.fetch ?? globalThis.fetch;
  const decision = options.decision ?? "allow";
  let url = new URL(verificationUri);
  const homeserver = url.origin;
  let init: RequestInit = {};
  const submitted = new Set<string>();
  const max = options.maxRequests ?? 10;
  for (let i = 0; i < max; i++) {
    if (url.origin !== homeserver) {
      throw new OAuthBrowserError(
        `the homeserver redirected to ${
          shown(url)
        }, away from its origin: not followed`,
      );
    }
    const response = await fetch(url, { ...init, redirect: "manual" });
    init = {};
    const location = response.headers.get("Location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      url = new URL(location, url);
      continue;
    }
    const page = await response.text();
    const title = titleOf(page);
    const form = formsOf(page)[0];
    if (form === undefined) {
      if (response.status === 200 && title === "Device connected") {
        return "granted";
      }
      if (response.status === 200 && title === "Access denied") return "denied";
      throw new OAuthBrowserError(
        `${shown(url)} answered ${response.status} with "${title}"`,
      );
    }
    const action = new URL(form.action || url.href, url);
    if (action.origin !== homeserver) {
      throw new OAuthBrowserError(
        `the form at ${shown(url)} would leave the homeserver for ${
          shown(action)
        }: not submitted`,
      );
    }
    const codeForm = form.inputs.has("code");
    if (codeForm) {
      if (showsError(page) || options.userCode === undefined) {
        throw new OAuthBrowserError(
          options.userCode === undefined
            ? `${
              shown(url)
            } asks for the code: pass userCode, or the verification_uri_complete`
            : `${shown(url)} refused the code`,
        );
      }
    } else if (submitted.has(action.pathname) || showsError(page)) {
      throw new OAuthBrowserError(
        `${shown(url)} refused user ${
          JSON.stringify(options.user)
        } (status ${response.status})`,
      );
    }
    const button = codeForm
      ? buttonFor(form, "allow")
      : buttonFor(form, decision);
    if (button === undefined) {
      throw new OAuthBrowserError(
        `the form at ${shown(url)} has no button to ${decision}`,
      );
    }
    submitted.add(action.pathname);
    url = action;
    init = {
      method: "POST",
      body: submission(
        form,
        options,
        codeForm ? "allow" : decision,
        button,
        options.userCode,
      ),
    };
  }
  throw new OAuthBrowserError(
    `gave up after ${max} requests, at ${shown(url)}`,
  );
}

const HELP = `Usage: OAUTH_PASSWORD=… deno run --allow-net=HOST[,127.0.0.1] \\
         --allow-env=OAUTH_PASSWORD devserver/oauth_browser.ts [options] ADDRESS

A browser without a screen for the development homeserver's OAuth 2.0 pages
(npm run devserver -- --oauth). ADDRESS is one of:

  an authorisation URL ({base URL}authorize?...): signs in, allows, and
  requests the redirect URI (http or https) so that the client listening
  there gets code and state;
  a single sign-on URL of --oauth both (.../login/sso/redirect?redirectUrl=...):
  signs in, continues, and requests redirectUrl with its loginToken;
  with --user-code, the verification URI of the device authorisation grant
  ({base URL}link), or verification_uri_complete without --user-code.

The password is read from OAUTH_PASSWORD, never from the command line. It
prints nothing but errors, and no error holds a code, token or query.

Options:
  --user NAME        the user to sign in as (localpart or user ID)
  --deny             click Deny instead of Allow
  --user-code CODE   the user code of a device authorisation
  --print-callback   print the redirect URI reached instead of requesting it
                     (it holds the code: for a redirect URI no browser could
                     open, such as a native app's private scheme)
  --help             show this help
`;

/** The command line. */
async function main(args: string[]): Promise<number> {
  let values: {
    user?: string;
    deny?: boolean;
    "user-code"?: string;
    "print-callback"?: boolean;
    help?: boolean;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        user: { type: "string" },
        deny: { type: "boolean" },
        "user-code": { type: "string" },
        "print-callback": { type: "boolean" },
        help: { type: "boolean" },
      },
      allowPositionals: true,
    }));
  } catch (error) {
    console.error(`oauth_browser: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.user === undefined || positionals.length !== 1) {
    console.error(
      `oauth_browser: expected --user NAME and one ADDRESS\n\n${HELP}`,
    );
    return 2;
  }
  const password = process.env.OAUTH_PASSWORD;
  if (password === undefined) {
    console.error(`oauth_browser: OAUTH_PASSWORD is not set\n\n${HELP}`);
    return 2;
  }
  const decision = values.deny ? "deny" : "allow";
  const options: OAuthBrowserOptions = {
    user: values.user,
    password,
    decision,
  };
  const address = positionals[0];
  if (!URL.canParse(address)) {
    console.error("oauth_browser: ADDRESS is not an absolute URL");
    return 2;
  }
  try {
    const isDevice = values["user-code"] !== undefined ||
      /\/link$/.test(new URL(address).pathname);
    if (isDevice) {
      const outcome = await oauthApproveDevice(address, {
        ...options,
        userCode: values["user-code"],
      });
      const wanted = decision === "allow" ? "granted" : "denied";
      if (outcome !== wanted) {
        console.error(`oauth_browser: the device was ${outcome}`);
        return 1;
      }
      return 0;
    }
    const callback = await oauthAuthorize(address, {
      ...options,
      deliver: values["print-callback"] ? false : undefined,
    });
    if (values["print-callback"]) console.log(callback.url.href);
    if (callback.error !== undefined && decision === "allow") {
      console.error(
        `oauth_browser: the redirect URI got error ${callback.error}`,
      );
      return 1;
    }
    return 0;
  } catch (error) {
    if (error instanceof OAuthBrowserError) {
      console.error(`oauth_browser: ${error.message}`);
      return 1;
    }
    if (error instanceof TypeError) {
      // A network failure or a malformed address; its message may hold the
      // address, so say only what kind of failure it was.
      console.error(`oauth_browser: a request failed (${error.name})`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
