/**
 * Tests of the development homeserver's device management (`devices.ts`),
 * its user-interactive authentication (`uia.ts`), the devices' "last seen"
 * bookkeeping and `GET /capabilities`: each behaviour seen on Synapse 1.160.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createHomeserver,
  type Homeserver,
  type HomeserverOptions,
} from "./server.ts";
import {
  type Answer,
  assertError,
  BASE,
  call,
  type CallOptions,
  fakeClock,
} from "./test_support.ts";

const ALICE = "@alice:localhost:8008";
const DEVICES = "/_matrix/client/v3/devices";
const DELETE_DEVICES = "/_matrix/client/v3/delete_devices";
const WHOAMI = "/_matrix/client/v3/account/whoami";

/** A server with alice (password "secret") and bob (password "hunter2"). */
function server(options: HomeserverOptions = {}): Homeserver {
  return createHomeserver({
    seed: 1,
    users: [
      { localpart: "alice", password: "secret" },
      { localpart: "bob", password: "hunter2" },
    ],
    ...options,
  });
}

/** A password login of `user`; the answer's body (it holds tokens). */
async function login(
  hs: Homeserver,
  fields: Record<string, unknown> = {},
  user = "alice",
  password = user === "alice" ? "secret" : "hunter2",
): Promise<Record<string, unknown>> {
  const answer = await call(hs, "POST", "/_matrix/client/v3/login", {
    json: {
      type: "m.login.password",
      identifier: { type: "m.id.user", user },
      password,
      ...fields,
    },
  });
  assert.equal(answer.status, 200, answer.text);
  return answer.body;
}

const tokenOf = (body: Record<string, unknown>) => body.access_token as string;

/** The `auth` of a password stage. */
function passwordAuth(
  session?: string,
  password = "secret",
  user = "alice",
): Record<string, unknown> {
  const auth: Record<string, unknown> = {
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password,
  };
  if (session !== undefined) auth.session = session;
  return auth;
}

const PASSWORD_FLOWS = [{ stages: ["m.login.password"] }];

/** The IDs of a devices list. */
function idsOf(answer: Answer): string[] {
  return (answer.body.devices as { device_id: string }[]).map((d) =>
    d.device_id
  );
}

