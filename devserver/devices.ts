/**
 * Device management of the development homeserver ({@linkcode createDevices}),
 * answering as Synapse 1.160 does:
 *
 * - `GET /devices`: `{devices: [...]}`, sorted by device ID (by code point,
 *   as Synapse's SQLite returns them). Each entry has `user_id`,
 *   `device_id`, `display_name`, `last_seen_ts` and `last_seen_ip`; the last
 *   three are `null` when unknown (no name set; no request with one of its
 *   access tokens yet), where the specification says absent.
 * - `GET /devices/{deviceId}`: one entry; another user's or an unknown
 *   device: `404 M_NOT_FOUND` "Not found".
 * - `PUT /devices/{deviceId}` with `{display_name}`: `200 {}`. A name longer
 *   than 100 characters (code points) is `400 M_TOO_LARGE` "Device display
 *   name is too long (max 100)", checked before the device; a name that is
 *   not a string is `400 M_BAD_JSON`; an unknown device is `404
 *   M_NOT_FOUND`, except when `display_name` is absent or `null`: then
 *   nothing changes and the answer is `200 {}`, as on Synapse.
 * - `DELETE /devices/{deviceId}` and `POST /delete_devices` with
 *   `{devices: [...]}`: user-interactive authentication (`uia.ts`), then the
 *   devices end with their access and refresh tokens; unknown IDs are
 *   ignored; the device making the request may delete itself. A DELETE body
 *   that is not JSON counts as `{}`, as on Synapse. `devices` missing is
 *   `400 M_MISSING_PARAM`, not a list of strings `400 M_BAD_JSON`; an
 *   `auth` that is not an object, or whose `session` or `type` is not a
 *   string, `400 M_BAD_JSON`. These checks come before user-interactive
 *   authentication.
 *
 * Synapse reports malformed bodies in pydantic's words ("1 validation error
 * for PutBody…"); this server uses the same first lines, without the input's
 * Python repr and the link to pydantic's documentation.
 *
 * @module
 */
import { isObject, MatrixFailure, readJsonObject } from "./http.ts";
import type { Device, Store } from "./store.ts";
import type { Tokens } from "./tokens.ts";
import type { Uia } from "./uia.ts";

/** Synapse's `MAX_DEVICE_DISPLAY_NAME_LEN`, in characters (code points). */
export const MAX_DEVICE_DISPLAY_NAME_LENGTH = 100;

/** What {@linkcode createDevices} needs to know, defaults applied. */
export interface DeviceSettings {
  /** The largest request body accepted, in bytes. */
  maxBodyBytes: number;
}

/** The device management endpoints; each answers a JSON body or throws. */
export interface Devices {
  /** `GET /devices`. */
  list(request: Request, url: URL): Record<string, unknown>;
  /** `GET /devices/{deviceId}`. */
  get(request: Request, url: URL, deviceId: string): Record<string, unknown>;
  /** `PUT /devices/{deviceId}`. */
  update(
    request: Request,
    url: URL,
    deviceId: string,
  ): Promise<Record<string, unknown>>;
  /** `DELETE /devices/{deviceId}`. */
  remove(
    request: Request,
    url: URL,
    deviceId: string,
  ): Promise<Record<string, unknown>>;
  /** `POST /delete_devices`. */
  removeMany(request: Request, url: URL): Promise<Record<string, unknown>>;
}

/** One failed check of a request body, as pydantic reports it. */
interface FieldError {
  /** Where, such as `devices.1`. */
  loc: string;
  /** pydantic's error type, such as `string_type`. */
  type: string;
  message: string;
}

/** The most field errors an answer lists (their count is always told). */
const LISTED_ERRORS = 10;

/**
 * The answer to a body that fails Synapse's model: `M_MISSING_PARAM` for a
 * single missing field, else `M_BAD_JSON`, as Synapse's
 * `validate_json_object` chooses.
 */
function bodyFailure(model: string, errors: FieldError[]): MatrixFailure {
  const count = errors.length;
  const lines = [
    `${count} validation error${count === 1 ? "" : "s"} for ${model}`,
  ];
  for (const error of errors.slice(0, LISTED_ERRORS)) {
    lines.push(error.loc, `  ${error.message} [type=${error.type}]`);
  }
  if (count > LISTED_ERRORS) lines.push(`(${count - LISTED_ERRORS} more)`);
  const errcode = count === 1 && errors[0].type === "missing"
    ? "M_MISSING_PARAM"
    : "M_BAD_JSON";
  return new MatrixFailure(400, errcode, lines.join("\n"));
}

const notString = (loc: string): FieldError => ({
  loc,
  type: "string_type",
  message: "Input should be a valid string",
});

/**
 * What is wrong with `auth` for Synapse's `AuthenticationData`: absent,
 * `null` or an object whose `session` and `type` are strings (or `null`).
 */
