/**
 * The differential check: the same scenario against the development
 * homeserver and against Synapse; the normalised transcripts must be equal
 * but for the differences listed, with their reasons, in
 * `scripts/synapse/differential.ts`.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { describe, it } from "node:test";
import {
  compare,
  devserverTarget,
  runScenario,
  type ScenarioTarget,
  transcript,
} from "../differential.ts";
import { PAST_EXPIRY_MS, sleep, URL_, users } from "./support.ts";

function synapseTarget(): ScenarioTarget {
  let issued = Date.now();
  return {
    url: URL_,
    fetch: (input, init) => {
      issued = Date.now(); // the last token may be issued by any request
      return fetch(input, init);
    },
    async makeUser(prefix, threepids) {
      const list = [];
      if (threepids.email) {
        list.push({ medium: "email" as const, address: threepids.email });
      }
      if (threepids.phone) {
        list.push({ medium: "msisdn" as const, address: threepids.phone });
      }
      return await users.user(prefix, list);
    },
    // Waits for real: 5 s after the last request that could issue a token.
    waitForExpiry: () =>
      sleep(Math.max(0, issued + PAST_EXPIRY_MS - Date.now())),
  };
}

describe("synapse: differential check against the development homeserver", () => {
  it("the scenario's transcripts are equal, but for the listed differences", async () => {
    const [devserver, synapse] = await Promise.all([
      runScenario(devserverTarget()),
      runScenario(synapseTarget()),
    ]);
    const out = Deno.env.get("SYNAPSE_DIFF_OUT");
    if (out) {
      await writeFile(`${out}.devserver.txt`, transcript(devserver));
      await writeFile(`${out}.synapse.txt`, transcript(synapse));
    }
    const result = compare(devserver, synapse);
    for (const known of result.explained) {
      console.log(`known difference, ${known.step}: ${known.reason}`);
    }
    assert.deepEqual(result.unexplained, [], result.unexplained.join("\n"));
    assert.deepEqual(
      result.stale.map((k) => k.step),
      [],
      "listed differences that no longer show",
    );
  });
});