describe("devserver devices: GET /devices and /devices/{deviceId}", () => {
  it("lists the user's devices sorted by device ID, each with user_id, device_id, display_name, last_seen_ts and last_seen_ip (null when unknown), at r0 and v3", async () => {
    const clock = fakeClock();
    const hs = server({ clock: clock.now });
    const zed = await login(hs, {
      device_id: "ZZZ",
      initial_device_display_name: "zed",
    });
    for (const id of ["aaa", "_x", "10", "9", "Ä1", "MMM"]) {
      await login(hs, { device_id: id });
    }
    await login(hs, {}, "bob");
    for (const version of ["v3", "r0"]) {
      const answer = await call(
        hs,
        "GET",
        `/_matrix/client/${version}/devices`,
        {
          token: tokenOf(zed),
        },
      );
      assert.equal(answer.status, 200);
      assert.deepEqual(Object.keys(answer.body), ["devices"]);
      // By code point, as Synapse's SQLite returns them: digits, upper case,
      // "_", lower case, then "Ä".
      assert.deepEqual(idsOf(answer), [
        "10",
        "9",
        "MMM",
        "ZZZ",
        "_x",
        "aaa",
        "Ä1",
      ]);
      const [mmm, zzz] = (answer.body.devices as unknown[]).slice(2, 4);
      assert.deepEqual(mmm, {
        user_id: ALICE,
        device_id: "MMM",
        display_name: null,
        last_seen_ts: null,
        last_seen_ip: null,
      });
      // The request itself is a use of ZZZ's token, seen at once.
      assert.deepEqual(zzz, {
        user_id: ALICE,
        device_id: "ZZZ",
        display_name: "zed",
        last_seen_ts: clock.now(),
        last_seen_ip: "127.0.0.1",
      });
    }
    const one = await call(hs, "GET", `${DEVICES}/MMM`, {
      token: tokenOf(zed),
    });
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, {
      user_id: ALICE,
      device_id: "MMM",
      display_name: null,
      last_seen_ts: null,
      last_seen_ip: null,
    });
    const r0 = await call(hs, "GET", "/_matrix/client/r0/devices/ZZZ", {
      token: tokenOf(zed),
    });
    assert.equal(r0.body.display_name, "zed");
  });

  it("answers another user's or an unknown device 404 M_NOT_FOUND 'Not found'", async () => {
    const hs = server();
    const alice = await login(hs);
    await login(hs, { device_id: "BOBDEV" }, "bob");
    for (const id of ["BOBDEV", "NOPE", "", "A%2FB", "%ZZ"]) {
      const answer = await call(hs, "GET", `${DEVICES}/${id}`, {
        token: tokenOf(alice),
      });
      assertError(answer, 404, "M_NOT_FOUND");
      assert.equal(answer.body.error, "Not found");
    }
    // A "/" after the ID is another path: no endpoint.
    assertError(
      await call(hs, "GET", `${DEVICES}/${alice.device_id}/`, {
        token: tokenOf(alice),
      }),
      404,
      "M_UNRECOGNIZED",
    );
    assertError(
      await call(hs, "POST", `${DEVICES}/${alice.device_id}`, {
        token: tokenOf(alice),
        json: {},
      }),
      405,
      "M_UNRECOGNIZED",
    );
    assertError(
      await call(hs, "POST", DEVICES, { token: tokenOf(alice), json: {} }),
      405,
      "M_UNRECOGNIZED",
    );
  });

  it("needs an access token for every device endpoint, checked before the body", async () => {
    const hs = server();
    for (
      const [method, path] of [
        ["GET", DEVICES],
        ["GET", `${DEVICES}/X`],
        ["PUT", `${DEVICES}/X`],
        ["DELETE", `${DEVICES}/X`],
        ["POST", DELETE_DEVICES],
      ]
    ) {
      assertError(
        await call(hs, method, path, method === "GET" ? {} : { raw: "{x" }),
        401,
        "M_MISSING_TOKEN",
      );
    }
  });
});

describe("devserver devices: last seen", () => {
  /** `GET /devices/{id}` as the device `viewer`. */
  async function seen(hs: Homeserver, viewer: string, id: string) {
    const answer = await call(hs, "GET", `${DEVICES}/${id}`, {
      token: viewer,
    });
    return [answer.body.last_seen_ts, answer.body.last_seen_ip];
  }

  it("notes last_seen_ts and last_seen_ip when a device's token is used, at most once in two minutes per token and address, as Synapse", async () => {
    const clock = fakeClock(5_000_000);
    const hs = server({ clock: clock.now });
    const viewer = tokenOf(await login(hs, { device_id: "VIEWER" }));
    const phone = tokenOf(await login(hs, { device_id: "PHONE" }));
    assert.deepEqual(await seen(hs, viewer, "PHONE"), [null, null]);
    const first = clock.now();
    assert.equal((await call(hs, "GET", WHOAMI, { token: phone })).status, 200);
    assert.deepEqual(await seen(hs, viewer, "PHONE"), [first, "127.0.0.1"]);
    clock.advance(119_999);
    await call(hs, "GET", WHOAMI, { token: phone });
    assert.deepEqual(await seen(hs, viewer, "PHONE"), [first, "127.0.0.1"]);
    clock.advance(1);
    await call(hs, "GET", WHOAMI, { token: phone });
    assert.deepEqual(await seen(hs, viewer, "PHONE"), [
      first + 120_000,
      "127.0.0.1",
    ]);
    // Another address is another key: seen at once. The address is the
    // connection's, as Deno.serve tells it to the handler.
    clock.advance(10);
    await hs.handler(
      new Request(`${BASE}${WHOAMI}`, {
        headers: { Authorization: `Bearer ${phone}` },
      }),
      { remoteAddr: { hostname: "::1", transport: "tcp" } },
    );
    assert.deepEqual(await seen(hs, viewer, "PHONE"), [
      first + 120_010,
      "::1",
    ]);
  });

  it("does not count a refresh, a refused token or a request without one as a use", async () => {
    const clock = fakeClock();
    const hs = server({ accessTokenLifetimeMs: 5000, clock: clock.now });
    const viewer = tokenOf(await login(hs, { device_id: "VIEWER" }));
    const laptop = await login(hs, {
      device_id: "LAPTOP",
      refresh_token: true,
    });
    clock.advance(6000);
    assertError(
      await call(hs, "GET", WHOAMI, { token: tokenOf(laptop) }),
      401,
      "M_UNKNOWN_TOKEN",
    );
    const refreshed = await call(hs, "POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: laptop.refresh_token },
    });
    assert.equal(refreshed.status, 200);
    const viewed = await call(hs, "GET", `${DEVICES}/LAPTOP`, {
      token: viewer,
    });
    assert.equal(viewed.body.last_seen_ts, null);
  });
});

