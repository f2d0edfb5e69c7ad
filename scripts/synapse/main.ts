/**
 * `deno run -A scripts/synapse/main.ts setup|start|stop|status|test`: the
 * project's harness for a real Synapse, and its integration suite. See
 * {@linkcode HELP}.
 *
 * @module
 */
import process from "node:process";
import { layoutFrom, SKIPPED } from "./config.ts";
import {
  hostFacts,
  setup,
  skipReason,
  start,
  status,
  stop,
  synapseVersion,
} from "./harness.ts";
import { runSuite } from "./suite.ts";

export const HELP =
  `Usage: deno run -A scripts/synapse/main.ts COMMAND   (npm run synapse -- COMMAND)

A real Synapse (Debian's matrix-synapse, in a Debian sid chroot) on
127.0.0.1, for the integration suite. Needs root on a Debian host; anywhere
else every command says why in one line and exits with status ${SKIPPED}
(skipped).

Commands:
  setup    debootstrap the chroot and install matrix-synapse in it; cached,
           so a second run only checks it (about 50 s the first time)
  start    a fresh database, the project's configuration with new secrets,
           the development homeserver's CAS identity provider, then
           Synapse; waits until it answers (about 2 s). Stops a running one
           first
  stop     stops Synapse and the CAS provider by the pids start recorded
  status   says whether they run; exit 0 if up, 1 if not
  test     the integration suite (npm run test:synapse): against
           MATRIX_TEST_HOMESERVER if set, else against the harness's
           Synapse, started (and stopped afterwards) if it is not running.
           Ends with "tests: N passed, N failed"

Environment:
  SYNAPSE_ROOT       the chroot (default /var/cache/matrixlib/synapse-root)
  SYNAPSE_STATE      pid files, logs, state.json (default /var/tmp/matrixlib-synapse)
  SYNAPSE_PORT       Synapse's port (default 8008); SYNAPSE_CAS_PORT the CAS
                     provider's (default 8090)
  DEBIAN_MIRROR      default http://deb.debian.org/debian
  MATRIX_TEST_HOMESERVER, MATRIX_TEST_REGISTRATION_SECRET
                     test another Synapse instead: its base URL and its
                     registration_shared_secret (single sign-on tests also
                     need MATRIX_TEST_CAS_USER and MATRIX_TEST_CAS_PASSWORD,
                     and are skipped without them)
`;

async function main(args: string[]): Promise<number> {
  const command = args[0];
  if (
    command === undefined || command === "--help" || command === "-h" ||
    command === "help"
  ) {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  const layout = layoutFrom((name) => Deno.env.get(name));
  if (command === "test") return await runSuite(layout, args.slice(1));
  if (!["setup", "start", "stop", "status"].includes(command)) {
    process.stderr.write(`synapse: unknown command ${command}\n\n${HELP}`);
    return 2;
  }
  const reason = skipReason(await hostFacts(layout));
  if (reason !== undefined) {
    console.log(`synapse: skipped: ${reason}`);
    return SKIPPED;
  }
  switch (command) {
    case "setup": {
      const started = Date.now();
      await setup(layout);
      console.log(
        `synapse: setup took ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return 0;
    }
    case "start": {
      const started = Date.now();
      const state = await start(layout);
      console.log(
        `synapse: Synapse ${await synapseVersion(
          layout.root,
        )} at ${state.url} (pid ${state.synapsePid}), CAS at ${state.cas.url} (pid ${state.casPid}); started in ${
          ((Date.now() - started) / 1000).toFixed(1)
        } s; logs in ${layout.state}`,
      );
      return 0;
    }
    case "stop":
      console.log(
        (await stop(layout)) ? "synapse: stopped" : "synapse: was not running",
      );
      return 0;
    default: {
      const { state, up } = await status(layout);
      console.log(
        state === undefined
          ? "synapse: not started"
          : `synapse: ${
            up ? "up" : "DOWN"
          } at ${state.url} (pid ${state.synapsePid}), CAS pid ${state.casPid}`,
      );
      return up ? 0 : 1;
    }
  }
}

try {
  process.exitCode = await main(Deno.args);
} catch (error) {
  console.error(`synapse: ${(error as Error).message}`);
  process.exitCode = 1;
}
