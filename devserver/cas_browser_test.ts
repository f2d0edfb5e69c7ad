/**
 * Tests of the headless browser: it follows the development homeserver's
 * single sign-on through the CAS form (and, for a client the server does not
 * trust, its "Continue to your account" page) to the callback, in process and
 * as a command, and stops with a message that holds no secret when it
 * cannot.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import {
  CasBrowserError,
  casRedirects,
  casSignOn,
  unescapeHtml,
} from "./cas_browser.ts";
import {
  createHomeserver,
  fetchOf,
  type Homeserver,
  type HomeserverOptions,
} from "./server.ts";
import { serveHomeserver } from "./serve.ts";

const APP = "http://127.0.0.1:9/callback?state=S";

function server(options: HomeserverOptions = {}): Homeserver {
  return createHomeserver({
    seed: 3,
    users: [{ localpart: "alice", password: "secret" }],
    ...options,
  });
}

/** A server that trusts no loopback client: it shows the confirmation page. */
const untrusting = () =>
  server({ ssoClientWhitelist: ["https://trusted.example/"] });

function start(hs: Homeserver, redirectUrl = APP): URL {
  const url = new URL(`${hs.baseUrl}_matrix/client/v3/login/sso/redirect/cas`);
  url.searchParams.set("redirectUrl", redirectUrl);
  return url;
}

/** The log of `hs` as `METHOD path status` lines. */
const logOf = (hs: Homeserver) =>
  hs.log.map((e) => `${e.method} ${e.path} ${e.status}`);

