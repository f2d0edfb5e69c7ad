/**
 * Tests of the spec-conformance validator: finding operations by concrete
 * path, accepting bodies the specification allows and naming what is wrong
 * with those it does not, and skipping loudly when the specification's files
 * are not there. Tests that need the files skip, with the reason, without
 * them.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { loadSpec, skipUnlessSpec, type SpecValidator } from "./schemas.ts";

const load = await loadSpec();
const skip = skipUnlessSpec(load);

/** The loaded validator (only called by tests that skip without it). */
function spec(): SpecValidator {
  if (!load.validator) throw new Error(`spec not loaded: ${load.reason}`);
  return load.validator;
}

const LOGIN = "/_matrix/client/v3/login";
const PASSWORD_LOGIN = {
  type: "m.login.password",
  identifier: { type: "m.id.user", user: "alice" },
  password: "x",
  refresh_token: true,
};

/** Runs `fn` with stderr writes captured; returns what was written. */
function captureStderr(fn: () => void): string {
  const original = process.stderr.write;
  let text = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    text += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return text;
}

describe("loadSpec without the spec's files", () => {
  it("gives no validator and a reason naming the folder and MATRIX_SPEC_DIR", async () => {
    const absent = await loadSpec({ dir: "/nonexistent" });
    assert.equal(absent.validator, undefined);
    assert.equal(absent.dir, "/nonexistent");
    assert.ok(!absent.validator);
    assert.match(absent.reason, /\/nonexistent/);
    assert.match(absent.reason, /MATRIX_SPEC_DIR/);
  });

  it("loads each folder once", async () => {
    const first = await loadSpec({ dir: "/nonexistent" });
    assert.equal(await loadSpec({ dir: "/nonexistent/." }), first);
  });

  it("reads the folder from MATRIX_SPEC_DIR, relative to the project root", async () => {
    const saved = process.env.MATRIX_SPEC_DIR;
    try {
      process.env.MATRIX_SPEC_DIR = "/no/such/spec";
      assert.equal((await loadSpec()).dir, "/no/such/spec");
      process.env.MATRIX_SPEC_DIR = "no-such-spec";
      const root = path.resolve(
        path.dirname(fileURLToPath(import.meta.url)),
        "../..",
      );
      assert.equal((await loadSpec()).dir, path.join(root, "no-such-spec"));
    } finally {
      if (saved === undefined) delete process.env.MATRIX_SPEC_DIR;
      else process.env.MATRIX_SPEC_DIR = saved;
    }
  });

  it("skips tests loudly: one stderr line per folder, and the reason", async () => {
    const absent = await loadSpec({ dir: "/nonexistent/skip-test" });
    const written = captureStderr(() => {
      const first = skipUnlessSpec(absent);
      const second = skipUnlessSpec(absent);
      assert.equal(first, second);
      assert.ok(first && first.includes(absent.dir));
    });
    const lines = written.trimEnd().split("\n");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /SKIPPED/);
    assert.match(lines[0], /\/nonexistent\/skip-test/);
    assert.match(lines[0], /MATRIX_SPEC_DIR/);
  });
});

describe("loadSpec with the spec's files", () => {
  it("does not skip", { skip }, () => {
    assert.equal(skipUnlessSpec(load), false);
  });

  it("compiles every operation's JSON schemas (every $ref resolves)", {
    skip,
  }, () => {
    const v = spec();
    const ops = v.operations();
    assert.ok(ops.length > 100, `only ${ops.length} operations`);
    const statuses = [200, 201, 302, 307, 308, 400, 401, 403, 404, 429, 502];
    let compiled = 0;
    for (const op of ops) {
      const calls = [
        () => v.requestErrors(op.method, op.path, {}),
        ...statuses.map((s) => () =>
          v.responseErrors(op.method, op.path, s, {})
        ),
      ];
      for (const call of calls) {
        try {
          call();
          compiled++;
        } catch (e) {
          assert.match(String(e), /has no JSON/, `${op.method} ${op.path}`);
        }
      }
    }
    assert.ok(compiled > 300, `only ${compiled} schemas`);
  });
});

