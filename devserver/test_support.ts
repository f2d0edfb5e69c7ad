/**
 * Helpers shared by the development homeserver's tests (`server_test.ts`,
 * `sso_test.ts`, `citadel_test.ts`): a fake clock, one way to send a request
 * to a server's handler and read the answer, the check of a Matrix error,
 * and the check of an answer against the specification's schemas.
 *
 * The name does not end in `_test.ts`, so `deno test` does not run it as a
 * test file of its own.
 */
import assert from "node:assert/strict";
import type { SpecValidator } from "../scripts/spec/schemas.ts";
import type { Homeserver } from "./server.ts";

/** The base URL the tests' requests are sent to (and the servers' default). */
export const BASE = "http://localhost:8008";

/** A clock for the server's `clock` option that only moves when told to. */
export interface FakeClock {
  /** The current time, in milliseconds. */
  now: () => number;
  /** Moves the time forward by `ms` milliseconds. */
  advance(ms: number): void;
}

/** A fake clock that tests move forward, starting at `start` milliseconds. */
export function fakeClock(start = 1_000_000): FakeClock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** A server's answer to one request, read whole. */
export interface Answer {
  status: number;
  headers: Headers;
  /** The body as sent. */
  text: string;
  /** The JSON body, when the answer is JSON; `{}` otherwise. */
  body: Record<string, unknown>;
}

/** What {@linkcode call} sends, and what it requires of the answer. */
export interface CallOptions {
  /** A body sent as JSON, with `Content-Type: application/json`. */
  json?: unknown;
  /** A body sent as an HTML form (`application/x-www-form-urlencoded`). */
  form?: Record<string, string>;
  /** A body sent as it is, without a Content-Type (used without `json`, `form`). */
  raw?: string;
  /** An access token, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * Accept any answer (a redirect, an HTML page, XML): without it, the
   * answer must be JSON. Either way, a JSON answer must carry the CORS
   * header `Access-Control-Allow-Origin: *`.
   */
  anyContentType?: boolean;
}

/**
 * Sends one request to the server's handler and reads the answer; never
 * follows redirects. `target` is a path on {@linkcode BASE} or a whole URL.
 * Unless `options.anyContentType`, asserts that the answer is JSON; a JSON
 * answer must also allow every origin (CORS).
 */
export async function call(
  hs: Homeserver,
  method: string,
  target: string,
  options: CallOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) {
    headers.Authorization = `Bearer ${options.token}`;
  }
  let body: string | undefined = options.raw;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers["Content-Type"] = "application/json";
  } else if (options.form !== undefined) {
    body = new URLSearchParams(options.form).toString();
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  }
  const url = /^https?:/.test(target) ? target : BASE + target;
  const response = await hs.handler(
    new Request(url, { method, headers, body, redirect: "manual" }),
  );
  const text = await response.text();
  const isJson = response.headers.get("Content-Type") === "application/json";
  if (!options.anyContentType) {
    assert.equal(response.headers.get("Content-Type"), "application/json");
  }
  if (isJson) {
    assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  }
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: isJson ? JSON.parse(text) : {},
  };
}

/**
 * Asserts a Matrix error answer: the status, the `errcode`, and an `error`
 * message that is a string.
 */
export function assertError(
  answer: Answer,
  status: number,
  errcode: string,
): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.body.errcode, errcode);
  assert.equal(typeof answer.body.error, "string");
}

/**
 * Asserts that a JSON answer fits the specification's schema for that
 * method, path (the spec's, without a query string) and status. A status
 * the operation has no schema for (Synapse's 403 on refresh, say) is checked
 * against the standard error schema instead, the one the spec gives for a
 * 400 from `POST /login`; the result says so with `"undocumented"`, for the
 * caller to list. Throws, as `responseErrors` does, if no operation matches.
 */
export function assertFitsSpec(
  validator: SpecValidator,
  method: string,
  pathname: string,
  answer: Pick<Answer, "status" | "body">,
): "documented" | "undocumented" {
  let problems: string[];
  let result: "documented" | "undocumented" = "documented";
  try {
    problems = validator.responseErrors(
      method,
      pathname,
      answer.status,
      answer.body,
    );
  } catch (error) {
    if (!/has no JSON schema for a/.test((error as Error).message)) {
      throw error;
    }
    result = "undocumented";
    problems = validator.responseErrors(
      "POST",
      "/_matrix/client/v3/login",
      400,
      answer.body,
    );
  }
  assert.deepEqual(problems, [], `${method} ${pathname} ${answer.status}`);
  return result;
}
