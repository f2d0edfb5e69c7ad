/**
 * The guided tour's steps: one or more per chapter, in book order. A chapter
 * joins the tour by adding its step here; a chapter listed in `lit.json`
 * without an example yet goes in {@linkcode NO_EXAMPLE_YET} with the reason.
 * `checkTour` (in `book.ts`, run by the tests and before every tour) fails
 * loudly when a chapter or an example under `examples/` is left out.
 *
 * @module
 */

/** What a step knows about the running tour. */
export interface TourContext {
  /** The development homeserver's base URL, such as `http://127.0.0.1:40123`. */
  url: string;
  /** Its host and port, as `--allow-net` wants them: `127.0.0.1:40123`. */
  host: string;
  /** The tour's user's localpart: `alice`. */
  localpart: string;
  /** Its full user ID, such as `@alice:127.0.0.1:40123`. */
  userId: string;
  /** Its password: a secret, only ever given through the environment. */
  password: string;
  /** Its email address, such as `alice@example.org`. */
  email: string;
  /** How long an access token lives (with refresh tokens), in milliseconds. */
  accessTokenLifetimeMs: number;
  /** The tour's scratch directory, removed when the tour ends. */
  dir: string;
  /** The session file the examples share, inside `dir`. */
  sessionFile: string;
  /** The device IDs the server holds tokens for, for the user. */
  devices(): string[];
}

/** One answered request, as the server's log has it (no secrets). */
export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
  errcode?: string;
}

/** One step of the tour: an example run as a reader would run it. */
export interface TourStep {
  /** The chapter, exactly as `lit.json` lists it. */
  chapter: string;
  /** The example it runs, project-relative: `examples/discover.ts`. */
  example: string;
  /** What the step shows, in one sentence. */
  shows: string;
  /**
   * Chapters whose steps must run first, because this one builds on what
   * they leave behind (a saved session, say). `--only` runs them too.
   */
  needs?: string[];
  /**
   * The development homeserver the step runs against: the standard one
   * (the default), or one in Thales Citadel's dialect (`citadel.ts`),
   * served beside it when a step first asks for it. The step's
   * {@linkcode TourContext} describes that server.
   */
  homeserver?: "standard" | "citadel" | "oauth";
  /** Deno's permission flags, as narrow as the example allows. */
  permissions(tour: TourContext): string[];
  /** The example's arguments. */
  args(tour: TourContext): string[];
  /**
   * Environment variables holding secrets. The command shows their names
   * only, as `NAME=…`, and the tour fails if a value ever appears in output.
   */
  secretEnv?(tour: TourContext): Record<string, string>;
  /**
   * Checks what the example left behind, beyond its exit status; returns
   * what is wrong, or `undefined`.
   */
  check?(tour: TourContext): Promise<string | undefined>;
  /** One more sentence for "what just happened", after the request count. */
  explain?(tour: TourContext, requests: LoggedRequest[]): string | undefined;
}

/** A chapter in `lit.json` that the tour has nothing to run for yet. */
export interface NoExampleYet {
  /** The chapter, exactly as `lit.json` lists it. */
  chapter: string;
  /** Why, in a few words; printed by the tour and by `--list`. */
  reason: string;
}

