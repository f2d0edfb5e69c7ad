/** Chapter 2 against Synapse: the login flows, through the library and the example. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { example, newClient, raw, URL_ } from "./support.ts";

describe("synapse: login methods (chapter 2)", () => {
  it("GET /login lists exactly, in order: m.login.cas, m.login.sso, m.login.token (with get_login_token), m.login.password, m.login.application_service; SSO with the CAS provider", async () => {
    // The order is Synapse's: CAS (kept for old clients), SSO, the login
    // token, the password, application services.
    const answer = await raw("GET", "/_matrix/client/v3/login");
    assert.equal(answer.status, 200);
    assert.deepEqual(
      (answer.body.flows as { type: string }[]).map((f) => f.type),
      [
        "m.login.cas",
        "m.login.sso",
        "m.login.token",
        "m.login.password",
        "m.login.application_service",
      ],
    );
    const { client } = newClient();
    const flows = await client.loginMethods();
    const token = flows.find((f) => f.type === "m.login.token")!;
    assert.equal(token.getLoginToken, true);
    const sso = flows.find((f) => f.type === "m.login.sso")!;
    assert.deepEqual(
      sso.identityProviders?.map((p) => [p.id, p.name]),
      [["cas", "CAS"]],
    );
  });

  it("examples/login_methods.ts prints them", async () => {
    const run = await example("login_methods.ts", ["--homeserver", URL_]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `Login methods of ${URL_}/:`);
    assert.ok(lines.includes("  m.login.password"), run.stdout);
    assert.ok(lines.includes("  m.login.sso: CAS (cas)"), run.stdout);
    assert.ok(
      lines.includes("  m.login.token (can log in other devices)"),
      run.stdout,
    );
  });
});
