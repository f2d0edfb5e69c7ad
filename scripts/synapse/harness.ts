/**
 * A real Synapse for the integration suite: a Debian sid chroot made with
 * debootstrap, with Debian's `matrix-synapse` package installed in it (the
 * host system is never upgraded), started on 127.0.0.1 with the project's
 * own configuration (`config.ts`) and the development homeserver's CAS
 * identity provider (`cas_idp.ts`) as a process of its own.
 *
 * Needs root on a Debian host; {@linkcode skipReason} says, in one line, why
 * it cannot run elsewhere.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  homeserverYaml,
  type Layout,
  publicBaseUrl,
  randomSecret,
  type RunningState,
  SYNAPSE_DIR,
} from "./config.ts";

/** The project's root folder. */
export const PROJECT = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Marks in the chroot: debootstrap finished; Synapse installed. */
const BOOTSTRAPPED = ".matrixlib-debootstrap-done";
const INSTALLED = ".matrixlib-synapse-installed";

/** What the host offers, for {@linkcode skipReason}. */
export interface HostFacts {
  os: string;
  uid: number | null;
  debian: boolean;
  /** Whether the chroot is set up already. */
  installed: boolean;
  /** Whether `debootstrap` or `apt-get` (to install it) is there. */
  debootstrap: boolean;
  apt: boolean;
  /** `undefined` if the mirror answered, else why not. */
  mirror?: string;
}

/**
 * Why the harness cannot run here, in one line; `undefined` if it can.
 * The mirror matters only while nothing is cached.
 */
export function skipReason(facts: HostFacts): string | undefined {
  if (facts.os !== "linux") {
    return `needs Linux (Debian) for a chroot, this is ${facts.os}`;
  }
  if (facts.uid !== 0) return "needs root for debootstrap and chroot";
  if (!facts.debian) return "needs a Debian host (no /etc/debian_version)";
  if (facts.installed) return undefined;
  if (!facts.debootstrap && !facts.apt) {
    return "needs debootstrap, or apt-get to install it";
  }
  if (facts.mirror !== undefined) {
    return `the Debian mirror is unreachable (${facts.mirror})`;
  }
  return undefined;
}

/** Whether `command` is on the PATH. */
function has(command: string): boolean {
  const path = Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  return path.split(":").some((dir) => existsSync(join(dir, command)));
}

/** Whether the chroot at `root` has Synapse installed. */
export function installed(root: string): boolean {
  return existsSync(join(root, INSTALLED));
}

/** Looks at the host (and, if nothing is cached, at the mirror). */
export async function hostFacts(layout: Layout): Promise<HostFacts> {
  const facts: HostFacts = {
    os: Deno.build.os,
    uid: Deno.build.os === "windows" ? null : Deno.uid(),
    debian: existsSync("/etc/debian_version"),
    installed: installed(layout.root),
    debootstrap: has("debootstrap"),
    apt: has("apt-get"),
  };
  if (skipReason(facts) === undefined && !facts.installed) {
    try {
      const response = await fetch(`${layout.mirror}/dists/sid/InRelease`, {
        method: "HEAD",
        signal: AbortSignal.timeout(15_000),
      });
      await response.body?.cancel();
      if (!response.ok) facts.mirror = `HTTP ${response.status}`;
    } catch (error) {
      facts.mirror = (error as Error).message.split("\n")[0];
    }
  }
  return facts;
}

const say = (line: string) => console.log(`synapse: ${line}`);

