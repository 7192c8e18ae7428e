/**
 * `pool.cluster`, host tier: the real filter (build/debug.wasm) takes its
 * pool from an Envoy cluster's membership, read by the lease holder from the
 * admin `/clusters?format=json` page (answered here with pages shaped like
 * Envoy 1.40's); draining and failed hosts take no new requests; a departed
 * server's prefix-index entries are swept out while the others' stay; a bad
 * or hostile admin page keeps the last membership and never traps.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost } from "../../src/host/index.js";
import { chatBody, DEBUG_WASM as WASM, ensureBuilt } from "../support";
import { A, B, C, route, send, stat, uniquePrompt } from "./fixtures/vllm.js";
import { clustersPage } from "./fixtures/envoy-admin.js";
import { ADMIN, clusterPool, members, POLL, poll, spread, TICK } from "./fixtures/admin-poll.js";
import xxhash from "xxhash-wasm";

const hasher = await xxhash();
const idOf = (address: string) => Number(hasher.h64Raw(new TextEncoder().encode(address), 0n) & 0xffffffffn);

beforeAll(() => ensureBuilt("debug"));

/** Prefix-index entries per endpoint id, read straight from shared data. */
function indexEntries(host: ProxyWasmHost): Map<number, number> {
  const out = new Map<number, number>();
  for (const key of host.sharedData.keys()) {
    if (!/^llm-picker\/prefix\/b\d+$/.test(key)) continue;
    const v = host.sharedData.get(key)!.value;
    if (v.byteLength < 8) continue;
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    const n = dv.getUint16(4, true);
    for (let i = 0; i < n; i++) {
      const id = dv.getUint32(8 + i * 16 + 8, true);
      out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

describe("pool.cluster: the pool is the cluster's live membership", () => {
  it("polls the admin page of that one cluster, once per interval for the whole Envoy, and routes over its members", async () => {
    const host = await clusterPool(3);
    // Nothing read yet: the request goes on without a routing header, so
    // Envoy's fallback balancing over the cluster it knows serves it.
    const early = send(host, chatBody(["hello"]));
    expect(early.status).toBeUndefined();
    expect(early.endpoint).toBeUndefined();
    expect(early.stream.forwardedRequest()).not.toBeNull();
    early.stream.end("complete");
    const calls = poll(host, members(A, B));
    // The labels (EDS metadata) first, so that a new member is published with them; then the membership.
    expect(calls.map((c) => c.headers)).toEqual([
      [
        [":method", "GET"],
        [":path", "/config_dump?include_eds&mask=static_endpoint_configs,dynamic_endpoint_configs&name_regex=%5Emodel_servers%24"],
        [":authority", "envoy-admin"],
      ],
      [
        [":method", "GET"],
        [":path", "/clusters?format=json&filter=%5E%28model_servers%29%24"],
        [":authority", "envoy-admin"],
      ],
    ]);
    expect(calls.map((c) => c.timeoutMs)).toEqual([1000, 1000]);
    const tally = spread(host, 40);
    expect(Object.keys(tally).sort()).toEqual([A, B]);
    // Four intervals later: four more polls, all from one worker.
    const before = host.httpCalls().filter((c) => c.cluster === ADMIN).length;
    for (let i = 0; i < 4; i++) poll(host, members(A, B));
    const polls = host.httpCalls().filter((c) => c.cluster === ADMIN);
    expect(polls.length - before).toBe(8);
    expect(new Set(polls.map((c) => c.worker)).size).toBe(1);
    expect(stat(host, "llm_picker.pool.members")).toBe(2);
    expect(stat(host, "llm_picker.pool.joined")).toBe(2);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a joining member takes traffic after the next poll; draining, failed and ejected members take none", async () => {
    const host = await clusterPool();
    poll(host, members(A, B));
    expect(Object.keys(spread(host, 30)).sort()).toEqual([A, B]);
    poll(host, members(A, B, C));
    expect(Object.keys(spread(host, 30)).sort()).toEqual([A, B, C]);
    poll(
      host,
      members(
        { address: A, eds: "DRAINING" },
        B,
        { address: C, flags: { failed_active_health_check: true } },
        { address: "10.0.0.4:8000", flags: { failed_outlier_check: true } },
      ),
    );
    expect(spread(host, 30)).toEqual({ [B]: 30 });
    poll(host, members({ address: A, eds: "DEGRADED" }, B, { address: C, eds: "UNHEALTHY" }));
    expect(Object.keys(spread(host, 30)).sort()).toEqual([A, B]);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a departed server's index entries are swept out; the entries of servers that stay are kept", async () => {
    const host = await clusterPool(2);
    poll(host, members(A, B, C));
    // Long prompts (several blocks each) spread over the three servers.
    const prompts = Array.from({ length: 60 }, (_, i) => chatBody([`${uniquePrompt(i)} ${"context ".repeat(60)}`]));
    const long = (i: number) => prompts[i];
    for (let i = 0; i < 60; i++) route(host, long(i), { worker: i % 2 });
    const before = indexEntries(host);
    for (const a of [A, B, C]) expect(before.get(idOf(a)) ?? 0, a).toBeGreaterThan(0);
    poll(host, members(B, C));
    for (let i = 0; i < 4; i++) poll(host, members(B, C)); // the sweep runs on the lease holder's ticks
    const after = indexEntries(host);
    expect(after.get(idOf(A)) ?? 0).toBe(0);
    expect(after.get(idOf(B))).toBe(before.get(idOf(B)));
    expect(after.get(idOf(C))).toBe(before.get(idOf(C)));
    expect(stat(host, "llm_picker.prefix.entries_dropped")).toBe(before.get(idOf(A)));
    expect(stat(host, "llm_picker.pool.left")).toBe(1);
    // A comes back at the same address (a restarted server, empty cache):
    // prompts it was sent before earn it no prefix credit, B's still do.
    poll(host, members(A, B, C));
    const heldBy = (i: number) => {
      const s = send(host, long(i));
      s.stream.end("complete");
      const header = s.headers.find(([k]) => k === "x-llm-picker-scores")?.[1] ?? "{}";
      return (JSON.parse(header) as { scores: { prefix: Record<string, number> } }).scores.prefix;
    };
    const credits = Array.from({ length: 60 }, (_, i) => heldBy(i));
    expect(credits.every((p) => p[A] === 0)).toBe(true);
    expect(credits.filter((p) => p[B] === 1).length).toBeGreaterThan(5);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a failed, refused or unreadable admin page keeps the last membership (one warning per failure streak)", async () => {
    const host = await clusterPool();
    poll(host, members(A, B));
    const pages: Array<string | { status: number; body?: string } | "fail"> = [
      "fail",
      { status: 503, body: "no" },
      "not json",
      clustersPage({ other: [A] }), // the cluster is not on the page
      '{"cluster_statuses":[{"name":"model_servers","host_statuses":[{"address":',
    ];
    for (const page of pages) {
      poll(host, page);
      expect(Object.keys(spread(host, 20)).sort()).toEqual([A, B]);
    }
    expect(stat(host, "llm_picker.pool.refresh_failures")).toBe(pages.length);
    expect(host.logMessages("warn").filter((m) => m.includes("not refreshed"))).toHaveLength(1);
    poll(host, members(A, B, C));
    expect(Object.keys(spread(host, 30)).sort()).toEqual([A, B, C]);
    // An empty cluster (scaled to zero) is a membership too: no endpoints, 503.
    poll(host, members());
    const none = send(host, chatBody(["x"]));
    expect(none.status).toBe(503);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a membership larger than prefix.maxEndpoints is warned about once per change, naming both sizes", async () => {
    const host = await ProxyWasmHost.create({
      wasm: WASM,
      pluginConfig: JSON.stringify({ pool: { cluster: "model_servers", intervalMs: POLL }, prefix: { maxEndpoints: 2 }, seed: 7 }),
      clusters: ["model_servers", ADMIN],
    });
    const over = () => host.logMessages("warn").filter((m) => m.includes("prefix.maxEndpoints"));
    poll(host, members(A, B));
    expect(over()).toEqual([]);
    poll(host, members(A, B, C));
    expect(over()).toEqual([
      'llm_picker: pool "model_servers" has 3 members, more than prefix.maxEndpoints (2): set prefix.maxEndpoints to at least the pool\'s size',
    ]);
    poll(host, members(A, B, C)); // unchanged: no second warning
    expect(over()).toHaveLength(1);
    expect(Object.keys(spread(host, 30)).sort()).toEqual([A, B, C]);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a missing admin cluster is reported, not a trap", async () => {
    const host = await ProxyWasmHost.create({
      wasm: WASM,
      pluginConfig: JSON.stringify({ pool: { cluster: "model_servers", adminCluster: "nope", intervalMs: POLL }, seed: 7 }),
      clusters: ["model_servers", ADMIN],
    });
    for (let i = 0; i < 10; i++) host.advance(TICK);
    expect(stat(host, "llm_picker.pool.refresh_failures")).toBeGreaterThan(0);
    expect(host.logMessages("warn").some((m) => m.includes('admin cluster "nope" refused the call'))).toBe(true);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

describe("pool.cluster: hostile admin pages never trap", () => {
  const valid = members(A, { address: B, eds: "DRAINING" }, "[::1]:8000");
  const mutate = fc
    .tuple(fc.nat(valid.length), fc.nat(40), fc.string({ maxLength: 12 }))
    .map(([at, cut, insert]) => valid.slice(0, at) + insert + valid.slice(Math.min(valid.length, at + cut)));
  const json = fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify({ cluster_statuses: [{ name: "model_servers", host_statuses: v }] }));
  const deep = fc.nat(5000).map((n) => "[".repeat(n) + "]".repeat(n));
  const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1"));
  it("mutated, random and deeply nested pages: no trap, and the pool is a valid membership or the last one", async () => {
    const host = await clusterPool();
    poll(host, members(A, B));
    const runs = Number(process.env.FUZZ_RUNS ?? 150);
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutate, json, deep, bytes), async (page) => {
        poll(host, page);
        const s = send(host, chatBody(["fuzz"]));
        s.stream.end("complete");
        expect(host.traps()).toEqual([]);
        if (s.endpoint !== undefined) expect(s.endpoint).toMatch(/^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+$/);
        else expect(s.status).toBe(503);
      }),
      { numRuns: runs, seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined },
    );
    host.close();
  });
});
