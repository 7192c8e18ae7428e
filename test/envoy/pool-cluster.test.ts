/**
 * `pool.cluster` in a real Envoy (envoy/envoy-cluster.yaml): the model
 * servers come from a file-based EDS cluster and the filter follows its live
 * membership through the admin page. Under a steady closed-loop load of
 * multi-turn chats, the pool scales 2 → 6 → 3: four servers join, four are
 * drained (EDS DRAINING) and then removed, one of them replaced by a server
 * at a new address. Checked: no request fails; each new server takes
 * traffic within one poll interval (plus a scrape round trip) of Envoy
 * knowing it; a drained server gets no new request after one interval; the
 * departed servers' prefix-index entries are swept out; conversations on the
 * servers that stay keep their prefix credit.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { writeEds, type EdsEndpoint } from "../../src/envoy/eds.js";
import { PROJECT_ROOT } from "../../src/envoy/locate.js";
import type { EnvoyProcess } from "../../src/envoy/process.js";
import { SKIP_FILTER, startEnvoyForTest, waitFor } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const POLL_MS = 250;
const SCRAPE_MS = 100;
/** A new member is scraped right after it is published; allow that round trip and a request's. */
const JOIN_SLACK_MS = 150;
const CLIENTS = 8;

interface Outcome {
  status: number;
  upstream: string;
  sentAt: number;
  prefixScore: number | null;
}

/** Envoy's view of model_servers: address → eds health. */
async function envoyMembers(envoy: EnvoyProcess): Promise<Map<string, string>> {
  const page = (await (await envoy.admin("/clusters?format=json&filter=%5Emodel_servers%24")).json()) as {
    cluster_statuses?: Array<{
      name: string;
      host_statuses?: Array<{ address: { socket_address: { address: string; port_value: number } }; health_status: { eds_health_status: string } }>;
    }>;
  };
  const out = new Map<string, string>();
  for (const h of page.cluster_statuses?.[0]?.host_statuses ?? []) {
    out.set(`${h.address.socket_address.address}:${h.address.socket_address.port_value}`, h.health_status.eds_health_status);
  }
  return out;
}

