/**
 * Hermetic tests of the Synapse harness's pure parts: when it skips, the
 * shared-secret registration's MAC, and the configuration it writes. The
 * suite against a real Synapse is `npm run test:synapse`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { homeserverYaml, layoutFrom } from "./config.ts";
import { type HostFacts, skipReason } from "./harness.ts";
import { hmacSha1Hex, registrationMac } from "./users.ts";

const debianRoot: HostFacts = {
  os: "linux",
  uid: 0,
  debian: true,
  installed: false,
  debootstrap: false,
  apt: true,
};

describe("synapse harness: when it skips", () => {
  it("runs as root on Debian with apt-get and a reachable mirror", () => {
    assert.equal(skipReason(debianRoot), undefined);
  });

  it("says in one line why it cannot run elsewhere", () => {
    const reasons = [
      skipReason({ ...debianRoot, os: "darwin" }),
      skipReason({ ...debianRoot, uid: 1000 }),
      skipReason({ ...debianRoot, debian: false }),
      skipReason({ ...debianRoot, apt: false }),
      skipReason({ ...debianRoot, mirror: "connection refused" }),
    ];
    assert.deepEqual(reasons, [
      "needs Linux (Debian) for a chroot, this is darwin",
      "needs root for debootstrap and chroot",
      "needs a Debian host (no /etc/debian_version)",
      "needs debootstrap, or apt-get to install it",
      "the Debian mirror is unreachable (connection refused)",
    ]);
    for (const reason of reasons) assert.doesNotMatch(reason!, /\n/);
  });

  it("needs neither the mirror nor debootstrap once the chroot is cached", () => {
    assert.equal(
      skipReason({
        ...debianRoot,
        installed: true,
        apt: false,
        mirror: "timed out",
      }),
      undefined,
    );
    assert.match(
      skipReason({ ...debianRoot, installed: true, uid: 1000 })!,
      /root/,
    );
  });
});

describe("synapse harness: users", () => {
  it("computes HMAC-SHA1 as openssl does", async () => {
    // printf 'a\0b' | openssl dgst -sha1 -hmac key
    assert.equal(
      await hmacSha1Hex("key", "a\0b"),
      "f4b9978a2872e2e55e155091ae65bd88b502cbdd",
    );
  });

  it("signs nonce, user, password and admin|notadmin, NUL-separated, as Synapse checks", async () => {
    // printf 'nonce\0alice\0pw\0notadmin' | openssl dgst -sha1 -hmac s3cret
    const fields = { nonce: "nonce", username: "alice", password: "pw" };
    assert.equal(
      await registrationMac("s3cret", { ...fields, admin: false }),
      "db58bdc547f6c75a86ad272130ac6fa2f0e3c13b",
    );
    assert.notEqual(
      await registrationMac("s3cret", { ...fields, admin: true }),
      "db58bdc547f6c75a86ad272130ac6fa2f0e3c13b",
    );
  });
});

describe("synapse harness: configuration", () => {
  const layout = layoutFrom((name) =>
    ({ SYNAPSE_PORT: "8118", SYNAPSE_CAS_PORT: "8119" })[name]
  );
  const secrets = { registration: "r", macaroon: "m", form: "f" };
  const config = parse(homeserverYaml(layout, secrets));

  it("listens on loopback only, with the port asked for", () => {
    assert.deepEqual(config.listeners[0].bind_addresses, ["127.0.0.1"]);
    assert.equal(config.listeners[0].port, 8118);
    assert.equal(config.server_name, "localhost:8118");
    assert.equal(config.public_baseurl, "http://localhost:8118/");
  });

  it("has short refreshable tokens, get_token behind a password, CAS at the devserver's provider, and raised rc_login", () => {
    assert.equal(config.refreshable_access_token_lifetime, "5s");
    assert.deepEqual(config.login_via_existing_session, {
      enabled: true,
      require_ui_auth: true,
      token_timeout: "5m",
    });
    assert.equal(config.cas_config.server_url, "http://127.0.0.1:8119/cas");
    assert.deepEqual(config.sso.client_whitelist, ["http://127.0.0.1:"]);
    assert.equal(config.rc_login.address.burst_count, 1000);
    assert.equal(config.rc_login.failed_attempts.burst_count, 3);
    assert.equal(config.registration_shared_secret, "r");
  });

  it("uses cached defaults outside the repository, and refuses a bad port", () => {
    const defaults = layoutFrom(() => undefined);
    assert.equal(defaults.root, "/var/cache/matrixlib/synapse-root");
    assert.equal(defaults.port, 8008);
    assert.throws(
      () => layoutFrom((n) => n === "SYNAPSE_PORT" ? "80x" : undefined),
      /SYNAPSE_PORT must be a port number/,
    );
  });
});
