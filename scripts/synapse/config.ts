/**
 * Where the Synapse harness keeps things, and the `homeserver.yaml` it
 * writes before every start.
 *
 * @module
 */

/** The exit status meaning "could not run here; skipped" (as automake's). */
export const SKIPPED = 77;

/** The paths, ports and mirror the harness uses; each can be overridden. */
export interface Layout {
  /** The Debian sid chroot, cached between runs (`SYNAPSE_ROOT`). */
  root: string;
  /** Pid files, logs and `state.json`, on the host (`SYNAPSE_STATE`). */
  state: string;
  /** The Debian mirror for debootstrap (`DEBIAN_MIRROR`). */
  mirror: string;
  /** Synapse's port on 127.0.0.1 (`SYNAPSE_PORT`). */
  port: number;
  /** The CAS identity provider's port on 127.0.0.1 (`SYNAPSE_CAS_PORT`). */
  casPort: number;
}

/** The layout from the environment, with the defaults. */
export function layoutFrom(env: (name: string) => string | undefined): Layout {
  const port = (name: string, fallback: number) => {
    const value = env(name);
    if (value === undefined || value === "") return fallback;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
      throw new Error(`${name} must be a port number, not ${value}`);
    }
    return Number(value);
  };
  return {
    root: env("SYNAPSE_ROOT") || "/var/cache/matrixlib/synapse-root",
    state: env("SYNAPSE_STATE") || "/var/tmp/matrixlib-synapse",
    mirror: env("DEBIAN_MIRROR") || "http://deb.debian.org/debian",
    port: port("SYNAPSE_PORT", 8008),
    casPort: port("SYNAPSE_CAS_PORT", 8090),
  };
}

/** Inside the chroot: Synapse's directory (config, database, keys). */
export const SYNAPSE_DIR = "/srv/matrixlib-synapse";

/** The secrets of one start, made afresh each time. */
export interface Secrets {
  registration: string;
  macaroon: string;
  form: string;
}

/** A random secret of 32 hexadecimal digits. */
export function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The public base URL of the harness's Synapse, with its final `/`. */
export function publicBaseUrl(layout: Pick<Layout, "port">): string {
  return `http://localhost:${layout.port}/`;
}

/**
 * The project's Synapse configuration: loopback only, no federation, no TLS,
 * sqlite; refresh tokens with a 5 s access-token lifetime;
 * `login_via_existing_session`; CAS against the development homeserver's
 * CAS identity provider; `rc_login` raised except `failed_attempts`.
 */
export function homeserverYaml(
  layout: Pick<Layout, "port" | "casPort">,
  secrets: Secrets,
): string {
  const q = JSON.stringify; // a JSON string is a YAML string
  return `# Written by scripts/synapse/harness.ts at every start; edits are lost.
server_name: ${q(`localhost:${layout.port}`)}
# public_baseurl is also what makes Synapse serve /.well-known/matrix/client.
public_baseurl: ${q(publicBaseUrl(layout))}
pid_file: ${SYNAPSE_DIR}/homeserver.pid
report_stats: false
listeners:
  - port: ${layout.port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: ${SYNAPSE_DIR}/homeserver.db
media_store_path: ${SYNAPSE_DIR}/media
signing_key_path: ${SYNAPSE_DIR}/signing.key
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
enable_metrics: false

enable_registration: false
registration_shared_secret: ${q(secrets.registration)}
macaroon_secret_key: ${q(secrets.macaroon)}
form_secret: ${q(secrets.form)}

# Logins that send "refresh_token": true get access tokens that expire
# after 5 s; the others never expire.
refreshable_access_token_lifetime: 5s
refresh_token_lifetime: 1h

# POST /_matrix/client/v1/login/get_token, behind a password stage.
login_via_existing_session:
  enabled: true
  require_ui_auth: true
  token_timeout: 5m

# The defaults (0.003/s, burst 5) would answer 429 to the 6th login from
# 127.0.0.1; failed_attempts stays low so that a test can meet it.
rc_login:
  address: {per_second: 1000, burst_count: 1000}
  account: {per_second: 1000, burst_count: 1000}
  failed_attempts: {per_second: 0.1, burst_count: 3}

# Single sign-on through the development homeserver's CAS identity provider.
cas_config:
  enabled: true
  server_url: ${q(`http://127.0.0.1:${layout.casPort}/cas`)}
  displayname_attribute: displayName
sso:
  # Redirect URLs with this prefix (the library's loopback listener) get the
  # login token at once, without a confirmation page.
  client_whitelist:
    - "http://127.0.0.1:"
`;
}

/** What `start` leaves in `{state}/state.json` (mode 0600) for the suite. */
export interface RunningState {
  /** The homeserver's base URL, such as `http://localhost:8008`. */
  url: string;
  /** The shared secret for `/_synapse/admin/v1/register`. */
  registrationSecret: string;
  /** The CAS identity provider's account, for single sign-on tests. */
  cas: { url: string; user: string; password: string };
  /** Process IDs. */
  synapsePid: number;
  casPid: number;
}