describe.skipIf(SKIP_FILTER)("pool.cluster in Envoy: the pool follows a file-based EDS cluster under load", () => {
  let servers: FakeUpstream[] = [];
  let edsDir = "";
  beforeAll(async () => {
    servers = await startUpstreams(7);
    for (const s of servers) {
      // ~20 ms of "generation", so requests are in flight while servers drain.
      s.handler = async (rec, res, u) => {
        await new Promise((r) => setTimeout(r, 20));
        const scores = rec.headers["x-llm-picker-scores"];
        res.writeHead(200, { "content-type": "application/json", "x-upstream": u.address, "x-scores": typeof scores === "string" ? scores : "" });
        res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: `ok from ${u.port}` }, finish_reason: "stop" }] }));
      };
    }
    edsDir = mkdtempSync(join(tmpdir(), "llm-picker-eds-"));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    if (edsDir) rmSync(edsDir, { recursive: true, force: true });
  });

  test("scale 2 → 6 → 3 with a drain, a removal and a replacement: 0 failed requests", async () => {
    const [s0, s1, s2, s3, s4, s5, s6] = servers;
    const eds = (list: Array<FakeUpstream | [FakeUpstream, EdsEndpoint["health"]]>) =>
      writeEds(
        edsDir,
        "model_servers",
        list.map((e) => (Array.isArray(e) ? { address: e[0].address, health: e[1] } : e.address)),
      );
    eds([s0, s1]);
    const envoy = await startEnvoyForTest({
      config: join(PROJECT_ROOT, "envoy/envoy-cluster.yaml"),
      concurrency: 2,
      substitutions: {
        edsDir,
        // The seed profile: the test reads the prefix scorer's credits from the debug header.
        pluginConfig: {
          profile: "seed",
          pool: { cluster: "model_servers", intervalMs: POLL_MS },
          metrics: { cluster: "model_servers_metrics", intervalMs: SCRAPE_MS, timeoutMs: 400 },
          debugHeaders: true,
        },
      },
    });
    const sameMembers = async (want: Array<[FakeUpstream, string]>) => {
      const m = await envoyMembers(envoy);
      return m.size === want.length && want.every(([u, h]) => m.get(u.address) === h);
    };

    // Closed-loop load: CLIENTS conversations at a time, each 4 turns, then a new one.
    const outcomes: Outcome[] = [];
    let stop = false;
    let conversationId = 0;
    const client = async () => {
      while (!stop) {
        const id = conversationId++;
        const messages: Array<{ role: string; content: string }> = [];
        for (let turn = 0; turn < 4 && !stop; turn++) {
          messages.push({ role: "user", content: `conversation ${id} turn ${turn}: ${"tell me more about the pool. ".repeat(8)}` });
          const sentAt = Date.now();
          let o: Outcome;
          try {
            const res = await fetch(`${envoy.listenerUrl}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ model: "m", messages }),
              signal: AbortSignal.timeout(10_000),
            });
            const body = await res.text();
            const scores = res.headers.get("x-scores");
            const upstream = res.headers.get("x-upstream") ?? "";
            const prefix = scores ? (JSON.parse(scores) as { scores: { prefix: Record<string, number> } }).scores.prefix[upstream] : undefined;
            o = { status: res.status, upstream, sentAt, prefixScore: prefix ?? null };
            messages.push({ role: "assistant", content: body.slice(0, 60) });
          } catch {
            o = { status: 0, upstream: "", sentAt, prefixScore: null };
          }
          outcomes.push(o);
        }
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, client));
    const firstAt = (u: FakeUpstream, after: number) => outcomes.find((o) => o.upstream === u.address && o.sentAt >= after)?.sentAt;
    try {
      // 2 servers.
      expect(await waitFor(() => [s0, s1].every((u) => firstAt(u, 0) !== undefined), 10_000)).toBe(true);

      // 2 → 6: each newcomer takes traffic within one interval of Envoy knowing it.
      eds([s0, s1, s2, s3, s4, s5]);
      expect(await waitFor(() => sameMembers([s0, s1, s2, s3, s4, s5].map((u) => [u, "HEALTHY"])), 5000)).toBe(true);
      const known = Date.now();
      expect(await waitFor(() => [s2, s3, s4, s5].every((u) => firstAt(u, known) !== undefined), 5000)).toBe(true);
      for (const u of [s2, s3, s4, s5]) expect(firstAt(u, known)! - known, u.address).toBeLessThanOrEqual(POLL_MS + JOIN_SLACK_MS);
      await new Promise((r) => setTimeout(r, 600));

      // 6 → 3, s2 replaced by s6 at a new address: s6 joins, s2..s5 drain.
      eds([s0, s1, [s2, "DRAINING"], [s3, "DRAINING"], [s4, "DRAINING"], [s5, "DRAINING"], s6]);
      expect(
        await waitFor(
          () =>
            sameMembers([
              [s0, "HEALTHY"],
              [s1, "HEALTHY"],
              [s2, "DRAINING"],
              [s3, "DRAINING"],
              [s4, "DRAINING"],
              [s5, "DRAINING"],
              [s6, "HEALTHY"],
            ]),
          5000,
        ),
      ).toBe(true);
      const drained = Date.now();
      await new Promise((r) => setTimeout(r, POLL_MS + JOIN_SLACK_MS));
      const quiet = Date.now();
      await new Promise((r) => setTimeout(r, 500));
      for (const u of [s2, s3, s4, s5]) expect(firstAt(u, quiet), `${u.address} got a request after draining`).toBeUndefined();
      expect(firstAt(s6, drained)).toBeDefined();
      // Then removed; their in-flight requests have long finished.
      const droppedBefore = (await envoy.stats("llm_picker"))["wasmcustom.llm_picker.prefix.entries_dropped"] ?? 0;
      eds([s0, s1, s6]);
      expect(
        await waitFor(
          () =>
            sameMembers([
              [s0, "HEALTHY"],
              [s1, "HEALTHY"],
              [s6, "HEALTHY"],
            ]),
          5000,
        ),
      ).toBe(true);
      const removedAt = Date.now();
      // The sweep: every departed server's entries go (the counter stops growing once done).
      expect(await waitFor(async () => ((await envoy.stats("llm_picker"))["wasmcustom.llm_picker.prefix.entries_dropped"] ?? 0) > droppedBefore, 5000)).toBe(
        true,
      );
      await new Promise((r) => setTimeout(r, 800));
      stop = true;
      await load;

      const stats = await envoy.stats("llm_picker");
      expect(stats["wasmcustom.llm_picker.pool.left"]).toBe(4);
      expect(stats["wasmcustom.llm_picker.pool.joined"]).toBe(7);
      expect(stats["wasmcustom.llm_picker.pool.members"]).toBe(3);
      const failed = outcomes.filter((o) => o.status !== 200);
      expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
      // Servers that stayed kept their index: later turns on s0/s1 still earn prefix credit.
      const later = outcomes.filter((o) => o.sentAt > removedAt && (o.upstream === s0.address || o.upstream === s1.address));
      expect(later.filter((o) => (o.prefixScore ?? 0) > 0).length).toBeGreaterThan(0);
      console.log(
        `[pool.cluster] ${outcomes.length} requests, 0 failed; newcomers first served ${[s2, s3, s4, s5].map((u) => firstAt(u, known)! - known).join("/")} ms after Envoy knew them`,
      );
    } finally {
      stop = true;
      await load;
    }
  }, 60_000);

  test("EDS metadata labels: a model's requests go to the servers whose model label names it; a relabel moves them", async () => {
    const [s0, s1, s2] = servers;
    const dir = mkdtempSync(join(tmpdir(), "llm-picker-eds-labels-"));
    const eds = (llama: FakeUpstream[], mistral: FakeUpstream[]) =>
      writeEds(dir, "model_servers", [
        ...llama.map((u) => ({ address: u.address, labels: { model: "llama, llama-sql" } })),
        ...mistral.map((u) => ({ address: u.address, labels: { model: "mistral" } })),
      ]);
    eds([s0, s1], [s2]);
    const envoy = await startEnvoyForTest({
      config: join(PROJECT_ROOT, "envoy/envoy-cluster.yaml"),
      concurrency: 2,
      substitutions: {
        edsDir: dir,
        pluginConfig: {
          pool: { cluster: "model_servers", intervalMs: POLL_MS },
          metrics: { cluster: "model_servers_metrics", intervalMs: SCRAPE_MS, timeoutMs: 400 },
        },
      },
    });
    const upstreamsOf = async (model: string, n = 24) => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${envoy.listenerUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model, messages: [{ role: "user", content: `question ${i} for ${model}` }] }),
        });
        await res.text();
        expect(res.status).toBe(200);
        seen.add(res.headers.get("x-upstream") ?? "");
      }
      return [...seen].sort();
    };
    const sorted = (...u: FakeUpstream[]) => u.map((x) => x.address).sort();
    try {
      expect(await waitFor(async () => (await envoyMembers(envoy)).size === 3, 5000)).toBe(true);
      await new Promise((r) => setTimeout(r, 2 * POLL_MS));
      expect(await upstreamsOf("llama")).toEqual(sorted(s0, s1));
      expect(await upstreamsOf("llama-sql")).toEqual(sorted(s0, s1));
      expect(await upstreamsOf("mistral", 12)).toEqual(sorted(s2));
      // No server names it: the whole pool, as without labels.
      expect(await upstreamsOf("qwen", 40)).toEqual(sorted(s0, s1, s2));
      // Relabel without a membership change: s1 now serves mistral.
      eds([s0], [s1, s2]);
      expect(await waitFor(async () => (await upstreamsOf("llama", 6)).join() === sorted(s0).join(), 5000)).toBe(true);
      expect(await upstreamsOf("mistral")).toEqual(sorted(s1, s2));
      const stats = await envoy.stats("llm_picker");
      expect(stats["wasmcustom.llm_picker.pool.refresh_failures"] ?? 0).toBe(0);
    } finally {
      await envoy.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