function authErrors(auth: unknown): FieldError[] {
  if (auth === undefined || auth === null) return [];
  if (!isObject(auth)) {
    return [{
      loc: "auth",
      type: "model_type",
      message:
        "Input should be a valid dictionary or instance of AuthenticationData",
    }];
  }
  const errors: FieldError[] = [];
  for (const key of ["session", "type"]) {
    const value = auth[key];
    if (value !== undefined && value !== null && typeof value !== "string") {
      errors.push(notString(`auth.${key}`));
    }
  }
  return errors;
}

/** Compares two strings by code point (as SQLite compares UTF-8 text). */
export function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

/** A device as Synapse's device endpoints show it. */
function entryOf(device: Device): Record<string, unknown> {
  return {
    user_id: device.userId,
    device_id: device.deviceId,
    display_name: device.displayName ?? null,
    last_seen_ts: device.lastSeenTs ?? null,
    last_seen_ip: device.lastSeenIp ?? null,
  };
}

/**
 * Device management for the users of `store`: `tokens` checks access tokens
 * and ends devices, `uia` asks for the password before a deletion.
 */
export function createDevices(
  store: Store,
  tokens: Tokens,
  uia: Uia,
  settings: DeviceSettings,
): Devices {
  const { users, devices, changed } = store;
  const { authenticate, endDevice } = tokens;
  const json = (request: Request) =>
    readJsonObject(request, settings.maxBodyBytes);

  /** The body of a request, `{}` when it is not JSON (Synapse's DELETE). */
  async function bodyOrEmpty(
    request: Request,
  ): Promise<Record<string, unknown>> {
    try {
      return await json(request);
    } catch (error) {
      if (error instanceof MatrixFailure && error.errcode === "M_NOT_JSON") {
        return {};
      }
      throw error;
    }
  }

  function list(request: Request, url: URL): Record<string, unknown> {
    const { userId } = authenticate(request, url);
    return {
      devices: [...devices.values()]
        .filter((d) => d.userId === userId)
        .sort((a, b) => compareCodePoints(a.deviceId, b.deviceId))
        .map(entryOf),
    };
  }

  function get(
    request: Request,
    url: URL,
    deviceId: string,
  ): Record<string, unknown> {
    const { userId } = authenticate(request, url);
    const device = devices.get(`${userId}|${deviceId}`);
    if (device === undefined) {
      throw new MatrixFailure(404, "M_NOT_FOUND", "Not found");
    }
    return entryOf(device);
  }

  async function update(
    request: Request,
    url: URL,
    deviceId: string,
  ): Promise<Record<string, unknown>> {
    const { userId } = authenticate(request, url);
    const body = await json(request);
    const name = body.display_name;
    if (name === undefined || name === null) return {}; // nothing to change
    if (typeof name !== "string") {
      throw bodyFailure("PutBody", [notString("display_name")]);
    }
    if ([...name].length > MAX_DEVICE_DISPLAY_NAME_LENGTH) {
      throw new MatrixFailure(
        400,
        "M_TOO_LARGE",
        `Device display name is too long (max ${MAX_DEVICE_DISPLAY_NAME_LENGTH})`,
      );
    }
    const device = devices.get(`${userId}|${deviceId}`);
    if (device === undefined) {
      throw new MatrixFailure(404, "M_NOT_FOUND", "Not found");
    }
    device.displayName = name;
    changed();
    return {};
  }

  /** Ends those of `deviceIds` that are devices of `userId`. */
  function endDevices(userId: string, deviceIds: string[]): void {
    for (const deviceId of new Set(deviceIds)) {
      if (devices.has(`${userId}|${deviceId}`)) endDevice(userId, deviceId);
    }
  }

  async function remove(
    request: Request,
    url: URL,
    deviceId: string,
  ): Promise<Record<string, unknown>> {
    const { userId } = authenticate(request, url);
    const body = await bodyOrEmpty(request);
    const errors = authErrors(body.auth);
    if (errors.length > 0) throw bodyFailure("DeleteBody", errors);
    uia.validateUser(
      request,
      url,
      body.auth as Record<string, unknown> | undefined,
      users.get(userId)!,
    );
    endDevices(userId, [deviceId]);
    return {};
  }

  async function removeMany(
    request: Request,
    url: URL,
  ): Promise<Record<string, unknown>> {
    const { userId } = authenticate(request, url);
    // Synapse means to read a body that is not JSON as {} here too (and
    // answers 500, a bug): {} lacks `devices`.
    const body = await bodyOrEmpty(request);
    const errors = authErrors(body.auth);
    const ids = body.devices;
    if (ids === undefined) {
      errors.push({
        loc: "devices",
        type: "missing",
        message: "Field required",
      });
    } else if (!Array.isArray(ids)) {
      errors.push({
        loc: "devices",
        type: "list_type",
        message: "Input should be a valid list",
      });
    } else {
      ids.forEach((id, i) => {
        if (typeof id !== "string") errors.push(notString(`devices.${i}`));
      });
    }
    if (errors.length > 0) throw bodyFailure("PostBody", errors);
    uia.validateUser(
      request,
      url,
      body.auth as Record<string, unknown> | undefined,
      users.get(userId)!,
    );
    endDevices(userId, ids as string[]);
    return {};
  }

  return { list, get, update, remove, removeMany };
}