/** The tour, in book order. */
export const TOUR: TourStep[] = [
  {
    chapter: "chapters/00_introduction.md",
    example: "examples/endpoint_url.ts",
    shows: "an endpoint's path becomes a URL below the homeserver's base URL",
    permissions: () => [],
    args: (tour) => [tour.url, "v3/login"],
    explain: () => "The URL is computed, not fetched: no permission needed.",
  },
  {
    chapter: "chapters/01_discovery.md",
    example: "examples/discover.ts",
    shows:
      "server discovery: .well-known names the homeserver, /versions confirms it",
    permissions: (tour) => [`--allow-net=${tour.host}`],
    args: (tour) => [tour.url],
  },
  {
    chapter: "chapters/02_login_methods.md",
    example: "examples/login_methods.ts",
    shows: "the homeserver lists the ways to log in that it accepts",
    permissions: (tour) => [`--allow-net=${tour.host}`],
    args: (tour) => ["--homeserver", tour.url],
  },
  {
    chapter: "chapters/03_password_login.md",
    example: "examples/login.ts",
    shows:
      "a password login; the session is saved to a file the next chapters use",
    permissions: (tour) => [
      `--allow-net=${tour.host}`,
      "--allow-env=MATRIX_PASSWORD",
      `--allow-read=${tour.dir}`,
      `--allow-write=${tour.dir}`,
    ],
    args: (tour) => [
      tour.localpart,
      "--homeserver",
      tour.url,
      "--session",
      tour.sessionFile,
    ],
    secretEnv: (tour) => ({ MATRIX_PASSWORD: tour.password }),
    async check(tour) {
      const devices = tour.devices();
      if (devices.length !== 1) {
        return `the server should hold tokens for 1 device of ${tour.userId}, but holds them for ${devices.length}`;
      }
      let mode: number | null;
      try {
        mode = (await Deno.stat(tour.sessionFile)).mode;
      } catch {
        return `the example did not save ${tour.sessionFile}`;
      }
      // The chapter promises a file only its owner can read (not on Windows,
      // which has no such mode).
      if (mode !== null && (mode & 0o777) !== 0o600) {
        return `${tour.sessionFile} has mode ${
          (mode & 0o777).toString(8)
        }, not 600`;
      }
      return undefined;
    },
    explain: (tour) =>
      `The server now holds tokens for device ${
        tour.devices().join(", ")
      }; the session file has them (not shown).`,
  },
  {
    chapter: "chapters/04_refresh_tokens.md",
    example: "examples/refresh.ts",
    shows:
      "the saved session stays alive: whoami every second, the access token renewed before it expires",
    needs: ["chapters/03_password_login.md"],
    permissions: (tour) => [
      `--allow-net=${tour.host}`,
      `--allow-read=${tour.dir}`,
      `--allow-write=${tour.dir}`,
    ],
    args: (tour) => [
      "--homeserver",
      tour.url,
      "--session",
      tour.sessionFile,
      "--until-refreshes",
      "1",
    ],
    check(tour) {
      const devices = tour.devices();
      return Promise.resolve(
        devices.length === 1
          ? undefined
          : `renewing should keep one device for ${tour.userId}, but the server holds tokens for ${devices.length}`,
      );
    },
    explain: (tour, requests) => {
      const renewals = requests.filter((r) => r.path.endsWith("/refresh"));
      return `The ${
        tour.accessTokenLifetimeMs / 1000
      } s access token was renewed ${renewals.length} time(s) with the refresh token, without a new login: still one device.`;
    },
  },
  {
    chapter: "chapters/05_logout.md",
    example: "examples/logout.ts",
    shows:
      "logging out: the server deletes the device, then the session file is removed",
    needs: ["chapters/03_password_login.md"],
    permissions: (tour) => [
      `--allow-net=${tour.host}`,
      `--allow-read=${tour.dir}`,
      `--allow-write=${tour.dir}`,
    ],
    args: (tour) => ["--session", tour.sessionFile],
    async check(tour) {
      const devices = tour.devices();
      if (devices.length !== 0) {
        return `the server should hold no device of ${tour.userId} after the logout, but holds ${
          devices.join(", ")
        }`;
      }
      try {
        await Deno.stat(tour.sessionFile);
        return `the example should have removed ${tour.sessionFile}`;
      } catch {
        return undefined;
      }
    },
    explain: (_tour, requests) => {
      const refreshed = requests.some((r) => r.path.endsWith("/refresh"));
      return `${
        refreshed
          ? "The access token had expired, so it was renewed first; then the"
          : "The"
      } server confirmed the logout and deleted the device: no device is left, and the session file is gone.`;
    },
  },
  {
    chapter: "chapters/06_single_sign_on.md",
    example: "examples/sso_login.ts",
    shows:
      "single sign-on: a headless browser signs in at the built-in CAS provider, comes back to a listener on 127.0.0.1, and the login token becomes a session",
    permissions: (tour) => [
      `--allow-net=${tour.host},127.0.0.1`,
      `--allow-read=${tour.dir}`,
      `--allow-write=${tour.dir}`,
      "--allow-run=deno",
    ],
    args: (tour) => [
      "--homeserver",
      tour.url,
      "--session",
      ssoSessionFile(tour),
      "--browser",
      `deno run --allow-net=${tour.host},127.0.0.1 --allow-env=CAS_PASSWORD devserver/cas_browser.ts --user ${tour.localpart}`,
    ],
    secretEnv: (tour) => ({ CAS_PASSWORD: tour.password }),
    async check(tour) {
      let deviceId: unknown;
      try {
        deviceId = JSON.parse(await Deno.readTextFile(ssoSessionFile(tour)))
          .device_id;
      } catch {
        return `the example did not save ${ssoSessionFile(tour)}`;
      }
      return typeof deviceId === "string" && tour.devices().includes(deviceId)
        ? undefined
        : `the server holds no device ${deviceId} for ${tour.userId}, the one saved in ${
          ssoSessionFile(tour)
        }`;
    },
    explain: (tour, requests) => {
      const cas = requests.filter((r) => r.path.startsWith("/cas/")).length;
      return `The browser made ${cas} requests to the CAS provider; the program then logged in with the login token (never shown), creating device ${
        tour.devices().at(-1)
      }. Its session is in its own file, so the earlier chapters' steps are undisturbed.`;
    },
  },
  {
    chapter: "chapters/07_citadel.md",
    example: "examples/citadel.ts",
    shows:
      "Thales Citadel's dialect: the portal names the server for an email address, the login goes to r1/login, the token is renewed at v2_alpha/tokenrefresh, and the device is kept for the next run",
    homeserver: "citadel",
    permissions: (tour) => [
      `--allow-net=${tour.host}`,
      "--allow-env=EMAIL,PASSWORD,CITADEL_HOSTNAME",
      `--allow-read=${tour.dir}`,
      `--allow-write=${tour.dir}`,
    ],
    args: (tour) => [
      tour.email,
      "--portal",
      tour.host,
      "--allow-http",
      "--session",
      citadelSessionFile(tour),
      "--for",
      "3",
    ],
    secretEnv: (tour) => ({ PASSWORD: tour.password }),
    async check(tour) {
      let deviceId: unknown;
      try {
        deviceId = JSON.parse(
          await Deno.readTextFile(citadelSessionFile(tour)),
        ).device_id;
      } catch {
        return `the example did not save ${citadelSessionFile(tour)}`;
      }
      const devices = tour.devices();
      return devices.length === 1 && devices[0] === deviceId
        ? undefined
        : `the Citadel server should keep exactly the device saved in ${
          citadelSessionFile(tour)
        } (${deviceId}), but holds ${devices.join(", ") || "none"}`;
    },
    explain: (tour, requests) => {
      const renewals =
        requests.filter((r) => r.path.endsWith("/v2_alpha/tokenrefresh"))
          .length;
      return `The token was renewed ${renewals} time(s) at Citadel's tokenrefresh; the run stopped without logging out, so device ${
        tour.devices()[0]
      } stays, and the next run would restore it (Ctrl+C would have logged it out).`;
    },
  },
  {
    chapter: "chapters/08_devices.md",
    example: "examples/devices.ts",
    shows:
      "the user's devices, listed through client.request() with the session that chapter 6's single sign-on saved, this one marked",
    needs: ["chapters/06_single_sign_on.md"],
    permissions: (tour) => [
      `--allow-net=${tour.host}`,
      `--allow-read=${tour.dir}`,
      `--allow-write=${tour.dir}`,
    ],
    args: (tour) => ["list", "--session", ssoSessionFile(tour)],
    async check(tour) {
      let deviceId: unknown;
      try {
        deviceId = JSON.parse(await Deno.readTextFile(ssoSessionFile(tour)))
          .device_id;
      } catch {
        return `the example needs ${
          ssoSessionFile(tour)
        }, which chapter 6's step saves`;
      }
      return tour.devices().includes(deviceId as string)
        ? undefined
        : `listing must not change the devices, but ${deviceId} is gone`;
    },
    explain: (tour) =>
      `One GET /_matrix/client/v3/devices, sent with the saved session's token through client.request(); the server holds ${tour.devices().length} device(s) of ${tour.userId}, and the one marked * is the session's own.`,
  },
  {
    chapter: "chapters/09_oauth.md",
    example: "examples/oauth_login.ts",
    shows:
      "the OAuth 2.0 API's device grant: the program shows a code, a headless browser enters it on the homeserver's page and allows, and the session is saved",
    homeserver: "oauth",
    permissions: (tour) => [
      `--allow-net=${tour.host}`,
      `--allow-read=${tour.dir}`,
      `--allow-write=${tour.dir}`,
      "--allow-run=deno",
    ],
    args: (tour) => [
      "--homeserver",
      tour.url,
      "--session",
      oauthSessionFile(tour),
      "--open-with",
      `deno run --allow-net=${tour.host} --allow-env=OAUTH_PASSWORD devserver/oauth_browser.ts --user ${tour.localpart}`,
    ],
    secretEnv: (tour) => ({ OAUTH_PASSWORD: tour.password }),
    async check(tour) {
      let saved: { device_id?: unknown; session?: { oauth?: unknown } };
      try {
        saved = JSON.parse(await Deno.readTextFile(oauthSessionFile(tour)));
      } catch {
        return `the example did not save ${oauthSessionFile(tour)}`;
      }
      if (saved.session?.oauth === undefined) {
        return `${oauthSessionFile(tour)} does not record the OAuth 2.0 API`;
      }
      return tour.devices().includes(saved.device_id as string)
        ? undefined
        : `the server holds no device ${saved.device_id} for ${tour.userId}`;
    },
    explain: (tour, requests) => {
      const polls = requests.filter((r) => r.path.endsWith("/oauth2/token"))
        .length;
      return `The program registered, asked for a code, and polled the token endpoint ${polls} time(s) while the browser entered the code and allowed; device ${
        tour.devices().at(-1)
      } was the program's own choice, asked for in the scope.`;
    },
  },
];

/** Chapter 9's session file: its own, on its own homeserver. */
function oauthSessionFile(tour: TourContext): string {
  return tour.sessionFile.replace(/[^/\\]+$/, "oauth_session.json");
}

/** Chapter 7's session file: its own, on its own homeserver. */
function citadelSessionFile(tour: TourContext): string {
  return tour.sessionFile.replace(/[^/\\]+$/, "citadel_session.json");
}

/** Chapter 6's session file: its own, beside the one chapters 3 to 5 share. */
function ssoSessionFile(tour: TourContext): string {
  return tour.sessionFile.replace(/[^/\\]+$/, "sso_session.json");
}

/** Chapters in `lit.json` that have no example for the tour to run yet. */
export const NO_EXAMPLE_YET: NoExampleYet[] = [];
