/**
 * Chapter 6 against Synapse: `get_token` behind its password stage, then
 * `m.login.token`; the whole CAS round trip (Synapse, the development
 * homeserver's CAS provider as Synapse's IdP, the library's loopback
 * listener); the "Continue to your account" page for a `redirectUrl` not on
 * the whitelist; and the example with the headless browser.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  InteractiveAuthError,
  MatrixError,
  newSsoState,
  readSsoCallback,
  ssoRedirectUrl,
} from "../../../mod.ts";
import { listenForSsoCallback } from "../../../src/loopback_callback.ts";
import { casSignOn } from "../../../devserver/cas_browser.ts";
import {
  assertNoSecrets,
  calls,
  CAS,
  example,
  field,
  HOST,
  inDir,
  newClient,
  NO_CAS,
  raw,
  URL_,
  users,
} from "./support.ts";

const GET_TOKEN = "/_matrix/client/v1/login/get_token";

/** The stages of each flow of a user-interactive challenge. */
function stagesOf(body: Record<string, unknown>): string[][] {
  return ((body.flows ?? []) as { stages: string[] }[]).map((f) => f.stages);
}

describe("synapse: single sign-on and login tokens (chapter 6)", () => {
  it("get_token completes its password stage; the token logs in a second device once, then is 403", async () => {
    // Synapse allows one get_token a minute per user: a user of its own.
    const alice = await users.user("alice");
    const first = newClient();
    await first.client.loginWithPassword(alice.userId, alice.password);
    const { loginToken, expiresAt } = await first.client.getLoginToken({
      password: alice.password,
    });
    assert.ok(expiresAt > Date.now());
    // The first call is the 401 challenge, the second carries the password.
    assert.deepEqual(calls(first.log, "/get_token"), ["POST 401", "POST 200"]);
    const second = newClient();
    const result = await second.client.loginWithToken(loginToken);
    assert.equal(result.userId, alice.userId);
    assert.notEqual(result.deviceId, first.client.deviceId);
    const again = await newClient().client.loginWithToken(loginToken).then(
      () => assert.fail("a login token worked twice"),
      (e) => e,
    );
    assert.ok(again instanceof MatrixError);
    assert.equal(again.status, 403);
    assert.equal(again.errcode, "M_FORBIDDEN");
  });

  it("GET /v3/capabilities lists m.get_login_token enabled", async () => {
    const carol = await users.user("carol");
    const answer = await raw("GET", "/_matrix/client/v3/capabilities", {
      token: carol.accessToken,
    });
    assert.equal(answer.status, 200, `capabilities: ${answer.body.errcode}`);
    const capabilities = answer.body.capabilities as Record<string, unknown>;
    assert.deepEqual(capabilities["m.get_login_token"], { enabled: true });
  });

  it("get_token re-prompts: a second get_token starts with a 401 user-interactive challenge again, even right after a successful one", async () => {
    // Synapse runs user-interactive authentication before its limit of one
    // get_token a minute: the second call's first answer is the challenge,
    // not a 429. Only that first leg is sent, so the limit is never met.
    const dave = await users.user("dave");
    const token = dave.accessToken;
    const challenge = await raw("POST", GET_TOKEN, { json: {}, token });
    assert.equal(challenge.status, 401);
    assert.deepEqual(stagesOf(challenge.body), [["m.login.password"]]);
    const granted = await raw("POST", GET_TOKEN, {
      token,
      json: {
        auth: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: dave.localpart },
          password: dave.password,
          session: field(challenge.body, "session"),
        },
      },
    });
    assert.equal(granted.status, 200, `get_token: ${granted.body.errcode}`);
    assert.equal(typeof granted.body.login_token, "string");
    const again = await raw("POST", GET_TOKEN, { json: {}, token });
    assert.equal(again.status, 401, `again: ${again.body.errcode}`);
    assert.deepEqual(stagesOf(again.body), [["m.login.password"]]);
    assert.equal(typeof again.body.session, "string");
    assert.equal(again.body.completed, undefined);
  });

  it("get_token with a wrong password is refused as an InteractiveAuthError", async () => {
    const bob = await users.user("bob");
    const { client } = newClient();
    await client.loginWithPassword(bob.userId, bob.password);
    await assert.rejects(
      client.getLoginToken({ password: "not-it" }),
      InteractiveAuthError,
    );
  });

  it(
    "the whole CAS round trip: Synapse, its CAS provider, the loopback listener, m.login.token",
    {
      skip: NO_CAS,
    },
    async () => {
      const state = newSsoState();
      const listener = await listenForSsoCallback(state, { timeoutMs: 30_000 });
      try {
        const start = ssoRedirectUrl(URL_, {
          redirectUrl: listener.redirectUrl,
          state,
          idpId: "cas",
        });
        const { callback, confirmation } = await casSignOn(start, {
          user: CAS!.user,
          password: CAS!.password,
        });
        assert.equal(callback.origin, listener.redirectUrl.origin);
        // http://127.0.0.1:PORT/… starts with the whitelisted prefix.
        assert.equal(confirmation, undefined);
        const token = await listener.loginToken;
        const { client } = newClient();
        const result = await client.loginWithToken(token);
        assert.equal(result.userId, `@${CAS!.user}:${new URL(URL_).host}`);
        assert.equal((await client.whoami()).userId, result.userId);
      } finally {
        await listener.close();
      }
    },
  );

  it(
    "a redirectUrl on http://localhost:PORT, not covered by the whitelisted prefix http://127.0.0.1:, meets the 'Continue to your account' page; its Continue leads there with a loginToken that logs in once",
    {
      skip: NO_CAS,
    },
    async () => {
      // Synapse redirects straight away only when the redirectUrl starts
      // with a prefix of sso.client_whitelist (client_redirect_url.startswith
      // in AuthHandler.complete_sso_login); the harness lists
      // "http://127.0.0.1:", so localhost gets the page a stock Synapse
      // shows every client. The loopback listener names 127.0.0.1 only, so
      // the browser stops at the callback's address without requesting it
      // (nothing listens on port 9), and the test reads it as the listener
      // would.
      const state = newSsoState();
      const start = ssoRedirectUrl(URL_, {
        redirectUrl: "http://localhost:9/callback",
        state,
        idpId: "cas",
      });
      const { callback, confirmation } = await casSignOn(start, {
        user: CAS!.user,
        password: CAS!.password,
        until: (url) => url.host === "localhost:9",
      });
      assert.ok(confirmation !== undefined, "no confirmation page was met");
      assert.equal(
        confirmation.address,
        `${URL_}/_matrix/client/r0/login/cas/ticket`,
      );
      assert.match(confirmation.text, /^Continue to your account /);
      assert.ok(
        confirmation.text.includes(
          "Continuing will grant http://localhost:9/callback access to your account.",
        ),
        confirmation.text,
      );
      assertNoSecrets(confirmation.text, CAS!.password);
      assert.equal(
        callback.origin + callback.pathname,
        "http://localhost:9/callback",
      );
      const token = readSsoCallback(callback, state);
      const userId = `@${CAS!.user}:${new URL(URL_).host}`;
      const { client } = newClient();
      assert.equal((await client.loginWithToken(token)).userId, userId);
      const again = await newClient().client.loginWithToken(token).then(
        () => assert.fail("a login token worked twice"),
        (e) => e,
      );
      assert.ok(again instanceof MatrixError);
      assert.equal(again.status, 403);
      assert.ok(!again.message.includes(token));
    },
  );

  it(
    "examples/sso_login.ts signs on with CAS through the headless browser and saves the session",
    {
      skip: NO_CAS,
    },
    async () => {
      await inDir(async (dir) => {
        const file = join(dir, "session.json");
        const browser =
          `${Deno.execPath()} run --allow-net=${HOST},127.0.0.1 --allow-env=CAS_PASSWORD devserver/cas_browser.ts --user ${
            CAS!.user
          }`;
        const run = await example(
          "sso_login.ts",
          ["--homeserver", URL_, "--session", file, "--browser", browser],
          {
            dir,
            net: ["127.0.0.1"],
            run: [Deno.execPath()],
            env: { CAS_PASSWORD: CAS!.password },
          },
        );
        assert.equal(run.code, 0, run.stderr);
        const saved = JSON.parse(await readFile(file, "utf8"));
        const lines = run.stdout.trimEnd().split("\n");
        assert.equal(
          lines[0],
          "Sign in with CAS in a browser, at this address:",
        );
        assert.equal(
          lines.at(-2),
          `Logged in as @${CAS!.user}:${
            new URL(URL_).host
          } with device ID ${saved.device_id}`,
        );
        assertNoSecrets(run.stdout + run.stderr, CAS!.password);
        assert.doesNotMatch(run.stdout + run.stderr, /ST-/);
      });
    },
  );
});
