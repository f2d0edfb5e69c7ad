/**
 * `test`: the integration suite against a real Synapse. It runs the files
 * `scripts/synapse/suite/*.synapse.ts` (not `*_test.ts`, so that the
 * hermetic `npm test` never picks them up) with `deno test`, and ends with
 * the summary line `npm test` prints: `tests: N passed, N failed`.
 *
 * @module
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countJUnit } from "../../lit/mod.ts";
import { type Layout, type RunningState, SKIPPED } from "./config.ts";
import {
  hostFacts,
  PROJECT,
  setup,
  skipReason,
  start,
  status,
  stop,
} from "./harness.ts";

/** The suite's files, relative to the project. */
export async function suiteFiles(): Promise<string[]> {
  const dir = "scripts/synapse/suite";
  return (await readdir(join(PROJECT, dir)))
    .filter((name) => name.endsWith(".synapse.ts"))
    .sort()
    .map((name) => `${dir}/${name}`);
}

/** The environment the suite's files read the homeserver from. */
export function suiteEnv(state: RunningState): Record<string, string> {
  return {
    MATRIX_TEST_HOMESERVER: state.url,
    MATRIX_TEST_REGISTRATION_SECRET: state.registrationSecret,
    MATRIX_TEST_CAS_USER: state.cas.user,
    MATRIX_TEST_CAS_PASSWORD: state.cas.password,
  };
}

/**
 * Runs the suite (extra `args` go to `deno test`, such as `--filter`).
 * Returns 0 when every test passed, 1 when one failed, {@linkcode SKIPPED}
 * when there is no Synapse to test and none can be started here.
 */
export async function runSuite(
  layout: Layout,
  args: string[],
): Promise<number> {
  let env: Record<string, string> = {};
  let stopAfter = false;
  const external = Deno.env.get("MATRIX_TEST_HOMESERVER");
  if (external) {
    if (!Deno.env.get("MATRIX_TEST_REGISTRATION_SECRET")) {
      console.log(
        "synapse suite: MATRIX_TEST_HOMESERVER needs MATRIX_TEST_REGISTRATION_SECRET (its registration_shared_secret)",
      );
      return 2;
    }
    console.log(`synapse suite: against ${external} (MATRIX_TEST_HOMESERVER)`);
  } else {
    const running = await status(layout);
    let state = running.up ? running.state : undefined;
    if (state === undefined) {
      const reason = skipReason(await hostFacts(layout));
      if (reason !== undefined) {
        console.log(`synapse suite: skipped: ${reason}`);
        return SKIPPED;
      }
      await setup(layout);
      state = await start(layout);
      stopAfter = true;
      console.log(`synapse suite: started Synapse at ${state.url}`);
    } else {
      console.log(`synapse suite: against the running harness at ${state.url}`);
    }
    env = suiteEnv(state);
  }
  const dir = await mkdtemp(join(tmpdir(), "synapse-suite-"));
  const started = Date.now();
  try {
    const junit = join(dir, "junit.xml");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "-A",
        "--parallel",
        `--junit-path=${junit}`,
        ...args,
        ...await suiteFiles(),
      ],
      cwd: PROJECT,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const { code } = await child.status;
    let counts = { passed: 0, failed: 0, skipped: 0 };
    try {
      counts = countJUnit(await readFile(junit, "utf8"));
    } catch {
      // no report: deno stopped before running the tests
    }
    if (code !== 0 && counts.failed === 0) counts.failed = 1;
    console.log(
      `synapse suite: ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const skipped = counts.skipped ? `, ${counts.skipped} skipped` : "";
    console.log(
      `tests: ${counts.passed} passed, ${counts.failed} failed${skipped}`,
    );
    return code === 0 && counts.failed === 0 ? 0 : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
    if (stopAfter) {
      await stop(layout);
      console.log("synapse suite: stopped Synapse");
    }
  }
}
