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
import { A, B, C, inFlightOf, newPool, pendingBlocksOf, send, stat, totalInFlight, uniquePrompt } from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

/** Default profile, scraping off: endpoints healthy with unknown load, so this Envoy's own counts are the signal. */
const DEFAULT = { profile: "default", metrics: { enabled: false } };

/** A 6 KB system prompt shared by every request (about 94 blocks of 64 bytes), then a unique question. */
const SHARED = "You are the assistant of one product, used by all of its customers. " + "Answer briefly and cite the manual. ".repeat(170);
const hotBody = (i: number) =>
  JSON.stringify({
    model: "m",
    messages: [
      { role: "system", content: SHARED },
      { role: "user", content: uniquePrompt(i) },
    ],
    max_tokens: 16,
    stream: true,
  });
const blocksOf = (body: string) => Math.ceil(Buffer.byteLength(body) / 64);

const pending = (host: ProxyWasmHost) => ({ [A]: pendingBlocksOf(host, A), [B]: pendingBlocksOf(host, B), [C]: pendingBlocksOf(host, C) });

function firstToken(s: HttpStream): void {
  s.sendResponseHeaders(
    [
      [":status", "200"],
      ["content-type", "text/event-stream"],
    ],
    false,
  );
  s.sendResponseBody('data: {"choices":[{"delta":{"content":"x"}}]}\n\n', false);
}

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

  it("a stream that ends without a response body (reset) releases its queued blocks too", async () => {
    const host = await newPool({ extra: DEFAULT });
    const s = send(host, hotBody(2));
    expect(pendingBlocksOf(host, s.endpoint!)).toBeGreaterThan(0);
    s.stream.end("upstream_reset");
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(totalInFlight(host)).toBe(0);
    host.close();
  });

  it("hot prefix: the first request follows the prefix; held requests pile up queued prefill and occupancy until load sends requests elsewhere, each one counted", async () => {
    const host = await newPool({ workers: 2, extra: DEFAULT });
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
});
