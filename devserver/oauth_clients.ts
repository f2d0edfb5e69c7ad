/**
 * OAuth 2.0 dynamic client registration (RFC 7591, MSC2966, spec "Client
 * registration") of the development homeserver ({@linkcode createClients}),
 * answering as MAS's `crates/handlers/src/oauth2/registration.rs` does,
 * with the rules of its policy `policies/client_registration/
 * client_registration.rego` and their messages:
 *
 * - `POST /oauth2/registration` with the client metadata as JSON: `201` with
 *   `client_id`, `client_id_issued_at` and the metadata kept
 *   (`redirect_uris`, `grant_types`, `application_type` when given,
 *   `client_name`, `client_uri`, `logo_uri`, `policy_uri`, `tos_uri`,
 *   `token_endpoint_auth_method`). The same metadata again gives the same
 *   `client_id`, as MAS deduplicates public clients (the spec allows it).
 *   Localised values (`client_name#fr`) are read, checked, and not kept.
 * - A body that is not JSON (or not sent as `application/json`): `400
 *   invalid_request`; a field of the wrong type: `400
 *   invalid_client_metadata`; a redirect URI with a fragment, or none when
 *   the client uses the authorisation code grant: `400
 *   invalid_redirect_uri`; policy violations: `400 invalid_redirect_uri` when
 *   one is about a redirect URI, else `invalid_client_metadata`, the
 *   messages joined by "; ".
 * - `client_uri` is required: `https`, no user or password, not
 *   `localhost`, `127.0.0.1`, `0.0.0.0` or `[::1]` (MAS refuses
 *   `https://localhost`, element-hq/matrix-authentication-service#5871:
 *   register with a real-looking name such as `https://matrixlib.example/`).
 *   `logo_uri`, `policy_uri` and `tos_uri` must be `https` on its host or
 *   a subdomain.
 * - Redirect URIs (spec "Redirect URI validation"): `web` clients, `https` on
 *   the host of `client_uri` or a subdomain; `native` clients also a private
 *   scheme that is the host of `client_uri` in reverse (`example.app:/cb`
 *   for `https://app.example/`), without an authority, or `http` on
 *   `localhost`, `127.0.0.1` or `[::1]`, which any port matches at
 *   authorisation.
 * - `grant_types` defaults to `authorization_code` (RFC 7591 §2); values this
 *   server does not offer are dropped (the spec: "MUST ignore values that it
 *   does not understand"). `response_types` may only hold `code`.
 *
 * Differences on purpose: a loopback redirect URI with a port is refused, as
 * the specification says ("There MUST NOT be a port"), where MAS registers it
 * and then requires that exact port; only public clients are registered
 * (`token_endpoint_auth_method: none`; MAS also registers confidential
 * clients, and gives one a secret when the method is absent); the public
 * suffix list is not consulted; at most {@linkcode MAX_CLIENTS} clients are
 * kept, the oldest without a session dropped first (the spec: the server
 * "MAY choose to delete client registrations that don't have an active
 * session").
 *
 * @module
 */
import { isObject, jsonResponse, readCapped } from "./http.ts";
import { OAuthFailure, ulid, ulidSeconds } from "./oauth_http.ts";
import type { OAuthClient, Store } from "./store.ts";

/** The grant types this server offers, and a client may register. */
export const GRANT_TYPES = [
  "authorization_code",
  "refresh_token",
  "urn:ietf:params:oauth:grant-type:device_code",
];

/** The most clients kept. */
export const MAX_CLIENTS = 1000;

/** The loopback hosts of native clients' redirect URIs (MAS's `LOCAL_HOSTS`). */
const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

/** The registered clients. */
export interface Clients {
  /** `POST /oauth2/registration`. */
  register(request: Request): Promise<Response>;
  /** The client with this ID. */
  get(clientId: string): OAuthClient | undefined;
  /**
   * The redirect URI to use for an authorisation request, as MAS's
   * `Client::resolve_redirect_uri`: the one given, if registered (on a
   * loopback host, any port matches one registered without), or the only
   * one registered when none is given; otherwise why not.
   */
  resolveRedirectUri(
    client: OAuthClient,
    given: string | undefined,
  ): { uri: string } | { error: string };
}

/** The parts of a URI MAS's policy looks at (its `parse_uri`). */
interface ParsedUri {
  scheme: string;
  authority: string;
  host: string;
}

/**
 * MAS's `parse_uri` regular expression: lower-case host names (or
 * `127.0.0.1`, `0.0.0.0`, `[::1]`), an optional port, a path and a query of
 * a few characters; nothing else (no user, no fragment, no percent-escaped
 * path).
 */
