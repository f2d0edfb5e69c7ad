/**
 * What the development homeserver's OAuth 2.0 endpoints share: the OAuth
 * error answer ({@linkcode OAuthFailure}, `{error, error_description}` as RFC
 * 6749 §5.2 shapes it, with the default descriptions of MAS's
 * `crates/oauth2-types/src/errors.rs`), form bodies read up to a limit,
 * single-valued parameters, the client authentication of MAS's
 * `crates/axum-utils/src/client_authorization.rs` (public clients send
 * `client_id` in the form), tokens shaped as MAS shapes them
 * (`crates/data-model/src/tokens.rs`: `mat_…`, `mar_…`, `mct_…`, `mcr_…`
 * with a CRC-32 check), ULIDs for client IDs and grant IDs, and `303`
 * redirects (axum's `Redirect::to`, which MAS answers with).
 *
 * @module
 */
import { CORS, htmlResponse, readCapped } from "./http.ts";
import { ALNUM, type Store } from "./store.ts";

/**
 * MAS's default `error_description` of each error code
 * (`ClientErrorCode::default_description` in
 * `crates/oauth2-types/src/errors.rs`).
 */
export const OAUTH_ERROR_DESCRIPTIONS: Record<string, string> = {
  invalid_request:
    "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
  invalid_client: "Client authentication failed.",
  invalid_grant: "The provided access grant is invalid, expired, or revoked.",
  unauthorized_client:
    "The client is not authorized to request an access token using this method.",
  unsupported_grant_type:
    "The authorization grant type is not supported by the authorization server.",
  access_denied:
    "The resource owner or authorization server denied the request.",
  unsupported_response_type:
    "The authorization server does not support obtaining an access token using this method.",
  invalid_scope: "The requested scope is invalid, unknown, or malformed.",
  server_error:
    "The authorization server encountered an unexpected condition that prevented it from fulfilling the request.",
  login_required: "The Authorization Server requires End-User authentication.",
  request_not_supported:
    "The provider does not support use of the request parameter.",
  request_uri_not_supported:
    "The provider does not support use of the request_uri parameter.",
  registration_not_supported:
    "The provider does not support use of the registration parameter.",
  invalid_redirect_uri: "The value of one or more redirection URIs is invalid.",
  invalid_client_metadata:
    "The value of one of the client metadata fields is invalid",
  authorization_pending: "The authorization request is still pending",
  slow_down:
    "The interval must be increased by 5 seconds for this and all subsequent requests",
  expired_token:
    'The "device_code" has expired, and the device authorization session has concluded',
  unsupported_token_type:
    "The authorization server does not support the revocation of the presented token type.",
};

/**
 * An OAuth 2.0 error answer (RFC 6749 §5.2: `{error, error_description}`),
 * thrown inside an OAuth endpoint and turned into JSON by `routes.ts`. The
 * description defaults to MAS's for the code.
 */
export class OAuthFailure extends Error {
  readonly description: string;
  constructor(
    readonly status: number,
    readonly error: string,
    description?: string,
    readonly headers: Record<string, string> = {},
  ) {
    const text = description ?? OAUTH_ERROR_DESCRIPTIONS[error] ?? error;
    super(text);
    this.description = text;
  }
}

/** The headers of a token answer: RFC 6749 §5.1, as MAS's `token.rs` sends. */
export const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

/**
 * A `303 See Other` to `location` (axum's `Redirect::to`, which MAS's
 * handlers answer with); never cached, since it may carry a code or token.
 */
export function seeOther(location: string): Response {
  return new Response(null, {
    status: 303,
    headers: { Location: location, "Cache-Control": "no-store" },
  });
}

/** An empty `200`, as MAS's revocation endpoint answers (RFC 7009 §2.2). */
export function emptyOk(): Response {
  return new Response(null, {
    status: 200,
    headers: { ...CORS, "Cache-Control": "no-store" },
  });
}

/** A page that says what went wrong, as MAS's error pages do. */
export function errorPage(
  status: number,
  title: string,
  message: string,
): Response {
  return htmlResponse(status, title, `<p>${message}</p>`);
}

/** A form body, read: its pairs, or why it could not be read. */
export type FormBody =
  | { kind: "form"; params: URLSearchParams }
  | { kind: "not a form" }
  | { kind: "too large" };

/**
 * The request body as an `application/x-www-form-urlencoded` form, read up to
 * `max` bytes. A body of another content type is "not a form" (axum's
 * `Form` refuses it, and MAS then sees no credentials in it).
 */
export async function readForm(
  request: Request,
  max: number,
): Promise<FormBody> {
  const type = request.headers.get("Content-Type") ?? "";
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
    await request.body?.cancel();
    return { kind: "not a form" };
  }
  const { bytes, tooLarge } = await readCapped(request, max);
  if (tooLarge) return { kind: "too large" };
  // A form is ASCII; bytes that are not UTF-8 become U+FFFD, never an error.
  const text = new TextDecoder().decode(bytes);
  return { kind: "form", params: new URLSearchParams(text) };
}

/**
 * Reads form parameters as serde reads a struct: each named parameter at most
 * once (`duplicate field` otherwise), others ignored.
 */
export class FormFields {
  constructor(readonly params: URLSearchParams) {}

  /** The parameter's value, or `undefined`; throws when it comes twice. */
  get(name: string): string | undefined {
    const values = this.params.getAll(name);
    if (values.length > 1) {
      throw new OAuthFailure(
        400,
        "invalid_request",
        `Failed to deserialize form body: duplicate field \`${name}\``,
      );
    }
    return values[0];
  }

