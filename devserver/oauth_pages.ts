/**
 * What the development homeserver's OAuth 2.0 web pages share: reading a
 * posted form, checking the user name and password typed into one, and the
 * fields that ask for them.
 *
 * Where MAS keeps a browser session (a cookie) between its login page and
 * its consent page, these pages ask for the password on the consent form
 * itself: one form, no cookie, no CSRF token to carry. The user names
 * accepted are the localpart or the full user ID, in any case, as the
 * homeserver's own password login.
 *
 * @module
 */
import { escapeHtml, htmlResponse } from "./http.ts";
import { FormFields, readForm } from "./oauth_http.ts";
import type { Store, User } from "./store.ts";

/**
 * A form posted to a page, or the page that says why it cannot be read
 * (`400` when it is not a form, `413` when it is too large).
 */
export async function pageForm(
  request: Request,
  max: number,
): Promise<FormFields | Response> {
  const body = await readForm(request, max);
  if (body.kind === "too large") {
    return htmlResponse(413, "Too large", "<p>The form is too large.</p>");
  }
  if (body.kind === "not a form") {
    return htmlResponse(
      400,
      "Not a form",
      "<p>This page takes an HTML form (application/x-www-form-urlencoded).</p>",
    );
  }
  return new FormFields(body.params);
}

/** A single form value, `""` when absent or sent more than once. */
export function field(form: FormFields, name: string): string {
  const values = form.params.getAll(name);
  return values.length === 1 ? values[0] : "";
}

/**
 * The user a sign-in form names, once its password is checked, or the
 * message to show: unknown users, users without a password (made by single
 * sign-on) and wrong passwords get the same one.
 */
export function signIn(
  store: Store,
  username: string,
  password: string,
): { user: User } | { error: string } {
  const name = username.trim().toLowerCase();
  const userId = name.startsWith("@") ? name : `@${name}:${store.serverName}`;
  const user = store.users.get(userId);
  if (
    user === undefined || user.password === undefined ||
    user.password !== password || name === ""
  ) {
    return { error: "Invalid username or password." };
  }
  if (user.locked === true) return { error: "This account is locked." };
  return { user };
}

/** The user name and password fields of a sign-in form. */
export function credentialFields(username = ""): string {
  return `<label>Username <input name="username" autocomplete="username" value="${
    escapeHtml(username)
  }"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>`;
}

/** An error message on a form, or nothing. */
export function formError(error: string | undefined): string {
  return error === undefined
    ? ""
    : `<p class="error" role="alert">${escapeHtml(error)}</p>`;
}
