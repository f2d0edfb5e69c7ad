/**
 * Device management against Synapse, with raw requests, so that what it
 * answered stays pinned: the device list and its fields, renaming,
 * deletion behind user-interactive authentication, the devices' "last
 * seen", the capabilities, and the access token in the query string. The
 * development homeserver's `devserver/devices_test.ts` and
 * `devserver/server_test.ts` show it answering the same, and
 * `devserver/README.md` lists where it differs on purpose.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  field,
  PAST_EXPIRY_MS,
  raw,
  rawLogin,
  sleep,
  users,
} from "./support.ts";

const DEVICES = "/_matrix/client/v3/devices";
const DELETE_DEVICES = "/_matrix/client/v3/delete_devices";
const WHOAMI = "/_matrix/client/v3/account/whoami";
const GET_TOKEN = "/_matrix/client/v1/login/get_token";

type User = { userId: string; localpart: string; password: string };

/** A password stage for `user`, in `session` if given. */
function passwordAuth(
  user: User,
  session?: unknown,
  password = user.password,
): Record<string, unknown> {
  const auth: Record<string, unknown> = {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: user.localpart },
    password,
  };
  if (session !== undefined) auth.session = session;
  return auth;
}

/** A user and a login of theirs as device `deviceId`; its access token. */
async function loggedIn(
  prefix: string,
  deviceId = "MAIN",
): Promise<{ user: User; token: string }> {
  const user = await users.user(prefix);
  const login = await rawLogin(user, { device_id: deviceId });
  return { user, token: field(login, "access_token") };
}

/** The device IDs of a `GET /devices` answer. */
function idsOf(body: Record<string, unknown>): string[] {
  return (body.devices as { device_id: string }[]).map((d) => d.device_id);
}

/** Compares by code point, as SQLite orders UTF-8 text. */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

