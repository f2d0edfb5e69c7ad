/**
 * Tests of the development homeserver's state file, and of `main.ts`
 * refusing a damaged one.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createHomeserver, type HomeserverState } from "./server.ts";
import { readStateFile, StateFileError, writeStateFile } from "./state_file.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

function withFolder(run: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devserver-state-"));
    try {
      await run(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

async function login(
  handler: (r: Request) => Promise<Response>,
): Promise<string> {
  const response = await handler(
    new Request("http://localhost:8008/_matrix/client/v3/login", {
      method: "POST",
      body: JSON.stringify({
        type: "m.login.password",
        user: "alice",
        password: "secret",
      }),
    }),
  );
  assert.equal(response.status, 200);
  return (await response.json()).access_token;
}

const users = [{ localpart: "alice", password: "secret" }];

describe("devserver state file", () => {
  it("gives undefined when there is no file yet", () => {
    assert.equal(readStateFile("/nonexistent/devserver.json"), undefined);
  });

  it(
    "survives a restart: a token from before works after, written with mode 0600 and no temporary left",
    withFolder(async (dir) => {
      const file = path.join(dir, "state.json");
      const before = createHomeserver({
        users,
        onChange: () => writeStateFile(file, before.exportState()),
      });
      const token = await login(before.handler);
      if (process.platform !== "win32") {
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      }
      assert.deepEqual(fs.readdirSync(dir), ["state.json"]);

      const after = createHomeserver({ users, state: readStateFile(file) });
      const whoami = await after.handler(
        new Request("http://localhost:8008/_matrix/client/v3/account/whoami", {
          headers: { Authorization: `Bearer ${token}` },
        }),
      );
      assert.equal(whoami.status, 200);
    }),
  );

  it(
    "keeps device display names and when and from where devices were last seen across a restart",
    withFolder(async (dir) => {
      const file = path.join(dir, "state.json");
      let now = 1_000_000;
      const before = createHomeserver({
        users,
        clock: () => now,
        onChange: () => writeStateFile(file, before.exportState()),
      });
      const token = await login(before.handler);
      const send = (
        handler: (r: Request) => Promise<Response>,
        method: string,
        path: string,
        body?: unknown,
      ) =>
        handler(
          new Request(`http://localhost:8008/_matrix/client/v3/${path}`, {
            method,
            headers: { Authorization: `Bearer ${token}` },
            body: body === undefined ? undefined : JSON.stringify(body),
          }),
        );
      const { device_id } = await (await send(
        before.handler,
        "GET",
        "account/whoami",
      )).json();
      const renamed = await send(
        before.handler,
        "PUT",
        `devices/${device_id}`,
        {
          display_name: "Laptop",
        },
      );
      assert.equal(renamed.status, 200);
      const seenAt = now;
      const saved = readStateFile(file)!;
      assert.deepEqual(saved.devices, [{
        userId: "@alice:localhost:8008",
        deviceId: device_id,
        displayName: "Laptop",
        lastSeenTs: seenAt,
        lastSeenIp: "127.0.0.1",
      }]);
      now += 10_000;
      const after = createHomeserver({ users, clock: () => now, state: saved });
      const device = await (await send(
        after.handler,
        "GET",
        `devices/${device_id}`,
      )).json();
      // The request after the restart is a use of the token, seen at once.
      assert.deepEqual(device, {
        user_id: "@alice:localhost:8008",
        device_id,
        display_name: "Laptop",
        last_seen_ts: now,
        last_seen_ip: "127.0.0.1",
      });
    }),
  );

  it(
    "reports a file that is not JSON, or not a state, naming it, and leaves it alone",
    withFolder((dir) => {
      const file = path.join(dir, "state.json");
      for (
        const [text, what] of [
          ["{ half a file", /not JSON/],
          [
            '{"format":"matrixlib-devserver-state","version":1,"users":{}}',
            /users must be an array/,
          ],
        ] as const
      ) {
        fs.writeFileSync(file, text);
        assert.throws(
          () => readStateFile(file),
          (error: unknown) =>
            error instanceof StateFileError &&
            error.message.includes(file) && what.test(error.message) &&
            /left as it is/.test(error.message),
        );
        assert.equal(fs.readFileSync(file, "utf8"), text);
      }
    }),
  );

  it("reports a folder that does not exist when writing", () => {
    const state = createHomeserver().exportState();
    assert.throws(
      () => writeStateFile("/nonexistent/folder/state.json", state),
      (error: unknown) =>
        error instanceof StateFileError &&
        /cannot write the state file .*folder exists/.test(error.message),
    );
  });

  it(
    "replaces the file whole",
    withFolder((dir) => {
      const file = path.join(dir, "state.json");
      fs.writeFileSync(file, "x".repeat(100_000));
      const state: HomeserverState = createHomeserver({ users }).exportState();
      writeStateFile(file, state);
      assert.deepEqual(readStateFile(file), state);
    }),
  );
});

describe("devserver main.ts", () => {
  async function run(args: string[]) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net=127.0.0.1", "--allow-read", MAIN, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return {
      code: output.code,
      stdout: decode(output.stdout),
      stderr: decode(output.stderr),
    };
  }

  it("documents every option it parses in --help", async () => {
    const { code, stdout } = await run(["--help"]);
    assert.equal(code, 0);
    // The options main.ts hands to parseArgs, read from its source.
    const source = fs.readFileSync(MAIN, "utf8");
    const block = source.slice(source.indexOf("parseArgs({"));
    const parsed = [
      ...block.slice(0, block.indexOf("\n  });")).matchAll(
        /^\s+"?([a-z][a-z-]*)"?: \{ type:/gm,
      ),
    ].map((m) => m[1]);
    assert.ok(parsed.length >= 20, `found only ${parsed.join(", ")}`);
    for (const name of parsed) {
      assert.match(stdout, new RegExp(`^  --${name}\\b`, "m"), `--${name}`);
    }
  });

  it("refuses a malformed --base-url or --server-name with exit 2 and says what it needs", async () => {
    const base = await run(["--base-url", "ftp://example.org"]);
    assert.equal(base.code, 2);
    assert.match(base.stderr, /--base-url needs an http or https URL/);
    const name = await run(["--server-name", "not a name"]);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /--server-name needs a host name/);
  });

  it(
    "refuses to start on a damaged state file, says so without a stack trace, and leaves it alone",
    withFolder(async (dir) => {
      const file = path.join(dir, "state.json");
      fs.writeFileSync(file, "not json");
      const { code, stderr } = await run(["--port", "1", "--state", file]);
      assert.equal(code, 1);
      assert.match(stderr, /state file .* is damaged/);
      assert.ok(!/\bat .*:\d+:\d+/.test(stderr), "no stack trace");
      assert.equal(fs.readFileSync(file, "utf8"), "not json");
    }),
  );

  it("prints one line per request, noting a token sent in the query string without printing it", async () => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        MAIN,
        "--port",
        String(port),
        "--host",
        "127.0.0.1",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let printed = "";
    const until = async (pattern: RegExp) => {
      while (!pattern.test(printed)) {
        const { done, value } = await lines.read();
        if (done) throw new Error(`the server stopped: ${printed}`);
        printed += value;
      }
    };
    try {
      await until(/Ctrl\+C stops it\./);
      const base = `http://127.0.0.1:${port}/_matrix/client/v3`;
      const login = await fetch(`${base}/login`, {
        method: "POST",
        body: JSON.stringify({
          type: "m.login.password",
          user: "alice",
          password: "secret",
        }),
      });
      const token = (await login.json()).access_token as string;
      const whoami = await fetch(
        `${base}/account/whoami?access_token=${encodeURIComponent(token)}`,
      );
      assert.equal(whoami.status, 200);
      await whoami.body?.cancel();
      await until(/whoami 200/);
      assert.match(
        printed,
        /^GET \/_matrix\/client\/v3\/account\/whoami 200 \(access_token in the query\)$/m,
      );
      assert.ok(!printed.includes(token), "the token was printed");
      assert.ok(!printed.includes("secret"), "the password was printed");
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await lines.cancel().catch(() => {});
      await child.stderr.cancel();
    }
  });

  it("serves the OAuth 2.0 API with --oauth (bare, before another option, or 'both'), saying where its metadata is, and refuses another value", async () => {
    for (
      const [args, login] of [[["--oauth"], 404], [
        ["--oauth", "both"],
        200,
      ]] as const
    ) {
      const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (probe.addr as Deno.NetAddr).port;
      probe.close();
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          MAIN,
          ...args,
          "--port",
          String(port),
          "--host",
          "127.0.0.1",
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let printed = "";
      try {
        while (!/Ctrl\+C stops it\./.test(printed)) {
          const { done, value } = await lines.read();
          if (done) throw new Error(`the server stopped: ${printed}`);
          printed += value;
        }
        assert.match(
          printed,
          new RegExp(
            `metadata at http://localhost:${port}/_matrix/client/v1/auth_metadata`,
          ),
        );
        const base = `http://127.0.0.1:${port}/_matrix/client`;
        const metadata = await fetch(`${base}/v1/auth_metadata`);
        assert.equal(metadata.status, 200);
        assert.equal(
          (await metadata.json()).token_endpoint,
          `http://localhost:${port}/oauth2/token`,
        );
        const flows = await fetch(`${base}/v3/login`);
        await flows.body?.cancel();
        assert.equal(flows.status, login);
      } finally {
        child.kill("SIGTERM");
        await child.status;
        await lines.cancel().catch(() => {});
        await child.stderr.cancel();
      }
    }
    const wrong = await run(["--oauth", "sometimes"]);
    assert.equal(wrong.code, 2);
    assert.match(
      wrong.stderr,
      /--oauth takes nothing or "both", not sometimes/,
    );
  });

  it("names the user an --email is for when that user is not given", async () => {
    const { code, stderr } = await run(["--email", "bob=bob@example.org"]);
    assert.equal(code, 2);
    assert.match(stderr, /no --user bob:PASSWORD was given/);
  });
});