const URI =
  /^(?<scheme>[a-z][a-z0-9+.-]*):(?:\/\/(?<authority>(?<host>(?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])|127.0.0.1|0.0.0.0|\[::1\])(?::(?<port>[0-9]+))?))?(?<path>\/[A-Za-z0-9/._~-]*)?(?<query>\?[-a-zA-Z0-9()@:%_+.~#?&/=]*)?$/;

/** A URI as the policy parses it (after URL normalisation), if it does. */
function parseUri(uri: string): ParsedUri | undefined {
  const match = URI.exec(uri);
  if (match === null) return undefined;
  const g = match.groups!;
  return {
    scheme: g.scheme,
    authority: g.authority ?? "",
    host: g.host ?? "",
  };
}

/** MAS's `secure_url`: `https`, and not a loopback or unspecified host. */
function secureUrl(uri: string): boolean {
  const parsed = parseUri(uri);
  return parsed !== undefined && parsed.scheme === "https" &&
    !["localhost", "127.0.0.1", "0.0.0.0", "[::1]"].includes(parsed.host);
}

/** MAS's `is_subdomain`: `sub` is `host` or a subdomain of it. */
function isSubdomain(host: string, sub: string): boolean {
  const h = host.split(".").reverse();
  const s = sub.split(".").reverse();
  return h.length <= s.length && h.every((part, i) => s[i] === part);
}

/**
 * MAS's `reverse_dns_match`: a scheme such as `example.app.cb` starts with
 * the host `app.example` in reverse.
 */
function reverseDnsMatch(host: string, scheme: string): boolean {
  const h = host.split(".").reverse();
  const s = scheme.split(".");
  return h.length <= s.length && h.every((part, i) => s[i] === part);
}

/** A URL string normalised as MAS's `Url` type keeps it, or `undefined`. */
function normalised(value: string): string | undefined {
  try {
    return new URL(value).href;
  } catch {
    return undefined;
  }
}

/** Registration of clients in `store`. */
export function createClients(store: Store, maxBodyBytes: number): Clients {
  const { oauthClients, oauthSessions, changed } = store;

  /** The body as a JSON object, or the OAuth error MAS answers. */
  async function readBody(request: Request): Promise<Record<string, unknown>> {
    const type = request.headers.get("Content-Type") ?? "";
    if (!/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type)) {
      await request.body?.cancel();
      throw new OAuthFailure(
        400,
        "invalid_request",
        "Expected request with `Content-Type: application/json`",
      );
    }
    const { bytes, tooLarge } = await readCapped(request, maxBodyBytes);
    if (tooLarge) {
      throw new OAuthFailure(
        413,
        "invalid_request",
        "The request body is too large",
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(
        new TextDecoder("utf-8", { fatal: true }).decode(bytes),
      );
    } catch {
      throw new OAuthFailure(400, "invalid_request");
    }
    if (!isObject(value)) {
      throw new OAuthFailure(
        400,
        "invalid_client_metadata",
        "the client metadata must be a JSON object",
      );
    }
    return value;
  }

  /** Refuses a field of the wrong type, as serde's data error does. */
  function wrongType(field: string, what: string): never {
    throw new OAuthFailure(
      400,
      "invalid_client_metadata",
      `${field}: invalid type, expected ${what}`,
    );
  }

  function optionalString(
    body: Record<string, unknown>,
    field: string,
  ): string | undefined {
    const value = body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") wrongType(field, "a string");
    return value;
  }

  function optionalUrl(
    body: Record<string, unknown>,
    field: string,
  ): string | undefined {
    const value = optionalString(body, field);
    if (value === undefined) return undefined;
    const url = normalised(value);
    if (url === undefined) wrongType(field, "a URL");
    return url;
  }

  function optionalStrings(
    body: Record<string, unknown>,
    field: string,
  ): string[] | undefined {
    const value = body[field];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      wrongType(field, "a list of strings");
    }
    return value as string[];
  }

  /** A field and its localised variants (`name#lang`), as given. */
  function localised(
    body: Record<string, unknown>,
    field: string,
    read: (body: Record<string, unknown>, key: string) => string | undefined,
  ): { value?: string; variants: string[] } {
    const variants: string[] = [];
    for (const key of Object.keys(body)) {
      if (key.startsWith(`${field}#`)) {
        const v = read(body, key);
        if (v !== undefined) variants.push(v);
      }
    }
    return { value: read(body, field), variants };
  }

  async function register(request: Request): Promise<Response> {
    const body = await readBody(request);

    // Types first, as serde reads them.
    const redirectValues = optionalStrings(body, "redirect_uris");
    const redirectUris = redirectValues?.map((value, i) =>
      normalised(value) ?? wrongType(`redirect_uris[${i}]`, "a URL")
    );
    const clientUri = localised(body, "client_uri", optionalUrl);
    const logoUri = localised(body, "logo_uri", optionalUrl);
    const policyUri = localised(body, "policy_uri", optionalUrl);
    const tosUri = localised(body, "tos_uri", optionalUrl);
    const clientName = localised(body, "client_name", optionalString);
    const requestedGrants = optionalStrings(body, "grant_types");
    const responseTypes = optionalStrings(body, "response_types");
    const method = optionalString(body, "token_endpoint_auth_method");
    const applicationType = optionalString(body, "application_type");
    if (
      applicationType !== undefined && applicationType !== "web" &&
      applicationType !== "native"
    ) {
      throw new OAuthFailure(
        400,
        "invalid_client_metadata",
        'application_type must be "web" or "native"',
      );
    }
    if (method !== "none") {
      throw new OAuthFailure(
        400,
        "invalid_client_metadata",
        `token_endpoint_auth_method: this development homeserver registers public clients only; send "none"${
          method === undefined
            ? " (RFC 7591 §2's default is client_secret_basic)"
            : ""
        }`,
      );
    }

    // ClientMetadata::validate.
    const grantTypes = (requestedGrants ?? ["authorization_code"]).filter((
      g,
    ) => GRANT_TYPES.includes(g));
    const usesCode = grantTypes.includes("authorization_code");
    // An empty fragment ("…/cb#") is a fragment too, as for MAS's `Url`.
    const withFragment = redirectUris?.find((uri) => uri.includes("#"));
    if (withFragment !== undefined) {
      throw new OAuthFailure(
        400,
        "invalid_redirect_uri",
        "a redirect URI must not have a fragment",
      );
    }
    if (redirectUris === undefined && usesCode) {
      throw new OAuthFailure(
        400,
        "invalid_redirect_uri",
        "redirect_uris is required for the authorization_code grant",
      );
    }
    for (const type of responseTypes ?? []) {
      if (type !== "code" || !usesCode) {
        throw new OAuthFailure(
          400,
          "invalid_client_metadata",
          `Incoherent response_type ${type}: only code, with the authorization_code grant`,
        );
      }
    }

    // The policy.
    const violations: string[] = [];
    const client = clientUri.value;
    if (client === undefined) violations.push("missing client_uri");
    const allClientUris = [
      ...(client === undefined ? [] : [client]),
      ...clientUri.variants,
    ];
    if (allClientUris.some((u) => !secureUrl(u))) {
      violations.push("invalid client_uri");
    }
    const clientHost = client === undefined
      ? undefined
      : parseUri(client)?.host;
    const sameHost = (uri: string) =>
      clientHost !== undefined &&
      isSubdomain(clientHost, parseUri(uri)?.host ?? "");
    for (
      const [name, field] of [
        ["tos_uri", tosUri],
        ["policy_uri", policyUri],
        ["logo_uri", logoUri],
      ] as const
    ) {
      const uris = [
        ...(field.value === undefined ? [] : [field.value]),
        ...field.variants,
      ];
      if (uris.some((u) => !secureUrl(u))) violations.push(`invalid ${name}`);
      if (uris.some((u) => !sameHost(u))) {
        violations.push(`${name} not on the same host as the client_uri`);
      }
    }
    if (usesCode && redirectUris !== undefined && redirectUris.length === 0) {
      violations.push(
        "invalid redirect_uris: it must have at least one redirect_uri",
      );
    }
    for (const uri of redirectUris ?? []) {
      const problem = redirectProblem(
        uri,
        applicationType ?? "web",
        clientHost,
        sameHost,
      );
      if (problem !== undefined) {
        violations.push(`invalid redirect_uri ${uri} (${problem})`);
      }
    }
    if (violations.length > 0) {
      throw new OAuthFailure(
        400,
        violations.some((v) => v.includes("redirect_uri"))
          ? "invalid_redirect_uri"
          : "invalid_client_metadata",
        violations.join("; "),
      );
    }

    const metadata: Omit<OAuthClient, "clientId" | "digest"> = {
      redirectUris: [...new Set(redirectUris ?? [])].sort(),
      grantTypes: [...new Set(grantTypes)].sort(),
      clientUri: client!,
    };
    if (applicationType !== undefined) {
      metadata.applicationType = applicationType;
    }
    if (clientName.value !== undefined) {
      metadata.clientName = clientName.value;
    }
    if (logoUri.value !== undefined) metadata.logoUri = logoUri.value;
    if (policyUri.value !== undefined) metadata.policyUri = policyUri.value;
    if (tosUri.value !== undefined) metadata.tosUri = tosUri.value;
    // MAS hashes the sorted metadata: the same metadata, the same client.
    const digest = JSON.stringify(metadata);
    let registered = [...oauthClients.values()].find((c) =>
      c.digest === digest
    );
    if (registered === undefined) {
      registered = { clientId: ulid(store), digest, ...metadata };
      makeRoom();
      oauthClients.set(registered.clientId, registered);
      changed();
    }
    return jsonResponse(201, describe(registered));
  }

  /** Drops the oldest clients without a session beyond {@linkcode MAX_CLIENTS}. */
  function makeRoom(): void {
    if (oauthClients.size < MAX_CLIENTS) return;
    const inUse = new Set(
      [...oauthSessions.values()].map((s) => s.clientId),
    );
    for (const id of oauthClients.keys()) {
      if (oauthClients.size < MAX_CLIENTS) break;
      if (!inUse.has(id)) oauthClients.delete(id);
    }
  }

  return {
    register,
    get: (clientId) => oauthClients.get(clientId),
    resolveRedirectUri(client, given) {
      if (client.redirectUris.length === 0) {
        return { error: "The client has no redirect URI registered." };
      }
      if (given === undefined) {
        return client.redirectUris.length === 1
          ? { uri: client.redirectUris[0] }
          : {
            error:
              "The client registered several redirect URIs: the request must name one (redirect_uri).",
          };
      }
      const uri = normalised(given);
      if (uri !== undefined && matchesOneOf(uri, client.redirectUris)) {
        return { uri };
      }
      return {
        error:
          "The redirect_uri is not one the client registered: this server never redirects there.",
      };
    },
  };
}

/**
 * What is wrong with a redirect URI for a client (MAS's
 * `valid_redirect_uri`), or `undefined`.
 */
function redirectProblem(
  uri: string,
  applicationType: string,
  clientHost: string | undefined,
  sameHost: (uri: string) => boolean,
): string | undefined {
  const parsed = parseUri(uri);
  if (parsed === undefined) {
    return "not a URI of the form MAS accepts: lower-case host, a path and query of plain characters";
  }
  if (secureUrl(uri) && sameHost(uri)) return undefined;
  if (applicationType === "native") {
    if (parsed.scheme === "http" && LOOPBACK_HOSTS.includes(parsed.host)) {
      return new URL(uri).port === ""
        ? undefined
        : "a loopback redirect URI must not have a port: any port is accepted at authorisation";
    }
    if (parsed.scheme !== "http" && parsed.scheme !== "https") {
      if (parsed.authority !== "") {
        return "a private-use scheme takes no authority: write scheme:/path";
      }
      if (
        clientHost !== undefined && reverseDnsMatch(clientHost, parsed.scheme)
      ) {
        return undefined;
      }
      return "a private-use scheme must be the client_uri's host in reverse";
    }
  }
  if (LOOPBACK_HOSTS.includes(parsed.host) || parsed.host === "0.0.0.0") {
    return applicationType === "native"
      ? "a loopback redirect URI uses http, and no port"
      : "web clients cannot redirect to a loopback address";
  }
  if (parsed.scheme !== "https") {
    return applicationType === "native"
      ? "native clients: https on the client_uri's host, a private-use scheme, or http on a loopback address"
      : "web clients: https on the client_uri's host or a subdomain";
  }
  return "not on the client_uri's host or a subdomain of it";
}

/**
 * Whether `uri` is one of `registered`, as MAS's `uri_matches_one_of`: on a
 * loopback host, without its port too.
 */
function matchesOneOf(uri: string, registered: string[]): boolean {
  if (registered.includes(uri)) return true;
  const url = new URL(uri);
  if (url.protocol === "http:" && LOOPBACK_HOSTS.includes(url.hostname)) {
    url.port = "";
    return registered.includes(url.href);
  }
  return false;
}

/** The registration answer: `client_id` and the metadata kept. */
function describe(client: OAuthClient): Record<string, unknown> {
  const answer: Record<string, unknown> = {
    client_id: client.clientId,
    client_id_issued_at: ulidSeconds(client.clientId),
    redirect_uris: client.redirectUris,
    grant_types: client.grantTypes,
  };
  if (client.applicationType !== undefined) {
    answer.application_type = client.applicationType;
  }
  if (client.clientName !== undefined) answer.client_name = client.clientName;
  if (client.logoUri !== undefined) answer.logo_uri = client.logoUri;
  answer.client_uri = client.clientUri;
  if (client.policyUri !== undefined) answer.policy_uri = client.policyUri;
  if (client.tosUri !== undefined) answer.tos_uri = client.tosUri;
  answer.token_endpoint_auth_method = "none";
  return answer;
}