describe("devserver devices: PUT /devices/{deviceId}", () => {
  it("renames a device with PUT {display_name}; null or absent changes nothing and is 200 even for an unknown device", async () => {
    const hs = server();
    const alice = await login(hs, {
      device_id: "LAPTOP",
      initial_device_display_name: "old",
    });
    const token = tokenOf(alice);
    const put = (id: string, json: unknown) =>
      call(hs, "PUT", `${DEVICES}/${id}`, { token, json });
    const name = async () =>
      (await call(hs, "GET", `${DEVICES}/LAPTOP`, { token })).body
        .display_name;
    const renamed = await put("LAPTOP", { display_name: "Laptop" });
    assert.equal(renamed.status, 200);
    assert.deepEqual(renamed.body, {});
    assert.equal(await name(), "Laptop");
    const r0 = await call(hs, "PUT", "/_matrix/client/r0/devices/LAPTOP", {
      token,
      json: { display_name: "Laptop (r0)", other: 1 },
    });
    assert.equal(r0.status, 200);
    assert.equal(await name(), "Laptop (r0)");
    for (const body of [{}, { display_name: null }]) {
      assert.equal((await put("LAPTOP", body)).status, 200);
      assert.equal(await name(), "Laptop (r0)");
      assert.equal((await put("NOPE", body)).status, 200);
    }
    assert.equal((await put("LAPTOP", { display_name: "" })).status, 200);
    assert.equal(await name(), "");
    assert.deepEqual(hs.devices(ALICE), [
      { deviceId: "LAPTOP", displayName: "" },
    ]);
  });

  it("refuses a display name over 100 characters (code points) 400 M_TOO_LARGE 'Device display name is too long (max 100)', before looking for the device", async () => {
    const hs = server();
    const alice = await login(hs, { device_id: "LAPTOP" });
    const token = tokenOf(alice);
    const put = (id: string, display_name: string) =>
      call(hs, "PUT", `${DEVICES}/${id}`, { token, json: { display_name } });
    assert.equal((await put("LAPTOP", "x".repeat(100))).status, 200);
    // 100 emoji are 200 UTF-16 units, but 100 characters for Synapse.
    assert.equal((await put("LAPTOP", "😀".repeat(100))).status, 200);
    for (
      const [id, name] of [
        ["LAPTOP", "x".repeat(101)],
        ["LAPTOP", "😀".repeat(101)],
        ["NOPE", "x".repeat(101)],
      ]
    ) {
      const answer = await put(id, name);
      assertError(answer, 400, "M_TOO_LARGE");
      assert.equal(
        answer.body.error,
        "Device display name is too long (max 100)",
      );
    }
  });

  it("answers a display_name that is not a string 400 M_BAD_JSON, a body that is not JSON M_NOT_JSON, not an object M_BAD_JSON, and an unknown device 404 M_NOT_FOUND", async () => {
    const hs = server();
    const token = tokenOf(await login(hs, { device_id: "LAPTOP" }));
    const path = `${DEVICES}/LAPTOP`;
    for (const display_name of [5, true, ["x"], { a: 1 }]) {
      const answer = await call(hs, "PUT", path, {
        token,
        json: { display_name },
      });
      assertError(answer, 400, "M_BAD_JSON");
      assert.match(
        answer.body.error as string,
        /^1 validation error for PutBody\ndisplay_name\n {2}Input should be a valid string/,
      );
    }
    assertError(await call(hs, "PUT", path, { token }), 400, "M_NOT_JSON");
    assertError(
      await call(hs, "PUT", path, { token, raw: "{not json" }),
      400,
      "M_NOT_JSON",
    );
    assertError(
      await call(hs, "PUT", path, { token, json: [1] }),
      400,
      "M_BAD_JSON",
    );
    const unknown = await call(hs, "PUT", `${DEVICES}/NOPE`, {
      token,
      json: { display_name: "x" },
    });
    assertError(unknown, 404, "M_NOT_FOUND");
    await login(hs, { device_id: "BOBDEV" }, "bob");
    assertError(
      await call(hs, "PUT", `${DEVICES}/BOBDEV`, {
        token,
        json: { display_name: "mine" },
      }),
      404,
      "M_NOT_FOUND",
    );
  });
});

