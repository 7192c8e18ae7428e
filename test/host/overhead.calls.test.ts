/**
 * Host calls the filter makes per request (emulated Envoy, default profile,
 * scraping off): the request path's cost in Envoy is largely these calls and
 * the copies they make, so their number is pinned here. A change that adds a
 * shared-data round trip per request fails this test on purpose.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  getModels,
  IDLE_PAGE,
  inFlightOf,
  newPool,
  penaltyUntilOf,
  pendingBlocksOf,
  scrapeRound,
  send,
  type Sent,
  stat,
  uniquePrompt,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const DEFAULT = { profile: "default", metrics: { enabled: false } };
/** metrics.intervalMs of the scraping pool below (the tick). */
const INTERVAL = 50;
const body = (i: number, stream = false) => JSON.stringify({ model: "m", messages: [{ role: "user", content: uniquePrompt(i) }], max_tokens: 8, stream });

function calls(host: ProxyWasmHost, fn: () => void): Record<string, number> {
  const before = host.hostCallCounts();
  fn();
  const out: Record<string, number> = {};
  for (const [name, n] of host.hostCallCounts()) {
    const d = n - (before.get(name) ?? 0);
    if (d !== 0) out[name.replace(/^env\.proxy_/, "")] = d;
  }
  return out;
}

