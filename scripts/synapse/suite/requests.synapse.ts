/**
 * Chapter 8 against Synapse: `client.request()`, `client.fetch()` and
 * `client.refresh()` across real 5 s expiries, and `request()` on
 * endpoints the library never calls itself.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  apiPath,
  type Client,
  type Fetch,
  InteractiveAuthError,
  MatrixError,
} from "../../../mod.ts";
import { SESSION_KEY, type StoredSession } from "../../../src/session.ts";
import type { RegisteredUser } from "../users.ts";
import {
  assertNoSecrets,
  CopyableStorage,
  field,
  frozenClock,
  newClient,
  PAST_EXPIRY_MS,
  raw,
  rawLogin,
  sleep,
  URL_,
  users,
} from "./support.ts";

const WHOAMI = "/_matrix/client/v3/account/whoami";
const REFRESH = "/_matrix/client/v3/refresh";
/** How many requests meet the expiry together. */
const CROWD = 100;

/** One request as it left the client and came back; never a token. */
interface Sent {
  method: string;
  path: string;
  search: string;
  status: number;
  /** Which token it carried: `"login"`, `"refresh 1"`, …, or `"none"`. */
  token: string;
  /** When it was sent and answered, as places in one sequence of events. */
  sentAt: number;
  answeredAt: number;
  /** The answer's `Retry-After` header, if any. */
  retryAfter: string | null;
}

/**
 * A `fetch` that records each request with the origin of the access token
 * it carried (the login's, the first refresh's, …), and the order in which
 * requests were sent and answered. It reads the answers of `/login` and
 * `/refresh` (a copy) to learn the tokens, and never keeps one in the log.
 */
function tracingFetch(): { fetch: Fetch; log: Sent[] } {
  const log: Sent[] = [];
  const origins = new Map<string, string>();
  let refreshes = 0;
  let events = 0;
  const traced: Fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const bearer = request.headers.get("Authorization")?.replace(
      /^Bearer /,
      "",
    );
    const token = bearer === undefined
      ? "none"
      : origins.get(bearer) ?? "unknown";
    const sentAt = events++;
    const response = await fetch(request);
    const answeredAt = events++;
    const path = url.pathname;
    if (
      response.status === 200 &&
      (path.endsWith("/login") || path.endsWith("/refresh"))
    ) {
      const body = await response.clone().json();
      const label = path.endsWith("/login")
        ? "login"
        : `refresh ${++refreshes}`;
      origins.set(body.access_token, label);
    }
    log.push({
      method: request.method,
      path,
      search: url.search,
      status: response.status,
      token,
      sentAt,
      answeredAt,
      retryAfter: response.headers.get("Retry-After"),
    });
    return response;
  };
  return { fetch: traced, log };
}

/** A client with a tracing log and a storage to read its tokens from. */
function tracedClient(options: { frozen?: boolean } = {}) {
  const tracing = tracingFetch();
  const storage = new CopyableStorage();
  const { client } = newClient({
    fetch: tracing.fetch,
    storage,
    ...(options.frozen ? { clock: frozenClock() } : {}),
  });
  return { client, log: tracing.log, storage };
}

/** The session a storage holds: its tokens, to check them on the server. */
function session(storage: CopyableStorage): StoredSession {
  return storage.get(SESSION_KEY) as unknown as StoredSession;
}

/** The log's entries to paths ending with `pathEnd`. */
function to(log: Sent[], pathEnd: string): Sent[] {
  return log.filter((e) => e.path.endsWith(pathEnd));
}

