/**
 * Tests of the OAuth 2.0 headless browser (`oauth_browser.ts`): it follows
 * an authorisation request through the homeserver's login and consent page
 * to the redirect URI, answers a device authorisation, signs on through
 * MAS's compatibility single sign-on, in process and as a command, and stops
 * with a message that holds no secret when it cannot.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import {
  oauthApproveDevice,
  oauthAuthorize,
  OAuthBrowserError,
} from "./oauth_browser.ts";
import {
  authorizationUrl,
  NATIVE_CLIENT,
  oauthServer,
  pkcePair,
  REDIRECT_WITH_PORT,
  registerClient,
  scopeFor,
} from "./oauth_test_support.ts";
import { serveHomeserver } from "./serve.ts";
import { fetchOf, type Homeserver } from "./server.ts";
import { call } from "./test_support.ts";

/** The log of `hs` as `METHOD path status` lines. */
const logOf = (hs: Homeserver) =>
  hs.log.map((e) => `${e.method} ${e.path} ${e.status}`);

/** A `fetch` of `hs` whose pages are rewritten by `rewrite`. */
function rewriting(
  hs: Homeserver,
  rewrite: (page: string) => string,
): typeof fetch {
  return async (input, init) => {
    const response = await fetchOf(hs)(input as Request | URL | string, init);
    const page = await response.text();
    return new Response(response.status === 303 ? null : rewrite(page), {
      status: response.status,
      headers: response.headers,
    });
  };
}

/** Asserts that `error` says nothing secret: no query, password or code. */
function assertNoSecret(error: unknown, ...secrets: string[]): void {
  assert.ok(error instanceof OAuthBrowserError, String(error));
  for (const secret of ["secret", "?", "#", ...secrets]) {
    assert.ok(
      !error.message.includes(secret),
      `${JSON.stringify(secret)} in ${error.message}`,
    );
  }
}

