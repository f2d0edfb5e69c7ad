/**
 * Routing of the development homeserver: a {@linkcode Route} (a method, a
 * path pattern, and what answers it), and {@linkcode respond}, which finds a
 * request's route (its path taken below the base URL's path) and turns
 * whatever goes wrong into the Matrix error answer (or, for the OAuth 2.0
 * endpoints, the OAuth 2.0 one: `{error, error_description}`), with the
 * request's {@linkcode RequestLogEntry}. The route table itself is in
 * `server.ts`.
 *
 * @module
 */
import { CORS, jsonResponse, MatrixFailure } from "./http.ts";
import { OAuthFailure } from "./oauth_http.ts";

/** One answered request, without secrets: no tokens, no passwords, no query. */
export interface RequestLogEntry {
  method: string;
  /** The URL path, without the query string. */
  path: string;
  status: number;
  /**
   * The Matrix error code, when the answer was an error; for an OAuth 2.0
   * endpoint, its `error` (such as `invalid_grant`).
   */
  errcode?: string;
  /**
   * `true` when the query string carried an `access_token` parameter (the
   * deprecated way to send the token); the token itself is never logged.
   */
  tokenInQuery?: true;
}

/** A route's `run` answers a JSON body, or a whole `Response`. */
export type Route = {
  method: string;
  pattern: RegExp;
  run: (
    request: Request,
    url: URL,
    match: RegExpExecArray,
  ) => Promise<unknown> | unknown;
};

/**
 * The answer of the route for `request`'s path (below `basePath`) and
 * method: `204` with CORS headers to `OPTIONS`, `404` or `405
 * M_UNRECOGNIZED` when no route matches.
 */
async function answer(
  routes: Route[],
  basePath: string,
  request: Request,
  url: URL,
): Promise<Response> {
  let path = url.pathname;
  if (basePath !== "/" && path.startsWith(basePath)) {
    path = path.slice(basePath.length - 1);
  }
  if (request.method === "OPTIONS") {
    return new Response(null, { status: 204, headers: CORS });
  }
  const matching = routes.filter((r) => r.pattern.test(path));
  if (matching.length === 0) {
    throw new MatrixFailure(404, "M_UNRECOGNIZED", "Unrecognized request");
  }
  const route = matching.find((r) => r.method === request.method);
  if (!route) {
    throw new MatrixFailure(405, "M_UNRECOGNIZED", "Unrecognized request");
  }
  const result = await route.run(request, url, route.pattern.exec(path)!);
  return result instanceof Response ? result : jsonResponse(200, result);
}

/**
 * Answers one request by its route; never throws: a `MatrixFailure` or an
 * `OAuthFailure` (or any other error, as `500 M_UNKNOWN`) becomes its JSON
 * answer. Returns the answer and the request's log entry.
 */
export async function respond(
  routes: Route[],
  basePath: string,
  request: Request,
): Promise<{ response: Response; entry: RequestLogEntry }> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    url = new URL("http://invalid/");
  }
  let response: Response;
  const entry: RequestLogEntry = {
    method: request.method,
    path: url.pathname,
    status: 0,
  };
  if (url.searchParams.has("access_token")) entry.tokenInQuery = true;
  try {
    response = await answer(routes, basePath, request, url);
  } catch (error) {
    if (error instanceof OAuthFailure) {
      response = jsonResponse(error.status, {
        error: error.error,
        error_description: error.description,
      }, error.headers);
      entry.errcode = error.error;
      entry.status = response.status;
      return { response, entry };
    }
    const failure = error instanceof MatrixFailure ? error : new MatrixFailure(
      500,
      "M_UNKNOWN",
      "Internal server error",
    );
    response = jsonResponse(
      failure.status,
      failure.bodyOnly ? failure.extra : {
        errcode: failure.errcode,
        error: failure.message,
        ...failure.extra,
      },
      failure.headers,
    );
    if (failure.errcode) entry.errcode = failure.errcode;
  }
  entry.status = response.status;
  return { response, entry };
}
