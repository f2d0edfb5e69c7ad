/**
 * The CAS identity provider of the harness's Synapse: the development
 * homeserver (`devserver/server.ts`) on 127.0.0.1, whose built-in CAS
 * provider at `http://127.0.0.1:PORT/cas` also signs in to Synapse's
 * service (`--service`, Synapse's `public_baseurl`). It knows one account,
 * `--user`, whose password comes from `CAS_PASSWORD` (never the command
 * line). It prints one line per request, never a query string.
 *
 * ```console
 * CAS_PASSWORD=… deno run --allow-net=127.0.0.1 --allow-env=CAS_PASSWORD \
 *   scripts/synapse/cas_idp.ts --port 8090 --user casuser --service http://localhost:8008/
 * ```
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { createHomeserver } from "../../devserver/server.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    port: { type: "string", default: "8090" },
    user: { type: "string", default: "casuser" },
    service: { type: "string", multiple: true, default: [] },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.log(
    "Usage: CAS_PASSWORD=… deno run --allow-net=127.0.0.1 --allow-env=CAS_PASSWORD scripts/synapse/cas_idp.ts [--port N] [--user NAME] [--service PREFIX]…",
  );
  process.exit(0);
}
const password = Deno.env.get("CAS_PASSWORD");
if (!password) {
  console.error("cas_idp: set CAS_PASSWORD");
  process.exit(2);
}
const port = Number(values.port);
const base = `http://127.0.0.1:${port}/`;
const homeserver = createHomeserver({
  baseUrl: base,
  serverName: `127.0.0.1:${port}`,
  users: [],
  casUsers: [{ username: values.user, password }],
  casServices: values.service,
  onRequest(entry) {
    const errcode = entry.errcode ? ` ${entry.errcode}` : "";
    console.log(`${entry.method} ${entry.path} ${entry.status}${errcode}`);
    homeserver.clearLog();
  },
});
Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, homeserver.handler);
console.log(
  `CAS identity provider at ${base}cas for ${
    values.service.join(", ")
  } (account ${values.user})`,
);
