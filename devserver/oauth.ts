/**
 * The OAuth 2.0 API of the development homeserver (spec v1.15 to v1.19:
 * MSC3861, MSC2964, MSC2965, MSC2966, MSC2967, MSC4254, MSC4191, MSC4341),
 * answering as matrix-authentication-service (MAS) does behind Synapse, as
 * on matrix.org ({@linkcode createOAuth}): the server metadata, and the
 * routes of client registration (`oauth_clients.ts`), the authorisation code
 * grant (`oauth_authorize.ts`), the device authorisation grant
 * (`oauth_device.ts`), the token endpoint, revocation (`oauth_sessions.ts`)
 * and the account page (`oauth_account.ts`). MAS lives at its own address
 * (`account.matrix.org`); here its endpoints are under the homeserver's base
 * URL, laid out as MAS lays them out.
 *
 * Server metadata (`GET /_matrix/client/v1/auth_metadata`, its unstable
 * MSC2965 path, and MAS's own `/.well-known/openid-configuration`): every
 * field the specification requires, and `device_authorization_endpoint`,
 * `account_management_uri` and `account_management_actions_supported`,
 * with Synapse's `Cache-Control: public, max-age=600, s-maxage=3600,
 * stale-while-revalidate=600` (`synapse/rest/client/auth_metadata.py`).
 * The `issuer` is the base URL. Listed are only what this server does:
 * `code` (MAS also `id_token`…), `query` and `fragment` (MAS also
 * `form_post`), `S256` (MAS also `plain`), `none` client authentication,
 * `prompt_values_supported: ["login"]` (no `create`: no account creation);
 * no `jwks_uri`, `userinfo_endpoint` or `introspection_endpoint`, since it
 * issues no ID tokens and the homeserver asks nobody about its tokens.
 * `GET /_matrix/client/unstable/org.matrix.msc2965/auth_issuer` gives the
 * `issuer`, as Synapse still does for older clients.
 *
 * The token endpoint (`POST /oauth2/token`, MAS's
 * `crates/handlers/src/oauth2/token.rs`), a form: a malformed form (no
 * `grant_type`, no `code` for the code grant, a parameter twice) is `400
 * invalid_request`; no `client_id`, `400 invalid_request` "No credentials
 * were presented"; an unknown client or a client secret, `401
 * invalid_client`; an unknown `grant_type`, `400 unsupported_grant_type`
 * (`client_credentials`, which MAS knows, `401 unauthorized_client`). Every
 * answer is `Cache-Control: no-store` (RFC 6749 §5.1).
 *
 * @module
 */
import type { Clients } from "./oauth_clients.ts";
import { createClients } from "./oauth_clients.ts";
import { type CodeExchange, createAuthorizations } from "./oauth_authorize.ts";
import { ACCOUNT_ACTIONS, createAccountPage } from "./oauth_account.ts";
import { createDeviceGrants, DEVICE_CODE_GRANT } from "./oauth_device.ts";
import {
  clientForm,
  NO_STORE,
  OAuthFailure,
  ULID_PATTERN,
} from "./oauth_http.ts";
import { createSessions } from "./oauth_sessions.ts";
import { jsonResponse } from "./http.ts";
import type { Route } from "./routes.ts";
import type { Store } from "./store.ts";
import type { Tokens } from "./tokens.ts";

/** The caching of the metadata, as Synapse's `auth_metadata.py` sends it. */
export const METADATA_CACHE_CONTROL =
  "public, max-age=600, s-maxage=3600, stale-while-revalidate=600";

/** What {@linkcode createOAuth} needs. */
export interface OAuthSettings {
  baseUrl: string;
  maxBodyBytes: number;
  /** How long an access token lives (MAS's `access_token_ttl`). */
  accessTokenLifetimeMs: number;
}

/** The OAuth 2.0 API: its routes, and the clients registered. */
export interface OAuth {
  routes: Route[];
  clients: Clients;
  /** The server metadata. */
  metadata(): Record<string, unknown>;
}

/** A token request's fields, by grant type. */
type TokenRequest =
  | ({ grantType: "authorization_code" } & CodeExchange)
  | { grantType: "refresh_token"; refreshToken: string }
  | { grantType: typeof DEVICE_CODE_GRANT; deviceCode: string }
  | { grantType: string };

