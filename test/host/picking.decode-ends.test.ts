/**
 * When places free in a full batch (docs/routing.md "When places free"),
 * default profile through the built filter (emulated Envoy): a request that
 * names max_tokens is recorded among its endpoint's decoding requests, in
 * the in-flight value; each endpoint learns its ms per output token (a
 * request's time from first token to end over the tokens it asked for);
 * where a batch is full, the wait for a place is when the k-th of its
 * running requests ends, not (occupancy − places + 1) × the average hold / places.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  blocksOf,
  decodingRequests,
  FULL_OF_TWO,
  firstToken,
  IDLE_PAGE,
  msPerTokenOf,
  newPool,
  predictedPrefillScoresOf,
  prefillPaceOf,
  scrapeRound,
  send,
  type Sent,
  uniquePrompt,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

/** ~90-block system prompts, each its own. */
const SYSTEMS = [0, 1, 2, 3].map((i) => `${uniquePrompt(100 + i)} `.repeat(60));
/** A streamed request of system prompt i asking for `maxTokens` output tokens (none named when undefined). */
const prompt = (i: number, maxTokens?: number) =>
  JSON.stringify({
    model: "m",
    messages: [{ role: "system", content: SYSTEMS[i] }],
    stream: true,
    ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
  });

/** A, B and C, each learned to run 2 requests at most (a scrape showed them full), then idle. */
async function pool(): Promise<ProxyWasmHost> {
  const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 }, debugHeaders: true } });
  scrapeRound(host, 50, { [A]: FULL_OF_TWO, [B]: FULL_OF_TWO, [C]: FULL_OF_TWO });
  scrapeRound(host, 50, { [A]: IDLE_PAGE, [B]: IDLE_PAGE, [C]: IDLE_PAGE });
  return host;
}

/** One request of prompts 1–3 each, asking for 100 tokens: first token 100 ms later, end 600 ms after it (6 ms per token, a hold of 600). */
function warm(host: ProxyWasmHost): Sent[] {
  const sent = [1, 2, 3].map((i) => send(host, prompt(i, 100)));
  expect(new Set(sent.map((s) => s.endpoint)).size).toBe(3);
  host.advance(100);
  for (const s of sent) firstToken(s.stream);
  host.advance(600);
  for (const s of sent) s.stream.end("complete");
  return sent;
}

/** Two more requests of each prompt at its endpoint, past their first tokens, asking for `tokens(i)` each (undefined: none named). */
function fill(host: ProxyWasmHost, endpoints: Sent[], tokens: (i: number, second: boolean) => number | undefined): Sent[] {
  const held: Sent[] = [];
  for (const [n, i] of [1, 1, 2, 2, 3, 3].entries()) {
    const s = send(host, prompt(i, tokens(i, n % 2 === 1)));
    expect(s.endpoint).toBe(endpoints[i - 1].endpoint);
    firstToken(s.stream);
    held.push(s);
  }
  return held;
}

/** The wait for a place each endpoint of `endpoints` counted for a next request of prompt 1, in ms (its wait ahead at its pace). */
function waitsMs(host: ProxyWasmHost, endpoints: Sent[], next: Sent): number[] {
  const scores = predictedPrefillScoresOf(next);
  const p = blocksOf(prompt(1, 50));
  return endpoints.map((s, i) => {
    const uncached = i === 0 ? 0 : p;
    const waitAhead = p / scores[s.endpoint!] - p - 2 * uncached;
    return waitAhead / prefillPaceOf(host, s.endpoint!).blocksPerMs;
  });
}

describe("default profile: when places free in a full batch", () => {
  it("the ms per token is the hold over the tokens asked for; an entry goes when its stream ends", async () => {
    const host = await pool();
    const first = send(host, prompt(1, 100));
    expect(decodingRequests(host)).toEqual([{ endpointId: expect.any(Number), routedMs: expect.any(Number), firstMs: 0, tokens: 100 }]);
    host.advance(100);
    firstToken(first.stream);
    expect(decodingRequests(host)[0].firstMs).toBe(decodingRequests(host)[0].routedMs + 100);
    host.advance(600);
    first.stream.end("complete");
    expect(decodingRequests(host)).toEqual([]);
    expect(msPerTokenOf(host, first.endpoint!)).toBeCloseTo(6, 5);
    // Without max_tokens: no entry, and no sample of the ms per token.
    const unnamed = send(host, prompt(2));
    expect(decodingRequests(host)).toEqual([]);
    host.advance(100);
    firstToken(unnamed.stream);
    host.advance(300);
    unnamed.stream.end("complete");
    expect(msPerTokenOf(host, unnamed.endpoint!)).toBe(unnamed.endpoint === first.endpoint ? 6 : 0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it.each([
    // [case, tokens asked by the two requests at each endpoint (prompt i, second of the two), expected wait in ms at A's, B's and C's endpoints]
    ["the first endpoint's end in 10 × 6 = 60 ms, the others' in 600", (i: number) => (i === 1 ? 10 : 100), [60, 600, 600]],
    [
      "the first endpoint's second request ends sooner: the first place frees then",
      (i: number, second: boolean) => (i === 1 && second ? 20 : 100),
      [120, 600, 600],
    ],
    // A request without max_tokens at an endpoint: its ends are not all known there, so the average hold: 1 × 600 / 2.
    [
      "the first endpoint's second request names no max_tokens: the average hold there",
      (i: number, second: boolean) => (i === 1 && second ? undefined : 10),
      [300, 60, 60],
    ],
  ] as const)("every batch full with two requests: the wait for the next place, %s", async (_case, tokens, expected) => {
    const host = await pool();
    const endpoints = warm(host);
    const held = fill(host, endpoints, tokens);
    const next = send(host, prompt(1, 50));
    const waits = waitsMs(host, endpoints, next);
    for (const [i, w] of waits.entries()) expect(w).toBeCloseTo(expected[i], 1);
    for (const s of [...held, next]) s.stream.end("complete");
    expect(decodingRequests(host)).toEqual([]);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a request waiting for a place is not running: its own short answer does not free a place", async () => {
    const host = await pool();
    const endpoints = warm(host);
    // Two running at each endpoint (100 tokens: 600 ms), then a third at the
    // first endpoint asking for 1 token: it waits for a place, so the next
    // request waits for the second place to free there (600 ms), not 6 ms.
    const held = fill(host, endpoints, () => 100);
    host.advance(50);
    const waiting = send(host, prompt(1, 1));
    expect(waiting.endpoint).toBe(endpoints[0].endpoint);
    const next = send(host, prompt(1, 50));
    expect(waitsMs(host, endpoints, next)[0]).toBeCloseTo(550, 1);
    for (const s of [...held, waiting, next]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("more than a batch waiting: the places that free go to the waiting requests in routing order, each then running its own answer", async () => {
    const host = await pool();
    const endpoints = warm(host);
    // Two running at each endpoint (100 tokens: 600 ms), then two at the
    // first endpoint asking for 1 token each (6 ms): they wait for its two
    // places, which free at 550 ms; then theirs free 6 ms later. A request
    // behind them (k = 3 with 2 places) gets the first of those: 556 ms,
    // not the average hold's (3 × 600 / 2 = 900 ms).
    const held = fill(host, endpoints, () => 100);
    host.advance(50);
    const waiting = [send(host, prompt(1, 1)), send(host, prompt(1, 1))];
    for (const w of waiting) expect(w.endpoint).toBe(endpoints[0].endpoint);
    const next = send(host, prompt(1, 50));
    expect(waitsMs(host, endpoints, next)[0]).toBeCloseTo(556, 1);
    for (const s of [...held, ...waiting, next]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