describe("findOperation", () => {
  it("finds a literal path", { skip }, () => {
    assert.deepEqual(spec().findOperation("post", LOGIN), {
      method: "POST",
      path: LOGIN,
      operationId: "login",
      file: "data/api/client-server/login.yaml",
    });
  });

  it("matches a template segment, preferring literal paths", { skip }, () => {
    const v = spec();
    const redirect = "/_matrix/client/v3/login/sso/redirect";
    assert.equal(
      v.findOperation("GET", `${redirect}/some-idp`)?.path,
      `${redirect}/{idpId}`,
    );
    assert.equal(
      v.findOperation("GET", `${redirect}/some-idp?redirectUrl=x`)
        ?.operationId,
      "redirectToIdP",
    );
    assert.equal(v.findOperation("GET", redirect)?.path, redirect);
  });

  it("uses each file's own server base path", { skip }, () => {
    const v = spec();
    assert.equal(
      v.findOperation("GET", "/.well-known/matrix/client")?.operationId,
      "getWellknown",
    );
    assert.equal(
      v.findOperation("GET", "/_matrix/client/versions")?.operationId,
      "getVersions",
    );
    assert.equal(
      v.findOperation("POST", "/_matrix/client/v1/login/get_token")
        ?.operationId,
      "generateLoginToken",
    );
    assert.equal(
      v.findOperation("GET", "/_matrix/client/v3/versions"),
      undefined,
    );
  });

  it("gives undefined for an unknown path or method", { skip }, () => {
    const v = spec();
    assert.equal(v.findOperation("GET", "/_matrix/client/v3/nope"), undefined);
    assert.equal(v.findOperation("DELETE", LOGIN), undefined);
    assert.equal(v.findOperation("GET", `${LOGIN}/`), undefined);
  });
});

describe("requestErrors", () => {
  it("accepts a password login", { skip }, () => {
    assert.deepEqual(spec().requestErrors("POST", LOGIN, PASSWORD_LOGIN), []);
  });

  it("names the wrong property and type", { skip }, () => {
    const errors = spec().requestErrors("POST", LOGIN, {
      ...PASSWORD_LOGIN,
      type: 5,
    });
    assert.deepEqual(errors, ["/type must be string"]);
  });

  it("names nested problems by their JSON pointer", { skip }, () => {
    const errors = spec().requestErrors("POST", LOGIN, {
      ...PASSWORD_LOGIN,
      identifier: { type: 1 },
    });
    assert.deepEqual(errors, ["/identifier/type must be string"]);
  });

  it("accepts and rejects refresh bodies", { skip }, () => {
    const v = spec();
    const refresh = "/_matrix/client/v3/refresh";
    assert.deepEqual(
      v.requestErrors("POST", refresh, { refresh_token: "r" }),
      [],
    );
    assert.deepEqual(v.requestErrors("POST", refresh, {}), [
      "(root) must have required property 'refresh_token'",
    ]);
  });

  it("accepts a body any of a path's operations allows", { skip }, () => {
    const v = spec();
    const invite = "/_matrix/client/v3/rooms/!r:x/invite";
    assert.deepEqual(v.requestErrors("POST", invite, { user_id: "@a:x" }), []);
    assert.deepEqual(
      v.requestErrors("POST", invite, {
        id_server: "id.example",
        id_access_token: "t",
        medium: "email",
        address: "a@example.org",
      }),
      [],
    );
    const errors = v.requestErrors("POST", invite, { user_id: 1 });
    assert.ok(errors.includes("(as inviteUser) /user_id must be string"));
  });

  it("throws without an operation or a JSON request body", { skip }, () => {
    const v = spec();
    assert.throws(
      () => v.requestErrors("POST", "/_matrix/client/v3/nope", {}),
      /no operation/,
    );
    assert.throws(
      () => v.requestErrors("GET", LOGIN, {}),
      /no JSON request body schema/,
    );
    assert.throws(
      () => v.requestErrors("POST", "/_matrix/media/v3/upload", {}),
      /no JSON request body schema/,
    );
  });
});

