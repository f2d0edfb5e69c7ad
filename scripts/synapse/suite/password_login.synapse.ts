/** Chapter 3 against Synapse: password login by user ID, localpart and email; a wrong password; the example. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MatrixError } from "../../../mod.ts";
import {
  assertNoSecrets,
  calls,
  example,
  field,
  inDir,
  newClient,
  raw,
  rawLogin,
  URL_,
  users,
} from "./support.ts";

const WHOAMI = "/_matrix/client/v3/account/whoami";

describe("synapse: password login (chapter 3)", () => {
  it("logs in by full user ID, with a refresh token and a 5 s expiry", async () => {
    const alice = await users.user("alice");
    const { client } = newClient();
    const before = Date.now();
    const result = await client.loginWithPassword(alice.userId, alice.password);
    assert.equal(result.userId, alice.userId);
    assert.ok(result.deviceId);
    assert.equal(result.homeserver.href, `${URL_}/`);
    assert.ok(result.expiresAt !== undefined);
    assert.ok(
      result.expiresAt > before && result.expiresAt <= Date.now() + 5000,
    );
    assert.equal((await client.whoami()).userId, alice.userId);
  });

  it("logs in by localpart", async () => {
    const bob = await users.user("bob");
    const { client } = newClient();
    const result = await client.loginWithPassword(bob.localpart, bob.password);
    assert.equal(result.userId, bob.userId);
  });

  it("logs in by email address, ignoring case, after the admin API added it", async () => {
    const address = `${crypto.randomUUID().slice(0, 8)}@example.org`;
    const carol = await users.user("carol", [{ medium: "email", address }]);
    const { client } = newClient();
    const result = await client.loginWithPassword(
      { email: address.toUpperCase() },
      carol.password,
    );
    assert.equal(result.userId, carol.userId);
  });

  it("a login answer carries well_known (the harness sets public_baseurl), its base_url ending in /", async () => {
    const gina = await users.user("gina");
    const login = await rawLogin(gina);
    // Synapse's public_baseurl, with the final / it always has.
    assert.deepEqual(login.well_known, {
      "m.homeserver": { base_url: `${URL_}/` },
    });
  });

  it("logging in again with the same device_id leaves the old access token valid (synapse #6616)", async () => {
    // A deviation from the specification, which says that a login with an
    // existing device_id invalidates the access tokens the device had:
    // Synapse 1.160 keeps them (element-hq/synapse#6616, opened in 2020 as
    // matrix-org/synapse#6616). The development homeserver follows the
    // specification; the differential scenario never logs in twice with one
    // device_id, so the difference is not listed there.
    const hana = await users.user("hana");
    const first = await rawLogin(hana);
    const deviceId = field(first, "device_id");
    const second = await rawLogin(hana, { device_id: deviceId });
    assert.equal(second.device_id, deviceId);
    const old = await raw("GET", WHOAMI, {
      token: field(first, "access_token"),
    });
    assert.equal(old.status, 200, `the first token: ${old.body.errcode}`);
    assert.equal(old.body.device_id, deviceId);
    const current = await raw("GET", WHOAMI, {
      token: field(second, "access_token"),
    });
    assert.equal(current.status, 200);
    assert.equal(current.body.device_id, deviceId);
  });

  it("a wrong password is 403 M_FORBIDDEN, and nothing is stored", async () => {
    const dave = await users.user("dave");
    const { client, log } = newClient();
    const error = await client.loginWithPassword(dave.userId, "not-it").then(
      () => assert.fail("logged in"),
      (e) => e,
    );
    assert.ok(error instanceof MatrixError, String(error));
    assert.equal(error.status, 403);
    assert.equal(error.errcode, "M_FORBIDDEN");
    assert.ok(!error.message.includes("not-it"));
    assert.equal(client.sessionState, "logged_out");
    assert.deepEqual(calls(log, "/login"), ["POST 403"]);
  });

  it("examples/login.ts logs in, saves the session and prints no secret", async () => {
    const erin = await users.user("erin");
    await inDir(async (dir) => {
      const file = join(dir, "session.json");
      const run = await example(
        "login.ts",
        ["--homeserver", URL_, "--session", file, erin.localpart],
        {
          dir,
          envNames: ["MATRIX_PASSWORD"],
          env: { MATRIX_PASSWORD: erin.password },
        },
      );
      assert.equal(run.code, 0, run.stderr);
      const saved = JSON.parse(await readFile(file, "utf8"));
      assert.deepEqual(run.stdout.trimEnd().split("\n"), [
        `Logged in as ${erin.userId} with device ID ${saved.device_id}`,
        `Session saved to ${file}`,
      ]);
      assertNoSecrets(run.stdout + run.stderr, erin.password);
    });
  });
});
