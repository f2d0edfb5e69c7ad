/**
 * The development homeserver's store: its users, devices and access, refresh
 * and login tokens, and in its OAuth 2.0 modes the registered clients and
 * their sessions, in memory ({@linkcode createStore}); the random source
 * its tokens and IDs come from (seeded, for reproducible transcripts, or
 * from `crypto`); reading a saved {@linkcode HomeserverState} in and writing
 * one out; and the note of changes that `onChange` reports once a request is
 * answered.
 *
 * @module
 */
import { checkState, type HomeserverState, type StoredUser } from "./state.ts";

/** A user to create. */
export interface UserSpec {
  /** The localpart, such as `"alice"`; stored in lower case. */
  localpart: string;
  /** The password. */
  password: string;
  /** Email addresses the user can log in with (compared ignoring case). */
  emails?: string[];
  /**
   * Phone numbers the user can log in with, as MSISDNs: the international
   * number in digits, without `+`, such as `"491711234567"`.
   */
  phones?: string[];
}

/** A user of the homeserver. */
export interface User {
  userId: string;
  localpart: string;
  /** Absent for users created by single sign-on: no password login. */
  password?: string;
  emails: Set<string>;
  phones: Set<string>;
  /** Whether the user has signed in through CAS. */
  sso: boolean;
  /**
   * Whether an administrator has locked the account (Synapse's admin API,
   * `{"locked": true}`). Kept in memory only, not in a state file.
   */
  locked?: boolean;
}

/**
 * A device of a user: made by a login, ended by a logout or a deletion
 * (`devices.ts`).
 */
export interface Device {
  userId: string;
  deviceId: string;
  displayName?: string;
  /**
   * When and from where one of its access tokens was last used (Synapse's
   * `last_seen_ts` and `last_seen_ip`); absent until then.
   */
  lastSeenTs?: number;
  lastSeenIp?: string;
}

/**
 * Who issued a token: absent for the legacy API as Synapse answers it,
 * `"oauth"` for the OAuth 2.0 API and `"compat"` for the compatibility
 * layer of matrix-authentication-service (MAS), in the OAuth 2.0 modes.
 */
export type TokenKind = "oauth" | "compat";

/** An access token, and the device it belongs to. */
export interface AccessToken {
  token: string;
  userId: string;
  deviceId: string;
  expiresAt?: number;
  /** The refresh token issued with it, if any. */
  refreshToken?: string;
  /** Whether it has authenticated a request. */
  used: boolean;
  /** Absent for a legacy token. */
  kind?: TokenKind;
  /** The OAuth 2.0 session it belongs to (`kind: "oauth"`). */
  sessionId?: string;
}

/** A refresh token, and the access token issued with it. */
export interface RefreshToken {
  token: string;
  userId: string;
  deviceId: string;
  expiresAt?: number;
  /** The access token issued with it. */
  accessToken: string;
  /** The refresh token that refreshing this one gave, if any. */
  next?: string;
  /** Whether it has been used to refresh. */
  refreshed: boolean;
  /** `"compat"` for MAS's compatibility layer; absent for the legacy API. */
  kind?: "compat";
}

/**
 * A client registered through OAuth 2.0 dynamic client registration
 * (`oauth_clients.ts`): a public client (`token_endpoint_auth_method:
 * none`), as MAS stores one.
 */
export interface OAuthClient {
  clientId: string;
  /** The digest of its metadata: the same metadata gives the same client. */
  digest: string;
  applicationType?: "web" | "native";
  redirectUris: string[];
  grantTypes: string[];
  clientUri: string;
  clientName?: string;
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
}

/**
 * An OAuth 2.0 session: a user's authorisation of a client for a scope,
 * with the device of its device scope; its tokens are in `accessTokens`
 * (`kind: "oauth"`) and `oauthRefreshTokens`. A finished session is removed.
 */
export interface OAuthSession {
  id: string;
  clientId: string;
  userId: string;
  deviceId: string;
  /** The scope, its tokens sorted and space-separated, as MAS keeps it. */
  scope: string;
}

/**
 * An OAuth 2.0 refresh token. Refreshing consumes it and records the pair
 * it gave (`next`), so that a lost answer can be retried (MAS's
 * `refresh_token_grant`).
 */
export interface OAuthRefreshToken {
  token: string;
  sessionId: string;
  /** The access token issued with it. */
  accessToken: string;
  /** Whether it has been used to refresh. */
  consumed: boolean;
  /** The refresh token its last refresh gave. */
  next?: string;
}

