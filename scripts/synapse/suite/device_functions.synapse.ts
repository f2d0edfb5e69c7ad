/**
 * Chapter 8's device functions and its example against Synapse: the list as
 * `listDevices` reads Synapse's answer (with its `user_id` and its `null`s), a
 * rename, a wrong password and a right one for `deleteDevices`, and
 * `examples/devices.ts` run as a user would.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  deleteDevices,
  getDevice,
  InteractiveAuthError,
  listDevices,
  MatrixError,
  renameDevice,
} from "../../../mod.ts";
import { JsonFileStorage } from "../../../src/file_storage.ts";
import {
  assertNoSecrets,
  example,
  inDir,
  newClient,
  raw,
  users,
} from "./support.ts";

describe("synapse: the user's devices through chapter 8's functions and example", () => {
  it("lists, renames and signs out devices; a device never used has no last-seen", async () => {
    const erin = await users.user("erin");
    const laptop = newClient().client;
    const phone = newClient().client;
    await laptop.loginWithPassword(erin.userId, erin.password, {
      initialDeviceDisplayName: "laptop",
    });
    await phone.loginWithPassword(erin.userId, erin.password, {
      initialDeviceDisplayName: "phone",
    });
    const phoneId = phone.deviceId!;
    // The user factory's registration made a device of its own, too.
    const devices = await listDevices(laptop);
    const ours = devices.filter((d) =>
      d.deviceId === laptop.deviceId || d.deviceId === phoneId
    );
    assert.deepEqual(
      ours.map((d) => [d.deviceId, d.displayName, d.current]).sort(),
      [[laptop.deviceId, "laptop", true], [phoneId, "phone", false]].sort(),
    );
    assert.equal(devices.filter((d) => d.current).length, 1);
    const unused = devices.find((d) => d.deviceId === phoneId)!;
    assert.equal(unused.lastSeenTs, undefined); // Synapse's null
    assert.equal(unused.lastSeenIp, undefined);
    await renameDevice(laptop, phoneId, { displayName: "old phone" });
    assert.equal((await getDevice(laptop, phoneId)).displayName, "old phone");
    await assert.rejects(
      getDevice(laptop, "NO/SUCH?DEVICE"),
      (error: Error) => error instanceof MatrixError && error.status === 404,
    );
    await assert.rejects(
      deleteDevices(laptop, [phoneId], { password: "not her password" }),
      (error: Error) =>
        error instanceof InteractiveAuthError &&
        /refused the password/.test(error.message),
    );
    await deleteDevices(laptop, [phoneId], { password: erin.password });
    await assert.rejects(
      phone.whoami(),
      (error: Error) =>
        error instanceof MatrixError && error.errcode === "M_UNKNOWN_TOKEN",
    );
    assert.equal(phone.sessionState, "logged_out");
    assert.ok(
      !(await listDevices(laptop)).some((d) => d.deviceId === phoneId),
    );
  });

  it("examples/devices.ts lists the devices, renames one and signs out the others", async () => {
    const fay = await users.user("fay");
    await inDir(async (dir) => {
      const logIn = async (file: string, name: string) => {
        const { client } = newClient({ storage: new JsonFileStorage(file) });
        await client.loginWithPassword(fay.userId, fay.password, {
          initialDeviceDisplayName: name,
        });
        const token = JSON.parse(await readFile(file, "utf8")).session
          .accessToken as string;
        return { deviceId: client.deviceId!, token };
      };
      const file = join(dir, "session.json");
      const mine = await logIn(file, "terminal");
      const other = await logIn(join(dir, "other.json"), "phone");
      const run = (args: string[], env: Record<string, string> = {}) =>
        example("devices.ts", [...args, "--session", file], {
          dir,
          env,
          envNames: ["MATRIX_PASSWORD"],
        });
      const listed = await run(["list"]);
      assert.equal(listed.code, 0, listed.stderr);
      const lines = listed.stdout.trimEnd().split("\n");
      // The user factory's registration made a third device.
      assert.equal(lines[0], `Devices of ${fay.userId} (3):`);
      assert.match(lines[1], new RegExp(`^\\* ${mine.deviceId} +terminal `));
      const phoneLine = new RegExp(`^  ${other.deviceId} +phone +never seen$`);
      assert.ok(lines.some((l) => phoneLine.test(l)), listed.stdout);
      const renamed = await run(["rename", other.deviceId, "old phone"]);
      assert.equal(renamed.stdout, `Renamed ${other.deviceId} to old phone\n`);
      const out = await run(["sign-out-others"], {
        MATRIX_PASSWORD: fay.password,
      });
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.split("\n").length - 1, 2); // phone, registration
      assert.ok(out.stdout.includes(`Signed out ${other.deviceId}\n`));
      assert.equal(
        (await raw("GET", "/_matrix/client/v3/account/whoami", {
          token: other.token,
        })).status,
        401,
      );
      for (const r of [listed, renamed, out]) {
        assertNoSecrets(
          r.stdout + r.stderr,
          mine.token,
          other.token,
          fay.password,
        );
      }
    });
  });
});