describe("devserver oauth_browser", () => {
  it("follows an authorization request through the login and consent page to the redirect URI with code and state", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    hs.clearLog();
    const callback = await oauthAuthorize(
      authorizationUrl(hs, clientId, challenge),
      { user: "alice", password: "secret", fetch: fetchOf(hs), deliver: false },
    );
    assert.equal(
      callback.url.origin + callback.url.pathname,
      "http://127.0.0.1:41234/callback",
    );
    assert.equal(callback.state, "S1");
    assert.match(callback.code!, /^[A-Za-z0-9]{32}$/);
    assert.equal(callback.error, undefined);
    assert.deepEqual(
      logOf(hs).map((l) => l.replace(/[0-9A-Z]{26}/, "ID")),
      ["GET /authorize 303", "GET /consent/ID 200", "POST /consent/ID 303"],
    );
  });

  it("keeps to the origin it started from, even when the base URL names another host", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const start = authorizationUrl(hs, clientId, challenge);
    start.host = "127.0.0.1:8008"; // the base URL says localhost:8008
    const callback = await oauthAuthorize(start, {
      user: "alice",
      password: "secret",
      fetch: fetchOf(hs),
      deliver: false,
    });
    assert.match(callback.code!, /^[A-Za-z0-9]{32}$/);
  });

  it("returns a native app's private-scheme redirect URI without requesting it", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs, {
      redirect_uris: ["example.matrixlib.app:/callback"],
    });
    const { challenge } = await pkcePair();
    let requested = 0;
    const callback = await oauthAuthorize(
      authorizationUrl(hs, clientId, challenge, {
        redirect_uri: "example.matrixlib.app:/callback",
      }),
      {
        user: "alice",
        password: "secret",
        fetch: (input, init) => {
          requested++;
          return fetchOf(hs)(input, init);
        },
      },
    );
    assert.equal(requested, 3);
    assert.equal(callback.url.protocol, "example.matrixlib.app:");
    assert.equal(callback.url.pathname, "/callback");
    assert.equal(callback.state, "S1");
    assert.match(callback.code!, /^[A-Za-z0-9]{32}$/);
  });

  it("denies when told, and returns the redirect URI with error=access_denied", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const callback = await oauthAuthorize(
      authorizationUrl(hs, clientId, challenge, { response_mode: "fragment" }),
      {
        user: "alice",
        password: "secret",
        decision: "deny",
        fetch: fetchOf(hs),
        deliver: false,
      },
    );
    assert.equal(callback.error, "access_denied");
    assert.equal(callback.state, "S1");
    assert.equal(callback.code, undefined);
    assert.equal(callback.url.search, "");
  });

  it("stops at a wrong password, without the password, a code or a query in the message", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    await assert.rejects(
      oauthAuthorize(authorizationUrl(hs, clientId, challenge), {
        user: "alice",
        password: "not-the-password",
        fetch: fetchOf(hs),
        deliver: false,
      }),
      (error: unknown) => {
        assertNoSecret(error, "not-the-password", challenge);
        assert.match(
          (error as Error).message,
          /^http:\/\/localhost:8008\/consent\/[0-9A-Z]{26} refused user "alice" \(status 401\)$/,
        );
        return true;
      },
    );
  });

  it("stops at an error page (an unknown client), naming it, and at a redirect to anywhere but the redirect URI", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    await assert.rejects(
      oauthAuthorize(
        authorizationUrl(hs, "01NOSUCHCLIENT000000000000", challenge),
        { user: "alice", password: "secret", fetch: fetchOf(hs) },
      ),
      (error: unknown) => {
        assertNoSecret(error);
        assert.equal(
          (error as Error).message,
          'http://localhost:8008/authorize answered 400 with "Unknown client"',
        );
        return true;
      },
    );
    await assert.rejects(
      oauthAuthorize(authorizationUrl(hs, clientId, challenge), {
        user: "alice",
        password: "secret",
        fetch: fetchOf(hs),
        redirectUri: "http://127.0.0.1/elsewhere",
      }),
      (error: unknown) => {
        assertNoSecret(error);
        assert.match(
          (error as Error).message,
          /redirected to http:\/\/127\.0\.0\.1:41234\/callback, which is not the redirect URI http:\/\/127\.0\.0\.1\/elsewhere: not followed/,
        );
        return true;
      },
    );
  });

  it("refuses to submit a form whose action leaves the homeserver", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const { challenge } = await pkcePair();
    const fetch = rewriting(
      hs,
      (page) =>
        page.replace(/action="[^"]*"/, 'action="https://phish.example/steal"'),
    );
    await assert.rejects(
      oauthAuthorize(authorizationUrl(hs, clientId, challenge), {
        user: "alice",
        password: "secret",
        fetch,
      }),
      (error: unknown) => {
        assertNoSecret(error);
        assert.match(
          (error as Error).message,
          /would send the password to https:\/\/phish\.example\/steal, not to the homeserver: not submitted/,
        );
        return true;
      },
    );
  });

  it("approves and denies a device, by verification_uri_complete or by the user code", async () => {
    const hs = oauthServer();
    const clientId = await registerClient(hs);
    const ask = async () =>
      (await call(hs, "POST", "/oauth2/device", {
        form: { client_id: clientId, scope: scopeFor("TVDEVICE01") },
      })).body;
    const alice = { user: "alice", password: "secret", fetch: fetchOf(hs) };
    const first = await ask();
    assert.equal(
      await oauthApproveDevice(
        first.verification_uri_complete as string,
        alice,
      ),
      "granted",
    );
    const second = await ask();
    assert.equal(
      await oauthApproveDevice(second.verification_uri as string, {
        ...alice,
        userCode: second.user_code as string,
        decision: "deny",
      }),
      "denied",
    );
    const third = await ask();
    await assert.rejects(
      oauthApproveDevice(third.verification_uri as string, alice),
      /asks for the code: pass userCode/,
    );
    await assert.rejects(
      oauthApproveDevice(third.verification_uri as string, {
        ...alice,
        userCode: "WRONG1",
      }),
      /refused the code/,
    );
    await assert.rejects(
      oauthApproveDevice(third.verification_uri_complete as string, {
        ...alice,
        password: "wrong-password",
      }),
      (error: unknown) => {
        assertNoSecret(error, "wrong-password");
        assert.match(
          (error as Error).message,
          /refused user "alice" \(status 401\)/,
        );
        return true;
      },
    );
  });

  it("signs on through MAS's compatibility single sign-on in the both mode, to redirectUrl with loginToken", async () => {
    const hs = oauthServer({ oauth: "both" });
    const start =
      `${hs.baseUrl}_matrix/client/v3/login/sso/redirect?redirectUrl=${
        encodeURIComponent("http://127.0.0.1:9/cb?state=T")
      }`;
    const callback = await oauthAuthorize(start, {
      user: "alice",
      password: "secret",
      fetch: fetchOf(hs),
      deliver: false,
    });
    assert.equal(callback.state, "T");
    assert.match(callback.loginToken!, /^[A-Za-z0-9]{32}$/);
  });

  it("runs as a command: the password from OAUTH_PASSWORD, the code delivered to the client's listener; --deny; --help", async () => {
    const served = await serveHomeserver({
      oauth: "both",
      users: [{ localpart: "alice", password: "secret" }],
    });
    let reached: URLSearchParams | undefined;
    const app = createServer((request, response) => {
      reached = new URL(request.url!, "http://127.0.0.1").searchParams;
      response.end("Signed in");
    });
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    const port = (app.address() as AddressInfo).port;
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    const run = (args: string[], env: Record<string, string>) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          "--allow-env=OAUTH_PASSWORD",
          "devserver/oauth_browser.ts",
          ...args,
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
    try {
      const registered = await fetch(`${served.url}/oauth2/registration`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(NATIVE_CLIENT),
      });
      const clientId = (await registered.json()).client_id;
      const { challenge } = await pkcePair();
      const url = authorizationUrl(served.homeserver, clientId, challenge, {
        redirect_uri: `http://127.0.0.1:${port}/callback`,
      });
      const ok = await run(["--user", "alice", url.href], {
        OAUTH_PASSWORD: "secret",
      });
      assert.equal(ok.code, 0, decode(ok.stderr));
      assert.equal(decode(ok.stdout) + decode(ok.stderr), "");
      assert.equal(reached?.get("state"), "S1");
      assert.match(reached?.get("code") ?? "", /^[A-Za-z0-9]{32}$/);
      const denied = await run(["--user", "alice", "--deny", url.href], {
        OAUTH_PASSWORD: "secret",
      });
      assert.equal(denied.code, 0, decode(denied.stderr));
      assert.equal(reached?.get("error"), "access_denied");
      const wrong = await run(["--user", "alice", url.href], {
        OAUTH_PASSWORD: "nope",
      });
      assert.equal(wrong.code, 1);
      assert.match(
        decode(wrong.stderr),
        /^oauth_browser: http:\/\/127\.0\.0\.1:\d+\/consent\/[0-9A-Z]{26} refused user "alice" \(status 401\)\n$/,
      );
      const unset = await run(["--user", "alice", url.href], {});
      assert.equal(unset.code, 2);
      assert.match(decode(unset.stderr), /OAUTH_PASSWORD is not set/);
      const help = await run(["--help"], {});
      assert.equal(help.code, 0);
      assert.match(decode(help.stdout), /^Usage: OAUTH_PASSWORD=/);
      assert.match(decode(help.stdout), /--user-code CODE/);
      assert.ok(!REDIRECT_WITH_PORT.includes(String(port)));
    } finally {
      app.close();
      await served.close();
    }
  });
});
