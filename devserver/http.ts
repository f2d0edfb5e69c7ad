/**
 * Requests and answers of the development homeserver: {@linkcode MatrixFailure}
 * (a Matrix error, thrown and turned into JSON), JSON answers with the
 * headers every answer carries, request bodies read up to a limit, query
 * strings encoded as Synapse's Python encodes them, redirects and the small
 * HTML pages of single sign-on.
 *
 * @module
 */

/** A Matrix error answer, thrown inside the handler and turned into JSON. */
export class MatrixFailure extends Error {
  /**
   * `bodyOnly`: the body is `extra` alone, for the user-interactive
   * authentication challenge, which has no `errcode` until a stage fails.
   */
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
    readonly bodyOnly = false,
  ) {
    super(message);
  }
}

/** The headers Synapse sends so that browsers may call it from any origin. */
export const CORS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers":
    "X-Requested-With, Content-Type, Authorization, Date",
  "Access-Control-Expose-Headers": "Synapse-Trace-Id, Server",
};

/**
 * A JSON answer with the headers every answer of this server carries (CORS,
 * no caching), for modules that answer beside it, such as `citadel.ts`.
 */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...CORS,
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, no-store, must-revalidate",
      ...headers,
    },
  });
}

/**
 * The request body, read up to one byte over `max` and no further: the bytes,
 * and whether there were more than `max`. `citadel.ts` reads bodies so too.
 */
export async function readCapped(
  request: Request,
  max: number,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; tooLarge: boolean }> {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  let tooLarge = false;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
      if (size > max) {
        tooLarge = true;
        await reader.cancel();
        break;
      }
    }
  }
  return {
    bytes: new Uint8Array(await new Blob(chunks).arrayBuffer()),
    tooLarge,
  };
}

/** The request body, read up to `max` bytes: `413 M_TOO_LARGE` beyond. */
export async function readBody(
  request: Request,
  max: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const { bytes, tooLarge } = await readCapped(request, max);
  if (tooLarge) {
    throw new MatrixFailure(413, "M_TOO_LARGE", "Request body too large");
  }
  return bytes;
}

/**
 * The request body as a JSON object, read up to `max` bytes. Synapse's
 * answers: `M_NOT_JSON` for text that is not JSON, `M_BAD_JSON` for JSON
 * that is not an object; `413 M_TOO_LARGE` for a body over the limit.
 */
export async function readJsonObject(
  request: Request,
  max: number,
): Promise<Record<string, unknown>> {
  const bytes = await readBody(request, max);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new MatrixFailure(400, "M_NOT_JSON", "Content not JSON.");
  }
  if (!isObject(value)) {
    throw new MatrixFailure(
      400,
      "M_BAD_JSON",
      "Content must be a JSON object.",
    );
  }
  return value;
}

/**
 * A query string as Python's `urllib.parse.urlencode` writes it (which is
 * what Synapse and the CAS stub use): spaces as `+`, and everything but
 * letters, digits and `_.-~` percent-encoded.
 */
export function formEncode(pairs: [string, string][]): string {
  const quote = (s: string) =>
    encodeURIComponent(s)
      .replace(/[!'()*]/g, (c) =>
        "%" + c.charCodeAt(0).toString(16).toUpperCase())
      .replaceAll("%20", "+");
  return pairs.map(([k, v]) => `${quote(k)}=${quote(v)}`).join("&");
}

/**
 * `url` with one more query parameter, the existing query kept (and
 * re-encoded), as Synapse adds `loginToken` to a client's `redirectUrl`.
 */
export function withQueryParameter(
  url: string,
  name: string,
  value: string,
): string {
  const hash = url.indexOf("#");
  const fragment = hash === -1 ? "" : url.slice(hash);
  const rest = hash === -1 ? url : url.slice(0, hash);
  const question = rest.indexOf("?");
  const base = question === -1 ? rest : rest.slice(0, question);
  const pairs: [string, string][] = question === -1
    ? []
    : [...new URLSearchParams(rest.slice(question + 1))];
  pairs.push([name, value]);
  return `${base}?${formEncode(pairs)}${fragment}`;
}

/** A query parameter, or `400 M_MISSING_PARAM` naming it. */
export function requiredQuery(url: URL, name: string): string {
  const value = url.searchParams.get(name);
  if (value === null) {
    throw new MatrixFailure(
      400,
      "M_MISSING_PARAM",
      `Missing string query parameter '${name}'`,
    );
  }
  return value;
}

/** A 302 to `location`; never cached, since it may carry a token. */
export function redirect(location: string): Response {
  return new Response(null, {
    status: 302,
    headers: { Location: location, "Cache-Control": "no-store" },
  });
}

/** `s` escaped for HTML text and attribute values (quotes too). */
export function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/**
 * A small HTML page; `body` is HTML, every value in it escaped by the
 * caller. Framing is forbidden, as on Synapse's pages, so that no other
 * site can overlay a login form.
 */
export function htmlResponse(
  status: number,
  title: string,
  body: string,
): Response {
  const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; }
label { display: block; margin: 0.8rem 0; }
input { display: block; width: 100%; padding: 0.4rem; box-sizing: border-box; }
button, .button { display: inline-block; padding: 0.5rem 1.2rem; background: #0b6e4f; color: #fff; border: 0; border-radius: 4px; text-decoration: none; }
.error { color: #a00; }
.note { color: #666; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
  return new Response(page, {
    status,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      "Content-Security-Policy": "frame-ancestors 'none'",
      "X-Frame-Options": "DENY",
    },
  });
}

/** `url` with a `/` added to its path when it lacks one. */
export function withSlash(url: string): string {
  const parsed = new URL(url);
  if (!parsed.pathname.endsWith("/")) parsed.pathname += "/";
  return parsed.href;
}

/** Whether `v` is a JSON object (not `null`, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
