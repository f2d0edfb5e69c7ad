/** Chapter 5 against Synapse: logout, logout of every session, and the example. */
import assert from "node:assert/strict";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { NotLoggedInError } from "../../../mod.ts";
import { JsonFileStorage } from "../../../src/file_storage.ts";
import { SESSION_KEY } from "../../../src/session.ts";
import {
  assertNoSecrets,
  calls,
  CopyableStorage,
  example,
  field,
  inDir,
  newClient,
  PAST_EXPIRY_MS,
  raw,
  rawLogin,
  sleep,
  users,
} from "./support.ts";

const WHOAMI = "/_matrix/client/v3/account/whoami";
const LOGOUT = "/_matrix/client/v3/logout";

/** The user's device IDs, through the admin API. */
async function devicesOf(userId: string): Promise<string[]> {
  const admin = await users.admin();
  const answer = await raw(
    "GET",
    `/_synapse/admin/v2/users/${encodeURIComponent(userId)}/devices`,
    { token: admin.accessToken },
  );
  assert.equal(answer.status, 200, `devices: ${answer.body.errcode}`);
  return (answer.body.devices as { device_id: string }[])
    .map((d) => d.device_id).sort();
}

/** The access token a storage holds (to check it on the server). */
function tokenOf(storage: CopyableStorage): string {
  const value = storage.get(SESSION_KEY) as
    | { accessToken?: string }
    | undefined;
  if (!value?.accessToken) throw new Error("no session stored");
  return value.accessToken;
}

describe("synapse: logout (chapter 5)", () => {
  it("logout ends the session on the server: its token is then 401 M_UNKNOWN_TOKEN, not soft", async () => {
    const alice = await users.user("alice");
    const storage = new CopyableStorage();
    const { client, log } = newClient({ storage });
    await client.loginWithPassword(alice.userId, alice.password);
    const token = tokenOf(storage);
    const result = await client.logout();
    assert.equal(result.confirmed, true);
    assert.equal(result.all, false);
    assert.deepEqual(calls(log, "/logout"), ["POST 200"]);
    const after = await raw("GET", WHOAMI, { token });
    assert.equal(after.status, 401);
    assert.equal(after.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(after.body.soft_logout, false);
    await assert.rejects(client.whoami(), NotLoggedInError);
  });

  it("logout with all ends every session of the user", async () => {
    const bob = await users.user("bob");
    const other = new CopyableStorage();
    const laptop = newClient({ storage: other });
    await laptop.client.loginWithPassword(bob.userId, bob.password);
    const { client, log } = newClient();
    await client.loginWithPassword(bob.userId, bob.password);
    const result = await client.logout({ all: true });
    assert.equal(result.confirmed, true);
    assert.equal(result.all, true);
    assert.deepEqual(calls(log, "/logout/all"), ["POST 200"]);
    const after = await raw("GET", WHOAMI, { token: tokenOf(other) });
    assert.equal(after.status, 401);
    assert.equal(after.body.errcode, "M_UNKNOWN_TOKEN");
  });

  it("an expired session is renewed first, then logged out", async () => {
    const carol = await users.user("carol");
    const { client, log } = newClient();
    await client.loginWithPassword(carol.userId, carol.password);
    await sleep(PAST_EXPIRY_MS);
    const result = await client.logout();
    assert.equal(result.confirmed, true);
    assert.deepEqual(calls(log, "/refresh"), ["POST 200"]);
    assert.deepEqual(calls(log, "/logout"), ["POST 200"]);
  });

  it("a locked account can still log out: whoami is 401 M_USER_LOCKED with soft_logout, logout and logout/all are 200", async () => {
    const gina = await users.user("gina");
    const first = await rawLogin(gina);
    const second = await rawLogin(gina);
    const admin = await users.admin();
    const lock = await raw(
      "PUT",
      `/_synapse/admin/v2/users/${encodeURIComponent(gina.userId)}`,
      { token: admin.accessToken, json: { locked: true } },
    );
    assert.equal(lock.status, 200, `locking: ${lock.body.errcode}`);
    const token = field(first, "access_token");
    const locked = await raw("GET", WHOAMI, { token });
    assert.equal(locked.status, 401);
    assert.equal(locked.body.errcode, "M_USER_LOCKED");
    assert.equal(locked.body.soft_logout, true);
    const out = await raw("POST", LOGOUT, { json: {}, token });
    assert.equal(out.status, 200, `logout: ${out.body.errcode}`);
    const deviceId = field(first, "device_id");
    assert.ok(!(await devicesOf(gina.userId)).includes(deviceId));
    const gone = await raw("GET", WHOAMI, { token });
    assert.equal(gone.status, 401);
    assert.equal(gone.body.errcode, "M_UNKNOWN_TOKEN");
    // The other session ends every one, the registration's too.
    const all = await raw("POST", `${LOGOUT}/all`, {
      json: {},
      token: field(second, "access_token"),
    });
    assert.equal(all.status, 200, `logout/all: ${all.body.errcode}`);
    assert.deepEqual(await devicesOf(gina.userId), []);
  });

  it("logout accepts an expired access token (Synapse's soft logout), and its refresh token is then refused", async () => {
    const hana = await users.user("hana");
    const login = await rawLogin(hana, { refresh_token: true });
    const token = field(login, "access_token");
    await sleep(PAST_EXPIRY_MS);
    const expired = await raw("GET", WHOAMI, { token });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(expired.body.soft_logout, true);
    const out = await raw("POST", LOGOUT, { json: {}, token });
    assert.equal(out.status, 200, `logout: ${out.body.errcode}`);
    assert.ok(
      !(await devicesOf(hana.userId)).includes(field(login, "device_id")),
    );
    const after = await raw("GET", WHOAMI, { token });
    assert.equal(after.body.errcode, "M_UNKNOWN_TOKEN");
    assert.equal(after.body.soft_logout, false);
    const refreshed = await raw("POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: field(login, "refresh_token") },
    });
    assert.equal(refreshed.status, 401);
    assert.equal(refreshed.body.errcode, "M_UNKNOWN_TOKEN");
  });

  it("examples/logout.ts logs out the saved session, removes its file, and with --all ends the others", async () => {
    const dave = await users.user("dave");
    await inDir(async (dir) => {
      const logIn = async (file: string) => {
        const { client } = newClient({ storage: new JsonFileStorage(file) });
        return (await client.loginWithPassword(dave.userId, dave.password))
          .deviceId;
      };
      const file = join(dir, "session.json");
      const deviceId = await logIn(file);
      const token = JSON.parse(await readFile(file, "utf8")).session
        .accessToken;
      const run = await example("logout.ts", ["--session", file], { dir });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(
        run.stdout,
        `Logged out ${dave.userId} (device ${deviceId}): the server deleted the device\nRemoved ${file}\n`,
      );
      assertNoSecrets(run.stdout + run.stderr, token);
      await assert.rejects(access(file));
      assert.equal((await raw("GET", WHOAMI, { token })).status, 401);

      const laptop = join(dir, "laptop.json");
      await logIn(file);
      await logIn(laptop);
      const laptopToken = JSON.parse(await readFile(laptop, "utf8")).session
        .accessToken;
      const all = await example("logout.ts", ["--all", "--session", file], {
        dir,
      });
      assert.equal(all.code, 0, all.stderr);
      assert.match(
        all.stdout,
        new RegExp(`^Logged out every session of ${dave.userId}`),
      );
      assert.equal(
        (await raw("GET", WHOAMI, { token: laptopToken })).status,
        401,
      );
    });
  });
});
