/**
 * The development homeserver's saved state, {@linkcode HomeserverState}: what
 * `Homeserver.exportState` gives and the `state` option takes back (users,
 * devices and tokens, as `state_file.ts` keeps them in a file), and
 * {@linkcode parseState}, which checks one read back before it is used.
 *
 * @module
 */
import { isObject } from "./http.ts";

/**
 * What survives a restart: users, devices (with their display names and
 * when and from where they were last seen), access, refresh and login tokens
 * (and the random generator's position, so that a seeded server does not
 * hand out the same tokens again), and in the OAuth 2.0 modes the registered
 * clients, their sessions and refresh tokens (`oauth`, absent when there are
 * none). CAS tickets, user-interactive authentication sessions,
 * authorisation codes, device codes and single sign-on logins are
 * short-lived and not kept. It holds secrets: store it where only its owner
 * can read it.
 */
export interface HomeserverState {
  format: "matrixlib-devserver-state";
  version: 1;
  users: StoredUser[];
  devices: {
    userId: string;
    deviceId: string;
    displayName?: string;
    lastSeenTs?: number;
    lastSeenIp?: string;
  }[];
  accessTokens: {
    token: string;
    userId: string;
    deviceId: string;
    expiresAt?: number;
    refreshToken?: string;
    used: boolean;
    kind?: "oauth" | "compat";
    sessionId?: string;
  }[];
  refreshTokens: {
    token: string;
    userId: string;
    deviceId: string;
    expiresAt?: number;
    accessToken: string;
    next?: string;
    refreshed: boolean;
    kind?: "compat";
  }[];
  loginTokens: { token: string; userId: string; expiresAt: number }[];
  /** OAuth 2.0 clients, sessions and refresh tokens, when there are any. */
  oauth?: {
    clients: {
      clientId: string;
      digest: string;
      applicationType?: "web" | "native";
      redirectUris: string[];
      grantTypes: string[];
      clientUri: string;
      clientName?: string;
      logoUri?: string;
      policyUri?: string;
      tosUri?: string;
    }[];
    sessions: {
      id: string;
      clientId: string;
      userId: string;
      deviceId: string;
      scope: string;
    }[];
    refreshTokens: {
      token: string;
      sessionId: string;
      accessToken: string;
      consumed: boolean;
      next?: string;
    }[];
  };
  /** The seeded random generator's position, when there is a seed. */
  random?: number;
}

/** A user as {@linkcode HomeserverState} keeps it. */
export interface StoredUser {
  localpart: string;
  /** Absent for users created by single sign-on. */
  password?: string;
  emails: string[];
  phones: string[];
  /** Whether the user has signed in through CAS (Synapse's external ID). */
  sso: boolean;
}

/**
 * `value` as a {@linkcode HomeserverState}, checked; throws a TypeError
 * naming the first thing wrong, so that a damaged file is reported, not
 * half read.
 */
export function parseState(value: unknown): HomeserverState {
  checkState(value);
  return value;
}

/**
 * Checks that `state` is a {@linkcode HomeserverState}; throws a TypeError
 * naming the first thing wrong.
 */
export function checkState(state: unknown): asserts state is HomeserverState {
  const fail = (what: string): never => {
    throw new TypeError(`Invalid homeserver state: ${what}`);
  };
  if (!isObject(state) || state.format !== "matrixlib-devserver-state") {
    fail('not a development homeserver state (no "format" marker)');
  }
  const s = state as Record<string, unknown>;
  if (s.version !== 1) fail(`version ${JSON.stringify(s.version)}, expected 1`);
  const list = (
    key: string,
    fields: Record<string, string>,
    from: Record<string, unknown> = s,
  ) => {
    const value = from[key];
    const name = from === s ? key : `oauth.${key}`;
    if (!Array.isArray(value)) fail(`${name} must be an array`);
    (value as unknown[]).forEach((item, i) => {
      if (!isObject(item)) fail(`${name}[${i}] must be an object`);
      for (const [field, type] of Object.entries(fields)) {
        const optional = type.endsWith("?");
        const v = (item as Record<string, unknown>)[field];
        if (optional && v === undefined) continue;
        const want = type.replace("?", "");
        const ok = want === "string[]"
          ? Array.isArray(v) && v.every((x) => typeof x === "string")
          : kindOf(v) === want;
        if (!ok) fail(`${name}[${i}].${field} must be ${want}`);
      }
    });
  };
  list("users", {
    localpart: "string",
    password: "string?",
    emails: "string[]",
    phones: "string[]",
    sso: "boolean",
  });
  const owner = { userId: "string", deviceId: "string" };
  list("devices", {
    ...owner,
    displayName: "string?",
    lastSeenTs: "number?",
    lastSeenIp: "string?",
  });
  list("accessTokens", {
    token: "string",
    ...owner,
    expiresAt: "number?",
    refreshToken: "string?",
    used: "boolean",
    kind: "string?",
    sessionId: "string?",
  });
  list("refreshTokens", {
    token: "string",
    ...owner,
    expiresAt: "number?",
    accessToken: "string",
    next: "string?",
    refreshed: "boolean",
    kind: "string?",
  });
  list("loginTokens", {
    token: "string",
    userId: "string",
    expiresAt: "number",
  });
  if (s.oauth !== undefined) {
    if (!isObject(s.oauth)) fail("oauth must be an object");
    const oauth = s.oauth as Record<string, unknown>;
    list("clients", {
      clientId: "string",
      digest: "string",
      applicationType: "string?",
      redirectUris: "string[]",
      grantTypes: "string[]",
      clientUri: "string",
      clientName: "string?",
      logoUri: "string?",
      policyUri: "string?",
      tosUri: "string?",
    }, oauth);
    list("sessions", {
      id: "string",
      clientId: "string",
      ...owner,
      scope: "string",
    }, oauth);
    list("refreshTokens", {
      token: "string",
      sessionId: "string",
      accessToken: "string",
      consumed: "boolean",
      next: "string?",
    }, oauth);
  }
  if (s.random !== undefined && typeof s.random !== "number") {
    fail("random must be a number");
  }
}

/** `typeof`, as a plain string to compare with a wanted kind. */
function kindOf(v: unknown): string {
  return typeof v;
}