/** The OAuth 2.0 API for the users of `store`, with the tokens of `tokens`. */
export function createOAuth(
  store: Store,
  tokens: Tokens,
  settings: OAuthSettings,
): OAuth {
  const { baseUrl, maxBodyBytes } = settings;
  const clients = createClients(store, maxBodyBytes);
  const sessions = createSessions(store, tokens, clients.get, settings);
  const authorizations = createAuthorizations(
    store,
    tokens,
    clients,
    sessions,
    settings,
  );
  const deviceGrants = createDeviceGrants(store, clients, sessions, settings);
  const account = createAccountPage(store, tokens, settings);

  function metadata(): Record<string, unknown> {
    return {
      issuer: baseUrl,
      authorization_endpoint: `${baseUrl}authorize`,
      token_endpoint: `${baseUrl}oauth2/token`,
      registration_endpoint: `${baseUrl}oauth2/registration`,
      response_types_supported: ["code"],
      response_modes_supported: ["query", "fragment"],
      grant_types_supported: [
        "authorization_code",
        "refresh_token",
        DEVICE_CODE_GRANT,
      ],
      token_endpoint_auth_methods_supported: ["none"],
      revocation_endpoint: `${baseUrl}oauth2/revoke`,
      revocation_endpoint_auth_methods_supported: ["none"],
      code_challenge_methods_supported: ["S256"],
      prompt_values_supported: ["login"],
      device_authorization_endpoint: `${baseUrl}oauth2/device`,
      account_management_uri: `${baseUrl}account/`,
      account_management_actions_supported: ACCOUNT_ACTIONS,
    };
  }

  /** The form of a token request, read as MAS's `AccessTokenRequest`. */
  function tokenFields(
    form: Parameters<Parameters<typeof clientForm>[2]>[0],
  ): TokenRequest {
    const grantType = form.require("grant_type");
    switch (grantType) {
      case "authorization_code": {
        const code = form.require("code");
        const redirectUri = form.get("redirect_uri");
        if (redirectUri !== undefined && !URL.canParse(redirectUri)) {
          throw new OAuthFailure(
            400,
            "invalid_request",
            "Failed to deserialize form body: redirect_uri is not a URL",
          );
        }
        return {
          grantType,
          code,
          redirectUri,
          codeVerifier: form.get("code_verifier"),
        };
      }
      case "refresh_token":
        return { grantType, refreshToken: form.require("refresh_token") };
      case DEVICE_CODE_GRANT:
        return { grantType, deviceCode: form.require("device_code") };
      default:
        return { grantType };
    }
  }

  async function token(request: Request): Promise<Response> {
    const { clientId, secretSent, fields } = await clientForm(
      request,
      maxBodyBytes,
      tokenFields,
    );
    const client = clients.get(clientId);
    if (client === undefined || secretSent) {
      throw new OAuthFailure(401, "invalid_client");
    }
    let answer: Record<string, unknown>;
    if ("code" in fields) {
      answer = await authorizations.exchange(client, fields);
    } else if ("refreshToken" in fields) {
      answer = sessions.refresh(client, fields.refreshToken);
    } else if ("deviceCode" in fields) {
      answer = deviceGrants.exchange(client, fields.deviceCode);
    } else if (fields.grantType === "client_credentials") {
      // Known to MAS, which no client registered here may use.
      throw new OAuthFailure(401, "unauthorized_client");
    } else {
      throw new OAuthFailure(400, "unsupported_grant_type");
    }
    return jsonResponse(200, answer, NO_STORE);
  }

  const ulidRoute = (prefix: string) =>
    new RegExp(`^\\/${prefix}\\/(${ULID_PATTERN})$`);
  const metadataAnswer = () =>
    jsonResponse(200, metadata(), { "Cache-Control": METADATA_CACHE_CONTROL });

  const routes: Route[] = [
    {
      method: "GET",
      pattern:
        /^\/_matrix\/client\/(v1|unstable\/org\.matrix\.msc2965)\/auth_metadata$/,
      run: metadataAnswer,
    },
    {
      method: "GET",
      pattern: /^\/\.well-known\/openid-configuration$/,
      run: metadataAnswer,
    },
    {
      method: "GET",
      pattern:
        /^\/_matrix\/client\/unstable\/org\.matrix\.msc2965\/auth_issuer$/,
      run: () =>
        jsonResponse(200, { issuer: baseUrl }, {
          "Cache-Control": METADATA_CACHE_CONTROL,
        }),
    },
    {
      method: "POST",
      pattern: /^\/oauth2\/registration$/,
      run: (request) => clients.register(request),
    },
    {
      method: "GET",
      pattern: /^\/authorize$/,
      run: (_request, url) => authorizations.authorize(url),
    },
    {
      method: "GET",
      pattern: ulidRoute("consent"),
      run: (_request, _url, match) => authorizations.consentPage(match[1]),
    },
    {
      method: "POST",
      pattern: ulidRoute("consent"),
      run: (request, _url, match) =>
        authorizations.consentSubmit(request, match[1]),
    },
    {
      method: "POST",
      pattern: /^\/oauth2\/token$/,
      run: (request) => token(request),
    },
    {
      method: "POST",
      pattern: /^\/oauth2\/revoke$/,
      run: (request) => sessions.revoke(request),
    },
    {
      method: "POST",
      pattern: /^\/oauth2\/device$/,
      run: (request) => deviceGrants.authorize(request),
    },
    {
      method: "GET",
      pattern: /^\/link$/,
      run: (_request, url) => deviceGrants.linkPage(url),
    },
    {
      method: "POST",
      pattern: /^\/link$/,
      run: (request) => deviceGrants.linkSubmit(request),
    },
    {
      method: "GET",
      pattern: ulidRoute("device"),
      run: (_request, _url, match) => deviceGrants.consentPage(match[1]),
    },
    {
      method: "POST",
      pattern: ulidRoute("device"),
      run: (request, _url, match) =>
        deviceGrants.consentSubmit(request, match[1]),
    },
    {
      method: "GET",
      pattern: /^\/account\/?$/,
      run: (_request, url) => account.show(url),
    },
    {
      method: "POST",
      pattern: /^\/account\/?$/,
      run: (request) => account.submit(request),
    },
  ];

  return { routes, clients, metadata };
}
