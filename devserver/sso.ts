/**
 * Single sign-on of the development homeserver through its CAS identity
 * provider ({@linkcode createSso}): `GET /login/sso/redirect` (and the
 * deprecated `/login/cas/redirect`) sends the browser to the provider with
 * the `service` URL Synapse builds; `GET /login/cas/ticket` checks the
 * ticket, creates or takes over the user, and hands the client a login
 * token, straight away when its `redirectUrl` is on the whitelist, else
 * through a "Continue to your account" page.
 *
 * @module
 */
import type { CasProvider } from "./cas.ts";
import {
  escapeHtml,
  formEncode,
  htmlResponse,
  MatrixFailure,
  redirect,
  requiredQuery,
  withQueryParameter,
} from "./http.ts";
import type { Store } from "./store.ts";
import type { Tokens } from "./tokens.ts";

/** The identity provider `m.login.sso` lists: Synapse's CAS defaults. */
export const CAS_IDP = { id: "cas", name: "CAS" };

/** Loopback clients, redirected to without a confirmation page. */
export const LOOPBACK_CLIENTS = [
  "http://localhost:",
  "http://localhost/",
  "http://127.0.0.1:",
  "http://127.0.0.1/",
  "http://[::1]:",
  "http://[::1]/",
];

/** The options {@linkcode createSso} reads (see `HomeserverOptions`). */
export interface SsoOptions {
  /** How long a login token from single sign-on lives. Default: 120 000. */
  loginTokenLifetimeMs?: number;
  /**
   * URL prefixes redirected to straight away. Default:
   * {@linkcode LOOPBACK_CLIENTS}.
   */
  ssoClientWhitelist?: string[];
}

/** The homeserver's endpoints of single sign-on. */
export interface Sso {
  /**
   * `GET /login/sso/redirect[/{idpId}]` and `/login/cas/redirect`: 302 to
   * the CAS login page.
   */
  ssoRedirect(url: URL, idpId?: string): Response;
  /**
   * `GET /login/cas/ticket`: checks the ticket with the identity provider,
   * creates the user on first sign-in, and hands the client a login token.
   */
  casTicket(url: URL): Response;
}

/**
 * Single sign-on for the homeserver at `baseUrl`, with the users of `store`,
 * login tokens from `tokens` and tickets checked by `cas`.
 */
export function createSso(
  store: Store,
  tokens: Tokens,
  cas: CasProvider,
  baseUrl: string,
  options: SsoOptions,
): Sso {
  const loginTokenLifetime = options.loginTokenLifetimeMs ?? 120_000;
  const ssoClientWhitelist = options.ssoClientWhitelist ?? LOOPBACK_CLIENTS;
  const { serverName, users, createUser, changed } = store;
  const { issueLoginToken } = tokens;
  const { validateTicket } = cas;

  /** The `service` URL the homeserver gives CAS, as Synapse builds it. */
  function casService(redirectUrl: string): string {
    return `${baseUrl}_matrix/client/r0/login/cas/ticket?${
      formEncode([["redirectUrl", redirectUrl]])
    }`;
  }

  /**
   * `GET /login/sso/redirect[/{idpId}]` and `/login/cas/redirect`: 302 to
   * the CAS login page.
   */
  function ssoRedirect(url: URL, idpId?: string): Response {
    const redirectUrl = requiredQuery(url, "redirectUrl");
    if (idpId !== undefined && idpId !== CAS_IDP.id) {
      throw new MatrixFailure(404, "M_NOT_FOUND", "Unknown identity provider");
    }
    return redirect(
      `${baseUrl}cas/login?${
        formEncode([["service", casService(redirectUrl)]])
      }`,
    );
  }

  /**
   * `GET /login/cas/ticket`: checks the ticket with the identity provider,
   * creates the user on first sign-in, and hands the client a login token.
   */
  function casTicket(url: URL): Response {
    const redirectUrl = requiredQuery(url, "redirectUrl");
    const ticket = requiredQuery(url, "ticket");
    const casUser = validateTicket(ticket, casService(redirectUrl));
    if (casUser === undefined) {
      return htmlResponse(
        401,
        "Single sign-on failed",
        `<p>The CAS ticket was not recognised: it is unknown, was already used,
or was issued for another address.</p>
<p>Go back to your application and sign in again.</p>`,
      );
    }
    const userId = ssoUser(casUser);
    const token = issueLoginToken(userId, loginTokenLifetime);
    const target = withQueryParameter(redirectUrl, "loginToken", token);
    if (ssoClientWhitelist.some((prefix) => redirectUrl.startsWith(prefix))) {
      return redirect(target);
    }
    if (/^\s*(javascript|data|vbscript):/i.test(redirectUrl)) {
      return htmlResponse(
        400,
        "Single sign-on failed",
        "<p>The application gave an address this server will not link to.</p>",
      );
    }
    return htmlResponse(
      200,
      "Continue to your account",
      `<p>Continuing will grant <code>${
        escapeHtml(redirectUrl.replace(/[?#].*$/s, ""))
      }</code> access to your account <code>${escapeHtml(userId)}</code>.</p>
<p><a class="button" href="${escapeHtml(target)}">Continue</a></p>`,
    );
  }

  /**
   * The Matrix user for a CAS user: the name mapped to a localpart as
   * Synapse maps it; an existing user is taken over (Synapse's
   * "grandfathering"), a new one created without a password.
   */
  function ssoUser(casUser: string): string {
    const localpart = mxidLocalpart(casUser);
    const userId = `@${localpart}:${serverName}`;
    const user = users.get(userId);
    if (!user) {
      createUser({ localpart, sso: true });
    } else if (!user.sso) {
      user.sso = true;
      changed();
    }
    return userId;
  }

  return { ssoRedirect, casTicket };
}

/**
 * A CAS user name as a Matrix localpart, as Synapse's
 * `map_username_to_mxid_localpart` makes it: lower case, each byte outside
 * `a-z 0-9 _ - . / +` as `=` and two hex digits, a leading `_` as `=5f`.
 */
export function mxidLocalpart(username: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(username.toLowerCase())) {
    const c = String.fromCharCode(byte);
    out += /[a-z0-9_\-./+]/.test(c)
      ? c
      : "=" + byte.toString(16).padStart(2, "0");
  }
  return out.replace(/^_/, "=5f");
}
