/**
 * The differential check: one scenario of raw client-server requests, run
 * against the development homeserver and against a real Synapse, each
 * answer reduced to a normalised line (method, path, status, `errcode`,
 * `soft_logout`, the sorted names of the response's top-level fields, and
 * for a few answers the one detail that matters: the login flow types, the
 * spec versions, the stages of user-interactive authentication, a redirect's
 * target path, the shape of device entries, the capabilities). No token,
 * user ID, password or ID the server made up is ever part of a transcript
 * (device IDs are the scenario's own, such as `ERIN_PHONE`); a request
 * sending its token in the query string is shown by its path alone.
 *
 * The two transcripts must be equal, except for the differences listed in
 * {@linkcode KNOWN_DIFFERENCES}, each with its reason. A listed difference
 * that no longer shows is a failure too: the list stays true.
 *
 * @module
 */

import { createHomeserver, fetchOf } from "../../devserver/server.ts";

/** What the scenario needs of a homeserver. */
export interface ScenarioTarget {
  /** The base URL, without a final `/`. */
  url: string;
  /** How to send requests to it. */
  fetch: (
    input: Request | URL | string,
    init?: RequestInit,
  ) => Promise<Response>;
  /** Makes a user with a random name and password, and these third-party IDs. */
  makeUser(
    prefix: string,
    threepids: { email?: string; phone?: string },
  ): Promise<{ userId: string; localpart: string; password: string }>;
  /** Waits until the access tokens issued so far have expired (5 s). */
  waitForExpiry(): Promise<void>;
}

/** One normalised exchange. */
export interface Step {
  /** What the step does, unique in the scenario. */
  name: string;
  method: string;
  /** The path, without query and with no ID in it. */
  path: string;
  status: number;
  errcode?: string;
  soft_logout?: boolean;
  /** The sorted names of the JSON body's top-level fields. */
  fields: string[];
  /** A step's one detail that matters, if any. */
  detail?: string;
}

/** A difference between the servers that is there on purpose. */
export interface KnownDifference {
  /** The step's name. */
  step: string;
  /** The step's normalised line on each server. */
  devserver: Omit<Step, "name">;
  synapse: Omit<Step, "name">;
  /** Why, and where the book says so. */
  reason: string;
}

/**
 * The differences between the development homeserver and Synapse 1.160
 * that are there on purpose. Every other difference is a bug of the
 * development homeserver, to be fixed there.
 */
