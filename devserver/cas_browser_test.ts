/**
 * Tests of the headless browser: it follows the development homeserver's
 * single sign-on through the CAS form to the callback, in process and as a
 * command, and stops with a message that holds no secret when it cannot.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { CasBrowserError, casRedirects } from "./cas_browser.ts";
import { createHomeserver, fetchOf, type Homeserver } from "./server.ts";
import { serveHomeserver } from "./serve.ts";

const APP = "http://127.0.0.1:9/callback?state=S";

function server(): Homeserver {
  return createHomeserver({
    seed: 3,
    users: [{ localpart: "alice", password: "secret" }],
  });
}

function start(hs: Homeserver, redirectUrl = APP): URL {
  const url = new URL(`${hs.baseUrl}_matrix/client/v3/login/sso/redirect/cas`);
  url.searchParams.set("redirectUrl", redirectUrl);
  return url;
}

describe("devserver cas_browser", () => {
  it("follows the redirects and the CAS form to the callback, which carries the state and a login token", async () => {
    const hs = server();
    const callback = await casRedirects(start(hs), {
      user: "alice",
      password: "secret",
      fetch: fetchOf(hs),
      until: (url) => url.port === "9",
    });
    assert.equal(
      callback.origin + callback.pathname,
      "http://127.0.0.1:9/callback",
    );
    assert.equal(callback.searchParams.get("state"), "S");
    assert.match(callback.searchParams.get("loginToken")!, /^syl_/);
    assert.deepEqual(hs.log.map((e) => `${e.method} ${e.path} ${e.status}`), [
      "GET /_matrix/client/v3/login/sso/redirect/cas 302",
      "GET /cas/login 200",
      "POST /cas/login 302",
      "GET /_matrix/client/r0/login/cas/ticket 302",
    ]);
  });

  it("stops at a wrong password, without the password or a query in the message", async () => {
    const hs = server();
    await assert.rejects(
      casRedirects(start(hs), {
        user: "alice",
        password: "not-it",
        fetch: fetchOf(hs),
        until: (url) => url.port === "9",
      }),
      (error) => {
        assert.ok(error instanceof CasBrowserError);
        assert.match(error.message, /refused user "alice" \(status 401\)/);
        assert.doesNotMatch(error.message, /not-it|\?/);
        return true;
      },
    );
  });

  it("stops at a page that is neither the form nor a redirect (a client the server does not trust)", async () => {
    const hs = server();
    await assert.rejects(
      casRedirects(start(hs, "https://app.example.org/"), {
        user: "alice",
        password: "secret",
        fetch: fetchOf(hs),
      }),
      /ticket answered 200 with a page that is neither/,
    );
  });

  it("runs as a command: the password from CAS_PASSWORD, success once the callback answered 200", async () => {
    const served = await serveHomeserver({
      users: [{ localpart: "alice", password: "secret" }],
    });
    let reached: string | undefined;
    const app = createServer((request, response) => {
      reached = new URL(request.url!, "http://127.0.0.1").searchParams.get(
        "state",
      ) ?? "";
      response.end("Signed in");
    });
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    const port = (app.address() as AddressInfo).port;
    try {
      const url = new URL(`${served.url}/_matrix/client/v3/login/sso/redirect`);
      url.searchParams.set(
        "redirectUrl",
        `http://127.0.0.1:${port}/cb?state=T`,
      );
      const run = (env: Record<string, string>) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-net=127.0.0.1",
            "--allow-env=CAS_PASSWORD",
            "devserver/cas_browser.ts",
            "--user",
            "alice",
            url.href,
          ],
          env,
          stdout: "piped",
          stderr: "piped",
        }).output();
      const ok = await run({ CAS_PASSWORD: "secret" });
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      assert.equal(ok.code, 0, decode(ok.stderr));
      assert.equal(decode(ok.stdout) + decode(ok.stderr), "");
      assert.equal(reached, "T");
      const wrong = await run({ CAS_PASSWORD: "nope" });
      assert.equal(wrong.code, 1);
      assert.match(
        decode(wrong.stderr),
        /^cas_browser: the CAS provider at http:\/\/127\.0\.0\.1:\d+\/cas\/login refused user "alice"/,
      );
    } finally {
      app.close();
      await served.close();
    }
  });
});