describe("synapse: device list and details", () => {
  it("GET /devices lists every device sorted by device ID (code points), each with user_id, device_id, display_name, last_seen_ts and last_seen_ip, null when unknown; r0 too, v1 is 404", async () => {
    const alice = await users.user("alice");
    const zed = await rawLogin(alice, {
      device_id: "ZZZ",
      initial_device_display_name: "zed",
    });
    for (const id of ["aaa", "_x", "10", "9", "Ä1"]) {
      await rawLogin(alice, { device_id: id });
    }
    await rawLogin(alice, {
      device_id: "MMM",
      initial_device_display_name: "",
    });
    const token = field(zed, "access_token");
    const before = Date.now();
    const list = await raw("GET", DEVICES, { token });
    assert.equal(list.status, 200, `devices: ${list.body.errcode}`);
    assert.deepEqual(Object.keys(list.body), ["devices"]);
    const ids = idsOf(list.body);
    // The registration's own device is there too.
    assert.equal(ids.length, 8);
    assert.deepEqual(ids, [...ids].sort(byCodePoint));
    assert.deepEqual(ids.filter((id) => id.length < 4), [
      "10",
      "9",
      "MMM",
      "ZZZ",
      "_x",
      "aaa",
      "Ä1",
    ]);
    const entries = list.body.devices as Record<string, unknown>[];
    for (const entry of entries) {
      assert.deepEqual(Object.keys(entry).sort(), [
        "device_id",
        "display_name",
        "last_seen_ip",
        "last_seen_ts",
        "user_id",
      ]);
      assert.equal(entry.user_id, alice.userId);
    }
    const byId = new Map(entries.map((e) => [e.device_id, e]));
    assert.deepEqual(byId.get("aaa"), {
      user_id: alice.userId,
      device_id: "aaa",
      display_name: null,
      last_seen_ts: null,
      last_seen_ip: null,
    });
    assert.equal(byId.get("MMM")!.display_name, "");
    // The request that lists them is a use of ZZZ's token, seen at once.
    const zzz = byId.get("ZZZ")!;
    assert.equal(zzz.display_name, "zed");
    assert.equal(zzz.last_seen_ip, "127.0.0.1");
    assert.ok(
      typeof zzz.last_seen_ts === "number" &&
        zzz.last_seen_ts >= before - 1000 && zzz.last_seen_ts <= Date.now(),
      `last_seen_ts ${zzz.last_seen_ts}`,
    );
    const one = await raw("GET", `${DEVICES}/ZZZ`, { token });
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, zzz);
    const r0 = await raw("GET", "/_matrix/client/r0/devices", { token });
    assert.equal(r0.status, 200);
    assert.deepEqual(idsOf(r0.body), ids);
    const v1 = await raw("GET", "/_matrix/client/v1/devices", { token });
    assert.equal(v1.status, 404);
    assert.equal(v1.body.errcode, "M_UNRECOGNIZED");
  });

  it("a device is last seen at the first use of a token, not again within seconds, and a refresh is no use", async () => {
    const { user, token } = await loggedIn("bob");
    const phone = await rawLogin(user, {
      device_id: "PHONE",
      refresh_token: true,
    });
    const seen = async () => {
      const answer = await raw("GET", `${DEVICES}/PHONE`, { token });
      return [answer.body.last_seen_ts, answer.body.last_seen_ip];
    };
    assert.deepEqual(await seen(), [null, null]);
    const refreshed = await raw("POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: field(phone, "refresh_token") },
    });
    assert.equal(refreshed.status, 200);
    assert.deepEqual(await seen(), [null, null]);
    const access = field(refreshed.body, "access_token");
    assert.equal((await raw("GET", WHOAMI, { token: access })).status, 200);
    const [first, ip] = await seen();
    assert.equal(typeof first, "number");
    assert.equal(ip, "127.0.0.1");
    await sleep(1_100);
    assert.equal((await raw("GET", WHOAMI, { token: access })).status, 200);
    assert.deepEqual(await seen(), [first, "127.0.0.1"]);
  });

  it("GET /devices/{deviceId} of another user's or an unknown device is 404 M_NOT_FOUND 'Not found'; the token is checked before the body", async () => {
    const { token } = await loggedIn("carol");
    const { token: bobs } = await loggedIn("bob", "BOBDEV");
    assert.equal((await raw("GET", WHOAMI, { token: bobs })).status, 200);
    for (const id of ["BOBDEV", "NOPE", "", "A%2FB", "%ZZ"]) {
      const answer = await raw("GET", `${DEVICES}/${id}`, { token });
      assert.equal(answer.status, 404, id);
      assert.deepEqual(answer.body, {
        errcode: "M_NOT_FOUND",
        error: "Not found",
      });
    }
    const noToken = await raw("PUT", `${DEVICES}/MAIN`, { text: "{x" });
    assert.equal(noToken.status, 401);
    assert.equal(noToken.body.errcode, "M_MISSING_TOKEN");
  });
});

describe("synapse: renaming a device", () => {
  it("PUT /devices/{deviceId} renames; {} and null change nothing, 200 even for an unknown device; over 100 code points is 400 M_TOO_LARGE before the lookup; not a string 400 M_BAD_JSON; an unknown device 404", async () => {
    const { token } = await loggedIn("dave", "LAPTOP");
    const put = (id: string, json: unknown) =>
      raw("PUT", `${DEVICES}/${id}`, { token, json });
    const name = async () =>
      (await raw("GET", `${DEVICES}/LAPTOP`, { token })).body.display_name;
    const renamed = await put("LAPTOP", { display_name: "Laptop", other: 1 });
    assert.equal(renamed.status, 200);
    assert.deepEqual(renamed.body, {});
    assert.equal(await name(), "Laptop");
    for (const body of [{}, { display_name: null }]) {
      assert.equal((await put("LAPTOP", body)).status, 200);
      assert.equal(await name(), "Laptop");
      assert.equal((await put("NOPE", body)).status, 200);
    }
    assert.equal(
      (await put("LAPTOP", { display_name: "😀".repeat(100) })).status,
      200,
    );
    for (
      const [id, text] of [
        ["LAPTOP", "x".repeat(101)],
        ["LAPTOP", "😀".repeat(101)],
        ["NOPE", "x".repeat(101)],
      ]
    ) {
      const long = await put(id, { display_name: text });
      assert.equal(long.status, 400);
      assert.deepEqual(long.body, {
        errcode: "M_TOO_LARGE",
        error: "Device display name is too long (max 100)",
      });
    }
    for (const display_name of [5, ["x"], true]) {
      const wrong = await put("LAPTOP", { display_name });
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.errcode, "M_BAD_JSON");
      assert.match(
        wrong.body.error as string,
        /^1 validation error for PutBody\ndisplay_name\n {2}Input should be a valid string/,
      );
    }
    const unknown = await put("NOPE", { display_name: "x" });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.errcode, "M_NOT_FOUND");
    const notJson = await raw("PUT", `${DEVICES}/LAPTOP`, {
      token,
      text: "{x",
    });
    assert.equal(notJson.body.errcode, "M_NOT_JSON");
    const array = await put("LAPTOP", [1]);
    assert.equal(array.body.errcode, "M_BAD_JSON");
  });
});