export const KNOWN_DIFFERENCES: KnownDifference[] = [
  {
    step: "login flows",
    devserver: {
      method: "GET",
      path: "/_matrix/client/v3/login",
      status: 200,
      fields: ["flows"],
      detail: "m.login.cas m.login.sso m.login.token m.login.password",
    },
    synapse: {
      method: "GET",
      path: "/_matrix/client/v3/login",
      status: 200,
      fields: ["flows"],
      detail:
        "m.login.cas m.login.sso m.login.token m.login.password m.login.application_service",
    },
    reason:
      "Synapse also lists m.login.application_service (logins of application services, with their as_token); the development homeserver has no application services, so it does not offer the flow (devserver/server.ts says so).",
  },
  {
    step: "password login: m.id.phone with the specification's phone key",
    devserver: {
      method: "POST",
      path: "/_matrix/client/v3/login",
      status: 200,
      fields: [
        "access_token",
        "device_id",
        "home_server",
        "user_id",
        "well_known",
      ],
    },
    synapse: {
      method: "POST",
      path: "/_matrix/client/v3/login",
      status: 400,
      errcode: "M_UNKNOWN",
      fields: ["errcode", "error"],
    },
    reason:
      'Synapse 1.160 means to accept the specification\'s phone key and its own older number key, but evaluates identifier.get("phone", identifier["number"]): without number that raises KeyError, answered as 400 "Missing JSON keys." (chapter 3 warns of it). The development homeserver follows the specification and accepts number too.',
  },
  {
    step: "get_token: the completed session again",
    devserver: {
      method: "POST",
      path: "/_matrix/client/v1/login/get_token",
      status: 400,
      errcode: "M_UNKNOWN",
      fields: ["errcode", "error"],
    },
    synapse: {
      method: "POST",
      path: "/_matrix/client/v1/login/get_token",
      status: 429,
      errcode: "M_LIMIT_EXCEEDED",
      fields: ["errcode", "error", "retry_after_ms"],
    },
    reason:
      'Synapse accepts a completed user-interactive authentication session again (here it then meets its one-a-minute limit); the specification says servers "MUST always re-prompt" for get_token, so the development homeserver spends the session with the token it gives (devserver/uia.ts).',
  },
  {
    step: "devices: delete, auth null",
    devserver: {
      method: "DELETE",
      path: "/_matrix/client/v3/devices/ERIN_LAPTOP",
      status: 401,
      fields: ["flows", "params", "session"],
      detail: "m.login.password",
    },
    synapse: {
      method: "DELETE",
      path: "/_matrix/client/v3/devices/ERIN_LAPTOP",
      status: 500,
      errcode: "M_UNKNOWN",
      fields: ["errcode", "error"],
      detail: "",
    },
    reason:
      'Synapse 1.160 crashes on "auth": null (its model allows null, then check_ui_auth reads it as a dict); the development homeserver reads it as no auth and answers the challenge.',
  },
  {
    step: "delete_devices: a body not JSON",
    devserver: {
      method: "POST",
      path: "/_matrix/client/v3/delete_devices",
      status: 400,
      errcode: "M_MISSING_PARAM",
      fields: ["errcode", "error"],
      detail: "",
    },
    synapse: {
      method: "POST",
      path: "/_matrix/client/v3/delete_devices",
      status: 500,
      errcode: "M_UNKNOWN",
      fields: ["errcode", "error"],
      detail: "",
    },
    reason:
      "Synapse 1.160 means to read a body that is not JSON as {} (its comment: older clients), but validates {} outside its error handling and answers 500; the development homeserver does what the code means: {} lacks devices, 400 M_MISSING_PARAM.",
  },
  {
    step: "capabilities",
    devserver: {
      method: "GET",
      path: "/_matrix/client/v3/capabilities",
      status: 200,
      fields: ["capabilities"],
      detail:
        "m.3pid_changes=false m.change_password=false m.get_login_token=true m.profile_fields=false m.room_versions m.set_avatar_url=false m.set_displayname=false",
    },
    synapse: {
      method: "GET",
      path: "/_matrix/client/v3/capabilities",
      status: 200,
      fields: ["capabilities"],
      detail:
        "m.3pid_changes=true m.change_password=true m.get_login_token=true m.profile_fields=true m.room_versions m.set_avatar_url=true m.set_displayname=true org.matrix.msc4140.delayed_events",
    },
    reason:
      "The development homeserver has no endpoints to change the password, profiles or third-party IDs, so it says so (enabled: false) where Synapse enables them; it leaves out Synapse's unstable delayed events. m.get_login_token is enabled on both.",
  },
];

/** Compares by code point, as SQLite orders UTF-8 text. */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

/** A random test address, such as `a1b2c3d4@example.org`. */
function randomEmail(): string {
  return `${crypto.randomUUID().slice(0, 8)}@example.org`;
}

/** A German mobile number, in international digits, unique enough per run. */
function randomPhone(): { msisdn: string; national: string } {
  const digits = Array.from(
    crypto.getRandomValues(new Uint8Array(7)),
    (b) => String(b % 10),
  ).join("");
  return { msisdn: `49171${digits}`, national: `0171${digits}` };
}

/** The path of a URL, or of `Location`, without origin and query. */
function pathOf(url: string, base: string): string {
  return new URL(url, base).pathname;
}

