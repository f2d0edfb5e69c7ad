/** Chapter 1 against Synapse: `.well-known`, `/versions`, discovery and its example. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Client } from "../../../mod.ts";
import { example, raw, URL_ } from "./support.ts";

describe("synapse: discovery (chapter 1)", () => {
  it("serves .well-known with a base_url ending in /, and /versions up to v1.12", async () => {
    const wellKnown = await raw("GET", "/.well-known/matrix/client");
    assert.equal(wellKnown.status, 200);
    assert.deepEqual(wellKnown.body["m.homeserver"], {
      base_url: `${URL_}/`,
    });
    const versions = await raw("GET", "/_matrix/client/versions");
    assert.equal(versions.status, 200);
    const list = versions.body.versions as string[];
    assert.ok(list.includes("v1.12"), list.join(", "));
    assert.equal(typeof versions.body.unstable_features, "object");
  });

  it("the library discovers Synapse through its .well-known", async () => {
    const client = new Client({ serverName: URL_, allowHttp: true });
    const base = await client.discover();
    assert.equal(base.href, `${URL_}/`);
  });

  it("examples/discover.ts finds it and prints SUCCESS", async () => {
    const run = await example("discover.ts", ["--allow-http", URL_]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^outcome: +SUCCESS$/m);
    assert.match(
      run.stdout,
      new RegExp(`^homeserver: +${URL_.replaceAll(".", "\\.")}/$`, "m"),
    );
    assert.match(run.stdout, /^spec versions: .*v1\.12/m);
  });
});