/** A single-use token for `m.login.token`. */
export interface LoginToken {
  token: string;
  userId: string;
  expiresAt: number;
}

/** A source of random integers, and its position when seeded. */
export interface RandomSource {
  /** A random integer below `n`. */
  below(n: number): number;
  /** The seeded generator's position, or `undefined` without a seed. */
  position(): number | undefined;
  /** Moves a seeded generator to a saved position. */
  restore(position: number): void;
}

/** Random integers below `n`: seeded (mulberry32) or from `crypto`. */
export function randomSource(seed: number | undefined): RandomSource {
  if (seed === undefined) {
    return {
      below(n) {
        const word = new Uint32Array(1);
        crypto.getRandomValues(word);
        return word[0] % n;
      },
      position: () => undefined,
      restore() {},
    };
  }
  let state = seed >>> 0;
  return {
    below(n) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const value = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      return Math.floor(value * n);
    },
    position: () => state,
    restore(position) {
      state = position >>> 0;
    },
  };
}

/** The letters of device IDs. */
export const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** The characters of tokens, tickets and session IDs. */
export const ALNUM =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** The options {@linkcode createStore} reads (see `HomeserverOptions`). */
export interface StoreOptions {
  /** Users to create at the start. */
  users?: UserSpec[];
  /** Users, devices and tokens to start from. */
  state?: HomeserverState;
  /** A seed for tokens and device IDs. */
  seed?: number;
  /** Called after a request changed users, devices or tokens. */
  onChange?: () => void;
}

/** A user to add: a {@linkcode UserSpec}, or one made by single sign-on. */
export type NewUser = Omit<UserSpec, "password"> & {
  password?: string;
  sso?: boolean;
};

/** Users, devices and tokens in memory, and what changes them. */
export interface Store {
  /** The server name in user IDs. */
  readonly serverName: string;
  /** Where the time comes from (ms since the epoch). */
  readonly clock: () => number;
  /** The users, by user ID. */
  readonly users: Map<string, User>;
  /** The devices, by `userId + "|" + deviceId`. */
  readonly devices: Map<string, Device>;
  /** The access tokens, by token. */
  readonly accessTokens: Map<string, AccessToken>;
  /** The refresh tokens, by token. */
  readonly refreshTokens: Map<string, RefreshToken>;
  /** The login tokens, by token. */
  readonly loginTokens: Map<string, LoginToken>;
  /** The OAuth 2.0 clients, by client ID. */
  readonly oauthClients: Map<string, OAuthClient>;
  /** The OAuth 2.0 sessions, by ID. */
  readonly oauthSessions: Map<string, OAuthSession>;
  /** The OAuth 2.0 refresh tokens, by token. */
  readonly oauthRefreshTokens: Map<string, OAuthRefreshToken>;
  /** `length` characters of `alphabet`, drawn at random. */
  randomString(alphabet: string, length: number): string;
  /** Notes a change to users, devices or tokens, for `onChange`. */
  changed(): void;
  /** Calls `onChange` once if anything changed since the last call. */
  reportChanges(): void;
  /**
   * Adds a user (a password of `undefined` is a user made by SSO); returns
   * its user ID. Throws if the localpart is invalid or the user exists.
   */
  createUser(spec: NewUser): string;
  /** The users, devices and tokens, as {@linkcode HomeserverState}. */
  exportState(): HomeserverState;
}

/**
 * A store with the users and state that `options` give (what they give is
 * not a change to report).
 */