/** Runs a command; its output goes to `log` (or to ours); throws on failure. */
async function run(
  args: string[],
  options: { log?: string; stdin?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const child = new Deno.Command(args[0], {
    args: args.slice(1),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive", ...options.env },
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  if (options.log !== undefined) {
    await writeFile(options.log, `$ ${args.join(" ")}\n${text}`, {
      flag: "a",
    });
  }
  if (!output.success) {
    const tail = text.trimEnd().split("\n").slice(-15).join("\n");
    throw new Error(
      `${args.join(" ")} failed (exit ${output.code}):\n${tail}`,
    );
  }
  return text;
}

/** Whether `path` is a mount point (from /proc/self/mounts). */
function mounted(path: string): boolean {
  try {
    return readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) =>
      l.split(" ")[1] === path
    );
  } catch {
    return false;
  }
}

/** The Synapse version in the chroot, such as `1.160.0`. */
export async function synapseVersion(root: string): Promise<string> {
  return (await run([
    "chroot",
    root,
    "python3",
    "-c",
    "import synapse; print(synapse.__version__)",
  ])).trim();
}

/**
 * `setup`: debootstraps a Debian sid chroot and installs `matrix-synapse`
 * in it. Idempotent: each finished step leaves a mark, and a set-up chroot
 * is only checked.
 */
export async function setup(layout: Layout): Promise<void> {
  const { root } = layout;
  await mkdir(layout.state, { recursive: true });
  const log = join(layout.state, "setup.log");
  if (!installed(root)) {
    const started = Date.now();
    const since = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
    if (!has("debootstrap")) {
      say("installing debootstrap on the host (apt-get)");
      await run(["apt-get", "update", "-qq"], { log });
      await run(["apt-get", "install", "-y", "-qq", "debootstrap"], { log });
    }
    if (!existsSync(join(root, BOOTSTRAPPED))) {
      say(`debootstrap of Debian sid into ${root} (log: ${log})`);
      await rm(root, { recursive: true, force: true });
      await mkdir(dirname(root), { recursive: true });
      await run([
        "debootstrap",
        "--variant=minbase",
        "sid",
        root,
        layout.mirror,
      ], { log });
      await writeFile(join(root, BOOTSTRAPPED), "");
      say(`debootstrap done (${since()})`);
    }
    // Maintainer scripts must not start services in the chroot.
    await writeFile(
      join(root, "usr/sbin/policy-rc.d"),
      "#!/bin/sh\nexit 101\n",
    );
    await chmod(join(root, "usr/sbin/policy-rc.d"), 0o755);
    // The mirror's sid Release file can be past its Valid-Until date.
    await writeFile(
      join(root, "etc/apt/apt.conf.d/99matrixlib-no-check-valid-until"),
      'Acquire::Check-Valid-Until "false";\n',
    );
    const proc = join(root, "proc");
    if (!mounted(proc)) await run(["mount", "-t", "proc", "proc", proc]);
    try {
      await run(["chroot", root, "debconf-set-selections"], {
        log,
        stdin: "matrix-synapse matrix-synapse/server-name string localhost\n" +
          "matrix-synapse matrix-synapse/report-stats boolean false\n",
      });
      say("apt-get install matrix-synapse in the chroot");
      await run(["chroot", root, "apt-get", "update", "-qq"], { log });
      await run([
        "chroot",
        root,
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "matrix-synapse",
      ], { log });
      await run(["chroot", root, "apt-get", "clean"], { log });
    } finally {
      if (mounted(proc)) await run(["umount", proc]);
    }
    await writeFile(join(root, INSTALLED), "");
    say(`set up in ${since()}`);
  }
  say(`Synapse ${await synapseVersion(root)} in ${root}`);
}

/** Whether process `pid` is alive. */
export function alive(pid: number | undefined): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    Deno.kill(pid, "SIGCONT"); // a harmless signal: only asks "are you there"
    return true;
  } catch {
    return false;
  }
}

const statePath = (layout: Layout) => join(layout.state, "state.json");

/** What `start` wrote, if it did (and `stop` has not removed it). */
export async function readState(
  layout: Layout,
): Promise<RunningState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(layout), "utf8"));
  } catch {
    return undefined;
  }
}

/** Starts `args` in its own session, output to `log`; returns its pid. */
async function spawnDetached(
  args: string[],
  log: string,
  env: Record<string, string> = {},
): Promise<number> {
  const out = await run([
    "sh",
    "-c",
    'log=$1; shift; setsid "$@" >"$log" 2>&1 </dev/null & echo $!',
    "sh",
    log,
    ...args,
  ], { env });
  return Number(out.trim());
}

/** Whether something answers on 127.0.0.1:`port`. */
async function portTaken(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Waits until `url` answers 200, or the process dies, or 30 s pass. */
async function waitFor(url: string, pid: number): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.ok) return true;
    } catch {
      // not yet
    }
    if (!alive(pid)) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * `start`: a fresh database, the configuration written afresh with new
 * secrets, the CAS identity provider, then Synapse; waits for `/health`.
 * A running harness is stopped first.
 */
