/**
 * Fleet sharding, host tier (docs/fleet.md "Sharding"): with `fleet.cluster`
 * the filter keys each request by its session (model + everything through the
 * first user turn), finds the owning replica with its mirror of Envoy's
 * Maglev over the replicas' live membership, decides requests it owns (or
 * that another replica forwarded, proven by fleet.secret) and marks the
 * others for the replicas route. Client copies of the fleet headers are
 * never trusted.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support";
import { A, B, C, answerScrapes, send } from "./fixtures/vllm.js";
import { clustersPage } from "./fixtures/envoy-admin.js";
import { conversation, header, REPLICAS, replica, replicasAre, SECRET, TICK } from "./fixtures/fleet.js";

beforeAll(() => ensureBuilt("debug"));

describe("fleet: each session is decided by exactly one replica", () => {
  it("every turn of a conversation is kept by the same one replica; the others forward it with the session key", async () => {
    const hosts = await Promise.all(REPLICAS.map((r) => replica(r)));
    for (const h of hosts) expect(replicasAre(h, REPLICAS)[0]).toBe("/clusters?format=json&filter=%5E%28llm_picker_replicas%29%24");
    const owned = [0, 0, 0];
    for (let id = 0; id < 150; id++) {
      let keeper = -1;
      let key: string | undefined;
      for (let turns = 1; turns <= 3; turns++) {
        const kept: number[] = [];
        hosts.forEach((h, i) => {
          const s = send(h, conversation(id, turns));
          if (s.endpoint !== undefined) {
            kept.push(i);
            expect(header(s.headers, "x-llm-picker-route")).toBeUndefined();
          } else {
            expect(header(s.headers, "x-llm-picker-route")).toBe("fleet");
            expect(header(s.headers, "x-llm-picker-hop")).toBe(SECRET);
            const k = header(s.headers, "x-llm-picker-session");
            expect(k).toMatch(/^[0-9a-f]{16}$/);
            if (key === undefined) key = k;
            expect(k).toBe(key);
          }
          s.stream.end("complete");
        });
        expect(kept).toHaveLength(1);
        if (keeper < 0) keeper = kept[0];
        expect(kept[0]).toBe(keeper);
      }
      owned[keeper]++;
    }
    // 150 sessions sharing one system prompt still spread over the three.
    for (const n of owned) expect(n).toBeGreaterThan(25);
    expect(owned.reduce((a, b) => a + b)).toBe(150);
    for (const h of hosts) {
      expect(h.traps()).toEqual([]);
      h.close();
    }
  });

  it("sessions behind one long (20 KB) system prompt still get their own keys and spread", async () => {
    const h = await replica(REPLICAS[0]);
    replicasAre(h, REPLICAS);
    const system = "You are the support assistant of a product with a long manual. ".repeat(320);
    const keys = new Set<string>();
    let kept = 0;
    for (let id = 0; id < 60; id++) {
      const s = send(h, conversation(id, 1, system));
      const k = header(s.headers, "x-llm-picker-session");
      if (k) keys.add(k);
      else kept++;
      s.stream.end("complete");
    }
    expect(keys.size).toBe(60 - kept);
    expect(kept).toBeGreaterThan(5);
    expect(kept).toBeLessThan(40);
    h.close();
  });

  it("a request forwarded by a replica (fleet.secret) is decided here and leaves without the fleet headers; a client's copy of them is not trusted", async () => {
    const h = await replica(REPLICAS[0]);
    replicasAre(h, REPLICAS);
    // Find a session this replica does not own.
    let body = "";
    for (let id = 0; id < 50 && !body; id++) {
      const s = send(h, conversation(id, 1));
      if (s.endpoint === undefined) body = conversation(id, 1);
      s.stream.end("complete");
    }
    expect(body).not.toBe("");
    const hopped = send(h, body, {
      headers: [
        ["x-llm-picker-hop", SECRET],
        ["x-llm-picker-session", "0123456789abcdef"],
      ],
    });
    expect(hopped.endpoint).toMatch(/^10\.0\.0\.[12]:8000$/);
    // Nothing of the fleet reaches a model server: not the secret, not the session key, not the route mark.
    expect(header(hopped.headers, "x-llm-picker-hop")).toBeUndefined();
    expect(header(hopped.headers, "x-llm-picker-session")).toBeUndefined();
    expect(header(hopped.headers, "x-llm-picker-route")).toBeUndefined();
    hopped.stream.end("complete");
    const forged = send(h, body, {
      headers: [
        ["x-llm-picker-hop", "guess"],
        ["x-llm-picker-route", "fleet"],
        ["x-llm-picker-session", "ffffffffffffffff"],
      ],
    });
    expect(forged.endpoint).toBeUndefined();
    expect(header(forged.headers, "x-llm-picker-hop")).toBe(SECRET);
    expect(header(forged.headers, "x-llm-picker-session")).not.toBe("ffffffffffffffff");
    forged.stream.end("complete");
    // A client cannot pick the replicas route for a request this replica keeps.
    let mine = "";
    for (let id = 0; id < 50 && !mine; id++) {
      const s = send(h, conversation(id, 1));
      if (s.endpoint !== undefined) mine = conversation(id, 1);
      s.stream.end("complete");
    }
    const steered = send(h, mine, { headers: [["x-llm-picker-route", "fleet"]] });
    expect(steered.endpoint).toBeDefined();
    expect(header(steered.headers, "x-llm-picker-route")).toBeUndefined();
    // Nor a client's session header on a request this replica keeps.
    const keyed = send(h, mine, { headers: [["x-llm-picker-session", "0123456789abcdef"]] });
    expect(keyed.endpoint).toBeDefined();
    expect(header(keyed.headers, "x-llm-picker-session")).toBeUndefined();
    keyed.stream.end("complete");
    steered.stream.end("complete");
    expect(h.traps()).toEqual([]);
    h.close();
  });

  it("replicas that are draining or failed own nothing; before any membership read every replica decides locally", async () => {
    const h = await replica(REPLICAS[0]);
    const early = send(h, conversation(1, 1));
    expect(early.endpoint).toBeDefined();
    early.stream.end("complete");
    replicasAre(h, [REPLICAS[0], { address: REPLICAS[1], eds: "DRAINING" }, { address: REPLICAS[2], flags: { failed_active_health_check: true } }]);
    for (let id = 0; id < 30; id++) {
      const s = send(h, conversation(id, 1));
      expect(s.endpoint).toBeDefined();
      s.stream.end("complete");
    }
    h.close();
  });

  it("replicas that each see a new shared system prompt first place it on the same server (outside a fleet they do not)", async () => {
    const D = "10.0.0.4:8000";
    const servers = [A, B, C, D];
    const idle = Object.fromEntries(servers.map((e) => [e, { waiting: 0, running: 0 }]));
    const start = async (self: string, fleet: boolean, seed: number) => {
      const h = await replica(self, servers, fleet, seed);
      for (let i = 0; i < 6; i++) {
        h.advance(TICK);
        for (const call of h.pendingHttpCalls()) {
          if (call.cluster === "llm_picker_admin") h.respondToHttpCall(call.token, { status: 200, body: clustersPage({ llm_picker_replicas: REPLICAS }) });
        }
        answerScrapes(h, idle);
      }
      return h;
    };
    // Each replica decides the first turn of a different session (hopped here, so decided locally) for each of 24 system prompts.
    const firstPlacements = async (fleet: boolean) => {
      const hosts = await Promise.all(REPLICAS.map((r, i) => start(r, fleet, 11 + i)));
      const out: string[][] = [];
      for (let p = 0; p < 24; p++) {
        const system = `System prompt ${p}: you answer questions about product ${p}. `.repeat(40);
        out.push(
          hosts.map((h, i) => {
            const s = send(h, conversation(1000 * i + p, 1, system), { headers: [["x-llm-picker-hop", SECRET]] });
            s.stream.end("complete");
            return s.endpoint ?? "none";
          }),
        );
      }
      for (const h of hosts) {
        expect(h.traps()).toEqual([]);
        h.close();
      }
      return out;
    };
    const fleet = await firstPlacements(true);
    for (const [p, picks] of fleet.entries()) expect(new Set(picks).size, `prompt ${p}: ${picks.join(", ")}`).toBe(1);
    // The agreed servers still spread the 24 prompts (requests are sequential here, so the pool stays idle).
    const used = new Set(fleet.map((picks) => picks[0]));
    expect(used.size).toBeGreaterThanOrEqual(3);
    // Independent Envoys break those ties at random: some prompts land on two or three servers.
    const independent = await firstPlacements(false);
    expect(independent.filter((picks) => new Set(picks).size > 1).length).toBeGreaterThan(8);
  });
});
