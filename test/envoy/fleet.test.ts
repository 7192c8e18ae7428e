/**
 * Fleet sharding in real Envoys (envoy/envoy-fleet.yaml): three replicas
 * share one EDS replicas cluster. Sent to any replica, every request of a
 * session is decided by one and the same replica: the one the filter's
 * Maglev mirror names keeps it, and Envoy's own Maglev sends the others
 * there, so the mirror agrees with Envoy. A client cannot pose as a replica.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { EnvoyProcess } from "../../src/envoy/process.js";
import { SKIP_FILTER, send, startFleetReplicas, waitFor } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const SECRET = "test-fleet-secret-0123456789";

function session(id: number): string {
  return JSON.stringify({
    model: "m",
    messages: [
      { role: "system", content: "You are a terse assistant. ".repeat(10) },
      { role: "user", content: `session ${id}: what is the capital of country number ${id}?` },
    ],
  });
}

describe.skipIf(SKIP_FILTER)("fleet in Envoy: 3 replicas, Maglev on the session key", () => {
  let servers: FakeUpstream[] = [];
  let edsDir = "";
  beforeAll(async () => {
    servers = await startUpstreams(2);
    edsDir = mkdtempSync(join(tmpdir(), "llm-picker-fleet-"));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    if (edsDir) rmSync(edsDir, { recursive: true, force: true });
  });

  test("each session is decided by exactly one replica whichever replica it reaches; the filter's Maglev agrees with Envoy's", async () => {
    const endpoints = servers.map((s) => s.address);
    const envoys = await startFleetReplicas(3, edsDir, endpoints, SECRET);
    const stat = async (e: EnvoyProcess, name: string) => (await e.stats("llm_picker"))[`wasmcustom.llm_picker.${name}`] ?? 0;
    /**
     * Each replica's requests.routed once at least `decided` more decisions
     * than `before` show: the filter adds to that counter in its VM and
     * flushes it to Envoy on its next tick.
     */
    const routedAfter = async (before: number[], decided: number) => {
      const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
      let after = before;
      await waitFor(async () => {
        after = await Promise.all(envoys.map((e) => stat(e, "requests.routed")));
        return sum(after) - sum(before) >= decided;
      });
      return after;
    };
    // Every replica sees the three healthy (health checks, then one membership read each).
    // Stable: all three still see all three healthy three membership reads later.
    const allSeeAll = async () => (await Promise.all(envoys.map((e) => stat(e, "fleet.replicas")))).every((n) => n === 3);
    expect(
      await waitFor(async () => {
        if (!(await allSeeAll())) return false;
        await new Promise((r) => setTimeout(r, 3 * 200));
        return allSeeAll();
      }, 15_000),
    ).toBe(true);

    // Warm-up, not counted: right after the first health checks a worker's
    // Maglev table can still be the one built before its peers were checked
    // (seen as a disagreement on the very first session only); one request
    // through each replica, then a membership interval, settles it.
    for (const e of envoys) {
      const r = await send(`${e.listenerUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: session(-1) });
      expect(r.status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 3 * 200));
    const forwardedBefore = await Promise.all(envoys.map((e) => stat(e, "fleet.forwarded")));
    const keptBy = [0, 0, 0];
    for (let id = 0; id < 30; id++) {
      const before = await Promise.all(envoys.map((e) => stat(e, "requests.routed")));
      for (const e of envoys) {
        const r = await send(`${e.listenerUrl}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: session(id) });
        expect(r.status).toBe(200);
      }
      const after = await routedAfter(before, 3);
      const delta = after.map((a, i) => a - before[i]);
      if ([...delta].sort().join() !== "0,0,3") {
        for (const e of envoys)
          console.log(`[fleet] session ${id}: ${e.listenerUrl} sees ${JSON.stringify(await (await e.admin("/clusters?format=json&filter=replicas")).json())}`);
      }
      expect(delta.sort()).toEqual([0, 0, 3]);
      keptBy[after.findIndex((a, i) => a - before[i] === 3)]++;
    }
    for (const n of keptBy) expect(n).toBeGreaterThan(1); // 30 sessions over 3 owners (binomial: below 2 is ~1e-4)
    const forwarded = await Promise.all(envoys.map((e) => stat(e, "fleet.forwarded")));
    expect(forwarded.reduce((a, b) => a + b) - forwardedBefore.reduce((a, b) => a + b)).toBe(60);
    // The secret and the fleet headers never reach a model server (60 of
    // these requests were forwarded: the owner removed what the first hop set).
    for (const s of servers) {
      for (const r of s.traffic()) {
        expect(r.headers["x-llm-picker-hop"]).toBeUndefined();
        expect(r.headers["x-llm-picker-route"]).toBeUndefined();
        expect(r.headers["x-llm-picker-session"]).toBeUndefined();
      }
    }
    // A client posing as a replica (a wrong secret) is treated as a first hop.
    const before = await Promise.all(envoys.map((e) => stat(e, "requests.routed")));
    for (const e of envoys) {
      const r = await send(`${e.listenerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-llm-picker-hop": "not-the-secret", "x-llm-picker-route": "fleet" },
        body: session(1000),
      });
      expect(r.status).toBe(200);
    }
    const after = await routedAfter(before, 3);
    expect(after.map((a, i) => a - before[i]).sort()).toEqual([0, 0, 3]);
    console.log(`[fleet] sessions kept per replica: ${keptBy.join("/")}`);
  }, 60_000);
});