describe("synapse: deleting devices (user-interactive authentication)", () => {
  it("DELETE /devices/{deviceId} answers 401 with the password stage and a session, then 200 {}; the device's access and refresh tokens are gone", async () => {
    const { user, token } = await loggedIn("erin");
    const victim = await rawLogin(user, {
      device_id: "VICTIM",
      refresh_token: true,
    });
    const challenge = await raw("DELETE", `${DEVICES}/VICTIM`, { token });
    assert.equal(challenge.status, 401);
    assert.deepEqual(Object.keys(challenge.body).sort(), [
      "flows",
      "params",
      "session",
    ]);
    assert.deepEqual(challenge.body.flows, [{ stages: ["m.login.password"] }]);
    assert.deepEqual(challenge.body.params, {});
    const session = field(challenge.body, "session");
    const deleted = await raw("DELETE", `${DEVICES}/VICTIM`, {
      token,
      json: { auth: passwordAuth(user, session) },
    });
    assert.equal(deleted.status, 200, `delete: ${deleted.body.errcode}`);
    assert.deepEqual(deleted.body, {});
    const whoami = await raw("GET", WHOAMI, {
      token: field(victim, "access_token"),
    });
    assert.equal(whoami.status, 401);
    assert.equal(whoami.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(whoami.body.soft_logout, false);
    const refresh = await raw("POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: field(victim, "refresh_token") },
    });
    assert.equal(refresh.status, 401);
    assert.equal(refresh.body.errcode, "M_UNKNOWN_TOKEN");
    assert.ok(
      !idsOf((await raw("GET", DEVICES, { token })).body).includes("VICTIM"),
    );
    // A body that is not JSON counts as {}: the challenge.
    const notJson = await raw("DELETE", `${DEVICES}/MAIN`, {
      token,
      text: "{x",
    });
    assert.equal(notJson.status, 401);
    assert.equal(typeof notJson.body.session, "string");
  });

  it("a wrong password is the 401 again with completed [] and M_FORBIDDEN, five in a row are not rate-limited; another user's password is 403 'Invalid auth'; the password without a session deletes at once", async () => {
    const { user, token } = await loggedIn("fred");
    const bob = await users.user("bob");
    await rawLogin(user, { device_id: "OLD" });
    const path = `${DEVICES}/OLD`;
    const session = field(
      (await raw("DELETE", path, { token })).body,
      "session",
    );
    for (let i = 0; i < 5; i++) {
      const wrong = await raw("DELETE", path, {
        token,
        json: { auth: passwordAuth(user, session, "wrong") },
      });
      assert.equal(wrong.status, 401);
      assert.deepEqual(wrong.body, {
        session,
        flows: [{ stages: ["m.login.password"] }],
        params: {},
        completed: [],
        errcode: "M_FORBIDDEN",
        error: "Invalid username or password",
      });
    }
    const bobs = await raw("DELETE", path, {
      token,
      json: { auth: passwordAuth(bob, session) },
    });
    assert.equal(bobs.status, 403);
    assert.deepEqual(bobs.body, {
      errcode: "M_FORBIDDEN",
      error: "Invalid auth",
    });
    const once = await raw("DELETE", path, {
      token,
      json: { auth: passwordAuth(user) },
    });
    assert.equal(once.status, 200, `delete: ${once.body.errcode}`);
    // Nor do the wrong passwords count against /login.
    await rawLogin(user);
  });

  it("a completed session deletes the same device again with only the session, not another device (403 M_UNKNOWN 'Requested operation has changed during the UI authentication session.'); an unknown session is 400 M_UNKNOWN", async () => {
    const { user, token } = await loggedIn("gina");
    await rawLogin(user, { device_id: "ONE" });
    await rawLogin(user, { device_id: "TWO" });
    const path = `${DEVICES}/ONE`;
    const session = field(
      (await raw("DELETE", path, { token })).body,
      "session",
    );
    const done = await raw("DELETE", path, {
      token,
      json: { auth: passwordAuth(user, session) },
    });
    assert.equal(done.status, 200);
    const again = await raw("DELETE", path, {
      token,
      json: { auth: { session } },
    });
    assert.equal(again.status, 200, `again: ${again.body.errcode}`);
    const other = await raw("DELETE", `${DEVICES}/TWO`, {
      token,
      json: { auth: { session } },
    });
    assert.equal(other.status, 403);
    assert.deepEqual(other.body, {
      errcode: "M_UNKNOWN",
      error:
        "Requested operation has changed during the UI authentication session.",
    });
    const unknown = await raw("DELETE", path, {
      token,
      json: { auth: passwordAuth(user, "nosuch") },
    });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body, {
      errcode: "M_UNKNOWN",
      error: "Unknown session ID: nosuch",
    });
  });

  it("stages: auth without type is the 401 with completed [], m.login.dummy completes without completing the flow, an unknown type is a login's 400, a type that is not a string 400", async () => {
    const { user, token } = await loggedIn("hana");
    const path = `${DEVICES}/NOPE`;
    const session = field(
      (await raw("DELETE", path, { token })).body,
      "session",
    );
    const send = (auth: unknown) =>
      raw("DELETE", path, { token, json: { auth } });
    const noType = await send({ session });
    assert.equal(noType.status, 401);
    assert.deepEqual(noType.body.completed, []);
    assert.equal(noType.body.errcode, undefined);
    const dummy = await send({ type: "m.login.dummy", session });
    assert.equal(dummy.status, 401);
    assert.deepEqual(dummy.body.completed, ["m.login.dummy"]);
    const magic = await send({ type: "m.login.magic", session });
    assert.equal(magic.status, 400);
    assert.deepEqual(magic.body, {
      errcode: "M_INVALID_PARAM",
      error: "Invalid login submission",
    });
    const identified = await send({
      type: "m.login.magic",
      identifier: { type: "m.id.user", user: user.localpart },
      session,
    });
    assert.deepEqual(identified.body, {
      errcode: "M_UNKNOWN",
      error: "Unknown login type m.login.magic",
    });
    const nullType = await send({ type: null, session });
    assert.equal(nullType.status, 400);
    assert.equal(nullType.body.errcode, "M_INVALID_PARAM");
    for (const auth of ["x", { session: 5 }, { type: 5 }]) {
      const malformed = await send(auth);
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.errcode, "M_BAD_JSON");
      assert.match(malformed.body.error as string, /for DeleteBody\n/);
    }
    // "auth": null crashes Synapse (the development homeserver: the challenge).
    const nullAuth = await send(null);
    assert.equal(nullAuth.status, 500);
    assert.equal(nullAuth.body.errcode, "M_UNKNOWN");
  });

  it("POST /delete_devices ignores unknown IDs; devices missing is 400 M_MISSING_PARAM, not a list of strings 400 M_BAD_JSON (before the challenge), a body that is not JSON 500", async () => {
    const { user, token } = await loggedIn("ivan");
    await rawLogin(user, { device_id: "OLD" });
    const send = (json: unknown) =>
      raw("POST", DELETE_DEVICES, { token, json });
    const challenge = await send({ devices: ["OLD", "NOPE"] });
    assert.equal(challenge.status, 401);
    assert.deepEqual(challenge.body.flows, [{ stages: ["m.login.password"] }]);
    const deleted = await send({
      devices: ["OLD", "NOPE", "OLD"],
      auth: passwordAuth(user, challenge.body.session),
    });
    assert.equal(deleted.status, 200, `delete: ${deleted.body.errcode}`);
    const ids = idsOf((await raw("GET", DEVICES, { token })).body);
    assert.ok(ids.includes("MAIN") && !ids.includes("OLD"));
    for (const json of [{}, { auth: {} }]) {
      const missing = await send(json);
      assert.equal(missing.status, 400);
      assert.equal(missing.body.errcode, "M_MISSING_PARAM");
      assert.match(
        missing.body.error as string,
        /^1 validation error for PostBody\ndevices\n {2}Field required/,
      );
    }
    for (
      const json of [{ devices: "OLD" }, { devices: null }, {
        devices: ["OLD", 5],
      }, { auth: "x" }]
    ) {
      const wrong = await send(json);
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.errcode, "M_BAD_JSON");
    }
    const notJson = await raw("POST", DELETE_DEVICES, { token, text: "{x" });
    assert.equal(notJson.status, 500);
    const r0 = await raw("POST", "/_matrix/client/r0/delete_devices", {
      token,
      json: { devices: [] },
    });
    assert.equal(r0.status, 401);
    const v1 = await raw("POST", "/_matrix/client/v1/delete_devices", {
      token,
      json: { devices: [] },
    });
    assert.equal(v1.status, 404);
  });

  it("a device may delete itself, and a soft-logged-out device deleted from another session loses its expired token (then soft_logout false) and its refresh token", async () => {
    const { user, token } = await loggedIn("jack");
    const soft = await rawLogin(user, {
      device_id: "SOFT",
      refresh_token: true,
    });
    const softToken = field(soft, "access_token");
    await sleep(PAST_EXPIRY_MS);
    const expired = await raw("GET", DEVICES, { token: softToken });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.soft_logout, true);
    const deleted = await raw("DELETE", `${DEVICES}/SOFT`, {
      token,
      json: { auth: passwordAuth(user) },
    });
    assert.equal(deleted.status, 200);
    const after = await raw("GET", WHOAMI, { token: softToken });
    assert.equal(after.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(after.body.soft_logout, false);
    const refresh = await raw("POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: field(soft, "refresh_token") },
    });
    assert.equal(refresh.status, 401);
    assert.equal(refresh.body.errcode, "M_UNKNOWN_TOKEN");
    const itself = await raw("DELETE", `${DEVICES}/MAIN`, {
      token,
      json: { auth: passwordAuth(user) },
    });
    assert.equal(itself.status, 200);
    const gone = await raw("GET", WHOAMI, { token });
    assert.equal(gone.status, 401);
    assert.equal(gone.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(gone.body.soft_logout, false);
  });

  it("get_token accepts its completed session again: the second call meets the one-a-minute limit (429), not a new challenge", async () => {
    const { user, token } = await loggedIn("kate");
    const session = field(
      (await raw("POST", GET_TOKEN, { json: {}, token })).body,
      "session",
    );
    const granted = await raw("POST", GET_TOKEN, {
      token,
      json: { auth: passwordAuth(user, session) },
    });
    assert.equal(granted.status, 200, `get_token: ${granted.body.errcode}`);
    const again = await raw("POST", GET_TOKEN, {
      token,
      json: { auth: { session } },
    });
    assert.equal(again.status, 429);
    assert.equal(again.body.errcode, "M_LIMIT_EXCEEDED");
  });
});