/** How many entries of `entries` have each `token / status`, sorted. */
function tally(entries: Sent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of entries) {
    const key = `${e.token} ${e.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The rejection of `promise`, or a failure if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(
    () => assert.fail("it succeeded"),
    (error) => error,
  );
}

/**
 * The tests that need a token expired on the server, by name, and whether
 * their client's clock stands still (then the client does not see the
 * expiry, and meets it as a 401).
 */
const EXPIRING = {
  requests: { frozen: true },
  fetches: { frozen: true },
  foreseen: { frozen: false },
  deletion: { frozen: true },
  stream: { frozen: true },
  string: { frozen: true },
  joined: { frozen: true },
} as const;

/** A user, and a client logged in as that user. */
type Session = ReturnType<typeof tracedClient> & { user: RegisteredUser };

let expiring: Promise<Record<keyof typeof EXPIRING, Session>> | undefined;

/**
 * The session of the test `name` of {@linkcode EXPIRING}, its access token
 * expired on the server. The tests share one wait: the first to ask logs
 * all their clients in, together, then waits past the token's life once,
 * instead of once per test. A refresh token lives an hour, so a test that
 * runs later finds the same state.
 */
async function expired(name: keyof typeof EXPIRING): Promise<Session> {
  expiring ??= (async () => {
    const sessions = await Promise.all(
      Object.entries(EXPIRING).map(async ([key, options]) => {
        const user = await users.user(key);
        const traced = tracedClient(options);
        await traced.client.loginWithPassword(user.userId, user.password);
        return [key, { ...traced, user }] as const;
      }),
    );
    await sleep(PAST_EXPIRY_MS);
    return Object.fromEntries(sessions) as Record<
      keyof typeof EXPIRING,
      Session
    >;
  })();
  return (await expiring)[name];
}

/** `CROWD` whoami requests at once through `client.request()`. */
function crowdOfRequests(client: Client) {
  return Promise.all(
    Array.from(
      { length: CROWD },
      () => client.request<{ user_id: string }>("GET", "v3/account/whoami"),
    ),
  );
}

/** `CROWD` whoami requests at once through `client.fetch()`, read as JSON. */
function crowdOfFetches(client: Client) {
  const url = client.endpoint("v3/account/whoami");
  return Promise.all(
    Array.from({ length: CROWD }, async () => {
      const response = await client.fetch(url);
      assert.equal(response.status, 200);
      return await response.json() as { user_id: string };
    }),
  );
}

/**
 * The crowd met a token that had expired on the server only: each request
 * went out once with the login's token and came back 401, one refresh was
 * made, each went out again with the new token and succeeded, and none went
 * out with the login's token once the refresh was answered.
 */
function assertReactive(log: Sent[]): void {
  const refreshes = to(log, "/refresh");
  assert.deepEqual(refreshes.map((e) => `${e.token} ${e.status}`), [
    "none 200",
  ]);
  const whoamis = to(log, "/whoami");
  assert.deepEqual(tally(whoamis), {
    "login 401": CROWD,
    "refresh 1 200": CROWD,
  });
  const refreshed = refreshes[0].answeredAt;
  const late = whoamis.filter((e) =>
    e.token === "login" && e.sentAt > refreshed
  );
  assert.equal(late.length, 0, "sent with the old token after the refresh");
  // The refresh started once the first refusal had come back.
  const firstRefusal = Math.min(
    ...whoamis.filter((e) => e.status === 401).map((e) => e.answeredAt),
  );
  assert.ok(refreshes[0].sentAt > firstRefusal);
}

/**
 * The crowd found the token due for renewal before sending: one refresh
 * first, then every request with its token, no 401, and the login's token
 * never sent.
 */
function assertProactive(log: Sent[]): void {
  const refreshes = to(log, "/refresh");
  assert.deepEqual(refreshes.map((e) => e.status), [200]);
  const whoamis = to(log, "/whoami");
  assert.deepEqual(tally(whoamis), { "refresh 1 200": CROWD });
  assert.ok(whoamis.every((e) => e.sentAt > refreshes[0].answeredAt));
}

describe("synapse: any request, any fetch, a refresh on demand (chapter 8)", () => {
  describe("a crowd of requests at a renewal", () => {
    it(`${CROWD} concurrent request() calls on a token expired on the server, not yet for the client: each 401 once, one /refresh, each again with the new token; none with the old token after the refresh was answered`, async () => {
      const { client, log, user } = await expired("requests");
      const answers = await crowdOfRequests(client);
      assert.ok(answers.every((a) => a.user_id === user.userId));
      assertReactive(log);
      assert.equal(client.sessionState, "logged_in");
    });

    it(`${CROWD} concurrent fetch() calls on a token expired on the server: the same, each Response read with .json()`, async () => {
      const { client, log, user } = await expired("fetches");
      const answers = await crowdOfFetches(client);
      assert.ok(answers.every((a) => a.user_id === user.userId));
      assertReactive(log);
    });

    it(`${CROWD} concurrent request() calls after an expiry the client saw coming: one /refresh first, then all with the new token, no 401`, async () => {
      const { client, log, user } = await expired("foreseen");
      const answers = await crowdOfRequests(client);
      assert.ok(answers.every((a) => a.user_id === user.userId));
      assertProactive(log);
    });

    it(`${CROWD} concurrent fetch() calls past half the token's life, before it expires: one /refresh first, then all with the new token, no 401`, async () => {
      const dave = await users.user("dave");
      const { client, log } = tracedClient();
      await client.loginWithPassword(dave.userId, dave.password);
      await sleep(3_000); // the margin is half of the 5 s life
      const answers = await crowdOfFetches(client);
      assert.ok(answers.every((a) => a.user_id === dave.userId));
      assertProactive(log);
    });
  });

  describe("request() on endpoints the library never calls", () => {
    it("GET v3/capabilities: Synapse offers m.change_password and m.get_login_token, both enabled", async () => {
      const erin = await users.user("erin");
      const { client } = newClient();
      await client.loginWithPassword(erin.userId, erin.password);
      const { capabilities } = await client.request<{
        capabilities: Record<string, { enabled?: boolean }>;
      }>("GET", "v3/capabilities");
      assert.equal(capabilities["m.change_password"]?.enabled, true);
      assert.equal(capabilities["m.get_login_token"]?.enabled, true);
    });

    it("GET v3/devices lists the current device; Synapse adds user_id, and sends display_name and last_seen_* of a device never named or seen as null, not absent", async () => {
      const frank = await users.user("frank");
      const { client } = newClient();
      await client.loginWithPassword(frank.userId, frank.password);
      const { devices } = await client.request<{
        devices: Record<string, unknown>[];
      }>("GET", "v3/devices");
      assert.equal(devices.length, 2);
      const mine = devices.find((d) => d.device_id === client.deviceId);
      assert.ok(mine !== undefined, "the current device is not listed");
      assert.equal(mine.user_id, frank.userId);
      assert.equal(mine.display_name, null);
      assert.equal(typeof mine.last_seen_ts, "number");
      assert.equal(typeof mine.last_seen_ip, "string");
      // The device the shared-secret registration made, never used since.
      const unused = devices.find((d) => d.device_id !== client.deviceId);
      assert.ok(
        unused !== undefined,
        "the registration's device is not listed",
      );
      assert.equal(unused.display_name, null);
      assert.equal(unused.last_seen_ts, null);
      assert.equal(unused.last_seen_ip, null);
    });

    it("PUT v3/devices/{id} through apiPath renames a device whose ID has /, ?, #, a space, @ and : in it (Synapse takes any device_id at login); GET shows the name", async () => {
      const gina = await users.user("gina");
      const { client, log } = tracedClient();
      const odd = "dev/with?odd#chars @x:y";
      await client.loginWithPassword(gina.userId, gina.password, {
        deviceId: odd,
      });
      assert.equal(client.deviceId, odd);
      const path = apiPath`v3/devices/${odd}`;
      assert.deepEqual(
        await client.request("PUT", path, {
          json: { display_name: "Odd one" },
        }),
        {},
      );
      const device = await client.request("GET", path);
      assert.equal(device.device_id, odd);
      assert.equal(device.display_name, "Odd one");
      const encoded =
        "/_matrix/client/v3/devices/dev%2Fwith%3Fodd%23chars%20%40x%3Ay";
      assert.deepEqual(
        log.filter((e) => e.path.includes("/devices/")).map((e) =>
          `${e.method} ${e.path} ${e.search} ${e.status}`
        ),
        [`PUT ${encoded}  200`, `GET ${encoded}  200`],
      );
    });

    it("GET v3/profile/{userId} through apiPath, @ and : encoded: Synapse's display name is the localpart", async () => {
      const hana = await users.user("hana");
      const { client, log } = tracedClient();
      await client.loginWithPassword(hana.userId, hana.password);
      const profile = await client.request(
        "GET",
        apiPath`v3/profile/${hana.userId}`,
      );
      assert.deepEqual(profile, { displayname: hana.localpart });
      const sent = log.filter((e) => e.path.includes("/profile/"));
      assert.deepEqual(sent.map((e) => e.path), [
        `/_matrix/client/v3/profile/%40${hana.localpart}%3A${
          encodeURIComponent(hana.userId.split(":").slice(1).join(":"))
        }`,
      ]);
      assert.doesNotMatch(sent[0].path, /[@:]/);
    });

    it("query parameters: a filter made and read back by ID, then GET v3/sync with it, an inline JSON filter, and a query written in the path", async () => {
      const ivan = await users.user("ivan");
      const { client, log } = tracedClient();
      await client.loginWithPassword(ivan.userId, ivan.password);
      const definition = {
        account_data: { not_types: ["*"] },
        presence: { not_types: ["*"] },
      };
      const { filter_id: filterId } = await client.request<
        { filter_id: string }
      >("POST", apiPath`v3/user/${ivan.userId}/filter`, { json: definition });
      assert.equal(typeof filterId, "string");
      assert.deepEqual(
        await client.request(
          "GET",
          apiPath`v3/user/${ivan.userId}/filter/${filterId}`,
        ),
        definition,
      );
      // Without a filter, a new account's first sync carries its push rules.
      const plain = await client.request("GET", "v3/sync", {
        query: { timeout: 0 },
      });
      assert.ok("account_data" in plain, "no account_data without a filter");
      const byId = await client.request("GET", "v3/sync", {
        query: { filter: filterId, timeout: 0 },
      });
      assert.ok(!("account_data" in byId), "the filter was not applied");
      const inline = await client.request("GET", "v3/sync", {
        query: { filter: JSON.stringify(definition), timeout: 0 },
      });
      assert.ok(!("account_data" in inline), "the inline filter was lost");
      assert.equal(typeof inline.next_batch, "string");
      // No test publishes a room: Synapse's directory is empty.
      const rooms = await client.request("GET", "v3/publicRooms?limit=1");
      assert.deepEqual(rooms, { chunk: [], total_room_count_estimate: 0 });
      assert.deepEqual(to(log, "/sync").map((e) => e.search), [
        "?timeout=0",
        `?filter=${filterId}&timeout=0`,
        `?${new URLSearchParams({
          filter: JSON.stringify(definition),
          timeout: "0",
        })}`,
      ]);
      assert.deepEqual(to(log, "/publicRooms").map((e) => e.search), [
        "?limit=1",
      ]);
    });

    it("POST v3/delete_devices of another device without a password: InteractiveAuthError offering m.login.password; with a wrong one, M_FORBIDDEN; nothing deleted", async () => {
      const judy = await users.user("judy");
      const { client, log, storage } = tracedClient();
      await client.loginWithPassword(judy.userId, judy.password);
      const other = await rawLogin(judy);
      const otherDevice = field(other, "device_id");
      const error = await rejection(
        client.request("POST", "v3/delete_devices", {
          json: { devices: [otherDevice] },
        }),
      );
      assert.ok(error instanceof InteractiveAuthError, String(error));
      assert.deepEqual(error.flows, [["m.login.password"]]);
      assert.equal(error.errcode, undefined);
      assert.match(error.message, /pass it as the password option/);
      const wrong = await rejection(
        client.request("POST", "v3/delete_devices", {
          json: { devices: [otherDevice] },
          password: "not-the-password",
        }),
      );
      assert.ok(wrong instanceof InteractiveAuthError, String(wrong));
      assert.equal(wrong.errcode, "M_FORBIDDEN");
      assert.match(wrong.message, /refused the password/);
      // Synapse answers the wrong password with the challenge again, a 401.
      assert.deepEqual(
        to(log, "/delete_devices").map((e) => `${e.method} ${e.status}`),
        ["POST 401", "POST 401", "POST 401"],
      );
      const still = await raw("GET", WHOAMI, {
        token: field(other, "access_token"),
      });
      assert.equal(still.status, 200);
      assertNoSecrets(
        `${error.message}\n${error.stack}\n${wrong.message}\n${wrong.stack}`,
        judy.password,
        "not-the-password",
        session(storage).accessToken,
      );
    });

    it("POST v3/delete_devices with the password, on a token expired on the server: 401 for the token, one /refresh, 401 with the flows, then 200 with auth; the device's tokens are gone", async () => {
      const { client, log, user } = await expired("deletion");
      const other = await rawLogin(user, { refresh_token: true });
      const answer = await client.request("POST", "v3/delete_devices", {
        json: { devices: [field(other, "device_id")] },
        password: user.password,
      });
      assert.deepEqual(answer, {});
      assert.deepEqual(
        log.filter((e) => !e.path.endsWith("/versions")).map((e) =>
          `${e.method} ${
            e.path.replace("/_matrix/client/v3/", "")
          } ${e.token} ${e.status}`
        ),
        [
          "POST login none 200",
          "POST delete_devices login 401",
          "POST refresh none 200",
          "POST delete_devices refresh 1 401",
          "POST delete_devices refresh 1 200",
        ],
      );
      const { devices } = await client.request<
        { devices: { device_id: string }[] }
      >("GET", "v3/devices");
      assert.ok(
        !devices.some((d) => d.device_id === other.device_id),
        "the device is still listed",
      );
      const gone = await raw("GET", WHOAMI, {
        token: field(other, "access_token"),
      });
      assert.equal(gone.status, 401);
      assert.equal(gone.body.errcode, "M_UNKNOWN_TOKEN");
      assert.equal(gone.body.soft_logout, false);
      const refused = await raw("POST", REFRESH, {
        json: { refresh_token: field(other, "refresh_token") },
      });
      assert.equal(refused.status, 401);
      assert.equal(refused.body.errcode, "M_UNKNOWN_TOKEN");
    });

    it("POST v3/delete_devices of the client's own device: Synapse ends the session, the client learns it at its next request (the refresh is refused) and is logged out, as chapter 8 warns", async () => {
      const rosa = await users.user("rosa");
      const { client, log } = tracedClient();
      await client.loginWithPassword(rosa.userId, rosa.password);
      await client.request("POST", "v3/delete_devices", {
        json: { devices: [client.deviceId] },
        password: rosa.password,
      });
      assert.equal(client.sessionState, "logged_in");
      const error = await rejection(
        client.request("GET", "v3/account/whoami"),
      );
      assert.ok(error instanceof MatrixError, String(error));
      assert.equal(error.status, 401);
      assert.equal(error.errcode, "M_UNKNOWN_TOKEN");
      assert.equal(client.sessionState, "logged_out");
      assert.deepEqual(
        log.slice(-2).map((e) =>
          `${e.method} ${e.path.split("/").pop()} ${e.status}`
        ),
        ["GET whoami 401", "POST refresh 401"],
      );
    });

    it("Synapse's rc_message (burst 10, then one every 5 s) answers 429 with Retry-After to the messages of a room made with request(); request() waits it out and every message is sent once", async () => {
      const sara = await users.user("sara");
      const { client, log } = tracedClient();
      await client.loginWithPassword(sara.userId, sara.password);
      const { room_id: roomId } = await client.request<{ room_id: string }>(
        "POST",
        "v3/createRoom",
        { json: {} },
      );
      const sends = () => to(log, "").filter((e) => e.path.includes("/send/"));
      const eventIds = new Set<string>();
      for (let i = 0; i < 15; i++) {
        const txnId = `txn${i}`;
        const { event_id: eventId } = await client.request<
          { event_id: string }
        >("PUT", apiPath`v3/rooms/${roomId}/send/m.room.message/${txnId}`, {
          json: { msgtype: "m.text", body: `message ${i}` },
        });
        eventIds.add(eventId);
        if (sends().some((e) => e.status === 429)) break;
      }
      const limited = sends().filter((e) => e.status === 429);
      assert.equal(limited.length, 1, "no 429 in 15 messages");
      assert.match(limited[0].retryAfter ?? "", /^\d+$/);
      // Each message was answered 200 exactly once, whatever came between
      // (a token that expired during the wait meets its 401 and a refresh).
      const ok = sends().filter((e) => e.status === 200);
      assert.equal(ok.length, eventIds.size);
      assert.equal(new Set(ok.map((e) => e.path)).size, ok.length);
      assert.ok(sends().every((e) => [200, 401, 429].includes(e.status)));
      const encodedRoom = encodeURIComponent(roomId);
      assert.ok(
        sends().every((e) => e.path.includes(`/rooms/${encodedRoom}/`)),
      );
    });
  });

  describe("fetch()", () => {
    it("a stream body on a token expired on the server: the 401 comes back (M_UNKNOWN_TOKEN, soft_logout), the stream sent once, the token renewed; a string body is sent again and succeeds", async () => {
      const streamed = await expired("stream");
      const stringed = await expired("string");
      const filter = JSON.stringify({ room: { timeline: { limit: 1 } } });
      const filterUrl = (userId: string) =>
        URL_ + `/_matrix/client/v3/user/${encodeURIComponent(userId)}/filter`;
      const headers = { "Content-Type": "application/json" };

      const bytes = new TextEncoder().encode(filter);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes);
          controller.close();
        },
      });
      const refused = await streamed.client.fetch(
        filterUrl(streamed.user.userId),
        {
          method: "POST",
          body: stream,
          headers,
        },
      );
      assert.equal(refused.status, 401);
      const text = await refused.text();
      const body = JSON.parse(text);
      assert.equal(body.errcode, "M_UNKNOWN_TOKEN");
      assert.equal(body.soft_logout, true);
      assertNoSecrets(
        `${text}\n${JSON.stringify([...refused.headers])}`,
        session(streamed.storage).accessToken,
      );
      assert.equal(streamed.client.sessionState, "logged_in");
      assert.deepEqual(
        streamed.log.filter((e) => !e.path.endsWith("/versions")).map((e) =>
          `${e.method} ${e.path.split("/").pop()} ${e.token} ${e.status}`
        ),
        [
          "POST login none 200",
          "POST filter login 401",
          "POST refresh none 200",
        ],
      );
      // The renewed token works: the next request needs no other refresh.
      const me = await streamed.client.request("GET", "v3/account/whoami");
      assert.equal(me.user_id, streamed.user.userId);
      assert.deepEqual(
        to(streamed.log, "/whoami").map((e) => `${e.token} ${e.status}`),
        ["refresh 1 200"],
      );

      const sent = await stringed.client.fetch(
        filterUrl(stringed.user.userId),
        {
          method: "POST",
          body: filter,
          headers,
        },
      );
      assert.equal(sent.status, 200);
      assert.equal(typeof (await sent.json()).filter_id, "string");
      assert.deepEqual(
        stringed.log.filter((e) => !e.path.endsWith("/versions")).map((e) =>
          `${e.method} ${e.path.split("/").pop()} ${e.token} ${e.status}`
        ),
        [
          "POST login none 200",
          "POST filter login 401",
          "POST refresh none 200",
          "POST filter refresh 1 200",
        ],
      );
    });

    it("refuses before sending: another origin (even 127.0.0.1 for localhost), Synapse's own paths outside /_matrix/, an access_token in the query; no token in the messages", async () => {
      const mona = await users.user("mona");
      const { client, log, storage } = tracedClient();
      await client.loginWithPassword(mona.userId, mona.password);
      const before = log.length;
      const home = new URL(URL_);
      const loopback = new URL(client.endpoint("v3/account/whoami"));
      loopback.hostname = "127.0.0.1";
      const urls = [
        loopback.href,
        "https://example.org/_matrix/client/v3/account/whoami",
        new URL("/_synapse/admin/v1/server_version", home).href,
        new URL("/health", home).href,
        // Token-shaped, so that assertNoSecrets sees it if a message shows
        // the query.
        client.endpoint("v3/account/whoami?access_token=syt_x").href,
      ];
      const messages: string[] = [];
      for (const url of urls) {
        const error = await rejection(client.fetch(url));
        assert.ok(error instanceof TypeError, String(error));
        messages.push(`${error.message}\n${error.stack}`);
      }
      assert.match(messages[0], /only sent to this session's homeserver/);
      assert.match(messages[1], /use the global fetch for other servers/);
      assert.match(messages[2], /only the Matrix APIs, below \/_matrix\//);
      assert.match(messages[3], /only the Matrix APIs, below \/_matrix\//);
      assert.match(messages[4], /access_token in the URL/);
      assert.equal(log.length, before, "a request was sent");
      const { accessToken, refreshToken } = session(storage);
      assertNoSecrets(
        messages.join("\n"),
        accessToken,
        refreshToken ?? "",
        mona.password,
      );
      // The same server under the session's own origin is fine.
      const ok = await client.fetch(client.endpoint("v3/account/whoami"));
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).user_id, mona.userId);
    });

    it("reaches any Matrix API of the homeserver (authenticated media's config), and hands Synapse's 404 back as a Response where request() throws", async () => {
      const nina = await users.user("nina");
      const { client } = tracedClient();
      await client.loginWithPassword(nina.userId, nina.password);
      const config = await client.fetch(client.endpoint("v1/media/config"));
      assert.equal(config.status, 200);
      assert.equal(typeof (await config.json())["m.upload.size"], "number");
      const missing = await client.fetch(client.endpoint("v3/no_such_thing"));
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).errcode, "M_UNRECOGNIZED");
      const error = await rejection(client.request("GET", "v3/no_such_thing"));
      assert.ok(error instanceof MatrixError, String(error));
      assert.equal(error.status, 404);
      assert.equal(error.errcode, "M_UNRECOGNIZED");
      assert.equal(client.sessionState, "logged_in");
    });
  });

  describe("refresh()", () => {
    it("renews: new tokens, the new one works; then the old refresh token is 403 M_FORBIDDEN, while the old access token is not revoked and still works", async () => {
      const olga = await users.user("olga");
      const { client, log, storage } = tracedClient();
      await client.loginWithPassword(olga.userId, olga.password);
      const old = session(storage);
      await client.refresh();
      const renewed = session(storage);
      assert.notEqual(renewed.accessToken, old.accessToken);
      assert.notEqual(renewed.refreshToken, old.refreshToken);
      assert.ok(renewed.expiresAt! > old.expiresAt!);
      assert.deepEqual(to(log, "/refresh").map((e) => e.status), [200]);
      // Synapse's rotation: the old refresh token is refused once the new
      // access token has been used (before that it still works: see
      // refresh_rotation.synapse.ts).
      const me = await client.request("GET", "v3/account/whoami");
      assert.equal(me.user_id, olga.userId);
      assert.deepEqual(
        to(log, "/whoami").map((e) => `${e.token} ${e.status}`),
        ["refresh 1 200"],
      );
      const reused = await raw("POST", REFRESH, {
        json: { refresh_token: old.refreshToken },
      });
      assert.equal(reused.status, 403);
      assert.equal(reused.body.errcode, "M_FORBIDDEN");
      assert.equal(reused.body.error, "refresh token isn't valid anymore");
      // A refresh does not revoke the access token it replaces: Synapse
      // lets it live out its 5 s.
      const stillValid = await raw("GET", WHOAMI, { token: old.accessToken });
      assert.equal(stillValid.status, 200);
      assert.equal(client.sessionState, "logged_in");
    });

    it("concurrent refresh() calls make one /refresh and all resolve with the new token; a refresh() after it makes another", async () => {
      const pete = await users.user("pete");
      const { client, log, storage } = tracedClient();
      await client.loginWithPassword(pete.userId, pete.password);
      const old = session(storage).accessToken;
      await Promise.all(Array.from({ length: 10 }, () => client.refresh()));
      assert.deepEqual(to(log, "/refresh").map((e) => e.status), [200]);
      const first = session(storage).accessToken;
      assert.notEqual(first, old);
      await client.refresh();
      assert.deepEqual(to(log, "/refresh").map((e) => e.status), [200, 200]);
      assert.notEqual(session(storage).accessToken, first);
      const me = await client.request("GET", "v3/account/whoami");
      assert.equal(me.user_id, pete.userId);
      assert.deepEqual(
        to(log, "/whoami").map((e) => `${e.token} ${e.status}`),
        ["refresh 2 200"],
      );
    });

    it("refresh() called while requests meet a token expired on the server joins their refresh: one /refresh", async () => {
      const { client, log } = await expired("joined");
      const requests = Array.from(
        { length: 10 },
        () => client.request("GET", "v3/account/whoami"),
      );
      await client.refresh();
      await Promise.all(requests);
      const refreshes = to(log, "/refresh");
      assert.deepEqual(refreshes.map((e) => e.status), [200]);
      const whoamis = to(log, "/whoami");
      assert.deepEqual(tally(whoamis), {
        "login 401": 10,
        "refresh 1 200": 10,
      });
      assert.ok(
        whoamis.every((e) =>
          e.token !== "login" || e.sentAt < refreshes[0].answeredAt
        ),
      );
    });
  });
});
