/**
 * Login of the development homeserver ({@linkcode createLogin}):
 * `POST /login` with a password (the user named by `m.id.user`, the
 * deprecated top-level `user`, `m.id.thirdparty` or `m.id.phone`) or a login
 * token, in the order Synapse reads a request, with its errors, and the
 * answer of a successful login (the device, the tokens, `well_known`). The
 * password check is shared with user-interactive authentication.
 *
 * @module
 */
import { isObject, MatrixFailure } from "./http.ts";
import { ADDRESS, type RateLimits } from "./rate_limits.ts";
import { type Device, LETTERS, type Store, type User } from "./store.ts";
import type { Tokens } from "./tokens.ts";

/**
 * Country calling codes for `m.id.phone`, for a few countries. Synapse uses
 * the `phonenumbers` library; this table is enough for examples and tests.
 * Countries in the North American plan have no trunk prefix to drop.
 */
const CALLING_CODES: Record<string, string> = {
  US: "1",
  CA: "1",
  GB: "44",
  DE: "49",
  FR: "33",
  NL: "31",
  BE: "32",
  ES: "34",
  IT: "39",
  CH: "41",
  AT: "43",
  SE: "46",
  NO: "47",
  DK: "45",
  PL: "48",
  IE: "353",
  AU: "61",
  JP: "81",
};

/** Password and login-token login. */
export interface Login {
  /** `POST /login`: a password or a login token, checked; the answer. */
  login(body: Record<string, unknown>): Record<string, unknown>;
  /**
   * The user a password login (or a password stage of user-interactive
   * authentication) names, once its password is checked: 403 when the user
   * is unknown, has no password or gave the wrong one. `rateLimited: false`
   * leaves the failed-login limit (`rc_login.failed_attempts`) alone, as
   * Synapse's user-interactive authentication does.
   */
  checkPassword(body: Record<string, unknown>, rateLimited?: boolean): User;
  /**
   * Throws what Synapse answers to a login `type` it does not know, after
   * reading the identifier (whose errors come first): `400 M_UNKNOWN`
   * "Unknown login type …".
   */
  unknownLoginType(body: Record<string, unknown>, type: string): never;
}

/**
 * Login for the users of `store`, issuing with `tokens`, limited by
 * `limits`; `baseUrl` goes into `well_known`.
 */
