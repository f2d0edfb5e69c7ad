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
 *
 * Synapse reports malformed bodies in pydantic's words ("1 validation error
 * for PutBody…"); this server uses the same first lines, without the input's
 * Python repr and the link to pydantic's documentation.
 *
 * @module
 */
import { MatrixFailure, readJsonObject } from "./http.ts";
import type { Device, Store } from "./store.ts";
import type { Tokens } from "./tokens.ts";

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

/** Device management for the users of `store`; `tokens` checks access tokens. */
export function createDevices(
  store: Store,
  tokens: Tokens,
  settings: DeviceSettings,
): Devices {
  const { devices, changed } = store;
  const { authenticate } = tokens;
  const json = (request: Request) =>
    readJsonObject(request, settings.maxBodyBytes);

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

  return { list, get, update };
}
