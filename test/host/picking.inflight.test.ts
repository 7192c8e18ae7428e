/**
 * Host tier: requests in flight are counted per endpoint
 * across all worker VMs (shared data), decremented on every way a stream
 * ends, and the in-flight scorer prefers the endpoint with fewer of them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { HttpStream, ProxyWasmHost } from "../../src/host/index.js";
import { INFLIGHT_KEY, A, B, C, getModels, inFlightOf, newPool, poolConfig, send, totalInFlight, uniquePrompt } from "./fixtures/vllm.js";
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