export function createLogin(
  store: Store,
  tokens: Tokens,
  limits: RateLimits,
  baseUrl: string,
): Login {
  const { serverName, users, devices, randomString } = store;
  const { consumeLoginToken, endDevice, issue } = tokens;
  const { limiter, addressLimiter, accountLimiter } = limits;

  /** The user a password login names, or why the request is malformed. */
  function loginUser(body: Record<string, unknown>): {
    userId?: string;
    limitKey: string;
  } {
    // As Synapse's convert_client_dict_legacy_fields_to_identifier: the
    // deprecated top-level `user`, or `medium` and `address`, win over
    // `identifier`.
    let identifier: unknown = body.identifier;
    if (typeof body.user === "string" && body.user !== "") {
      identifier = { type: "m.id.user", user: body.user };
    }
    if (
      typeof body.medium === "string" && body.medium !== "" &&
      typeof body.address === "string" && body.address !== ""
    ) {
      identifier = {
        type: "m.id.thirdparty",
        medium: body.medium,
        address: body.address,
      };
    }
    if (
      identifier === undefined || identifier === null || identifier === "" ||
      (isObject(identifier) && Object.keys(identifier).length === 0)
    ) {
      throw new MatrixFailure(
        400,
        "M_INVALID_PARAM",
        "Invalid login submission",
      );
    }
    if (!isObject(identifier) || !("type" in identifier)) {
      throw new MatrixFailure(
        400,
        "M_MISSING_PARAM",
        "'identifier' dict has no key 'type'",
      );
    }
    switch (identifier.type) {
      case "m.id.user": {
        const user = identifier.user;
        if (typeof user !== "string" || user === "") {
          throw new MatrixFailure(
            400,
            "M_UNKNOWN",
            "User identifier is missing 'user' key",
          );
        }
        const userId = (user.startsWith("@") ? user : `@${user}:${serverName}`)
          .toLowerCase();
        return {
          userId: users.has(userId) ? userId : undefined,
          limitKey: `user ${userId}`,
        };
      }
      case "m.id.thirdparty": {
        const { medium, address } = identifier;
        if (typeof medium !== "string" || typeof address !== "string") {
          throw new MatrixFailure(
            400,
            "M_UNKNOWN",
            "Invalid thirdparty identifier",
          );
        }
        return byThirdParty(medium, address);
      }
      case "m.id.phone": {
        // The specification's key is `phone`; Synapse reads `number`.
        const country = identifier.country;
        const phone = identifier.phone ?? identifier.number;
        if (typeof country !== "string" || typeof phone !== "string") {
          throw new MatrixFailure(
            400,
            "M_INVALID_PARAM",
            "Invalid phone-type identifier",
          );
        }
        return byThirdParty("msisdn", msisdnOf(country, phone));
      }
      default:
        throw new MatrixFailure(
          400,
          "M_UNKNOWN",
          "Unknown login identifier type",
        );
    }
  }

  /**
   * The user with a third-party ID (`email` or `msisdn`), and the key its
   * failed logins are counted under.
   */
  function byThirdParty(
    medium: string,
    address: string,
  ): { userId?: string; limitKey: string } {
    let canonical = address.trim();
    let key: "emails" | "phones" | undefined;
    if (medium === "email") {
      canonical = canonical.toLowerCase();
      key = "emails";
    } else if (medium === "msisdn") {
      canonical = canonical.replace(/\D/g, "");
      key = "phones";
    }
    const limitKey = `3pid ${medium} ${canonical}`;
    if (key === undefined) return { limitKey };
    for (const user of users.values()) {
      if (user[key].has(canonical)) return { userId: user.userId, limitKey };
    }
    return { limitKey };
  }

  /** A phone number of `m.id.phone` as an MSISDN: digits only, with the country code. */
  function msisdnOf(country: string, phone: string): string {
    const trimmed = phone.trim();
    const digits = trimmed.replace(/\D/g, "");
    if (trimmed.startsWith("+")) return digits;
    const code = CALLING_CODES[country.toUpperCase()];
    if (code === undefined || digits === "") {
      throw new MatrixFailure(
        400,
        "M_INVALID_PARAM",
        "Unable to parse phone number",
      );
    }
    return code + (code === "1" ? digits : digits.replace(/^0/, ""));
  }

  /** `POST /login`: a password or a login token, checked; the answer. */
  function login(body: Record<string, unknown>): Record<string, unknown> {
    // Synapse counts every attempt from an address before reading it; an
    // attempt refused here is not counted.
    addressLimiter?.check(ADDRESS);
    addressLimiter?.record(ADDRESS);
    const type = body.type;
    if (typeof type !== "string") {
      throw new MatrixFailure(400, "M_INVALID_PARAM", "Bad parameter: type");
    }
    if (type === "m.login.token") {
      return completeLogin(consumeLoginToken(body.token), body);
    }
    if (type !== "m.login.password") unknownLoginType(body, type);
    return completeLogin(checkPassword(body), body);
  }

  /** An unknown login type: the identifier's errors first, as on Synapse. */
  function unknownLoginType(
    body: Record<string, unknown>,
    type: string,
  ): never {
    loginUser(body);
    throw new MatrixFailure(400, "M_UNKNOWN", `Unknown login type ${type}`);
  }

  /**
   * The user a password login (or a password stage of user-interactive
   * authentication) names, once its password is checked: 403 when the user
   * is unknown, has no password or gave the wrong one. `rateLimited: false`
   * (user-interactive authentication) neither checks nor counts failures.
   */
  function checkPassword(
    body: Record<string, unknown>,
    rateLimited = true,
  ): User {
    // Synapse checks the password's type before it reads the identifier.
    if (typeof body.password !== "string") {
      throw new MatrixFailure(
        400,
        "M_INVALID_PARAM",
        "Bad parameter: password",
      );
    }
    const { userId, limitKey } = loginUser(body);
    const failures = rateLimited ? limiter : undefined;
    failures?.check(limitKey);
    const user = userId === undefined ? undefined : users.get(userId);
    if (
      !user || user.password === undefined || user.password !== body.password
    ) {
      failures?.record(limitKey);
      throw new MatrixFailure(
        403,
        "M_FORBIDDEN",
        "Invalid username or password",
      );
    }
    return user;
  }

  /**
   * A successful login's answer: the device (`device_id`,
   * `initial_device_display_name`) and tokens (`refresh_token`), the same
   * for every login type.
   */
  function completeLogin(
    user: User,
    body: Record<string, unknown>,
  ): Record<string, unknown> {
    const requested = body.device_id;
    if (requested !== undefined && typeof requested !== "string") {
      throw new MatrixFailure(400, "M_INVALID_PARAM", "Invalid device_id");
    }
    // Synapse counts successful logins per account once the user is known.
    accountLimiter?.check(user.userId);
    accountLimiter?.record(user.userId);
    const deviceId = requested || randomString(LETTERS, 10);
    // The specification: logging in as an existing device ends its old tokens.
    const existing = devices.get(`${user.userId}|${deviceId}`);
    endDevice(user.userId, deviceId);
    const device: Device = { userId: user.userId, deviceId };
    const displayName = existing
      ? existing.displayName
      : body.initial_device_display_name;
    if (typeof displayName === "string") device.displayName = displayName;
    devices.set(`${user.userId}|${deviceId}`, device);
    const { access, refresh, expiresInMs } = issue(
      user.userId,
      deviceId,
      body.refresh_token === true,
    );
    const answer: Record<string, unknown> = {
      user_id: user.userId,
      access_token: access.token,
      home_server: serverName,
      device_id: deviceId,
      well_known: { "m.homeserver": { base_url: baseUrl } },
    };
    if (refresh) {
      answer.refresh_token = refresh.token;
      answer.expires_in_ms = expiresInMs;
    }
    return answer;
  }

  return { login, checkPassword, unknownLoginType };
}