/** `fetch` of `hs`, but the Continue link's `href` is `rewrite(href)`. */
function withContinueLink(
  hs: Homeserver,
  rewrite: (href: string) => string,
): typeof fetch {
  return async (input, init) => {
    const response = await fetchOf(hs)(input as Request | URL | string, init);
    const page = await response.text();
    return new Response(
      page.replace(
        /href="([^"]*)">Continue</,
        (_, href: string) => `href="${rewrite(href)}">Continue<`,
      ),
      { status: response.status, headers: response.headers },
    );
  };
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
    assert.deepEqual(logOf(hs), [
      "GET /_matrix/client/v3/login/sso/redirect/cas 302",
      "GET /cas/login 200",
      "POST /cas/login 302",
      "GET /_matrix/client/r0/login/cas/ticket 302",
    ]);
  });

  it("reports no confirmation page for a client the server trusts", async () => {
    const hs = server();
    const result = await casSignOn(start(hs), {
      user: "alice",
      password: "secret",
      fetch: fetchOf(hs),
      until: (url) => url.port === "9",
    });
    assert.equal(result.confirmation, undefined);
    assert.equal(result.callback.searchParams.get("state"), "S");
  });

  it("clicks Continue on the 'Continue to your account' page of a server that does not trust the client, and says so", async () => {
    const hs = untrusting();
    const { callback, confirmation } = await casSignOn(start(hs), {
      user: "alice",
      password: "secret",
      fetch: fetchOf(hs),
      until: (url) => url.port === "9",
    });
    assert.equal(
      callback.origin + callback.pathname,
      "http://127.0.0.1:9/callback",
    );
    // The link's &amp; was read as &: the state and the token are apart.
    assert.equal(callback.searchParams.get("state"), "S");
    assert.match(callback.searchParams.get("loginToken")!, /^syl_/);
    assert.deepEqual(confirmation, {
      address: "http://localhost:8008/_matrix/client/r0/login/cas/ticket",
      text:
        "Continue to your account Continuing will grant http://127.0.0.1:9/callback access to your account @alice:localhost:8008 . Continue",
    });
    // The ticket answered with the page (200), not with a redirect (302).
    assert.deepEqual(logOf(hs), [
      "GET /_matrix/client/v3/login/sso/redirect/cas 302",
      "GET /cas/login 200",
      "POST /cas/login 302",
      "GET /_matrix/client/r0/login/cas/ticket 200",
    ]);
  });

  it("refuses a Continue link that leads elsewhere than the redirectUrl, saying what the page was", async () => {
    for (
      const [elsewhere, shown] of [
        [
          "https://evil.example/callback?loginToken=syl_x",
          "https://evil.example/callback",
        ],
        [
          "http://127.0.0.1:9/other?state=S&amp;loginToken=syl_x",
          "http://127.0.0.1:9/other",
        ],
        [
          "//127.0.0.1:10/callback?loginToken=syl_x",
          "http://127.0.0.1:10/callback",
        ],
      ]
    ) {
      const hs = untrusting();
      const left: string[] = [];
      await assert.rejects(
        casSignOn(start(hs), {
          user: "alice",
          password: "secret",
          fetch: withContinueLink(hs, () => elsewhere),
          until: (url) => {
            if (url.hostname !== "localhost") left.push(url.href);
            return false;
          },
        }),
        (error) => {
          assert.ok(error instanceof CasBrowserError);
          assert.equal(
            error.message,
            `the "Continue to your account" page at http://localhost:8008/_matrix/client/r0/login/cas/ticket links to ${shown}, not to the redirectUrl http://127.0.0.1:9/callback: not followed`,
          );
          return true;
        },
      );
      assert.deepEqual(left, [], elsewhere);
    }
  });

  it("refuses a Continue link without a login token, and one on a page that is not the homeserver's", async () => {
    const hs = untrusting();
    await assert.rejects(
      casSignOn(start(hs), {
        user: "alice",
        password: "secret",
        fetch: withContinueLink(
          hs,
          (href) => href.replace(/&amp;loginToken=[^"&]*/, ""),
        ),
        until: (url) => url.port === "9",
      }),
      /page at \S+ links to http:\/\/127\.0\.0\.1:9\/callback without a loginToken: not followed$/,
    );
    // The "homeserver" sends the browser to another origin, whose page has
    // a Continue link to the right address.
    const page = `<!DOCTYPE html><title>Continue to your account</title>
<a href="${APP}&amp;loginToken=syl_planted">Continue</a>`;
    const fake: typeof fetch = (input) => {
      const url = new URL(input instanceof Request ? input.url : input);
      return Promise.resolve(
        url.host === "hs.example"
          ? new Response(null, {
            status: 302,
            headers: { Location: "https://other.example/confirm?ticket=ST-1" },
          })
          : new Response(page, { headers: { "Content-Type": "text/html" } }),
      );
    };
    const from = new URL(
      "https://hs.example/_matrix/client/v3/login/sso/redirect",
    );
    from.searchParams.set("redirectUrl", APP);
    await assert.rejects(
      casSignOn(from, {
        user: "alice",
        password: "secret",
        fetch: fake,
        until: (url) => url.port === "9",
      }),
      (error) => {
        assert.ok(error instanceof CasBrowserError);
        assert.equal(
          error.message,
          "https://other.example/confirm answered 200 with a page that has a Continue link, but it is not the homeserver's (https://hs.example): not followed",
        );
        return true;
      },
    );
  });

  it("with confirm: false, stops at the confirmation page, as at any page that is neither the form nor a redirect", async () => {
    const hs = server();
    await assert.rejects(
      casRedirects(start(hs, "https://app.example.org/"), {
        user: "alice",
        password: "secret",
        fetch: fetchOf(hs),
        confirm: false,
      }),
      /ticket answered 200 with a "Continue to your account" page, not clicked \(confirm is false\)$/,
    );
    await assert.rejects(
      casRedirects(start(hs), {
        user: "alice",
        password: "secret",
        fetch: () =>
          Promise.resolve(new Response("<p>Maintenance</p>", { status: 503 })),
      }),
      {
        name: "CasBrowserError",
        message:
          "http://localhost:8008/_matrix/client/v3/login/sso/redirect/cas answered 503 with a page that is neither the CAS login form nor a redirect",
      },
    );
  });

  it("reads character references in one pass, as a browser does", () => {
    assert.equal(
      unescapeHtml(
        "a?b=1&amp;c=&quot;&#39;&#x27;&apos;&lt;&gt;&amp;lt;&nbsp;&#0;",
      ),
      `a?b=1&c="'''<>&lt;&nbsp;&#0;`,
    );
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

  it("runs as a command: the password from CAS_PASSWORD, success once the callback answered 200", async () => {
    await commandTest({});
  });

  it("runs as a command through the confirmation page of a server that trusts no loopback client", async () => {
    const log = await commandTest({
      ssoClientWhitelist: ["https://trusted.example/"],
    });
    assert.ok(log.includes("GET /_matrix/client/r0/login/cas/ticket 200"));
  });
});

/**
 * Runs the browser as a command against a served homeserver with `options`,
 * to a callback of its own; checks that it reaches it, silently, and that a
 * wrong password fails with a message. Returns the homeserver's log.
 */
async function commandTest(options: HomeserverOptions): Promise<string[]> {
  const served = await serveHomeserver({
    users: [{ localpart: "alice", password: "secret" }],
    ...options,
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
    return logOf(served.homeserver);
  } finally {
    app.close();
    await served.close();
  }
}
