/**
 * `npm run smoke:npm`: the packed npm package, installed as a user installs
 * it, logs in against the development homeserver from plain Node.js.
 *
 * Usage: npm run smoke:npm [-- --help | --build | --keep]
 *
 * @module
 */

import { spawn } from "node:child_process";
import {
  access,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { readFlags } from "./cli.ts";
import { build, PACKAGE_DIR, ROOT } from "./build.ts";
import { serveHomeserver } from "../../devserver/serve.ts";

const HELP =
  `Usage: npm run smoke:npm [-- OPTIONS]      (or: deno task smoke:npm)

The npm package as a user gets it. Packs npm/ (run "npm run build:npm" first,
or pass --build) with npm pack into a scratch folder, makes a Node.js project
there (npm init -y) and installs the tarball into it (npm install --offline:
the package has no dependencies). Then it serves the development homeserver
on 127.0.0.1 and a free port (user alice), and runs a plain .mjs with node
that imports "matrixlib" and "matrixlib/file_storage", logs in with a
password (allowHttp), calls whoami, logs out, and prints the user and device
IDs (never a token); it also checks that a module the package does not
export cannot be imported. Last, tsc type-checks a .mts that uses the
package, resolving its types through "exports" as TypeScript users would.

Options:
  --build     build the package first (npm run build:npm)
  --keep      keep the scratch folder, and say where it is
  -h, --help  this text

Exit status: 0 when every step passed, 1 when one failed, 2 for a wrong
command line.`;

/** The program the scratch project runs with node. */
export const SMOKE_MJS = `// Uses the installed package as an application would.
import { Client, MatrixError } from "matrixlib";
import { JsonFileStorage } from "matrixlib/file_storage";
import { stat } from "node:fs/promises";

const baseUrl = process.env.HOMESERVER;
try {
  await new Client({ baseUrl, allowHttp: true })
    .loginWithPassword("alice", "not the password");
  throw new Error("a wrong password logged in");
} catch (error) {
  if (!(error instanceof MatrixError)) throw error;
  console.log(\`a wrong password: MatrixError \${error.errcode}\`);
}
const storage = new JsonFileStorage("session.json");
const client = new Client({ baseUrl, allowHttp: true, storage });
const { userId, deviceId } = await client.loginWithPassword(
  "alice",
  process.env.MATRIX_PASSWORD,
  { initialDeviceDisplayName: "npm smoke test" },
);
console.log(\`logged in as \${userId} with device \${deviceId}\`);
const mode = (await stat(storage.path)).mode & 0o777;
console.log(\`session stored in session.json, mode \${mode.toString(8)}\`);
const me = await client.whoami();
console.log(\`whoami: \${me.userId}, device \${me.deviceId}\`);
const out = await client.logout();
console.log(\`logged out (confirmed: \${out.confirmed})\`);
try {
  await import("matrixlib/src/http.js");
  throw new Error("a module the package does not export was importable");
} catch (error) {
  if (error.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw error;
  console.log("matrixlib/src/http.js is not exported, as intended");
}
`;

/** A TypeScript user of the package, for tsc. */
export const SMOKE_MTS = `import { Client, type LoginResult } from "matrixlib";
import { JsonFileStorage } from "matrixlib/file_storage";
import { FileLock } from "matrixlib/file_lock";
import { listenForSsoCallback } from "matrixlib/loopback_callback";

const client = new Client({
  baseUrl: "https://matrix.example.org",
  storage: new JsonFileStorage("session.json"),
  lock: new FileLock("session.json.lock"),
});
const login: Promise<LoginResult> = client.loginWithPassword("alice", "pw");
void login;
void listenForSsoCallback;
`;

/** Runs a command without blocking the event loop (the server runs here). */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => output += chunk);
    child.stderr.on("data", (chunk) => output += chunk);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Runs a step; throws with its output if it fails. */
async function step(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<string> {
  const started = performance.now();
  const { code, output } = await run(command, args, options);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (code !== 0) {
    throw new Error(`${name} failed (exit ${code}):\n${output.trimEnd()}`);
  }
  console.log(`smoke:npm: ${name} (${seconds} s)`);
  return output;
}

/** The smoke test; returns the scratch folder. */
async function smoke(scratch: string): Promise<void> {
  const manifest = JSON.parse(
    await readFile(join(ROOT, PACKAGE_DIR, "package.json"), "utf8"),
  );
  const tarball = `${manifest.name}-${manifest.version}.tgz`;
  await step("npm pack", "npm", [
    "pack",
    join(ROOT, PACKAGE_DIR),
    "--pack-destination",
    scratch,
    "--silent",
  ], { cwd: scratch });
  const project = join(scratch, "project");
  await mkdir(project);
  await step("npm init -y", "npm", ["init", "-y"], { cwd: project });
  await step(`npm install ${tarball}`, "npm", [
    "install",
    "--offline",
    "--no-audit",
    "--no-fund",
    join("..", tarball),
  ], { cwd: project });
  await writeFile(join(project, "smoke.mjs"), SMOKE_MJS);
  await writeFile(join(project, "smoke.mts"), SMOKE_MTS);

  const password = "smoke-" + crypto.randomUUID();
  const served = await serveHomeserver({
    users: [{ localpart: "alice", password }],
  });
  try {
    const output = await step(
      `node smoke.mjs against the development homeserver at ${served.url}`,
      "node",
      ["smoke.mjs"],
      {
        cwd: project,
        env: { HOMESERVER: served.url, MATRIX_PASSWORD: password },
      },
    );
    if (/sy[tr]_/.test(output) || output.includes(password)) {
      throw new Error("node smoke.mjs printed a token or the password");
    }
    for (const line of output.trimEnd().split("\n")) console.log(`  ${line}`);
    const logins = served.homeserver.log.filter((entry) =>
      entry.method === "POST" && entry.path === "/_matrix/client/v3/login"
    ).map((entry) => entry.status);
    if (logins.join() !== "403,200") {
      throw new Error(`the homeserver answered the logins ${logins.join()}`);
    }
  } finally {
    await served.close();
  }

  await writeFile(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "nodenext",
        moduleResolution: "nodenext",
        target: "es2022",
        lib: ["es2022", "dom"],
        types: [],
        strict: true,
        noEmit: true,
      },
      files: ["smoke.mts"],
    }),
  );
  await step(
    "tsc: smoke.mts type-checks against the package's types",
    join(ROOT, "node_modules", ".bin", "tsc"),
    ["-p", "tsconfig.json"],
    { cwd: project },
  );
}

/** The command line; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const values = readFlags("smoke:npm", args, ["build", "keep"], HELP);
  if (typeof values === "number") return values;
  const scratch = await mkdtemp(join(tmpdir(), "matrixlib-smoke-"));
  try {
    if (values.build) await build();
    try {
      await access(join(ROOT, PACKAGE_DIR, "package.json"));
    } catch {
      throw new Error(
        `no package in ${PACKAGE_DIR}/: run "npm run build:npm" first (or pass --build)`,
      );
    }
    await smoke(scratch);
    console.log("smoke:npm: passed");
    return 0;
  } catch (error) {
    console.error(`smoke:npm: ${(error as Error).message}`);
    return 1;
  } finally {
    if (values.keep) console.log(`smoke:npm: kept ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
