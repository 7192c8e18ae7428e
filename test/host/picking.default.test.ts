/**
 * The default profile through the built filter (emulated Envoy): a request
 * goes where the predicted prefill work (prompt blocks not cached there +
 * prompt blocks queued there ahead of it) is lowest, among endpoints within
 * the load bound. Queued blocks live in shared data with the in-flight
 * counts, so every worker sees them; they are released at the first
 * response byte (the server finished the prefill) or at the end.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { HttpStream, ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  firstToken,
  hotBody,
  inFlightOf,
  newPool,
  pendingBlocksOf,
  scrapeRound,
  send,
  SHARED_PROMPT,
  stat,
  totalInFlight,
  uniquePrompt,
  blocksOf,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

/** Default profile, scraping off: endpoints healthy with unknown load, so this Envoy's own counts are the signal. */
const DEFAULT = { profile: "default", metrics: { enabled: false } };

const pending = (host: ProxyWasmHost) => ({ [A]: pendingBlocksOf(host, A), [B]: pendingBlocksOf(host, B), [C]: pendingBlocksOf(host, C) });

describe("default profile: queued prefill and the load bound", () => {
  it("a request's prompt blocks are queued at its endpoint until the first response byte, then only its in-flight count remains", async () => {
    const host = await newPool({ extra: DEFAULT });
    const body = hotBody(1);
    const s = send(host, body);
    const ep = s.endpoint!;
    // Nothing cached anywhere: the whole prompt is queued prefill at the chosen endpoint.
    expect(pendingBlocksOf(host, ep)).toBe(blocksOf(body));
    expect(inFlightOf(host, ep)).toBe(1);
    s.stream.sendResponseHeaders([[":status", "200"]], false);
    expect(pendingBlocksOf(host, ep)).toBe(blocksOf(body)); // headers alone: vLLM sends them before the prefill ends
    s.stream.sendResponseBody("data: {}\n\n", false);
    expect(pendingBlocksOf(host, ep)).toBe(0);
    expect(inFlightOf(host, ep)).toBe(1);
    s.stream.sendResponseBody("data: [DONE]\n\n", true);
    s.stream.end("complete");
    expect(inFlightOf(host, ep)).toBe(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a /v1/responses stream keeps its blocks queued through the lifecycle events sent before its prefill, and releases them at the first other event", async () => {
    const host = await newPool({ extra: DEFAULT });
    const body = JSON.stringify({ model: "m", instructions: SHARED_PROMPT, input: uniquePrompt(3), max_output_tokens: 16, stream: true });
    const s = send(host, body, { path: "/v1/responses" });
    const ep = s.endpoint!;
    const queued = pendingBlocksOf(host, ep);
    expect(queued).toBeGreaterThan(90);
    s.stream.sendResponseHeaders(
      [
        [":status", "200"],
        ["content-type", "text/event-stream"],
      ],
      false,
    );
    s.stream.sendResponseBody(
      'event: response.created\ndata: {"type":"response.created","response":{"object":"response","status":"in_progress","output":[]}}\n\n',
      false,
    );
    expect(pendingBlocksOf(host, ep)).toBe(queued);
    s.stream.sendResponseBody('event: response.in_progress\ndata: {"type":"response.in_progress"}\n\nevent: response.outp', false);
    expect(pendingBlocksOf(host, ep)).toBe(queued);
    s.stream.sendResponseBody('ut_item.added\ndata: {"type":"response.output_item.added"}\n\n', false);
    expect(pendingBlocksOf(host, ep)).toBe(0);
    expect(inFlightOf(host, ep)).toBe(1);
    s.stream.sendResponseBody('event: response.completed\ndata: {"type":"response.completed"}\n\n', true);
    s.stream.end("complete");
    expect(inFlightOf(host, ep)).toBe(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a /v1/responses stream that ends after its lifecycle events releases its queued blocks at its end", async () => {
    const host = await newPool({ extra: DEFAULT });
    const s = send(host, JSON.stringify({ model: "m", input: uniquePrompt(4), stream: true }), { path: "/v1/responses" });
    const ep = s.endpoint!;
    expect(pendingBlocksOf(host, ep)).toBeGreaterThan(0);
    s.stream.sendResponseHeaders([[":status", "200"]], false);
    s.stream.sendResponseBody('event: response.created\ndata: {"type":"response.created"}\n\n', false);
    expect(pendingBlocksOf(host, ep)).toBeGreaterThan(0);
    s.stream.end("upstream_reset");
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(totalInFlight(host)).toBe(0);
    host.close();
  });

  it("a stream that ends without a response body (reset) releases its queued blocks too", async () => {
    const host = await newPool({ extra: DEFAULT });
    const s = send(host, hotBody(2));
    expect(pendingBlocksOf(host, s.endpoint!)).toBeGreaterThan(0);
    s.stream.end("upstream_reset");
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(totalInFlight(host)).toBe(0);
    host.close();
  });

  it("hot prefix, the load bound alone: the first request follows the prefix; held requests pile up queued prefill and occupancy until load sends requests elsewhere, each one counted", async () => {
    // The bound's yield off: with it, these short questions (3 blocks each) would all stay (below).
    const host = await newPool({ workers: 2, extra: { ...DEFAULT, bound: { loadYieldRatio: 0 } } });
    // Warm one endpoint with the shared prompt and let its response finish.
    const first = send(host, hotBody(10));
    const holders = new Set([first.endpoint!]);
    firstToken(first.stream);
    first.stream.end("complete");
    // Ten requests held open before their first token, alternating workers.
    // A request that goes to an endpoint that has not received the shared
    // prompt yet holds 0 of its blocks against ~94 elsewhere: load overrode
    // affinity there, and only there.
    const open: HttpStream[] = [];
    const picks: string[] = [];
    let overrides = 0;
    for (let i = 0; i < 10; i++) {
      const s = send(host, hotBody(20 + i), { worker: i % 2 });
      const ep = s.endpoint!;
      if (!holders.has(ep)) overrides++;
      holders.add(ep);
      picks.push(ep);
      open.push(s.stream);
    }
    expect(picks[0]).toBe(first.endpoint);
    expect(overrides).toBeGreaterThan(0);
    // The prompt spread to a second endpoint as load grew, and not to the
    // third: there it would cost 2 × ~94 blocks (its own blocks count twice),
    // while the two holders' queued prefill is the requests' short suffixes,
    // and with equal occupancy both stay within the bound.
    expect(holders.size).toBe(2);
    expect(stat(host, "llm_picker.route.load_overrode_affinity")).toBe(overrides);
    // Load never ran away: an endpoint takes a request only at occupancy ≤ ceil(1.5 × (total + 1) / 3),
    // which is at most ceil(1.5 × 10 / 3) = 5 for these ten: no endpoint ends with more than 6.
    const perEndpoint = [A, B, C].map((e) => picks.filter((p) => p === e).length);
    expect(Math.max(...perEndpoint)).toBeLessThanOrEqual(6);
    for (const s of open) s.end("complete");
    expect(totalInFlight(host)).toBe(0);
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("hot prefix with the bound's yield: held requests stay on the prompt's server while their cost there is at most half an idle server's, then spread", async () => {
    // 110-block prompts, 13 of them each request's own question. Held
    // requests queue 13 blocks each on the holder; the k-th (from 0) costs
    // 2 × 13 + 13k + 1 blocks there against 2 × 110 + 1 = 221 on an idle
    // server. The first seven stay (105 ≤ 110.5 for the seventh, though the
    // holder is over the capacity ⌈1.5 × 5 / 3⌉ = 3 from the fifth on); the
    // eighth's 118 is not, so the bound holds and it re-prefills the prompt
    // on an idle server. The next two follow it there: 2 × 13 + 110 = 136
    // and 149 against 220 on the other idle one, their waits there (124,
    // 137) within 1.25 × 111.
    const host = await newPool({ workers: 2, extra: DEFAULT });
    const first = send(host, hotBody(10));
    firstToken(first.stream);
    first.stream.end("complete");
    const holder = first.endpoint!;
    const question = "please consider this detail carefully ".repeat(16);
    const picks: string[] = [];
    const open: HttpStream[] = [];
    const holders = new Set([holder]);
    let overrides = 0;
    for (let i = 0; i < 10; i++) {
      const body = JSON.parse(hotBody(20 + i));
      body.messages[1].content += question;
      expect(blocksOf(JSON.stringify(body))).toBe(110);
      const s = send(host, JSON.stringify(body), { worker: i % 2 });
      if (i === 6) expect(pendingBlocksOf(host, holder)).toBe(91);
      if (!holders.has(s.endpoint!)) overrides++;
      holders.add(s.endpoint!);
      picks.push(s.endpoint!);
      open.push(s.stream);
    }
    expect(picks.slice(0, 7)).toEqual(Array(7).fill(holder));
    expect(picks[7]).not.toBe(holder);
    expect(picks.slice(8)).toEqual([picks[7], picks[7]]);
    // Only the eighth was sent from a server holding more of the prompt: the next two go where its prefill runs, credited with it.
    expect(overrides).toBe(1);
    expect(stat(host, "llm_picker.route.load_overrode_affinity")).toBe(1);
    for (const s of open) s.end("complete");
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("requests decoding on the prompt's endpoint do not push the next one off it: the load bound yields", async () => {
    // Each request gets its first token (its prefill is done, nothing stays
    // queued) and keeps decoding. Yield off, the holder's occupancy passes the
    // bound (ceil(1.5 × (T + 1) / 3)) and a request re-prefills the ~100 shared
    // blocks elsewhere; by default the holder's wait (1 + its few uncached
    // blocks) is under half of that, so it stays.
    const picksWith = async (bound: Record<string, number>) => {
      const host = await newPool({ extra: { ...DEFAULT, bound } });
      const picks: string[] = [];
      const open: HttpStream[] = [];
      for (let i = 0; i < 8; i++) {
        const s = send(host, hotBody(40 + i));
        firstToken(s.stream);
        picks.push(s.endpoint!);
        open.push(s.stream);
      }
      const overrides = stat(host, "llm_picker.route.load_overrode_affinity");
      for (const s of open) s.end("complete");
      expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
      expect(host.traps()).toEqual([]);
      host.close();
      return { endpoints: new Set(picks).size, overrides };
    };
    expect(await picksWith({})).toEqual({ endpoints: 1, overrides: 0 });
    const strict = await picksWith({ loadYieldRatio: 0 });
    expect(strict.endpoints).toBeGreaterThan(1);
    expect(strict.overrides).toBeGreaterThan(0);
  });

  it("a conversation returns to the endpoint holding its earlier turns when load is even", async () => {
    const host = await newPool({ extra: DEFAULT });
    const turns = [uniquePrompt(300) + " ".repeat(200), "an answer of some length ".repeat(10)];
    const body = (n: number) =>
      JSON.stringify({
        model: "m",
        messages: turns
          .slice(0, n)
          .map((content, i) => ({ role: i % 2 ? "assistant" : "user", content }))
          .concat(n % 2 === 0 ? [{ role: "user", content: `follow-up ${n}` }] : []),
      });
    const s1 = send(host, body(1));
    firstToken(s1.stream);
    s1.stream.end("complete");
    for (let n = 2; n <= 4; n += 2) {
      const s = send(host, body(n));
      expect(s.endpoint).toBe(s1.endpoint);
      firstToken(s.stream);
      s.stream.end("complete");
    }
    expect(stat(host, "llm_picker.route.load_overrode_affinity")).toBe(0);
    host.close();
  });

  /**
   * Warms one endpoint with the shared prompt, then holds `n` requests on
   * the prompt (each with `suffix` after its unique question) open before their
   * first token. Returns the endpoint each one went to, the warmed one first.
   */
  function holdOnHotPrompt(host: ProxyWasmHost, n: number, suffix = ""): string[] {
    const warm = send(host, hotBody(900));
    firstToken(warm.stream);
    warm.stream.end("complete");
    const picks = [warm.endpoint!];
    for (let i = 0; i < n; i++) {
      const body = JSON.parse(hotBody(910 + i));
      body.messages[1].content += suffix;
      picks.push(send(host, JSON.stringify(body)).endpoint!);
    }
    return picks;
  }

  it("batch bound: a server seen running 2 while requests waited is full at 2, and the third held request on its prompt goes elsewhere", async () => {
    const learned = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 } } });
    const blind = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 } } });
    for (const [host, waiting] of [
      [learned, 1],
      [blind, 0],
    ] as const) {
      const page = { waiting, running: 2, kv: 0 };
      scrapeRound(host, 50, { [A]: page, [B]: page, [C]: page });
      // The servers' own figures drop to idle: only this Envoy's requests load them.
      const idle = { waiting: 0, running: 0, kv: 0 };
      scrapeRound(host, 50, { [A]: idle, [B]: idle, [C]: idle });
    }
    // Load bound alone (factor 1.5, others idle): 2 in flight ≤ ⌈1.5 × 3 / 3⌉ = 2 fits, 3 does not.
    // With the batch known to hold 2: at 2 it is full and above the pool's mean ⌈3 / 3⌉ = 1.
    const withBatch = holdOnHotPrompt(learned, 3);
    const without = holdOnHotPrompt(blind, 3);
    expect(withBatch.slice(0, 3)).toEqual([withBatch[0], withBatch[0], withBatch[0]]);
    expect(withBatch[3]).not.toBe(withBatch[0]);
    expect(without).toEqual([without[0], without[0], without[0], without[0]]);
    expect(stat(learned, "llm_picker.route.load_overrode_affinity")).toBe(1);
    expect(stat(blind, "llm_picker.route.load_overrode_affinity") ?? 0).toBe(0);
    for (const host of [learned, blind]) {
      expect(host.traps()).toEqual([]);
      host.close();
    }
  });

  it("wait bound: held requests with long questions queue prefill on the prompt's server until a request's wait there passes 1.25 × its wait on an idle one", async () => {
    // loadFactor 10: the load bound stays out of the way. With waitRatio 1000
    // only the cost (2 × uncached + queued) decides, and it keeps the holder
    // longer.
    const longQuestion = "please consider this detail carefully ".repeat(64);
    const picksAt = async (waitRatio: number) => {
      const host = await newPool({ extra: { ...DEFAULT, bound: { loadFactor: 10, waitRatio } } });
      const picks = holdOnHotPrompt(host, 8, longQuestion);
      const queuedOnHolder = pendingBlocksOf(host, picks[0]);
      expect(host.traps()).toEqual([]);
      host.close();
      return { firstSpill: picks.findIndex((p) => p !== picks[0]), queuedOnHolder };
    };
    // Each question is 41 uncached blocks on the holder; the whole request
    // is about 135 on a server without the prompt. Waits on the holder
    // with k held: 41 + 41k + 1; on an idle one 136, × 1.25 = 170.
    // k = 3: 165 stays; k = 4: 206 is out, so the 5th held request spills.
    const bounded = await picksAt(1.25);
    expect(bounded).toEqual({ firstSpill: 5, queuedOnHolder: 4 * 41 });
    // Cost alone: 2 × 41 + 41k against 2 × 135 = 270; k = 4: 246 stays, k = 5: 287 spills.
    const costOnly = await picksAt(1000);
    expect(costOnly).toEqual({ firstSpill: 6, queuedOnHolder: 5 * 41 });
  });
});
