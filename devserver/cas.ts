/**
 * The development homeserver's built-in CAS identity provider, under
 * `{baseUrl}cas/` ({@linkcode createCasProvider}): the login form (`GET` and
 * `POST login`), single-use service tickets bound to their service, and
 * `proxyValidate`, `serviceValidate` and `p3/…`, which answer CAS 2.0 XML
 * exactly as the reference stub does. The homeserver checks its tickets
 * in-process (`sso.ts`), as Synapse would over HTTP.
 *
 * @module
 */
import {
  escapeHtml,
  formEncode,
  htmlResponse,
  readBody,
  redirect,
} from "./http.ts";
import { ALNUM, type Store } from "./store.ts";

/** An account of the built-in CAS identity provider. */
export interface CasAccount {
  /** The CAS user name; it becomes the localpart (in lower case). */
  username: string;
  /** The password for the provider's login form. */
  password: string;
}

/** A CAS service ticket: single use, for one service URL. */
export interface CasTicket {
  service: string;
  /** The CAS user name. */
  user: string;
}

/** The options {@linkcode createCasProvider} reads (see `HomeserverOptions`). */
export interface CasOptions {
  /** Accounts the provider knows besides the homeserver's users. */
  casUsers?: CasAccount[];
  /** Let `GET login?service=…&user=NAME` sign in as NAME at once. */
  casAutoApprove?: boolean;
  /** Service URL prefixes of other homeservers it also signs in to. */
  casServices?: string[];
}

/** The CAS identity provider: its pages, and the check of its tickets. */
export interface CasProvider {
  /** The CAS user a ticket was issued to, if it is valid for `service`. */
  validateTicket(ticket: string, service: string): string | undefined;
  /** `GET /cas/login`: the login form (or, if allowed, `user=` at once). */
  casLoginPage(url: URL): Response;
  /** `POST /cas/login`: checks the form and returns to the service. */
  casLoginSubmit(request: Request): Promise<Response>;
  /** `GET /cas/proxyValidate` and friends: CAS 2.0 XML, as the stub answers. */
  casValidate(url: URL): Response;
}

/**
 * The CAS identity provider of the homeserver at `baseUrl`, whose users
 * (`store`) sign in with their passwords, as do `options.casUsers`.
 */
export function createCasProvider(
  store: Store,
  baseUrl: string,
  maxBodyBytes: number,
  options: CasOptions,
): CasProvider {
  const { serverName, users, randomString } = store;
  const casTickets = new Map<string, CasTicket>();

  /** The CAS user a ticket was issued to, if it is valid for `service`. */
  function validateTicket(ticket: string, service: string): string | undefined {
    const found = casTickets.get(ticket);
    casTickets.delete(ticket); // single use, even when the service is wrong
    return found?.service === service ? found.user : undefined;
  }

  /** Checks a name and password against the provider's accounts. */
  function casAccountMatches(username: string, password: string): boolean {
    const account = (options.casUsers ?? []).find((a) =>
      a.username === username
    );
    if (account) return account.password === password;
    const user = users.get(`@${username.toLowerCase()}:${serverName}`);
    return user?.password !== undefined && user.password === password;
  }

  /** 302 to the service with a new ticket for `user`. */
  function issueTicket(service: string, user: string): Response {
    const ticket = `ST-${randomString(ALNUM, 22)}`;
    casTickets.set(ticket, { service, user });
    const separator = service.includes("?") ? "&" : "?";
    return redirect(
      `${service}${separator}${formEncode([["ticket", ticket]])}`,
    );
  }

  /**
   * The service a login page request names, which must be on this
   * homeserver (a real CAS server keeps a list of services it serves), or
   * the page explaining what is wrong.
   */
  function casServiceOf(service: string | null): string | Response {
    if (service === null || service === "") {
      return htmlResponse(
        400,
        "CAS: no service",
        "<p>This page needs a <code>service</code> parameter: the address to " +
          "return to after signing in. Start from your Matrix application.</p>",
      );
    }
    if (
      !service.startsWith(baseUrl) &&
      !(options.casServices ?? []).some((prefix) => service.startsWith(prefix))
    ) {
      return htmlResponse(
        400,
        "CAS: unknown service",
        `<p>This provider only signs in to ${escapeHtml(baseUrl)}, not to ` +
          `${escapeHtml(service)}.</p>`,
      );
    }
    return service;
  }

  /** `GET /cas/login`: the login form (or, if allowed, `user=` at once). */
  function casLoginPage(url: URL): Response {
    const service = casServiceOf(url.searchParams.get("service"));
    if (service instanceof Response) return service;
    const user = url.searchParams.get("user");
    if (user && options.casAutoApprove) return issueTicket(service, user);
    return casLoginForm(200, service, user ?? "");
  }

  /** `POST /cas/login`: checks the form and returns to the service. */
  async function casLoginSubmit(request: Request): Promise<Response> {
    const form = new URLSearchParams(
      new TextDecoder().decode(await readBody(request, maxBodyBytes)),
    );
    const service = casServiceOf(form.get("service"));
    if (service instanceof Response) return service;
    const username = form.get("username") ?? "";
    const password = form.get("password") ?? "";
    if (username !== "" && casAccountMatches(username, password)) {
      return issueTicket(service, username);
    }
    return casLoginForm(
      401,
      service,
      username,
      "Wrong user name or password. Try again.",
    );
  }

  /** The login form, with an error above it after a failed attempt. */
  function casLoginForm(
    status: number,
    service: string,
    username: string,
    error?: string,
  ): Response {
    const message = error === undefined
      ? ""
      : `<p class="error" role="alert">${escapeHtml(error)}</p>\n`;
    return htmlResponse(
      status,
      "Sign in — development CAS",
      `${message}<form method="post" action="login">
<input type="hidden" name="service" value="${escapeHtml(service)}">
<label>User name <input name="username" autocomplete="username" required value="${
        escapeHtml(username)
      }"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<p class="note">Signing in to ${escapeHtml(new URL(service).host)}.</p>`,
    );
  }

  /** `GET /cas/proxyValidate` and friends: CAS 2.0 XML, as the stub answers. */
  function casValidate(url: URL): Response {
    const user = validateTicket(
      url.searchParams.get("ticket") ?? "",
      url.searchParams.get("service") ?? "",
    );
    return new Response(casXml(user), {
      status: 200,
      headers: { "Content-Type": "application/xml; charset=utf-8" },
    });
  }

  return { validateTicket, casLoginPage, casLoginSubmit, casValidate };
}

/** The CAS 2.0 `serviceResponse` the reference stub gives. */
function casXml(user: string | undefined): string {
  const ns = 'xmlns:cas="http://www.yale.edu/tp/cas"';
  if (user === undefined) {
    return `<cas:serviceResponse ${ns}><cas:authenticationFailure code="INVALID_TICKET">` +
      "ticket not recognized</cas:authenticationFailure></cas:serviceResponse>";
  }
  return `<cas:serviceResponse ${ns}><cas:authenticationSuccess>` +
    `<cas:user>${escapeXml(user)}</cas:user><cas:attributes>` +
    `<cas:displayName>${escapeXml(titleCase(user))} (CAS)</cas:displayName>` +
    "</cas:attributes></cas:authenticationSuccess></cas:serviceResponse>";
}

/** Python's `xml.sax.saxutils.escape`: `&`, `<` and `>`. */
function escapeXml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}

/** Python's `str.title()`: each run of letters capitalised. */
function titleCase(s: string): string {
  return s.replace(
    /\p{L}+/gu,
    (word) => word[0].toUpperCase() + word.slice(1).toLowerCase(),
  );
}
