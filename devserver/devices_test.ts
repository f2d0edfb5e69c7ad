/**
 * Tests of the development homeserver's device management (`devices.ts`)
 * and the devices' "last seen" bookkeeping: each behaviour seen on Synapse
 * 1.160.
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
  fakeClock,
} from "./test_support.ts";

const ALICE = "@alice:localhost:8008";
const DEVICES = "/_matrix/client/v3/devices";
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
