/**
 * A 429 from Synapse's `rc_login.failed_attempts` (burst 3 in the
 * harness's configuration), and how the client handles its `Retry-After`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MatrixError } from "../../../mod.ts";
import { calls, newClient, raw, users } from "./support.ts";

/** Three wrong passwords for `user`: each 403; the burst is spent. */
async function spendBurst(localpart: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const answer = await raw("POST", "/_matrix/client/v3/login", {
      json: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: localpart },
        password: `wrong-${i}`,
      },
    });
    assert.equal(answer.status, 403);
  }
}

describe("synapse: rate limits", () => {
  it("the 4th wrong password is 429 M_LIMIT_EXCEEDED with Retry-After; a client that will not wait reports the wait", async () => {
    const alice = await users.user("alice");
    await spendBurst(alice.localpart);
    const { client, log } = newClient({ rateLimit: { maxRetries: 0 } });
    const error = await client.loginWithPassword(alice.userId, "wrong").then(
      () => assert.fail("logged in"),
      (e) => e,
    );
    assert.ok(error instanceof MatrixError, String(error));
    assert.equal(error.status, 429);
    assert.equal(error.errcode, "M_LIMIT_EXCEEDED");
    assert.ok(error.retryAfterMs !== undefined && error.retryAfterMs > 0);
    assert.ok(error.retryAfterMs <= 10_000, String(error.retryAfterMs));
    assert.match(error.message, /try again in/);
    assert.deepEqual(calls(log, "/login"), ["POST 429"]);
    // The raw answer carries both the header and retry_after_ms.
    const again = await raw("POST", "/_matrix/client/v3/login", {
      json: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: alice.localpart },
        password: "wrong",
      },
    });
    assert.equal(again.status, 429);
    assert.match(again.headers.get("Retry-After") ?? "", /^\d+$/);
    assert.equal(typeof again.body.retry_after_ms, "number");
  });

  it("by default the client waits as Retry-After says and tries again: then the right password logs in", async () => {
    const bob = await users.user("bob");
    await spendBurst(bob.localpart);
    const { client, log } = newClient();
    const result = await client.loginWithPassword(bob.userId, bob.password);
    assert.equal(result.userId, bob.userId);
    assert.deepEqual(calls(log, "/login"), ["POST 429", "POST 200"]);
  });
});