export function createStore(
  options: StoreOptions,
  serverName: string,
  clock: () => number,
): Store {
  const random = randomSource(options.seed);
  const users = new Map<string, User>();
  const devices = new Map<string, Device>(); // key: userId + "|" + deviceId
  const accessTokens = new Map<string, AccessToken>();
  const refreshTokens = new Map<string, RefreshToken>();
  const loginTokens = new Map<string, LoginToken>();
  const oauthClients = new Map<string, OAuthClient>();
  const oauthSessions = new Map<string, OAuthSession>();
  const oauthRefreshTokens = new Map<string, OAuthRefreshToken>();

  // Set by every change to users, devices or tokens; reported once the
  // request is answered (`handler` in server.ts), so `onChange` runs once per
  // request.
  let dirty = false;
  const changed = (): void => {
    dirty = true;
  };
  function reportChanges(): void {
    if (!dirty) return;
    dirty = false;
    options.onChange?.();
  }

  /** `length` characters of `alphabet`, drawn at random. */
  function randomString(alphabet: string, length: number): string {
    let s = "";
    for (let i = 0; i < length; i++) {
      s += alphabet[random.below(alphabet.length)];
    }
    return s;
  }

  /** Adds a user (a password of `undefined` is a user made by SSO). */
  function createUser(spec: NewUser): string {
    const localpart = spec.localpart.toLowerCase();
    if (!/^[a-z0-9._=\-/+]+$/.test(localpart)) {
      throw new TypeError(
        `Invalid localpart ${JSON.stringify(spec.localpart)}`,
      );
    }
    const userId = `@${localpart}:${serverName}`;
    if (users.has(userId)) throw new Error(`${userId} exists already`);
    const user: User = {
      userId,
      localpart,
      emails: new Set((spec.emails ?? []).map((e) => e.trim().toLowerCase())),
      phones: new Set((spec.phones ?? []).map((p) => p.replace(/\D/g, ""))),
      sso: spec.sso ?? false,
    };
    if (spec.password !== undefined) user.password = spec.password;
    users.set(userId, user);
    changed();
    return userId;
  }

  /** Reads a saved state in; throws a TypeError naming what is wrong. */
  function importState(state: HomeserverState): void {
    checkState(state);
    for (const u of state.users) createUser(u);
    for (const d of state.devices) {
      devices.set(`${d.userId}|${d.deviceId}`, { ...d });
    }
    for (const t of state.accessTokens) accessTokens.set(t.token, { ...t });
    for (const t of state.refreshTokens) refreshTokens.set(t.token, { ...t });
    for (const t of state.loginTokens) loginTokens.set(t.token, { ...t });
    for (const c of state.oauth?.clients ?? []) {
      oauthClients.set(c.clientId, {
        ...c,
        redirectUris: [...c.redirectUris],
        grantTypes: [...c.grantTypes],
      });
    }
    for (const o of state.oauth?.sessions ?? []) {
      oauthSessions.set(o.id, { ...o });
    }
    for (const t of state.oauth?.refreshTokens ?? []) {
      oauthRefreshTokens.set(t.token, { ...t });
    }
    if (state.random !== undefined) random.restore(state.random);
  }

  /** The users, devices and tokens, as {@linkcode HomeserverState}. */
  function exportState(): HomeserverState {
    const state: HomeserverState = {
      format: "matrixlib-devserver-state",
      version: 1,
      users: [...users.values()].map((u) => {
        const stored: StoredUser = {
          localpart: u.localpart,
          emails: [...u.emails],
          phones: [...u.phones],
          sso: u.sso,
        };
        if (u.password !== undefined) stored.password = u.password;
        return stored;
      }),
      devices: [...devices.values()].map((d) => ({ ...d })),
      accessTokens: [...accessTokens.values()].map((t) => ({ ...t })),
      refreshTokens: [...refreshTokens.values()].map((t) => ({ ...t })),
      // Spent and expired login tokens are useless; leave them out.
      loginTokens: [...loginTokens.values()]
        .filter((t) => t.expiresAt > clock())
        .map((t) => ({ ...t })),
    };
    if (oauthClients.size > 0 || oauthSessions.size > 0) {
      state.oauth = {
        clients: [...oauthClients.values()].map((c) => ({
          ...c,
          redirectUris: [...c.redirectUris],
          grantTypes: [...c.grantTypes],
        })),
        sessions: [...oauthSessions.values()].map((o) => ({ ...o })),
        refreshTokens: [...oauthRefreshTokens.values()].map((t) => ({ ...t })),
      };
    }
    const position = random.position();
    if (position !== undefined) state.random = position;
    return state;
  }

  if (options.state !== undefined) importState(options.state);
  for (const user of options.users ?? []) {
    const userId = `@${user.localpart.toLowerCase()}:${serverName}`;
    if (options.state === undefined || !users.has(userId)) createUser(user);
  }
  dirty = false; // what the options gave is not a change to report

  return {
    serverName,
    clock,
    users,
    devices,
    accessTokens,
    refreshTokens,
    loginTokens,
    oauthClients,
    oauthSessions,
    oauthRefreshTokens,
    randomString,
    changed,
    reportChanges,
    createUser,
    exportState,
  };
}