describe("devserver devices: DELETE /devices/{deviceId} and POST /delete_devices", () => {
  it("asks for the password with a 401 challenge, then deletes the device with its access and refresh tokens (401 M_UNKNOWN_TOKEN, soft_logout false)", async () => {
    const hs = server({ accessTokenLifetimeMs: 60_000 });
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    const victim = await login(hs, {
      device_id: "VICTIM",
      refresh_token: true,
    });
    const path = `${DEVICES}/VICTIM`;
    const challenge = await call(hs, "DELETE", path, { token: main });
    assert.equal(challenge.status, 401);
    const session = challenge.body.session as string;
    assert.equal(typeof session, "string");
    assert.deepEqual(challenge.body, {
      session,
      flows: PASSWORD_FLOWS,
      params: {},
    });
    const deleted = await call(hs, "DELETE", path, {
      token: main,
      json: { auth: passwordAuth(session) },
    });
    assert.equal(deleted.status, 200, deleted.text);
    assert.deepEqual(deleted.body, {});
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
    const whoami = await call(hs, "GET", WHOAMI, { token: tokenOf(victim) });
    assertError(whoami, 401, "M_UNKNOWN_TOKEN");
    assert.equal(whoami.body.soft_logout, false);
    const refresh = await call(hs, "POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: victim.refresh_token },
    });
    assertError(refresh, 401, "M_UNKNOWN_TOKEN");
    // POST /delete_devices alike, at r0 too.
    await login(hs, { device_id: "TWO" });
    await login(hs, { device_id: "THREE" });
    const bulk = await call(hs, "POST", "/_matrix/client/r0/delete_devices", {
      token: main,
      json: { devices: ["TWO", "THREE"] },
    });
    assert.equal(bulk.status, 401);
    assert.deepEqual(bulk.body.flows, PASSWORD_FLOWS);
    const done = await call(hs, "POST", "/_matrix/client/r0/delete_devices", {
      token: main,
      json: {
        devices: ["TWO", "THREE"],
        auth: passwordAuth(bulk.body.session as string),
      },
    });
    assert.equal(done.status, 200, done.text);
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
  });

  it("deletes in one request when auth carries the password without a session", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    await login(hs, { device_id: "OLD" });
    await login(hs, { device_id: "OLDER" });
    for (const session of [undefined, null, ""]) {
      assert.equal(
        (await call(hs, "DELETE", `${DEVICES}/OLD`, {
          token: main,
          json: { auth: { ...passwordAuth(), session } },
        })).status,
        200,
      );
    }
    const bulk = await call(hs, "POST", DELETE_DEVICES, {
      token: main,
      json: { devices: ["OLDER"], auth: passwordAuth() },
    });
    assert.equal(bulk.status, 200, bulk.text);
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
  });

  it("answers a wrong password 401 with the challenge, completed [] and M_FORBIDDEN, and another user's password 403 'Invalid auth'", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    await login(hs, { device_id: "OLD" });
    const path = `${DEVICES}/OLD`;
    const session = (await call(hs, "DELETE", path, { token: main })).body
      .session as string;
    for (let i = 0; i < 2; i++) {
      const wrong = await call(hs, "DELETE", path, {
        token: main,
        json: { auth: passwordAuth(session, "wrong") },
      });
      assert.equal(wrong.status, 401);
      assert.deepEqual(wrong.body, {
        session,
        flows: PASSWORD_FLOWS,
        params: {},
        completed: [],
        errcode: "M_FORBIDDEN",
        error: "Invalid username or password",
      });
    }
    const bobs = await call(hs, "DELETE", path, {
      token: main,
      json: { auth: passwordAuth(session, "hunter2", "bob") },
    });
    assertError(bobs, 403, "M_FORBIDDEN");
    assert.equal(bobs.body.error, "Invalid auth");
    // Bob's stage stays completed in the session until alice's replaces it.
    assertError(
      await call(hs, "DELETE", path, {
        token: main,
        json: { auth: { session } },
      }),
      403,
      "M_FORBIDDEN",
    );
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), [
      "MAIN",
      "OLD",
    ]);
    const right = await call(hs, "DELETE", path, {
      token: main,
      json: { auth: passwordAuth(session) },
    });
    assert.equal(right.status, 200, right.text);
  });

  it("lets a completed session delete the same device again, but not another (403 M_UNKNOWN 'Requested operation has changed during the UI authentication session.'); an unknown session is 400 M_UNKNOWN", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    await login(hs, { device_id: "ONE" });
    await login(hs, { device_id: "TWO" });
    const path = `${DEVICES}/ONE`;
    const session = (await call(hs, "DELETE", path, { token: main })).body
      .session as string;
    assert.equal(
      (await call(hs, "DELETE", path, {
        token: main,
        json: { auth: passwordAuth(session) },
      })).status,
      200,
    );
    const again = await call(hs, "DELETE", path, {
      token: main,
      json: { auth: { session } },
    });
    assert.equal(again.status, 200, again.text);
    const other = await call(hs, "DELETE", `${DEVICES}/TWO`, {
      token: main,
      json: { auth: { session } },
    });
    assertError(other, 403, "M_UNKNOWN");
    assert.equal(
      other.body.error,
      "Requested operation has changed during the UI authentication session.",
    );
    // The query string is part of the request a session is bound to.
    assertError(
      await call(hs, "DELETE", `${path}?x=1`, {
        token: main,
        json: { auth: { session } },
      }),
      403,
      "M_UNKNOWN",
    );
    const unknown = await call(hs, "DELETE", path, {
      token: main,
      json: { auth: passwordAuth("nosuch") },
    });
    assertError(unknown, 400, "M_UNKNOWN");
    assert.equal(unknown.body.error, "Unknown session ID: nosuch");
    // delete_devices: the same session for another list is the same request.
    const bulk = (await call(hs, "POST", DELETE_DEVICES, {
      token: main,
      json: { devices: ["NONE"] },
    })).body.session as string;
    const listed = await call(hs, "POST", DELETE_DEVICES, {
      token: main,
      json: { devices: ["TWO"], auth: passwordAuth(bulk) },
    });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
  });

  it("ignores unknown device IDs and other users' devices", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    await login(hs, { device_id: "OLD" });
    await login(hs, { device_id: "BOBDEV" }, "bob");
    const single = await call(hs, "DELETE", `${DEVICES}/BOBDEV`, {
      token: main,
      json: { auth: passwordAuth() },
    });
    assert.equal(single.status, 200);
    const bulk = await call(hs, "POST", DELETE_DEVICES, {
      token: main,
      json: {
        devices: ["NOPE", "OLD", "BOBDEV", "OLD", ""],
        auth: passwordAuth(),
      },
    });
    assert.equal(bulk.status, 200, bulk.text);
    const empty = await call(hs, "POST", DELETE_DEVICES, {
      token: main,
      json: { devices: [], auth: passwordAuth() },
    });
    assert.equal(empty.status, 200);
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
    assert.deepEqual(hs.devices("@bob:localhost:8008").map((d) => d.deviceId), [
      "BOBDEV",
    ]);
  });

  it("lets a device delete itself; its token is then unknown", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    const deleted = await call(hs, "DELETE", `${DEVICES}/MAIN`, {
      token: main,
      json: { auth: passwordAuth() },
    });
    assert.equal(deleted.status, 200);
    const after = await call(hs, "GET", WHOAMI, { token: main });
    assertError(after, 401, "M_UNKNOWN_TOKEN");
    assert.equal(after.body.soft_logout, false);
    assert.deepEqual(hs.devices(ALICE), []);
  });

  it("deletes a soft-logged-out device from another session: its expired token becomes unknown (soft_logout false) and its refresh token 401 M_UNKNOWN_TOKEN", async () => {
    const clock = fakeClock();
    const hs = server({ accessTokenLifetimeMs: 5000, clock: clock.now });
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    const soft = await login(hs, { device_id: "SOFT", refresh_token: true });
    clock.advance(6000);
    const expired = await call(hs, "GET", DEVICES, { token: tokenOf(soft) });
    assertError(expired, 401, "M_UNKNOWN_TOKEN");
    assert.equal(expired.body.soft_logout, true);
    const deleted = await call(hs, "DELETE", `${DEVICES}/SOFT`, {
      token: main,
      json: { auth: passwordAuth() },
    });
    assert.equal(deleted.status, 200, deleted.text);
    const after = await call(hs, "GET", WHOAMI, { token: tokenOf(soft) });
    assertError(after, 401, "M_UNKNOWN_TOKEN");
    assert.equal(after.body.soft_logout, false);
    assertError(
      await call(hs, "POST", "/_matrix/client/v3/refresh", {
        json: { refresh_token: soft.refresh_token },
      }),
      401,
      "M_UNKNOWN_TOKEN",
    );
    assertError(
      await call(hs, "POST", "/_matrix/client/v3/logout", {
        token: tokenOf(soft),
      }),
      401,
      "M_UNKNOWN_TOKEN",
    );
  });

  it("reads a DELETE body that is not JSON as {} (the challenge), and answers a malformed auth 400 M_BAD_JSON, or a type that is not a string M_INVALID_PARAM", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    const path = `${DEVICES}/MAIN`;
    const send = (options: CallOptions) =>
      call(hs, "DELETE", path, { token: main, ...options });
    for (
      const options of [{}, { raw: "{not json" }, { json: {} }, {
        json: { auth: {} },
      }, { json: { auth: null } }]
    ) {
      const answer = await send(options);
      assert.equal(answer.status, 401, JSON.stringify(options));
      assert.deepEqual(answer.body.flows, PASSWORD_FLOWS);
      assert.equal(answer.body.completed, undefined);
    }
    assertError(await send({ json: [1] }), 400, "M_BAD_JSON");
    for (
      const [auth, loc] of [
        ["x", "auth"],
        [[1], "auth"],
        [{ session: 5 }, "auth.session"],
        [{ type: 5 }, "auth.type"],
      ] as const
    ) {
      const answer = await send({ json: { auth } });
      assertError(answer, 400, "M_BAD_JSON");
      assert.match(
        answer.body.error as string,
        new RegExp(`^1 validation error for DeleteBody\\n${loc}\\n`),
      );
    }
    assertError(
      await send({ json: { auth: { type: null } } }),
      400,
      "M_INVALID_PARAM",
    );
    assertError(
      await send({
        json: { auth: { ...passwordAuth(), password: 5 } },
      }),
      400,
      "M_INVALID_PARAM",
    );
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
  });

  it("answers POST /delete_devices without devices 400 M_MISSING_PARAM and with devices not a list of strings 400 M_BAD_JSON, before the challenge", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    const send = (options: CallOptions) =>
      call(hs, "POST", DELETE_DEVICES, { token: main, ...options });
    for (
      const options of [{}, { raw: "{not json" }, { json: {} }, {
        json: { auth: {} },
      }]
    ) {
      const answer = await send(options);
      assertError(answer, 400, "M_MISSING_PARAM");
      assert.match(
        answer.body.error as string,
        /^1 validation error for PostBody\ndevices\n {2}Field required/,
      );
    }
    for (
      const json of [
        { devices: "MAIN" },
        { devices: null },
        { devices: ["MAIN", 5] },
        { auth: "x" },
      ]
    ) {
      assertError(await send({ json }), 400, "M_BAD_JSON");
    }
    const many = await send({ json: { devices: [1, "a", null, {}] } });
    assert.match(
      many.body.error as string,
      /^3 validation errors for PostBody\ndevices\.0\n.*\ndevices\.2\n.*\ndevices\.3\n/,
    );
    assertError(await send({ json: [] }), 400, "M_BAD_JSON");
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
  });

  it("answers thousands of device IDs, and lists at most ten of their errors; a body over maxBodyBytes is 413 M_TOO_LARGE", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    const ids = Array.from({ length: 5000 }, (_, i) => `X${i}`);
    const deleted = await call(hs, "POST", DELETE_DEVICES, {
      token: main,
      json: { devices: ids, auth: passwordAuth() },
    });
    assert.equal(deleted.status, 200, deleted.text);
    const numbers = await call(hs, "POST", DELETE_DEVICES, {
      token: main,
      json: { devices: Array.from({ length: 5000 }, (_, i) => i) },
    });
    assertError(numbers, 400, "M_BAD_JSON");
    const error = numbers.body.error as string;
    assert.match(error, /^5000 validation errors for PostBody\n/);
    assert.match(error, /\n\(4990 more\)$/);
    assert.ok(error.length < 1000, `${error.length} characters`);
    assertError(
      await call(hs, "POST", DELETE_DEVICES, {
        token: main,
        json: { devices: Array.from({ length: 20_000 }, (_, i) => `X${i}`) },
      }),
      413,
      "M_TOO_LARGE",
    );
    assert.deepEqual(hs.devices(ALICE).map((d) => d.deviceId), ["MAIN"]);
  });
});