describe("synapse: capabilities and the access token's place", () => {
  it("GET /capabilities with the project's configuration: room versions (default 11), m.change_password, m.set_displayname, m.set_avatar_url, m.3pid_changes, m.get_login_token and m.profile_fields enabled, and unstable delayed events", async () => {
    const { token } = await loggedIn("lena");
    for (const version of ["v3", "r0"]) {
      const answer = await raw(
        "GET",
        `/_matrix/client/${version}/capabilities`,
        {
          token,
        },
      );
      assert.equal(answer.status, 200, `capabilities: ${answer.body.errcode}`);
      const capabilities = answer.body.capabilities as Record<
        string,
        Record<string, unknown>
      >;
      assert.deepEqual(Object.keys(capabilities).sort(), [
        "m.3pid_changes",
        "m.change_password",
        "m.get_login_token",
        "m.profile_fields",
        "m.room_versions",
        "m.set_avatar_url",
        "m.set_displayname",
        "org.matrix.msc4140.delayed_events",
      ]);
      for (
        const name of [
          "m.change_password",
          "m.set_displayname",
          "m.set_avatar_url",
          "m.3pid_changes",
          "m.get_login_token",
          "m.profile_fields",
        ]
      ) {
        assert.deepEqual(capabilities[name], { enabled: true }, name);
      }
      const rooms = capabilities["m.room_versions"];
      assert.equal(rooms.default, "11");
      const stable = Object.entries(rooms.available as Record<string, string>)
        .filter(([, v]) => v === "stable").map(([k]) => k);
      assert.deepEqual(stable, [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10",
        "11",
        "12",
      ]);
    }
    const none = await raw("GET", "/_matrix/client/v3/capabilities");
    assert.equal(none.status, 401);
    assert.equal(none.body.errcode, "M_MISSING_TOKEN");
  });

  it("the deprecated access_token query parameter is accepted (the first, when repeated); beside an Authorization header it is 401 M_MISSING_TOKEN 'Mixing…', even the same token", async () => {
    const { user, token } = await loggedIn("mark");
    const q = encodeURIComponent(token);
    const alone = await raw("GET", `${WHOAMI}?access_token=${q}`);
    assert.equal(alone.status, 200, `query: ${alone.body.errcode}`);
    assert.equal(alone.body.user_id, user.userId);
    const twice = await raw(
      "GET",
      `${WHOAMI}?access_token=${q}&access_token=x`,
    );
    assert.equal(twice.status, 200);
    for (const query of [`x&access_token=${q}`, "", "garbage"]) {
      const refused = await raw("GET", `${WHOAMI}?access_token=${query}`);
      assert.equal(refused.status, 401);
      assert.equal(refused.body.errcode, "M_UNKNOWN_TOKEN");
      assert.equal(refused.body.soft_logout, false);
    }
    for (const query of [q, "x", ""]) {
      const both = await raw("GET", `${WHOAMI}?access_token=${query}`, {
        token,
      });
      assert.equal(both.status, 401);
      assert.deepEqual(both.body, {
        errcode: "M_MISSING_TOKEN",
        error:
          "Mixing Authorization headers and access_token query parameters.",
      });
    }
    const devices = await raw("GET", `${DEVICES}?access_token=${q}`);
    assert.equal(devices.status, 200);
  });

  it("the Authorization header must be 'Bearer TOKEN' with one space: otherwise 401 M_MISSING_TOKEN 'Invalid Authorization header.'", async () => {
    const { token } = await loggedIn("nina");
    for (
      const value of [
        `bearer ${token}`,
        `Bearer  ${token}`,
        `Bearer ${token} x`,
        "Bearer",
        "Basic abc",
      ]
    ) {
      const answer = await raw("GET", WHOAMI, {
        headers: { Authorization: value },
      });
      assert.equal(answer.status, 401);
      assert.deepEqual(answer.body, {
        errcode: "M_MISSING_TOKEN",
        error: "Invalid Authorization header.",
      });
    }
  });
});