describe("host calls per request", () => {
  // Route: index record + in-flight increment; end: in-flight decrement (with
  // the queued blocks) and, for a chat, where and when it ended (its next
  // turn reads that back: docs/hashing.md "A conversation's last turn").
  // A chat's end is recorded with the free part of its server's cache, read
  // from the published states: not recorded where no scrape told the cache size.
  const completion = (i: number) => JSON.stringify({ model: "m", prompt: uniquePrompt(i), max_tokens: 8 });
  it.each([
    // Reads: a completion's 4; a chat's end adds the published states, and
    // where they give a cache size, its turn-end key before the write.
    ["a chat, servers scraped", "/v1/chat/completions", body, true, 2 + 1 + 1, 4 + 1 + 1],
    ["a chat, no cache size known", "/v1/chat/completions", body, false, 2 + 1, 4 + 1],
    ["a completion", "/v1/completions", completion, false, 2 + 1, 4],
  ])("a non-streamed response releases its queued prefill with the in-flight count at the end: %s", async (_name, path, request, scraped, writes, reads) => {
    const host = await newPool({ extra: scraped ? { profile: "default", metrics: { intervalMs: INTERVAL } } : DEFAULT });
    if (scraped) scrapeRound(host, INTERVAL, { [A]: IDLE_PAGE, [B]: IDLE_PAGE, [C]: IDLE_PAGE });
    send(host, request(0), { path })
      .stream.sendResponseHeaders([[":status", "200"]], false)
      .sendResponseBody("{}", true)
      .end("complete"); // warm-up
    let ep = "";
    const c = calls(host, () => {
      const s = send(host, request(1), { path });
      ep = s.endpoint!;
      const queued = pendingBlocksOf(host, ep);
      expect(queued).toBeGreaterThan(0);
      s.stream.sendResponseHeaders([[":status", "200"]], false);
      // As Envoy's HTTP/1 codec delivers a small response: the bytes, then an empty end of stream.
      s.stream.sendResponseBody('{"choices":[]}', false);
      expect(pendingBlocksOf(host, ep)).toBe(queued);
      s.stream.sendResponseBody("", true);
      s.stream.end("complete");
    });
    expect(pendingBlocksOf(host, ep)).toBe(0);
    expect(inFlightOf(host, ep)).toBe(0);
    expect(c.set_shared_data).toBe(writes);
    expect(c.get_shared_data).toBe(reads);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a /v1/responses answer: its first chunk is read once for the id, recorded in one more write; later chunks and a chat's answer are not read", async () => {
    const host = await newPool({ extra: DEFAULT });
    const responses = (i: number) => JSON.stringify({ model: "m", input: uniquePrompt(i) });
    const answer = (s: ReturnType<typeof send>, id: string) => {
      s.stream.sendResponseHeaders([[":status", "200"]], false);
      s.stream.sendResponseBody(`{"id":"${id}","object":"response",`, false);
      s.stream.sendResponseBody('"status":"completed","output":[]}', true);
      s.stream.end("complete");
    };
    answer(send(host, responses(0), { path: "/v1/responses" }), "resp_0"); // warm-up
    const c = calls(host, () => answer(send(host, responses(1), { path: "/v1/responses" }), "resp_1"));
    // The request body, then the answer's first chunk (the id is in it).
    expect(c.get_buffer_bytes).toBe(2);
    // Route: index record + in-flight increment; end: in-flight decrement; the id's holder.
    expect(c.set_shared_data).toBe(2 + 1 + 1);
    const chat = calls(host, () => {
      const s = send(host, body(5));
      s.stream.sendResponseHeaders([[":status", "200"]], false);
      s.stream.sendResponseBody('{"id":"chatcmpl-1","choices":[]}', true);
      s.stream.end("complete");
    });
    expect(chat.get_buffer_bytes).toBe(1);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("headers: each map is read once; a header the client must not send is removed only when it sent it", async () => {
    const host = await newPool({ extra: DEFAULT });
    const id: Array<[string, string]> = [["x-request-id", "req-1"]];
    send(host, body(3), { headers: id })
      .stream.sendResponseHeaders([[":status", "200"]], true)
      .end("complete"); // warm-up
    let forwarded: Array<[string, string]> = [];
    const clean = calls(host, () => {
      const s = send(host, body(4), { headers: id });
      forwarded = s.headers;
      s.stream.sendResponseHeaders([[":status", "200"]], true).end("complete");
    });
    // The request's map and the response's, one read each; no lookups, no removes; the
    // routing header set on the request, the request id returned on the response.
    expect(clean.get_header_map_pairs).toBe(2);
    expect(clean.get_header_map_value).toBeUndefined();
    expect(clean.remove_header_map_value).toBeUndefined();
    expect(clean.replace_header_map_value).toBe(2);
    // Two clock reads: the decision's start (its clock) and its end (decision_time_us).
    expect(clean.get_current_time_nanoseconds).toBe(2);
    expect(forwarded.filter(([k]) => k === "x-request-id")).toEqual([["x-request-id", "req-1"]]);
    const spoofed: Array<[string, string]> = [
      ...id,
      ["x-gateway-destination-endpoint", "6.6.6.6:1"],
      ["x-llm-picker-scores", "{}"],
      ["x-llm-picker-local-reply", "1"],
    ];
    const dirty = calls(host, () => {
      const s = send(host, body(5), { headers: spoofed });
      forwarded = s.headers;
      s.stream.sendResponseHeaders([[":status", "200"]], true).end("complete");
    });
    expect(dirty.remove_header_map_value).toBe(3);
    expect(forwarded.filter(([k]) => k.startsWith("x-llm-picker"))).toEqual([]);
    expect(forwarded.filter(([k]) => k === "x-gateway-destination-endpoint").map(([, v]) => v)).not.toContain("6.6.6.6:1");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a streamed response still releases its queued prefill at the first response byte", async () => {
    const host = await newPool({ extra: DEFAULT });
    const s = send(host, body(2, true));
    const ep = s.endpoint!;
    s.stream.sendResponseHeaders([[":status", "200"]], false);
    s.stream.sendResponseBody("data: {}\n\n", false);
    expect(pendingBlocksOf(host, ep)).toBe(0);
    expect(inFlightOf(host, ep)).toBe(1);
    s.stream.sendResponseBody("data: [DONE]\n\n", true);
    s.stream.end("complete");
    expect({ [A]: inFlightOf(host, A), [B]: inFlightOf(host, B), [C]: inFlightOf(host, C) }).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    host.close();
  });

  describe("the counters every request adds to are batched in the VM and flushed on a tick", () => {
    const picks = (host: ProxyWasmHost) => [A, B, C].map((e) => stat(host, `llm_picker.endpoint.picks.${e.replace(/[.:]/g, "_")}`) ?? 0);
    const models = (host: ProxyWasmHost) => getModels(host).end("complete");

    it("per request only the endpoint's picks; a root without a tick sets one of 1 s while counts are pending, and stops it after a tick with none", async () => {
      const host = await newPool({ workers: 2, extra: DEFAULT });
      expect([host.tickPeriod(0), host.tickPeriod(1)]).toEqual([0, 0]);
      // Repeated prompts, so the index's size (a gauge) and the VMs' memory do not change in the window.
      const prompts = [body(10), body(11), body(12)];
      const routeAll = () => {
        for (const [i, p] of prompts.entries())
          send(host, p, { worker: i % 2 })
            .stream.sendResponseHeaders([[":status", "200"]], true)
            .end("complete");
        models(host);
      };
      // The VMs' memory grows for these in steps, the last before round 9 and the next past
      // round 60 (where depends on the build's static data and allocator), so the window
      // below sees no heap gauge change.
      for (let round = 0; round < 12; round++) routeAll();
      host.advance(2000); // flushed, then the flush tick stops
      expect(stat(host, "llm_picker.requests.routed")).toBe(36);
      expect([host.tickPeriod(0), host.tickPeriod(1)]).toEqual([0, 0]);
      const c = calls(host, routeAll);
      // The picks of the 3 routed and the 1 passed request, as they happen; nothing else.
      expect(c.increment_metric).toBe(4);
      // One tick set per worker VM (the first pending count), not per request.
      expect(c.set_tick_period_milliseconds).toBe(2);
      expect([host.tickPeriod(0), host.tickPeriod(1)]).toEqual([1000, 1000]);
      expect(stat(host, "llm_picker.requests.routed")).toBe(36);
      expect(picks(host).reduce((a, b) => a + b, 0)).toBe(52);

      host.advance(999);
      expect(stat(host, "llm_picker.requests.routed")).toBe(36);
      const flush = calls(host, () => host.advance(1));
      expect(stat(host, "llm_picker.requests.routed")).toBe(39);
      expect(stat(host, "llm_picker.requests.passed")).toBe(13);
      expect(stat(host, "llm_picker.prefix.total_blocks")).toBeGreaterThan(0);
      // Worker 0: routed, passed, matched and total blocks; worker 1: routed, matched and total blocks (the prompts repeat, so they match).
      expect(flush.increment_metric).toBe(4 + 3);
      expect(flush.set_tick_period_milliseconds).toBeUndefined();

      // The next tick finds nothing to flush: the tick stops until the next request.
      host.advance(1000);
      expect([host.tickPeriod(0), host.tickPeriod(1)]).toEqual([0, 0]);
      send(host, body(20))
        .stream.sendResponseHeaders([[":status", "200"]], true)
        .end("complete");
      expect([host.tickPeriod(0), host.tickPeriod(1)]).toEqual([1000, 0]);
      host.advance(1000);
      expect(stat(host, "llm_picker.requests.routed")).toBe(40);
      expect(host.traps()).toEqual([]);
      host.close();
    });

    it("a scraping root flushes on its own tick", async () => {
      const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: INTERVAL } } });
      scrapeRound(host, INTERVAL, { [A]: { waiting: 0, kv: 0.1 }, [B]: { waiting: 0, kv: 0.1 }, [C]: { waiting: 0, kv: 0.1 } });
      const period = host.tickPeriod(0);
      expect(period).toBe(INTERVAL);
      send(host, body(30))
        .stream.sendResponseHeaders([[":status", "200"]], true)
        .end("complete");
      expect(stat(host, "llm_picker.requests.routed") ?? 0).toBe(0);
      expect(host.tickPeriod(0)).toBe(INTERVAL);
      host.tick();
      expect(stat(host, "llm_picker.requests.routed")).toBe(1);
      expect(host.traps()).toEqual([]);
      host.close();
    });

    it("a retired root (configuration update) flushes at once, and counts what its streams decide later directly", async () => {
      const host = await newPool({ extra: DEFAULT });
      send(host, body(40))
        .stream.sendResponseHeaders([[":status", "200"]], true)
        .end("complete");
      // Started under the first configuration, its body comes after the update.
      const late = host.newHttpStream();
      late.sendRequestHeaders(
        [
          [":method", "POST"],
          [":path", "/v1/chat/completions"],
          [":authority", "gw"],
          ["content-type", "application/json"],
        ],
        false,
      );
      expect(stat(host, "llm_picker.requests.routed") ?? 0).toBe(0);
      expect(
        host.reconfigure(
          JSON.stringify({ endpoints: [{ address: A }, { address: B }, { address: C }], profile: "default", metrics: { enabled: false }, seed: 7 }),
        ),
      ).toBe(true);
      expect(stat(host, "llm_picker.requests.routed")).toBe(1);
      late.sendRequestBody(body(41), true);
      expect(stat(host, "llm_picker.requests.routed")).toBe(2);
      late.sendResponseHeaders([[":status", "200"]], true).end("complete");
      expect(host.traps()).toEqual([]);
      host.close();
    });
  });

  describe("passive health: the member that served the request, from Envoy's x-llm-picker-upstream or the upstream.address property", () => {
    const UPSTREAM = "x-llm-picker-upstream";
    const others = (e: string) => [A, B, C].filter((x) => x !== e);
    /** A 200 whose route names `member` as the one that served it; the host calls it made. */
    const answeredBy = (host: ProxyWasmHost, s: Sent, member: string) =>
      calls(host, () =>
        s.stream.sendResponseHeaders(
          [
            [":status", "200"],
            [UPSTREAM, member],
          ],
          true,
        ),
      );

    it("with the header: no property read, the header never reaches the client, a pick served elsewhere is left out", async () => {
      const host = await newPool({ extra: DEFAULT });
      const ok = send(host, body(50));
      const okEp = ok.endpoint!;
      const served = answeredBy(host, ok, okEp);
      expect(served.get_property).toBeUndefined();
      expect(served.remove_header_map_value).toBe(1);
      expect(ok.stream.forwardedResponse()!.headers.map(([k]) => k)).not.toContain(UPSTREAM);
      ok.stream.end("complete");
      expect(penaltyUntilOf(host, okEp)).toBe(0);

      // Retried: Envoy served it from another member after the pick failed.
      const retried = send(host, body(51));
      const pick = retried.endpoint!;
      const elsewhere = others(pick)[0];
      const c = answeredBy(host, retried, elsewhere);
      expect(c.get_property).toBeUndefined();
      expect(retried.stream.forwardedResponse()!.headers.map(([k]) => k)).not.toContain(UPSTREAM);
      retried.stream.end("complete");
      expect(penaltyUntilOf(host, pick)).toBeGreaterThan(0);
      for (let i = 0; i < 6; i++) expect(send(host, body(60 + i)).endpoint).not.toBe(pick);
      expect(host.traps()).toEqual([]);
      host.close();
    });

    it("without the header: the property, as before (a pick served elsewhere is left out, one served by itself is not)", async () => {
      const host = await newPool({ extra: DEFAULT });
      const ok = send(host, body(70));
      const okEp = ok.endpoint!;
      ok.stream.setProperty(["upstream", "address"], okEp);
      const served = calls(host, () => ok.stream.sendResponseHeaders([[":status", "200"]], true));
      expect(served.get_property).toBe(1);
      expect(served.remove_header_map_value).toBeUndefined();
      ok.stream.end("complete");
      expect(penaltyUntilOf(host, okEp)).toBe(0);

      const retried = send(host, body(71));
      const pick = retried.endpoint!;
      retried.stream.setProperty(["upstream", "address"], others(pick)[0]);
      retried.stream.sendResponseHeaders([[":status", "200"]], true).end("complete");
      expect(penaltyUntilOf(host, pick)).toBeGreaterThan(0);
      expect(host.traps()).toEqual([]);
      host.close();
    });

    it('no upstream host ("-") counts as unknown; the header is removed from responses the filter did not route too', async () => {
      const host = await newPool({ extra: DEFAULT });
      const local = send(host, body(80));
      const ep = local.endpoint!;
      local.stream
        .sendResponseHeaders(
          [
            [":status", "200"],
            [UPSTREAM, "-"],
          ],
          true,
        )
        .end("complete");
      expect(penaltyUntilOf(host, ep)).toBe(0);
      const g = host.newHttpStream();
      g.sendRequestHeaders(
        [
          [":method", "GET"],
          [":path", "/healthz"],
          [":authority", "gw"],
        ],
        true,
      );
      g.sendResponseHeaders(
        [
          [":status", "200"],
          [UPSTREAM, A],
        ],
        true,
      );
      expect(g.forwardedResponse()!.headers.map(([k]) => k)).not.toContain(UPSTREAM);
      g.end("complete");
      expect(penaltyUntilOf(host, A)).toBe(0);
      expect(host.traps()).toEqual([]);
      host.close();
    });
  });
});
