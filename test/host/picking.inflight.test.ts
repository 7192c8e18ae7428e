/**
 * Host tier: requests in flight are counted per endpoint
 * across all worker VMs (shared data), decremented on every way a stream
 * ends, and the in-flight scorer prefers the endpoint with fewer of them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { HttpStream, ProxyWasmHost } from "../../src/host/index.js";
import {
  INFLIGHT_KEY,
  A,
  B,
  C,
  getModels,
  inFlightOf,
  newPool,
  pendingBlocksOf,
  poolConfig,
  send,
  stat,
  totalInFlight,
  uniquePrompt,
  waitAheadOf,
} from "./fixtures/vllm.js";
import { chatBody, ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

/** Scraping off: every endpoint healthy with unknown load, so in-flight counts are the only signal. */
const noScrape = { metrics: { enabled: false } };

const counts = (host: ProxyWasmHost) => ({ [A]: inFlightOf(host, A), [B]: inFlightOf(host, B), [C]: inFlightOf(host, C) });

describe("in-flight counts across worker VMs", () => {
  it("six requests on four workers spread 2/2/2, every worker sees the others' requests", async () => {
    const host = await newPool({ workers: 4, extra: noScrape });
    const open: Array<{ stream: HttpStream; endpoint: string | undefined }> = [];
    for (let i = 0; i < 6; i++) open.push(send(host, chatBody([uniquePrompt(i)]), { worker: i % 4 }));
    // Each pick goes to an endpoint with the fewest in flight, whichever VM decides:
    // a per-VM count would let worker 1 pick worker 0's endpoint again.
    expect(counts(host)).toEqual({ [A]: 2, [B]: 2, [C]: 2 });
    const picks = open.map((o) => o.endpoint);
    expect(new Set(picks.slice(0, 3)).size).toBe(3);
    expect(new Set(picks.slice(3, 6)).size).toBe(3);
    for (const o of open) o.stream.end("complete");
    expect(counts(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("the in-flight scorer sends new work to the endpoint with fewer requests in flight", async () => {
    const host = await newPool({ workers: 2, extra: noScrape });
    const held: HttpStream[] = [];
    // Five open streams spread 2/2/1 (each goes to a least-loaded endpoint).
    for (let i = 0; i < 5; i++) held.push(send(host, chatBody([uniquePrompt(100 + i)]), { worker: i % 2 }).stream);
    const c = counts(host);
    expect(Object.values(c).sort()).toEqual([1, 2, 2]);
    const least = Object.entries(c).find(([, n]) => n === 1)![0];
    const next = send(host, chatBody([uniquePrompt(200)]), { worker: 1 });
    expect(next.endpoint).toBe(least);
    next.stream.end("complete");
    for (const s of held) s.end("complete");
    expect(totalInFlight(host)).toBe(0);
    host.close();
  });
});

describe('workers deciding at once (docs/routing.md "Workers deciding at once")', () => {
  /** A prompt of about `blocks` 64-byte blocks, unique to `i`. */
  const promptOf = (i: number, blocks: number) => chatBody([`${uniquePrompt(i)} ${"Read the ledger line by line. ".repeat(Math.ceil((blocks * 64) / 30))}`]);
  const queued = (host: ProxyWasmHost) => ({ [A]: pendingBlocksOf(host, A), [B]: pendingBlocksOf(host, B), [C]: pendingBlocksOf(host, C) });

  it("a decision whose write finds another worker's request routed since its read is made again on the new view", async () => {
    const host = await newPool({ workers: 2, extra: { ...noScrape, profile: "default", debugHeaders: true } });
    // Two 50-block prompts queue at two endpoints: the third is the one idle endpoint.
    const opened = [send(host, promptOf(300, 50), { worker: 0 }), send(host, promptOf(301, 50), { worker: 1 })];
    const idle = [A, B, C].find((e) => pendingBlocksOf(host, e) === 0)!;
    expect(Object.values(queued(host)).sort((x, y) => x - y)).toEqual([0, 53, 53]);
    // Worker 1 routes a 400-block prompt right after worker 0 read the in-flight value for its own decision.
    let long: ReturnType<typeof send> | null = null;
    host.shared.intercept({
      afterGet: (e) => {
        if (e.vm !== 0 || e.key !== INFLIGHT_KEY || long != null) return;
        long = send(host, promptOf(302, 400), { worker: 1 });
      },
    });
    const short = send(host, promptOf(303, 2), { worker: 0 });
    host.shared.intercept({});
    // Both saw `idle` idle; the long prompt went there first, so the short one, decided again, went elsewhere.
    expect(long!.endpoint).toBe(idle);
    expect(short.endpoint).not.toBe(idle);
    expect(waitAheadOf(short)[idle]).toBeGreaterThan(350);
    expect(stat(host, "llm_picker.route.redecided")).toBe(1);
    // Each request counted once, where it went.
    expect(totalInFlight(host)).toBe(4);
    expect(inFlightOf(host, idle)).toBe(1);
    expect(pendingBlocksOf(host, idle)).toBeGreaterThan(400);
    for (const o of [...opened, long!, short]) o.stream.end("complete");
    expect(totalInFlight(host)).toBe(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a request that is not parsed is decided again too: another worker's long prompt took the idle endpoint first", async () => {
    const host = await newPool({ workers: 2, extra: { ...noScrape, profile: "default" } });
    const opened = [send(host, promptOf(310, 50), { worker: 0 }), send(host, promptOf(311, 50), { worker: 1 })];
    const idle = [A, B, C].find((e) => pendingBlocksOf(host, e) === 0)!;
    let long: ReturnType<typeof send> | null = null;
    host.shared.intercept({
      afterGet: (e) => {
        if (e.vm !== 0 || e.key !== INFLIGHT_KEY || long != null) return;
        long = send(host, promptOf(312, 400), { worker: 1 });
      },
    });
    const models = getModels(host, [], { worker: 0 });
    host.shared.intercept({});
    const picked = models.forwardedRequest()?.headers.find(([k]) => k === "x-gateway-destination-endpoint")?.[1];
    expect(long!.endpoint).toBe(idle);
    expect(picked).toBeDefined();
    expect(picked).not.toBe(idle);
    expect(stat(host, "llm_picker.route.redecided")).toBe(1);
    expect(totalInFlight(host)).toBe(4);
    expect(inFlightOf(host, idle)).toBe(1);
    for (const o of [...opened, long!]) o.stream.end("complete");
    models.end("complete");
    expect(totalInFlight(host)).toBe(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("without a change in between, a decision is made once: one read and one write of the in-flight value", async () => {
    const host = await newPool({ workers: 2, extra: noScrape });
    const sets: string[] = [];
    const gets: string[] = [];
    host.shared.intercept({ afterGet: (e) => gets.push(e.key), afterSet: (e) => sets.push(e.key) });
    const s = send(host, chatBody([uniquePrompt(320)]), { worker: 1 });
    host.shared.intercept({});
    expect(gets.filter((k) => k === INFLIGHT_KEY)).toHaveLength(1);
    expect(sets.filter((k) => k === INFLIGHT_KEY)).toHaveLength(1);
    expect(stat(host, "llm_picker.route.redecided") ?? 0).toBe(0);
    s.stream.end("complete");
    host.close();
  });
});

describe("every way a stream ends decrements the count", () => {
  const endings: Array<[string, (s: HttpStream) => void]> = [
    [
      "completion (200 response)",
      (s) => {
        s.sendResponseHeaders(
          [
            [":status", "200"],
            ["content-type", "application/json"],
          ],
          false,
        );
        s.sendResponseBody('{"choices":[]}', true);
        s.end("complete");
      },
    ],
    ["client reset before the response", (s) => s.end("client_reset")],
    [
      "client reset mid-response (streaming)",
      (s) => {
        s.sendResponseHeaders(
          [
            [":status", "200"],
            ["content-type", "text/event-stream"],
          ],
          false,
        );
        s.sendResponseBody("data: {}\n\n", false);
        s.end("client_reset");
      },
    ],
    ["upstream reset (Envoy answers 503 itself)", (s) => s.end("upstream_reset")],
    ["timeout (Envoy answers 504 itself)", (s) => s.end("timeout")],
    [
      "a local reply after routing (Envoy's router answers instead of the upstream)",
      (s) => {
        // Envoy's router replies locally after our filter routed (e.g. no healthy
        // upstream / overflow): the emulator's internal hook for a local reply.
        (s as unknown as { sendLocalReply: (r: object) => void }).sendLocalReply({
          status: 503,
          headers: [],
          body: new TextEncoder().encode("no healthy upstream"),
          details: "no_healthy_upstream",
          grpcStatus: -1,
        });
        s.end("complete");
      },
    ],
    [
      "a 5xx from the upstream",
      (s) => {
        s.sendResponseHeaders([[":status", "500"]], true);
        s.end("complete");
      },
    ],
  ];
  for (const [name, finish] of endings) {
    it(name, async () => {
      const host = await newPool({ workers: 2, extra: noScrape });
      const s = send(host, chatBody([uniquePrompt(1)]), { worker: 1 });
      expect(s.endpoint).toBeDefined();
      expect(inFlightOf(host, s.endpoint!)).toBe(1);
      expect(totalInFlight(host)).toBe(1);
      finish(s.stream);
      expect(s.stream.calls.slice(-3)).toEqual(["proxy_on_log", "proxy_on_done", "proxy_on_delete"]);
      expect(inFlightOf(host, s.endpoint!)).toBe(0);
      expect(totalInFlight(host)).toBe(0);
      expect(host.traps()).toEqual([]);
      host.close();
    });
  }

  it("a pass-through request (not inference, routed at the headers) is counted and decremented too", async () => {
    const host = await newPool({ extra: noScrape });
    const s = getModels(host);
    const ep = s.forwardedRequest()!.headers.find(([k]) => k === "x-gateway-destination-endpoint")![1];
    expect(inFlightOf(host, ep)).toBe(1);
    s.end("client_reset");
    expect(inFlightOf(host, ep)).toBe(0);
    host.close();
  });

  it("a stream that started under the previous configuration is still decremented after host.reconfigure", async () => {
    const host = await newPool({ workers: 2, extra: noScrape });
    const kept = send(host, chatBody([uniquePrompt(5)]), { worker: 0 });
    const other = send(host, chatBody([uniquePrompt(6)]), { worker: 1 });
    expect(totalInFlight(host)).toBe(2);
    // Same pool, new weights: both endpoints stay.
    expect(host.reconfigure(poolConfig([A, B, C], { ...noScrape, weights: { queue: 1 } }))).toBe(true);
    expect(inFlightOf(host, kept.endpoint!)).toBe(1);
    kept.stream.end("complete");
    expect(inFlightOf(host, kept.endpoint!)).toBe(0);
    // Now drop the other stream's endpoint from the pool, then end it: no count left behind.
    const remaining = [A, B, C].filter((e) => e !== other.endpoint);
    expect(host.reconfigure(poolConfig(remaining, noScrape))).toBe(true);
    other.stream.end("upstream_reset");
    expect(totalInFlight(host)).toBe(0);
    const next = send(host, chatBody([uniquePrompt(7)]));
    expect(remaining).toContain(next.endpoint);
    expect(totalInFlight(host)).toBe(1);
    next.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a request refused by the filter (400) is never counted", async () => {
    const host = await newPool({ extra: noScrape });
    const s = send(host, "{not json");
    expect(s.status).toBe(400);
    expect(totalInFlight(host)).toBe(0);
    s.stream.end("complete");
    expect(totalInFlight(host)).toBe(0);
    host.close();
  });

  it("the count never goes negative when ends outnumber starts (e.g. after a restart of shared data)", async () => {
    const host = await newPool({ extra: noScrape });
    const s = send(host, chatBody([uniquePrompt(3)]));
    host.sharedData.set(INFLIGHT_KEY, new Uint8Array(0));
    s.stream.end("complete");
    expect(inFlightOf(host, s.endpoint!)).toBe(0);
    const next = send(host, chatBody([uniquePrompt(4)]));
    expect(inFlightOf(host, next.endpoint!)).toBe(1);
    next.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
