/**
 * Hermetic tests of the differential check: the scenario runs against the
 * development homeserver, its transcript holds no secret, the development
 * homeserver's side of every listed difference is true, and the comparison
 * finds what differs. The comparison with a real Synapse is in
 * `suite/differential.synapse.ts`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compare,
  devserverTarget,
  KNOWN_DIFFERENCES,
  runScenario,
  type Step,
  stepLine,
  transcript,
} from "./differential.ts";

describe("differential scenario", () => {
  it("runs against the development homeserver, and its transcript holds no token, ID or password", async () => {
    const steps = await runScenario(devserverTarget());
    assert.ok(steps.length > 30, String(steps.length));
    const text = transcript(steps);
    assert.doesNotMatch(text, /sy[tlr]_|@|localhost:8008|ST-/);
    assert.equal(new Set(steps.map((s) => s.name)).size, steps.length);
  });

  it("confirms the devserver's side of each listed difference, and what the chapters assume", async () => {
    const steps = await runScenario(devserverTarget());
    for (const known of KNOWN_DIFFERENCES) {
      const step = steps.find((s) => s.name === known.step);
      assert.ok(step, known.step);
      const { name: _, ...line } = step;
      assert.equal(stepLine(line), stepLine(known.devserver), known.step);
    }
    const status = (name: string) => steps.find((s) => s.name === name)?.status;
    assert.equal(status("logout: with an expired access token"), 200);
    assert.equal(status("whoami: old token, after the new one was used"), 200);
    assert.equal(
      steps.find((s) => s.name === "whoami: expired token")?.soft_logout,
      true,
    );
    assert.equal(status("devices: delete, the password"), 200);
    assert.equal(status("whoami: a deleted device"), 401);
    assert.equal(status("whoami: the token in the query string"), 200);
  });

  it("compare: equal transcripts pass, listed differences are explained, others and stale entries are reported", async () => {
    const dev = await runScenario(devserverTarget());
    const same = compare(dev, dev);
    assert.deepEqual(same.unexplained, []);
    assert.deepEqual(same.stale, KNOWN_DIFFERENCES, "nothing listed showed");

    const syn: Step[] = dev.map((step) => {
      const known = KNOWN_DIFFERENCES.find((k) => k.step === step.name);
      return known ? { name: step.name, ...known.synapse } : { ...step };
    });
    const explained = compare(dev, syn);
    assert.deepEqual(explained.unexplained, []);
    assert.deepEqual(explained.stale, []);
    assert.equal(explained.explained.length, KNOWN_DIFFERENCES.length);

    const logout = syn.findIndex((s) => s.name === "logout");
    syn[logout] = { ...syn[logout], status: 401, errcode: "M_UNKNOWN_TOKEN" };
    const broken = compare(dev, syn);
    assert.equal(broken.unexplained.length, 1);
    assert.match(broken.unexplained[0], /^logout:\n {2}devserver: POST .* 200/);
  });
});