describe("devserver devices: user-interactive authentication", () => {
  it("completes m.login.dummy and m.login.terms stages without completing a flow (401 with completed), and answers other stage types as a login does", async () => {
    const hs = server();
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    const path = `${DEVICES}/MAIN`;
    const session = (await call(hs, "DELETE", path, { token: main })).body
      .session as string;
    const send = (auth: Record<string, unknown>) =>
      call(hs, "DELETE", path, { token: main, json: { auth } });
    const noType = await send({ session });
    assert.equal(noType.status, 401);
    assert.deepEqual(noType.body.completed, []);
    assert.equal(noType.body.errcode, undefined);
    const dummy = await send({ type: "m.login.dummy", session });
    assert.equal(dummy.status, 401);
    assert.deepEqual(dummy.body.completed, ["m.login.dummy"]);
    const terms = await send({ type: "m.login.terms", session });
    assert.deepEqual(terms.body.completed, ["m.login.dummy", "m.login.terms"]);
    const magic = await send({ type: "m.login.magic", session });
    assertError(magic, 400, "M_INVALID_PARAM");
    assert.equal(magic.body.error, "Invalid login submission");
    const identified = await send({
      type: "m.login.magic",
      identifier: { type: "m.id.user", user: "alice" },
      session,
    });
    assertError(identified, 400, "M_UNKNOWN");
    assert.equal(identified.body.error, "Unknown login type m.login.magic");
    assertError(
      await send({ type: "m.login.password", password: "secret", session }),
      400,
      "M_INVALID_PARAM",
    );
    // The deprecated top-level user and a full user ID both name alice.
    const legacy = await send({
      type: "m.login.password",
      user: "alice",
      password: "secret",
      session,
    });
    assert.equal(legacy.status, 200, legacy.text);
  });

  it("does not limit wrong passwords in user-interactive authentication, nor count them against /login", async () => {
    const clock = fakeClock();
    const hs = server({ rateLimit: true, clock: clock.now });
    const main = tokenOf(await login(hs, { device_id: "MAIN" }));
    await login(hs, { device_id: "OLD" });
    for (let i = 0; i < 5; i++) {
      const wrong = await call(hs, "DELETE", `${DEVICES}/OLD`, {
        token: main,
        json: { auth: passwordAuth(undefined, "wrong") },
      });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.errcode, "M_FORBIDDEN");
    }
    assert.equal(
      (await call(hs, "DELETE", `${DEVICES}/OLD`, {
        token: main,
        json: { auth: passwordAuth() },
      })).status,
      200,
    );
    await login(hs); // not 429
  });

  it("offers a user made by CAS sign-on the SSO stage only, which this server cannot complete", async () => {
    // carol signed on through CAS once: she has no password.
    const carol = "@carol:localhost:8008";
    const token = "syt_Y2Fyb2w_carolsaccesstoken_000000";
    const hs = server({
      state: {
        format: "matrixlib-devserver-state",
        version: 1,
        users: [{ localpart: "carol", emails: [], phones: [], sso: true }],
        devices: [{ userId: carol, deviceId: "PHONE" }],
        accessTokens: [{ token, userId: carol, deviceId: "PHONE", used: true }],
        refreshTokens: [],
        loginTokens: [],
      },
    });
    const challenge = await call(hs, "DELETE", `${DEVICES}/PHONE`, { token });
    assert.equal(challenge.status, 401);
    assert.deepEqual(challenge.body.flows, [{ stages: ["m.login.sso"] }]);
    const password = await call(hs, "DELETE", `${DEVICES}/PHONE`, {
      token,
      json: { auth: passwordAuth(undefined, "x", "carol") },
    });
    assert.equal(password.status, 401);
    assert.equal(password.body.errcode, "M_FORBIDDEN");
    const noSso = server({
      sso: false,
      state: { ...hs.exportState(), random: undefined },
    });
    const none = await call(noSso, "DELETE", `${DEVICES}/PHONE`, { token });
    assert.equal(none.status, 401);
    assert.deepEqual(none.body.flows, []);
  });
});