/**
 * Runs the scenario against `target` and returns its transcript. Requests
 * are raw (not through the library) so that the transcript shows what the
 * server said, not what a client made of it.
 */
export async function runScenario(target: ScenarioTarget): Promise<Step[]> {
  const steps: Step[] = [];
  const names = new Set<string>();

  async function send(
    name: string,
    method: string,
    path: string,
    options: {
      json?: unknown;
      /** A body sent as it is, as JSON (for one that is not JSON). */
      text?: string;
      token?: string;
      /** An `Authorization` header as it is, instead of `token`'s. */
      authorization?: string;
      detail?: (body: Record<string, unknown>, response: Response) => string;
    } = {},
  ): Promise<Record<string, unknown>> {
    if (names.has(name)) throw new Error(`two steps named ${name}`);
    names.add(name);
    const headers: Record<string, string> = {};
    if (options.json !== undefined || options.text !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    if (options.token !== undefined) {
      headers.Authorization = `Bearer ${options.token}`;
    }
    if (options.authorization !== undefined) {
      headers.Authorization = options.authorization;
    }
    const response = await target.fetch(`${target.url}${path}`, {
      method,
      headers,
      body: options.text ??
        (options.json === undefined ? undefined : JSON.stringify(options.json)),
      redirect: "manual",
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null) body = parsed;
    } catch {
      // not JSON (a redirect, a page)
    }
    const step: Step = {
      name,
      method,
      path: new URL(path, target.url).pathname,
      status: response.status,
      fields: Object.keys(body).sort(),
    };
    if (typeof body.errcode === "string") step.errcode = body.errcode;
    if (typeof body.soft_logout === "boolean") {
      step.soft_logout = body.soft_logout;
    }
    if (options.detail) step.detail = options.detail(body, response);
    steps.push(step);
    return body;
  }

  const login = (
    name: string,
    identifier: Record<string, unknown> | undefined,
    password: string,
    extra: Record<string, unknown> = {},
  ) =>
    send(name, "POST", "/_matrix/client/v3/login", {
      json: {
        type: "m.login.password",
        ...(identifier ? { identifier } : {}),
        password,
        ...extra,
      },
    });
  const whoami = (name: string, token?: string) =>
    send(name, "GET", "/_matrix/client/v3/account/whoami", { token });
  const refresh = (name: string, refreshToken: string) =>
    send(name, "POST", "/_matrix/client/v3/refresh", {
      json: { refresh_token: refreshToken },
    });
  const str = (body: Record<string, unknown>, key: string) => {
    const value = body[key];
    if (typeof value !== "string") {
      throw new Error(`the scenario needs ${key}, which the answer lacks`);
    }
    return value;
  };

  // ---- chapters 1 and 2: discovery and login flows ----
  await send("well-known", "GET", "/.well-known/matrix/client", {
    detail: (body) =>
      Object.keys(body["m.homeserver"] as object ?? {}).sort().join(" "),
  });
  await send("versions", "GET", "/_matrix/client/versions", {
    detail: (body) => (body.versions as string[]).join(" "),
  });
  await send("login flows", "GET", "/_matrix/client/v3/login", {
    detail: (body) =>
      (body.flows as { type: string }[]).map((f) => f.type).join(" "),
  });

  // ---- chapter 3: password login ----
  const email = randomEmail();
  const phone = randomPhone();
  const alice = await target.makeUser("alice", { email, phone: phone.msisdn });
  const bob = await target.makeUser("bob", {});
  const id = (user: string) => ({ type: "m.id.user", user });
  await login(
    "password login: full user ID, refresh_token true",
    id(alice.userId),
    alice.password,
    { refresh_token: true },
  );
  const forLogout = str(
    await login(
      "password login: a second session, to log out once expired",
      id(alice.localpart),
      alice.password,
      { refresh_token: true },
    ),
    "access_token",
  );
  await login("password login: localpart", id(alice.localpart), alice.password);
  await login(
    "password login: deprecated top-level user",
    undefined,
    alice.password,
    { user: alice.localpart },
  );
  await login(
    "password login: email, in other case",
    { type: "m.id.thirdparty", medium: "email", address: email.toUpperCase() },
    alice.password,
  );
  await login(
    "password login: unknown email",
    { type: "m.id.thirdparty", medium: "email", address: randomEmail() },
    alice.password,
  );
  await login(
    "password login: msisdn",
    { type: "m.id.thirdparty", medium: "msisdn", address: phone.msisdn },
    alice.password,
  );
  await login(
    "password login: m.id.phone with the specification's phone key",
    { type: "m.id.phone", country: "DE", phone: phone.national },
    alice.password,
  );
  await login(
    "password login: m.id.phone with Synapse's number key",
    { type: "m.id.phone", country: "DE", number: phone.national },
    alice.password,
  );
  await login("password login: wrong password", id(bob.localpart), "wrong");
  await login(
    "password login: unknown user",
    id(`nobody_${crypto.randomUUID().slice(0, 8)}`),
    "wrong",
  );
  // Malformed logins: the errcode a client sees for each.
  const malformed: [string, Record<string, unknown>][] = [
    ["unknown login type", { type: "m.login.unknown" }],
    ["unknown login type, with an identifier", {
      type: "m.login.unknown",
      identifier: id(bob.localpart),
    }],
    ["no identifier", { type: "m.login.password", password: "x" }],
    ["identifier not an object", {
      type: "m.login.password",
      identifier: "abc",
      password: "x",
    }],
    ["identifier without type", {
      type: "m.login.password",
      identifier: { user: bob.localpart },
      password: "x",
    }],
    ["unknown identifier type", {
      type: "m.login.password",
      identifier: { type: "m.id.unknown" },
      password: "x",
    }],
    ["m.id.user without user", {
      type: "m.login.password",
      identifier: { type: "m.id.user" },
      password: "x",
    }],
    ["m.id.thirdparty without address", {
      type: "m.login.password",
      identifier: { type: "m.id.thirdparty", medium: "email" },
      password: "x",
    }],
    ["m.id.phone without country", {
      type: "m.login.password",
      identifier: { type: "m.id.phone", phone: phone.national },
      password: "x",
    }],
    ["no password", {
      type: "m.login.password",
      identifier: id(bob.localpart),
    }],
  ];
  for (const [name, json] of malformed) {
    await send(`malformed login: ${name}`, "POST", "/_matrix/client/v3/login", {
      json,
    });
  }

  // ---- chapter 4: tokens, refresh, rotation ----
  // A pair of its own, issued just now: on a busy Synapse the logins above
  // can take longer than the access token's 5 s.
  const pair1 = await login(
    "password login: refresh_token true, for the rotation",
    id(alice.localpart),
    alice.password,
    { refresh_token: true },
  );
  const a1 = str(pair1, "access_token");
  const r1 = str(pair1, "refresh_token");
  await whoami("whoami: no token");
  await whoami("whoami: unknown token", "syt_not_a_real_token");
  await whoami("whoami: current token", a1);
  const pair2 = await refresh("refresh: first", r1);
  const a2 = str(pair2, "access_token");
  const r2 = str(pair2, "refresh_token");
  await whoami("whoami: old token, new pair not used yet", a1);
  await refresh("refresh: unknown refresh token", "syr_not_a_real_token");
  await whoami("whoami: new token", a2);
  await whoami("whoami: old token, after the new one was used", a1);
  await refresh("refresh: old refresh token, after the new pair was used", r1);

  // ---- chapter 6: login tokens and single sign-on ----
  const carol = await target.makeUser("carol", {});
  const carolToken = str(
    await login(
      "password login: for get_token",
      id(carol.localpart),
      carol.password,
    ),
    "access_token",
  );
  await send(
    "get_token: v3 does not exist",
    "POST",
    "/_matrix/client/v3/login/get_token",
    {
      json: {},
      token: carolToken,
    },
  );
  const stages = (body: Record<string, unknown>) =>
    ((body.flows ?? []) as { stages: string[] }[]).map((f) =>
      f.stages.join("+")
    ).join(" ");
  const challenge = await send(
    "get_token: challenge",
    "POST",
    "/_matrix/client/v1/login/get_token",
    { json: {}, token: carolToken, detail: stages },
  );
  const auth = (password: string) => ({
    auth: {
      type: "m.login.password",
      identifier: id(carol.localpart),
      password,
      session: challenge.session,
    },
  });
  await send(
    "get_token: wrong password",
    "POST",
    "/_matrix/client/v1/login/get_token",
    { json: auth("wrong"), token: carolToken, detail: stages },
  );
  const granted = await send(
    "get_token: password stage",
    "POST",
    "/_matrix/client/v1/login/get_token",
    { json: auth(carol.password), token: carolToken },
  );
  const loginToken = str(granted, "login_token");
  await send(
    "get_token: the completed session again",
    "POST",
    "/_matrix/client/v1/login/get_token",
    { json: { auth: { session: challenge.session } }, token: carolToken },
  );
  const tokenLogin = (name: string) =>
    send(name, "POST", "/_matrix/client/v3/login", {
      json: { type: "m.login.token", token: loginToken },
    });
  await tokenLogin("token login");
  await tokenLogin("token login: the same token again");
  const redirect = (_body: Record<string, unknown>, response: Response) => {
    const location = response.headers.get("Location");
    if (location === null) return "no Location";
    const service = new URL(location, target.url).searchParams.get("service");
    return `${pathOf(location, target.url)}?service=${
      service === null ? "" : pathOf(service, target.url)
    }`;
  };
  const back = encodeURIComponent("http://127.0.0.1:9/callback?state=s");
  await send(
    "sso redirect: no redirectUrl",
    "GET",
    "/_matrix/client/v3/login/sso/redirect",
  );
  await send(
    "sso redirect: to CAS",
    "GET",
    `/_matrix/client/v3/login/sso/redirect?redirectUrl=${back}`,
    { detail: redirect },
  );
  await send(
    "sso redirect: the cas provider",
    "GET",
    `/_matrix/client/v3/login/sso/redirect/cas?redirectUrl=${back}`,
    { detail: redirect },
  );
  await send(
    "sso redirect: an unknown provider",
    "GET",
    `/_matrix/client/v3/login/sso/redirect/nowhere?redirectUrl=${back}`,
  );

  // ---- chapter 5: logout ----
  await send("logout", "POST", "/_matrix/client/v3/logout", {
    json: {},
    token: a2,
  });
  await whoami("whoami: after logout", a2);
  await refresh("refresh: after logout", r2);
  const dave1 = await target.makeUser("dave", {});
  const daveA = str(
    await login(
      "password login: dave, first device",
      id(dave1.localpart),
      dave1.password,
    ),
    "access_token",
  );
  const daveB = str(
    await login(
      "password login: dave, second device",
      id(dave1.localpart),
      dave1.password,
    ),
    "access_token",
  );
  await send("logout all", "POST", "/_matrix/client/v3/logout/all", {
    json: {},
    token: daveA,
  });
  await whoami("whoami: other device after logout all", daveB);

  // ---- devices, capabilities, the token in the query string ----
  const erin = await target.makeUser("erin", {});
  const frank = await target.makeUser("frank", {});
  const erinPhone = str(
    await login(
      "password login: erin's phone",
      id(erin.localpart),
      erin.password,
      { device_id: "ERIN_PHONE", initial_device_display_name: "Erin's phone" },
    ),
    "access_token",
  );
  const laptop = await login(
    "password login: erin's laptop, refresh_token true",
    id(erin.localpart),
    erin.password,
    { device_id: "ERIN_LAPTOP", refresh_token: true },
  );
  const softLogin = await login(
    "password login: erin's tablet, to delete once expired",
    id(erin.localpart),
    erin.password,
    { device_id: "ERIN_TABLET", refresh_token: true },
  );
  await login(
    "password login: frank's device",
    id(frank.localpart),
    frank.password,
    { device_id: "FRANK_ONE" },
  );
  // A device entry's shape, without its IDs: which device (by the role the
  // scenario gave it), its fields and whether each is null.
  const roles: Record<string, string> = {
    ERIN_PHONE: "phone",
    ERIN_LAPTOP: "laptop",
    ERIN_TABLET: "tablet",
  };
  const shape = (entry: Record<string, unknown>) =>
    `${roles[entry.device_id as string] ?? "other"}{${
      Object.keys(entry).sort().map((key) =>
        ["user_id", "device_id"].includes(key)
          ? key
          : `${key}:${entry[key] === null ? "null" : typeof entry[key]}`
      ).join(",")
    }}`;
  const listShape = (body: Record<string, unknown>) => {
    const list = (body.devices ?? []) as Record<string, unknown>[];
    const ids = list.map((d) => String(d.device_id));
    const sorted = ids.every((d, i) =>
      i === 0 || byCodePoint(ids[i - 1], d) < 0
    );
    return `${sorted ? "sorted" : "unsorted"} ${
      list.filter((d) => String(d.device_id) in roles).map(shape).join(" ")
    }`;
  };
  const one = (body: Record<string, unknown>) =>
    "device_id" in body ? shape(body) : "";
  const DEVICES = "/_matrix/client/v3/devices";
  await send("devices: list", "GET", DEVICES, {
    token: erinPhone,
    detail: listShape,
  });
  await send("devices: list at r0", "GET", "/_matrix/client/r0/devices", {
    token: erinPhone,
    detail: listShape,
  });
  await send("devices: one", "GET", `${DEVICES}/ERIN_LAPTOP`, {
    token: erinPhone,
    detail: one,
  });
  await send("devices: an unknown one", "GET", `${DEVICES}/NOPE`, {
    token: erinPhone,
  });
  await send("devices: another user's", "GET", `${DEVICES}/FRANK_ONE`, {
    token: erinPhone,
  });
  const rename = (name: string, device: string, json: unknown) =>
    send(name, "PUT", `${DEVICES}/${device}`, { token: erinPhone, json });
  await rename("devices: rename", "ERIN_LAPTOP", {
    display_name: "Erin's laptop",
  });
  await send("devices: renamed", "GET", `${DEVICES}/ERIN_LAPTOP`, {
    token: erinPhone,
    detail: one,
  });
  await rename("devices: rename, a name too long", "ERIN_LAPTOP", {
    display_name: "x".repeat(101),
  });
  await rename("devices: rename, a name not a string", "ERIN_LAPTOP", {
    display_name: 5,
  });
  await rename("devices: rename an unknown device", "NOPE", {
    display_name: "x",
  });
  await rename("devices: rename an unknown device without a name", "NOPE", {});
  await send(
    "devices: rename, a body not JSON",
    "PUT",
    `${DEVICES}/ERIN_LAPTOP`,
    {
      token: erinPhone,
      text: "{not json",
    },
  );
  const deleteLaptop = (name: string, json?: unknown, text?: string) =>
    send(name, "DELETE", `${DEVICES}/ERIN_LAPTOP`, {
      token: erinPhone,
      json,
      text,
      detail: stages,
    });
  const erinAuth = (password: string, session?: unknown) => ({
    type: "m.login.password",
    identifier: id(erin.localpart),
    password,
    ...(session === undefined ? {} : { session }),
  });
  const deletion = await deleteLaptop("devices: delete, the challenge", {});
  await deleteLaptop("devices: delete, a wrong password", {
    auth: erinAuth("wrong", deletion.session),
  });
  await deleteLaptop("devices: delete, another user's password", {
    auth: {
      type: "m.login.password",
      identifier: id(frank.localpart),
      password: frank.password,
      session: deletion.session,
    },
  });
  await deleteLaptop("devices: delete, the password", {
    auth: erinAuth(erin.password, deletion.session),
  });
  await deleteLaptop("devices: delete, the completed session again", {
    auth: { session: deletion.session },
  });
  await send(
    "devices: delete another device with that session",
    "DELETE",
    `${DEVICES}/ERIN_PHONE`,
    { token: erinPhone, json: { auth: { session: deletion.session } } },
  );
  await deleteLaptop("devices: delete, an unknown session", {
    auth: erinAuth(erin.password, "nosuch"),
  });
  await deleteLaptop("devices: delete, a body not JSON", undefined, "{x");
  await deleteLaptop("devices: delete, auth not an object", { auth: "x" });
  await deleteLaptop("devices: delete, auth null", { auth: null });
  await whoami("whoami: a deleted device", str(laptop, "access_token"));
  await refresh("refresh: a deleted device", str(laptop, "refresh_token"));
  const deleteMany = (
    name: string,
    options: { json?: unknown; text?: string },
  ) =>
    send(name, "POST", "/_matrix/client/v3/delete_devices", {
      token: erinPhone,
      detail: stages,
      ...options,
    });
  await deleteMany("delete_devices: without devices", { json: {} });
  await deleteMany("delete_devices: devices not a list", {
    json: { devices: "ERIN_PHONE" },
  });
  await deleteMany("delete_devices: a body not JSON", { text: "{x" });
  await deleteMany("delete_devices: the challenge", {
    json: { devices: ["NOPE"] },
  });
  await deleteMany(
    "delete_devices: unknown IDs, the password without a session",
    {
      json: { devices: ["NOPE", "ERIN_LAPTOP"], auth: erinAuth(erin.password) },
    },
  );
  await send("capabilities", "GET", "/_matrix/client/v3/capabilities", {
    token: erinPhone,
    detail: (body) =>
      Object.entries((body.capabilities ?? {}) as Record<string, unknown>)
        .map(([name, value]) => {
          const enabled = (value as { enabled?: unknown }).enabled;
          return enabled === undefined ? name : `${name}=${enabled}`;
        }).sort().join(" "),
  });
  const inQuery = `access_token=${encodeURIComponent(erinPhone)}`;
  await send(
    "whoami: the token in the query string",
    "GET",
    `/_matrix/client/v3/account/whoami?${inQuery}`,
  );
  await send(
    "whoami: the token in the query string and the header",
    "GET",
    `/_matrix/client/v3/account/whoami?${inQuery}`,
    { token: erinPhone },
  );
  await send(
    "devices: list, the token in the query string",
    "GET",
    `${DEVICES}?${inQuery}`,
    { detail: listShape },
  );
  await send(
    "whoami: Authorization with two spaces",
    "GET",
    "/_matrix/client/v3/account/whoami",
    { authorization: `Bearer  ${erinPhone}` },
  );

  // ---- after the real expiry of the tokens issued with refresh_token ----
  await target.waitForExpiry();
  const tablet = str(softLogin, "access_token");
  await send("devices: list, with an expired token", "GET", DEVICES, {
    token: tablet,
  });
  await send(
    "devices: delete a soft-logged-out device from another session",
    "DELETE",
    `${DEVICES}/ERIN_TABLET`,
    { token: erinPhone, json: { auth: erinAuth(erin.password) } },
  );
  await whoami("whoami: the deleted soft-logged-out device", tablet);
  await refresh(
    "refresh: the deleted soft-logged-out device",
    str(softLogin, "refresh_token"),
  );
  await whoami("whoami: expired token", forLogout);
  await send(
    "logout: with an expired access token",
    "POST",
    "/_matrix/client/v3/logout",
    {
      json: {},
      token: forLogout,
    },
  );
  await whoami("whoami: expired token after its logout", forLogout);
  return steps;
}

/** One step as a line, for messages. */
export function stepLine(step: Omit<Step, "name">): string {
  const parts = [`${step.method} ${step.path} ${step.status}`];
  if (step.errcode) parts.push(step.errcode);
  if (step.soft_logout !== undefined) {
    parts.push(`soft_logout=${step.soft_logout}`);
  }
  parts.push(`{${step.fields.join(",")}}`);
  if (step.detail !== undefined) parts.push(`[${step.detail}]`);
  return parts.join(" ");
}

/** What {@linkcode compare} found. */
export interface Comparison {
  /** Differences not listed: bugs of the development homeserver. */
  unexplained: string[];
  /** Listed differences that showed, as expected. */
  explained: KnownDifference[];
  /** Listed differences that did not show: the list is out of date. */
  stale: KnownDifference[];
}

/** Compares two transcripts of the scenario, given the known differences. */
export function compare(
  devserver: Step[],
  synapse: Step[],
  known: KnownDifference[] = KNOWN_DIFFERENCES,
): Comparison {
  const result: Comparison = { unexplained: [], explained: [], stale: [] };
  const count = Math.max(devserver.length, synapse.length);
  const seen = new Set<KnownDifference>();
  for (let i = 0; i < count; i++) {
    const dev = devserver[i];
    const syn = synapse[i];
    if (dev === undefined || syn === undefined || dev.name !== syn.name) {
      result.unexplained.push(
        `step ${i + 1}: the scenario went differently (${
          dev?.name ?? "nothing"
        } / ${syn?.name ?? "nothing"})`,
      );
      break;
    }
    const { name: _d, ...devLine } = dev;
    const { name: _s, ...synLine } = syn;
    if (stepLine(devLine) === stepLine(synLine)) continue;
    const listed = known.find((k) =>
      k.step === dev.name && stepLine(k.devserver) === stepLine(devLine) &&
      stepLine(k.synapse) === stepLine(synLine)
    );
    if (listed) {
      seen.add(listed);
      result.explained.push(listed);
    } else {
      result.unexplained.push(
        `${dev.name}:\n  devserver: ${stepLine(devLine)}\n  synapse:   ${
          stepLine(synLine)
        }`,
      );
    }
  }
  result.stale = known.filter((k) => !seen.has(k));
  return result;
}

/** A transcript as text, one step a line. */
export function transcript(steps: Step[]): string {
  return steps.map((s) => `${s.name}: ${stepLine(s)}`).join("\n") + "\n";
}

/**
 * The development homeserver as the scenario's target: in process, with
 * Synapse's settings of the harness (5 s refreshable access tokens) and a
 * clock of its own, which waiting for expiry moves on.
 */
export function devserverTarget(): ScenarioTarget {
  let now = Date.now();
  const hs = createHomeserver({
    baseUrl: "http://localhost:8008/",
    serverName: "localhost:8008",
    users: [],
    accessTokenLifetimeMs: 5_000,
    refreshTokenLifetimeMs: 3_600_000,
    clock: () => now,
  });
  let counter = 0;
  return {
    url: "http://localhost:8008",
    fetch: fetchOf(hs),
    makeUser(prefix, threepids) {
      const localpart = `${prefix}_${++counter}`;
      const password = crypto.randomUUID();
      const userId = hs.addUser({
        localpart,
        password,
        emails: threepids.email ? [threepids.email] : [],
        phones: threepids.phone ? [threepids.phone] : [],
      });
      return Promise.resolve({ userId, localpart, password });
    },
    waitForExpiry() {
      now += 5_600;
      return Promise.resolve();
    },
  };
}
