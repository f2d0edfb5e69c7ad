/**
 * Users on a real Synapse: registration through the shared-secret API
 * (`/_synapse/admin/v1/register`, an HMAC-SHA1 over the request) and
 * third-party IDs through the admin API (`PUT /_synapse/admin/v2/users/…`).
 *
 * @module
 */

/** The hexadecimal HMAC-SHA1 of `message` with `key`. */
export async function hmacSha1Hex(
  key: string,
  message: string,
): Promise<string> {
  const encoder = new TextEncoder();
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    cryptoKey,
    encoder.encode(message),
  );
  return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * The `mac` of a shared-secret registration, as Synapse computes it:
 * HMAC-SHA1 over `nonce NUL username NUL password NUL admin|notadmin`.
 */
export function registrationMac(
  secret: string,
  fields: { nonce: string; username: string; password: string; admin: boolean },
): Promise<string> {
  return hmacSha1Hex(
    secret,
    [
      fields.nonce,
      fields.username,
      fields.password,
      fields.admin ? "admin" : "notadmin",
    ].join("\0"),
  );
}

/** Where a harness-made user lives. */
export interface Homeserver {
  /** The base URL, such as `http://localhost:8008`. */
  url: string;
  /** Synapse's `registration_shared_secret`. */
  registrationSecret: string;
  fetch?: typeof fetch;
}

/** A registered user (the access token is a secret: never print it). */
export interface RegisteredUser {
  userId: string;
  localpart: string;
  password: string;
  accessToken: string;
}

/** A random suffix, so that runs against one server do not collide. */
export function uniqueName(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return `${prefix}_${
    Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

async function answer(
  response: Response,
  what: string,
): Promise<Record<string, unknown>> {
  const text = await response.text();
  if (!response.ok) {
    // The body holds an errcode and message, never the password or mac.
    throw new Error(`${what}: HTTP ${response.status} ${text.slice(0, 200)}`);
  }
  return JSON.parse(text);
}

/** Registers `localpart` with `password` through the shared-secret API. */
export async function registerUser(
  hs: Homeserver,
  localpart: string,
  password: string,
  options: { admin?: boolean } = {},
): Promise<RegisteredUser> {
  const doFetch = hs.fetch ?? fetch;
  const endpoint = `${hs.url}/_synapse/admin/v1/register`;
  const { nonce } = await answer(
    await doFetch(endpoint),
    "shared-secret registration nonce",
  ) as { nonce: string };
  const admin = options.admin ?? false;
  const mac = await registrationMac(hs.registrationSecret, {
    nonce,
    username: localpart,
    password,
    admin,
  });
  const body = await answer(
    await doFetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        nonce,
        username: localpart,
        password,
        admin,
        mac,
        inhibit_login: false,
      }),
    }),
    `registering ${localpart}`,
  );
  return {
    userId: body.user_id as string,
    localpart,
    password,
    accessToken: body.access_token as string,
  };
}

/** A third-party ID: an email address or a phone number (`msisdn`). */
export interface ThreePid {
  medium: "email" | "msisdn";
  address: string;
}

/** Gives `userId` these third-party IDs, with an admin's access token. */
export async function setThreePids(
  hs: Homeserver,
  adminToken: string,
  userId: string,
  threepids: ThreePid[],
): Promise<void> {
  const doFetch = hs.fetch ?? fetch;
  await answer(
    await doFetch(
      `${hs.url}/_synapse/admin/v2/users/${encodeURIComponent(userId)}`,
      {
        method: "PUT",
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${adminToken}`,
        },
        body: JSON.stringify({ threepids: threepids }),
      },
    ),
    `setting the third-party IDs of ${userId}`,
  );
}

/**
 * Makes users on one Synapse: an admin once (for the admin API), then any
 * number of users with random names and passwords, with email addresses or
 * phone numbers if asked.
 */
export class UserFactory {
  #hs: Homeserver;
  #admin: Promise<RegisteredUser> | undefined;

  constructor(hs: Homeserver) {
    this.#hs = hs;
  }

  /** The admin (made on first use). */
  admin(): Promise<RegisteredUser> {
    this.#admin ??= registerUser(
      this.#hs,
      uniqueName("admin"),
      crypto.randomUUID(),
      { admin: true },
    );
    return this.#admin;
  }

  /** A new user named `{prefix}_{random}`, with a random password. */
  async user(
    prefix: string,
    threepids: ThreePid[] = [],
  ): Promise<RegisteredUser> {
    const user = await registerUser(
      this.#hs,
      uniqueName(prefix),
      crypto.randomUUID(),
    );
    if (threepids.length > 0) {
      const admin = await this.admin();
      await setThreePids(this.#hs, admin.accessToken, user.userId, threepids);
    }
    return user;
  }
}
