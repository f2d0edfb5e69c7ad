/**
 * The scope of an OAuth 2.0 authorisation ({@linkcode parseScope}): read as
 * MAS's `Scope` reads it (`crates/oauth2-types/src/scope.rs`: tokens of
 * RFC 6749 §3.3's `NQCHAR`, separated by single spaces, kept as a sorted
 * set), then checked with the rules of MAS's
 * `policies/authorization_grant/authorization_grant.rego`, whose messages
 * it gives, and with the specification's ("Device ID allocation": exactly
 * one device scope).
 *
 * @module
 */

/** The stable scope of the client-server API (MSC2967, spec v1.15). */
export const API_SCOPE = "urn:matrix:client:api:*";
/** Its unstable form, which MAS and matrix-rust-sdk still use. */
export const UNSTABLE_API_SCOPE = "urn:matrix:org.matrix.msc2967.client:api:*";
/** The prefix of a stable device scope. */
export const DEVICE_PREFIX = "urn:matrix:client:device:";
/** The prefix of an unstable device scope. */
export const UNSTABLE_DEVICE_PREFIX =
  "urn:matrix:org.matrix.msc2967.client:device:";

/**
 * A device ID in a device scope, as MAS's policy allows it: at least 10
 * characters of RFC 3986's unreserved and sub-delims, `:`, `@` and `/`. At
 * most 255, as Synapse's `mas.py` requires (it answers 500 beyond).
 */
const DEVICE_ID = /^[A-Za-z0-9._~!$&'()*+,;=:@/-]{10,255}$/;

/** Scope tokens MAS allows besides the Matrix ones (OpenID Connect's). */
const OTHER_ALLOWED = new Set(["openid", "email"]);

/** A scope that passed the checks. */
export interface MatrixScope {
  /** Its tokens, sorted, space-separated: what the token answer echoes. */
  scope: string;
  /** The device ID of its device scope. */
  deviceId: string;
}

/** Why a scope was refused: the messages of the rules it broke. */
export interface ScopeViolations {
  violations: string[];
}

/** RFC 6749 appendix A.4: `scope-token = 1*NQCHAR`. */
function isScopeToken(token: string): boolean {
  return /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(token);
}

/** The device ID of a device scope token, if it is one. */
function deviceOf(token: string): string | undefined {
  for (const prefix of [DEVICE_PREFIX, UNSTABLE_DEVICE_PREFIX]) {
    if (token.startsWith(prefix)) return token.slice(prefix.length);
  }
  return undefined;
}

/**
 * Reads and checks a requested scope. A malformed scope (an empty token,
 * two spaces in a row, a character outside `NQCHAR`) is one violation; a
 * well-formed scope is checked against every rule, and all the broken ones
 * are reported, as MAS's policy does.
 */
export function parseScope(
  raw: string | undefined,
): MatrixScope | ScopeViolations {
  if (raw === undefined) {
    return {
      violations: [
        `scope is required: ${API_SCOPE} and ${DEVICE_PREFIX}<device_id>`,
      ],
    };
  }
  const parts = raw.split(" ");
  if (!parts.every(isScopeToken)) {
    return {
      violations: [
        "the scope is malformed: scope tokens of RFC 6749 §3.3, each separated by one space",
      ],
    };
  }
  // MAS keeps the scope as a BTreeSet: sorted (by bytes), without repeats.
  const tokens = [...new Set(parts)].sort();
  const violations: string[] = [];
  for (const token of tokens) {
    const device = deviceOf(token);
    const allowed = OTHER_ALLOWED.has(token) || token === API_SCOPE ||
      token === UNSTABLE_API_SCOPE ||
      (device !== undefined && DEVICE_ID.test(device));
    if (!allowed) violations.push(`scope '${token}' not allowed`);
  }
  const stableDevices = tokens.filter((t) => t.startsWith(DEVICE_PREFIX));
  const unstableDevices = tokens.filter((t) =>
    t.startsWith(UNSTABLE_DEVICE_PREFIX)
  );
  if (stableDevices.length > 1 || unstableDevices.length > 1) {
    violations.push("only one device scope is allowed at a time");
  }
  const hasDevice = stableDevices.length + unstableDevices.length > 0;
  const hasApi = tokens.some((t) =>
    t.startsWith("urn:matrix:client:api:") ||
    t.startsWith("urn:matrix:org.matrix.msc2967.client:api:")
  );
  if (hasDevice && !hasApi) {
    violations.push(
      "device scopes are only allowed when the client-server API scope is requested",
    );
  }
  const stable = tokens.some((t) => t.startsWith("urn:matrix:client:"));
  const unstable = tokens.some((t) =>
    t.startsWith("urn:matrix:org.matrix.msc2967.client:")
  );
  if (stable && unstable) {
    violations.push("request cannot mix unstable and stable scopes");
  }
  // The specification's rules, which MAS leaves to the homeserver.
  if (!hasApi) {
    violations.push(
      `the client-server API scope ${API_SCOPE} is required to log in`,
    );
  } else if (!hasDevice) {
    violations.push(
      `exactly one device scope ${DEVICE_PREFIX}<device_id> is required`,
    );
  }
  if (violations.length > 0) return { violations };
  const deviceId = deviceOf([...stableDevices, ...unstableDevices][0])!;
  return { scope: tokens.join(" "), deviceId };
}