describe("devserver: GET /capabilities", () => {
  it("lists Synapse's capabilities: m.get_login_token enabled, room versions 1 to 12 (default 11), and the features this server lacks disabled", async () => {
    const hs = server();
    const token = tokenOf(await login(hs));
    for (const version of ["v3", "r0"]) {
      const answer = await call(
        hs,
        "GET",
        `/_matrix/client/${version}/capabilities`,
        { token },
      );
      assert.equal(answer.status, 200);
      const capabilities = answer.body.capabilities as Record<string, unknown>;
      assert.deepEqual(Object.keys(capabilities).sort(), [
        "m.3pid_changes",
        "m.change_password",
        "m.get_login_token",
        "m.profile_fields",
        "m.room_versions",
        "m.set_avatar_url",
        "m.set_displayname",
      ]);
      assert.deepEqual(capabilities["m.get_login_token"], { enabled: true });
      for (
        const name of [
          "m.change_password",
          "m.set_displayname",
          "m.set_avatar_url",
          "m.3pid_changes",
          "m.profile_fields",
        ]
      ) {
        assert.deepEqual(capabilities[name], { enabled: false }, name);
      }
      const rooms = capabilities["m.room_versions"] as {
        default: string;
        available: Record<string, string>;
      };
      assert.equal(rooms.default, "11");
      assert.deepEqual(
        Object.keys(rooms.available),
        ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"],
      );
      assert.ok(Object.values(rooms.available).every((v) => v === "stable"));
    }
    assertError(
      await call(hs, "GET", "/_matrix/client/v3/capabilities"),
      401,
      "M_MISSING_TOKEN",
    );
  });
});