describe("responseErrors", () => {
  it("accepts a login response", { skip }, () => {
    const body = { user_id: "@a:b", access_token: "t", device_id: "D" };
    assert.deepEqual(spec().responseErrors("POST", LOGIN, 200, body), []);
  });

  it("names a missing required property", { skip }, () => {
    const errors = spec().responseErrors("POST", LOGIN, 200, {
      access_token: "t",
      device_id: "D",
    });
    assert.deepEqual(errors, [
      "(root) must have required property 'user_id'",
    ]);
  });

  it("checks the spec's string formats", { skip }, () => {
    const errors = spec().responseErrors("POST", LOGIN, 200, {
      user_id: "alice",
      access_token: "t",
      device_id: "D",
    });
    assert.ok(
      errors.includes('/user_id must match format "mx-user-id"'),
      errors.join("\n"),
    );
  });

  it("accepts the login flows", { skip }, () => {
    const body = { flows: [{ type: "m.login.password" }] };
    assert.deepEqual(spec().responseErrors("GET", LOGIN, 200, body), []);
    assert.deepEqual(
      spec().responseErrors("GET", LOGIN, 200, { flows: [{}] }),
      ["/flows/0 must have required property 'type'"],
    );
  });

  it("accepts a rate-limit error", { skip }, () => {
    const body = { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 100 };
    assert.deepEqual(spec().responseErrors("POST", LOGIN, 429, body), []);
    assert.deepEqual(
      spec().responseErrors("POST", LOGIN, 429, { retry_after_ms: "soon" }),
      [
        "(root) must have required property 'errcode'",
        "/retry_after_ms must be integer",
      ],
    );
  });

  it("checks well-known discovery, including its URI format", { skip }, () => {
    const v = spec();
    const wellKnown = "/.well-known/matrix/client";
    assert.deepEqual(
      v.responseErrors("GET", wellKnown, 200, {
        "m.homeserver": { base_url: "https://x" },
      }),
      [],
    );
    assert.ok(
      v.responseErrors("GET", wellKnown, 200, {
        "m.homeserver": { base_url: "not a uri" },
      }).includes('/m.homeserver/base_url must match format "uri"'),
    );
  });

  it("checks /versions and /refresh responses", { skip }, () => {
    const v = spec();
    assert.deepEqual(
      v.responseErrors("GET", "/_matrix/client/versions", 200, {
        versions: ["v1.1", "v1.19"],
        unstable_features: { "org.example.feature": true },
      }),
      [],
    );
    assert.deepEqual(
      v.responseErrors("GET", "/_matrix/client/versions", 200, {
        versions: ["v1.1"],
        unstable_features: { "org.example.feature": "yes" },
      }),
      ["/unstable_features/org.example.feature must be boolean"],
    );
    assert.deepEqual(
      v.responseErrors("POST", "/_matrix/client/v3/refresh", 200, {
        access_token: "a",
        refresh_token: "r",
        expires_in_ms: 60000,
      }),
      [],
    );
  });

  it("lists the documented statuses, bodiless ones included", { skip }, () => {
    const v = spec();
    assert.deepEqual(
      v.documentedStatuses("GET", "/_matrix/client/v3/login/sso/redirect/cas"),
      ["302", "404"],
    );
    assert.throws(
      () => v.documentedStatuses("GET", "/_matrix/client/v3/nothing"),
      /no operation in the Matrix spec/,
    );
  });

  it("throws without a JSON schema for the status", { skip }, () => {
    const v = spec();
    assert.throws(
      () => v.responseErrors("POST", LOGIN, 418, {}),
      /no JSON schema for a 418 response.*200/,
    );
    assert.throws(
      () => v.responseErrors("GET", "/.well-known/matrix/client", 404, {}),
      /no JSON schema for a 404 response/,
    );
  });
});

/**
 * A small made-up spec folder, for what the real files do not exercise:
 * server overrides, several base paths, a literal segment competing with a
 * template, status ranges, and a reference to a file that is not there.
 */
function writeFixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "matrix-spec-fixture-"));
  const api = path.join(dir, "data/api/client-server");
  fs.mkdirSync(path.join(api, "definitions"), { recursive: true });
  const json = (schema: unknown) => ({
    content: { "application/json": { schema } },
  });
  const doc = {
    openapi: "3.1.0",
    info: { title: "fixture", version: "1" },
    servers: [{
      url: "{protocol}://{hostname}{basePath}",
      variables: {
        protocol: { enum: ["http", "https"], default: "https" },
        hostname: { default: "localhost:8008" },
        basePath: {
          enum: ["/_matrix/client/r0", "/_matrix/client/v3"],
          default: "/_matrix/client/v3",
        },
      },
    }],
    paths: {
      "/things/{thingId}": {
        get: {
          operationId: "getThing",
          responses: { "200": json({ type: "object" }) },
        },
      },
      "/things/special": {
        get: {
          operationId: "getSpecial",
          responses: {
            "200": json({
              type: "object",
              properties: {
                owner: { type: "string", format: "mx-user-id" },
                server: { type: "string", format: "mx-server-name" },
                kind: { enum: ["a", "b"] },
                event: { $ref: "../../event-schemas/event.yaml" },
              },
              additionalProperties: false,
            }),
            "4XX": { $ref: "#/components/responses/problem" },
            default: json({ type: "object", required: ["error"] }),
          },
        },
      },
      "/over": {
        servers: [{ url: "https://example.org/_matrix/other/" }],
        get: { operationId: "pathServers", responses: {} },
        post: {
          servers: [{ url: "/_matrix/op" }],
          operationId: "opServers",
          responses: {},
        },
      },
    },
    components: {
      responses: { problem: json({ $ref: "definitions/problem.yaml" }) },
    },
  };
  fs.writeFileSync(path.join(api, "things.yaml"), JSON.stringify(doc));
  fs.writeFileSync(
    path.join(api, "definitions/problem.yaml"),
    JSON.stringify({
      type: "object",
      required: ["errcode"],
      properties: { errcode: { type: "string" } },
    }),
  );
  fs.writeFileSync(
    path.join(dir, "data/string-formats.yaml"),
    [
      "mx-user-id:",
      "  title: User ID",
      '  # regex: "^@"',
      "",
      "mx-server-name:",
      "  title: Server Name",
      "  # no regex",
      "",
    ].join("\n"),
  );
  return dir;
}

describe("a spec folder's structure", () => {
  const dir = writeFixture();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The fixture's validator. */
  async function fixture(): Promise<SpecValidator> {
    const loaded = await loadSpec({ dir });
    if (!loaded.validator) throw new Error(loaded.reason);
    return loaded.validator;
  }

  it("registers every base path a server's variables allow", async () => {
    const v = await fixture();
    for (const base of ["/_matrix/client/r0", "/_matrix/client/v3"]) {
      assert.equal(
        v.findOperation("GET", `${base}/things/x`)?.path,
        `${base}/things/{thingId}`,
      );
    }
  });

  it("prefers a literal segment to a template", async () => {
    const v = await fixture();
    const found = v.findOperation("GET", "/_matrix/client/v3/things/special");
    assert.equal(found?.operationId, "getSpecial");
    assert.equal(
      v.findOperation("GET", "/_matrix/client/v3/things/speciak")?.operationId,
      "getThing",
    );
  });

  it("honours path-level and operation-level servers", async () => {
    const v = await fixture();
    assert.equal(
      v.findOperation("GET", "/_matrix/other/over")?.operationId,
      "pathServers",
    );
    assert.equal(v.findOperation("GET", "/_matrix/client/v3/over"), undefined);
    assert.equal(
      v.findOperation("POST", "/_matrix/op/over")?.operationId,
      "opServers",
    );
    assert.equal(v.findOperation("POST", "/_matrix/other/over"), undefined);
  });

  it("uses the status range, then the default response", async () => {
    const v = await fixture();
    const special = "/_matrix/client/v3/things/special";
    for (const status of [403, 404]) {
      assert.deepEqual(v.responseErrors("GET", special, status, {}), [
        "(root) must have required property 'errcode'",
      ]);
    }
    for (const status of [500, 503]) {
      assert.deepEqual(v.responseErrors("GET", special, status, {}), [
        "(root) must have required property 'error'",
      ]);
    }
  });

  it("checks formats, names extra properties and allowed values", async () => {
    const v = await fixture();
    const special = "/_matrix/client/v3/things/special";
    assert.deepEqual(
      v.responseErrors("GET", special, 200, {
        owner: "@a:b",
        server: "anything",
      }),
      [],
    );
    assert.deepEqual(
      v.responseErrors("GET", special, 200, {
        owner: "alice",
        kind: "c",
        extra: 1,
      }),
      [
        "(root) must NOT have additional properties ('extra')",
        '/owner must match format "mx-user-id"',
        '/kind must be equal to one of the allowed values ("a", "b")',
      ],
    );
  });

  it("lists referenced files that are absent and accepts anything there", async () => {
    const v = await fixture();
    assert.deepEqual(v.missingFiles, ["data/event-schemas/event.yaml"]);
    assert.deepEqual(
      v.responseErrors("GET", "/_matrix/client/v3/things/special", 200, {
        event: 42,
      }),
      [],
    );
  });
});