  /** The parameter's value; a missing one is `invalid_request`. */
  require(name: string): string {
    const value = this.get(name);
    if (value === undefined) {
      throw new OAuthFailure(
        400,
        "invalid_request",
        `Failed to deserialize form body: missing field \`${name}\``,
      );
    }
    return value;
  }
}

/**
 * The form of an OAuth endpoint that authenticates its client, and the
 * client ID, read as MAS's `ClientAuthorization` does for a public client
 * (`token_endpoint_auth_method: none`): `client_id` in the form. An
 * `Authorization: Basic` or `Bearer` header, or a `client_secret`, is a
 * credential this server's clients cannot have (`401 invalid_client` once
 * the client is found, as MAS's credential check fails); any other
 * `Authorization` header is `400 invalid_request` "Invalid Authorization
 * header". No `client_id` at all is `400 invalid_request` "No credentials
 * were presented".
 *
 * `parse` reads the endpoint's own fields first, so that a malformed form is
 * reported before the missing credentials, as the extractor does.
 */
export async function clientForm<T>(
  request: Request,
  max: number,
  parse: (fields: FormFields) => T,
): Promise<{ clientId: string; secretSent: boolean; fields: T }> {
  const authorization = request.headers.get("Authorization");
  let headerCredential = false;
  if (authorization !== null) {
    if (!/^(basic|bearer) /i.test(authorization)) {
      throw new OAuthFailure(
        400,
        "invalid_request",
        "Invalid Authorization header",
      );
    }
    headerCredential = true;
  }
  const body = await readForm(request, max);
  if (body.kind === "too large") {
    throw new OAuthFailure(
      413,
      "invalid_request",
      "The request body is too large",
    );
  }
  if (body.kind === "not a form") {
    // With a header credential, MAS looks the client up (and fails) first.
    if (headerCredential) throw new OAuthFailure(401, "invalid_client");
    throw new OAuthFailure(
      400,
      "invalid_request",
      "No credentials were presented (send the parameters as an application/x-www-form-urlencoded form, with client_id)",
    );
  }
  const form = new FormFields(body.params);
  const fields = parse(form);
  const clientId = form.get("client_id");
  const secret = form.get("client_secret");
  if (clientId === undefined && !headerCredential) {
    throw new OAuthFailure(
      400,
      "invalid_request",
      "No credentials were presented",
    );
  }
  return {
    // A Basic header names the client; it is refused as a credential anyway.
    clientId: clientId ?? "",
    secretSent: headerCredential || secret !== undefined,
    fields,
  };
}

/** The standard CRC-32 (ISO HDLC), as MAS's tokens carry it. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 of a string's UTF-8 bytes. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of new TextEncoder().encode(text)) {
    crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** MAS's `base62_encode`: least significant digit first, padded to 6. */
function base62(num: number): string {
  const digits =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let out = "";
  while (num > 0) {
    out += digits[num % 62];
    num = Math.floor(num / 62);
  }
  return out.padStart(6, "0");
}

/** The kinds of token MAS tells apart by their prefix. */
export type MasTokenType =
  | "access"
  | "refresh"
  | "compat_access"
  | "compat_refresh";

const PREFIXES: Record<MasTokenType, string> = {
  access: "mat",
  refresh: "mar",
  compat_access: "mct",
  compat_refresh: "mcr",
};

/**
 * A token as MAS's `TokenType::generate` makes it: prefix, 30 random
 * letters and digits, and the CRC-32 of both in base 62.
 */
export function masToken(store: Store, type: MasTokenType): string {
  const base = `${PREFIXES[type]}_${store.randomString(ALNUM, 30)}`;
  return `${base}_${base62(crc32(base))}`;
}

/**
 * The type of a token, as MAS's `TokenType::check` reads it, or `undefined`
 * for a malformed one. Synapse's `syt_` and `syr_` tokens are compatibility
 * tokens, unchecked.
 */
export function masTokenType(token: string): MasTokenType | undefined {
  if (token.startsWith("syt_")) return "compat_access";
  if (token.startsWith("syr_")) return "compat_refresh";
  const parts = token.split("_");
  if (parts.length !== 3) return undefined;
  const [prefix, random, crc] = parts;
  if (prefix.length !== 3 || random.length !== 30 || crc.length !== 6) {
    return undefined;
  }
  const type = (Object.keys(PREFIXES) as MasTokenType[]).find((t) =>
    PREFIXES[t] === prefix
  );
  if (type === undefined) return undefined;
  return base62(crc32(`${prefix}_${random}`)) === crc ? type : undefined;
}

/** Crockford's base 32, the alphabet of ULIDs. */
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A ULID (MAS's IDs of clients, grants and sessions): the time in ms in 10
 * characters, then 16 random ones.
 */
export function ulid(store: Store): string {
  let time = Math.max(0, Math.floor(store.clock()));
  let head = "";
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  return head + store.randomString(CROCKFORD, 16);
}

/** The pattern of a ULID, for routes. */
export const ULID_PATTERN = "[0-9A-HJKMNP-TV-Z]{26}";

/** The seconds since the epoch in a ULID. */
export function ulidSeconds(id: string): number {
  let time = 0;
  for (const c of id.slice(0, 10)) time = time * 32 + CROCKFORD.indexOf(c);
  return Math.floor(time / 1000);
}