export async function start(layout: Layout): Promise<RunningState> {
  const { root } = layout;
  if (!installed(root)) await setup(layout);
  if (await readState(layout)) await stop(layout);
  for (const port of [layout.port, layout.casPort]) {
    if (await portTaken(port)) {
      throw new Error(
        `port ${port} on 127.0.0.1 is taken (set SYNAPSE_PORT or SYNAPSE_CAS_PORT)`,
      );
    }
  }
  await mkdir(layout.state, { recursive: true });
  const dir = join(root, SYNAPSE_DIR);
  await mkdir(join(dir, "media"), { recursive: true });
  for (
    const name of [
      "homeserver.db",
      "homeserver.db-wal",
      "homeserver.db-shm",
      "homeserver.pid",
    ]
  ) {
    await rm(join(dir, name), { force: true });
  }
  const secrets = {
    registration: randomSecret(),
    macaroon: randomSecret(),
    form: randomSecret(),
  };
  await writeFile(
    join(dir, "homeserver.yaml"),
    homeserverYaml(layout, secrets),
    {
      mode: 0o600,
    },
  );
  await run([
    "chroot",
    root,
    "chown",
    "-R",
    "matrix-synapse:nogroup",
    SYNAPSE_DIR,
  ]);
  await run(["chmod", "0600", join(dir, "homeserver.yaml")]);
  if (!existsSync(join(dir, "signing.key"))) {
    await run([
      "chroot",
      "--userspec=matrix-synapse:nogroup",
      root,
      "python3",
      "-m",
      "synapse.app.homeserver",
      "-c",
      `${SYNAPSE_DIR}/homeserver.yaml`,
      "--generate-keys",
    ]);
  }

  const url = publicBaseUrl(layout).replace(/\/$/, "");
  const cas = {
    url: `http://127.0.0.1:${layout.casPort}/cas`,
    user: "casuser",
    password: randomSecret(),
  };
  const casPid = await spawnDetached(
    [
      Deno.execPath(),
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env=CAS_PASSWORD",
      join(PROJECT, "scripts/synapse/cas_idp.ts"),
      "--port",
      String(layout.casPort),
      "--user",
      cas.user,
      "--service",
      `${url}/`,
    ],
    join(layout.state, "cas.log"),
    { CAS_PASSWORD: cas.password },
  );
  const synapsePid = await spawnDetached([
    "chroot",
    "--userspec=matrix-synapse:nogroup",
    root,
    "sh",
    "-c",
    `cd ${SYNAPSE_DIR} && exec python3 -m synapse.app.homeserver -c ${SYNAPSE_DIR}/homeserver.yaml`,
  ], join(layout.state, "synapse.log"));
  const state: RunningState = {
    url,
    registrationSecret: secrets.registration,
    cas,
    synapsePid,
    casPid,
  };
  await writeFile(statePath(layout), JSON.stringify(state, null, 2) + "\n", {
    mode: 0o600,
  });
  const up =
    await waitFor(`http://127.0.0.1:${layout.port}/health`, synapsePid) &&
    await waitFor(
      `http://127.0.0.1:${layout.casPort}/_matrix/client/versions`,
      casPid,
    );
  if (!up) {
    const logTail = async (name: string) =>
      (await readFile(join(layout.state, name), "utf8").catch(() => ""))
        .trimEnd().split("\n").slice(-20).join("\n");
    const message = `did not start; synapse.log ends:\n${await logTail(
      "synapse.log",
    )}\ncas.log ends:\n${await logTail("cas.log")}`;
    await stop(layout);
    throw new Error(message);
  }
  return state;
}

/** Sends SIGTERM, waits up to 10 s, then SIGKILL. */
async function terminate(pid: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 100 && alive(pid); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (alive(pid)) Deno.kill(pid, "SIGKILL");
}

/** `stop`: Synapse and the CAS provider, by the pids `start` recorded. */
export async function stop(layout: Layout): Promise<boolean> {
  const state = await readState(layout);
  if (state !== undefined) {
    await terminate(state.synapsePid);
    await terminate(state.casPid);
    await rm(statePath(layout), { force: true });
  }
  const proc = join(layout.root, "proc");
  if (mounted(proc)) await run(["umount", proc]);
  return state !== undefined;
}

/** `status`: whether the recorded processes live and Synapse answers. */
export async function status(
  layout: Layout,
): Promise<{ state?: RunningState; up: boolean }> {
  const state = await readState(layout);
  if (state === undefined) return { up: false };
  let answers = false;
  try {
    const response = await fetch(
      `${state.url.replace("localhost", "127.0.0.1")}/health`,
      {
        signal: AbortSignal.timeout(2000),
      },
    );
    await response.body?.cancel();
    answers = response.ok;
  } catch {
    // down
  }
  return {
    state,
    up: answers && alive(state.synapsePid) && alive(state.casPid),
  };
}
