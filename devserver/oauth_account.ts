/**
 * The account management page of the development homeserver in its OAuth
 * 2.0 modes ({@linkcode createAccountPage}): the `account_management_uri`
 * of the server metadata (MSC4191, spec v1.18 "Account management"),
 * `{baseUrl}account/`, as MAS lays it out.
 *
 * A minimal stand-in for MAS's account web UI: it names the action it was
 * opened for (`action`, `device_id`) and asks for the user name and
 * password (MAS keeps a browser session instead), then:
 *
 * - `org.matrix.devices_list` (MAS's unstable `org.matrix.sessions_list`),
 *   or no action: the user's devices, with their names and when they were
 *   last seen;
 * - `org.matrix.device_view` (`org.matrix.session_view`): one device;
 * - `org.matrix.device_delete` (`org.matrix.session_end`), with the
 *   "sign out" box ticked: signs the device out, ending its tokens and
 *   sessions, as MAS's "Remove device" does.
 *
 * Other actions (`org.matrix.profile`, `org.matrix.cross_signing_reset`,
 * which MAS also lists, and `org.matrix.account_deactivate`) get a page
 * saying this server has no page for them.
 *
 * @module
 */
import { escapeHtml, htmlResponse } from "./http.ts";
import {
  credentialFields,
  field,
  formError,
  pageForm,
  signIn,
} from "./oauth_pages.ts";
import type { Store } from "./store.ts";
import type { Tokens } from "./tokens.ts";
import { compareCodePoints } from "./devices.ts";

/**
 * The actions listed in `account_management_actions_supported`: the
 * specification's names only, as its schema allows. MAS also lists
 * MSC4191's unstable `org.matrix.sessions_list`, `org.matrix.session_view`
 * and `org.matrix.session_end`, which this page reads too.
 */
export const ACCOUNT_ACTIONS = [
  "org.matrix.devices_list",
  "org.matrix.device_view",
  "org.matrix.device_delete",
];

/** What an action asks for, the unstable names read as the stable ones. */
function kindOf(action: string): "list" | "view" | "delete" | "other" {
  switch (action) {
    case "":
    case "org.matrix.devices_list":
    case "org.matrix.sessions_list":
      return "list";
    case "org.matrix.device_view":
    case "org.matrix.session_view":
      return "view";
    case "org.matrix.device_delete":
    case "org.matrix.session_end":
      return "delete";
    default:
      return "other";
  }
}

/** The account page: `GET` and `POST {baseUrl}account/`. */
export interface AccountPage {
  show(url: URL): Response;
  submit(request: Request): Promise<Response>;
}

/** The account page for the users of `store`. */
export function createAccountPage(
  store: Store,
  tokens: Tokens,
  settings: { baseUrl: string; maxBodyBytes: number },
): AccountPage {
  const { devices, serverName } = store;
  // Redirects and forms keep to the origin the browser came in by: a path,
  // not the base URL (which may name another host, such as localhost).
  const base = new URL(settings.baseUrl).pathname;

  /** What the page is for, in words. */
  function purpose(action: string, deviceId: string): string {
    const device = `<code>${
      escapeHtml(deviceId || "(no device_id given)")
    }</code>`;
    switch (kindOf(action)) {
      case "list":
        return "See your devices.";
      case "view":
        return `See device ${device}.`;
      case "delete":
        return `Sign out device ${device}.`;
      default:
        return `The action <code>${
          escapeHtml(action)
        }</code> has no page on this development homeserver.`;
    }
  }

  function form(
    action: string,
    deviceId: string,
    status = 200,
    username = "",
    error?: string,
  ): Response {
    const kind = kindOf(action);
    const confirm = kind === "delete"
      ? `<label><input type="checkbox" name="confirm" required> Sign this device out</label>`
      : "";
    return htmlResponse(
      status,
      `Your account on ${serverName}`,
      `<p>${purpose(action, deviceId)}</p>
${formError(error)}
${
        kind === "other"
          ? ""
          : `<form method="post" action="${escapeHtml(`${base}account/`)}">
<input type="hidden" name="action" value="${escapeHtml(action)}">
<input type="hidden" name="device_id" value="${escapeHtml(deviceId)}">
${credentialFields(username)}
${confirm}
<p><button type="submit">Continue</button></p>
</form>`
      }`,
    );
  }

  function show(url: URL): Response {
    const action = url.searchParams.get("action") ?? "";
    const deviceId = url.searchParams.get("device_id") ?? "";
    return form(action, deviceId);
  }

  async function submit(request: Request): Promise<Response> {
    const posted = await pageForm(request, settings.maxBodyBytes);
    if (posted instanceof Response) return posted;
    const action = field(posted, "action");
    const deviceId = field(posted, "device_id");
    const username = field(posted, "username");
    const signedIn = signIn(store, username, field(posted, "password"));
    if ("error" in signedIn) {
      return form(action, deviceId, 401, username, signedIn.error);
    }
    const { userId } = signedIn.user;
    const title = `Your account on ${serverName}`;
    const kind = kindOf(action);
    if (kind === "list") {
      const rows = [...devices.values()]
        .filter((d) => d.userId === userId)
        .sort((a, b) => compareCodePoints(a.deviceId, b.deviceId))
        .map((d) =>
          `<li><code>${escapeHtml(d.deviceId)}</code> ${
            escapeHtml(d.displayName ?? "")
          }${
            d.lastSeenTs === undefined
              ? ""
              : ` (last seen ${new Date(d.lastSeenTs).toISOString()})`
          }</li>`
        );
      return htmlResponse(
        200,
        title,
        rows.length === 0
          ? "<p>You have no devices.</p>"
          : `<ul id="devices">\n${rows.join("\n")}\n</ul>`,
      );
    }
    if (kind === "other") return form(action, deviceId, 400);
    const device = devices.get(`${userId}|${deviceId}`);
    if (device === undefined) {
      return htmlResponse(
        404,
        title,
        `<p>You have no device <code>${escapeHtml(deviceId)}</code>.</p>`,
      );
    }
    if (kind === "view") {
      return htmlResponse(
        200,
        title,
        `<p>Device <code>${escapeHtml(deviceId)}</code>: ${
          escapeHtml(device.displayName ?? "(no name)")
        }${
          device.lastSeenTs === undefined
            ? ", never seen"
            : `, last seen ${new Date(device.lastSeenTs).toISOString()} from ${
              escapeHtml(device.lastSeenIp ?? "")
            }`
        }.</p>`,
      );
    }
    if (!posted.params.has("confirm")) {
      return form(
        action,
        deviceId,
        400,
        username,
        "Tick the box to sign the device out.",
      );
    }
    tokens.endDevice(userId, deviceId);
    return htmlResponse(
      200,
      title,
      `<p>Device <code>${escapeHtml(deviceId)}</code> is signed out.</p>`,
    );
  }

  return { show, submit };
}
