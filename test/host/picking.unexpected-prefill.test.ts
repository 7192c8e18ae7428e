/**
 * Prefill the server did not expect (docs/routing.md "Prefill the server
 * did not expect"): a server's prefix-cache counters show it prefilled more
 * prompt tokens than this Envoy's routing expected (a prefix the index took
 * as cached there had been evicted), and the next decisions count what is
 * left of that prefill, at the server's pace, as queued ahead there.
 * Through the built filter (emulated Envoy), default profile.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  blocksOf,
  firstToken,
  IDLE_PAGE,
  newPool,
  pendingBlocksOf,
  prefillPaceOf,
  promptBlocksOf,
  route,
  scrapeRound,
  send,
  stat,
  uniquePrompt,
  waitAheadOf,
  writtenBlocksOf,
  uncachedOf,
  type VllmState,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const ENDPOINTS = [A, B, C];
/** Tokens per index block in these servers' counters. */
const TOKENS_PER_BLOCK = 16;
const chat = (content: string, stream = false) => JSON.stringify({ model: "m", messages: [{ role: "user", content }], max_tokens: 8, stream });
/** A 10-block conversation start sent again below. */
const PROMPT = chat("Explain how a bicycle gearbox is serviced, in order. ".repeat(11));
/** The counter of unexpected prefill blocks the scrapes of `e` found. */
const unexpectedStat = (host: ProxyWasmHost, e: string) => stat(host, `llm_picker.endpoint.unexpected_prefill_blocks.${e.replace(/[.:]/g, "_")}`) ?? 0;
/** A streamed ~90-block prompt of its own, for measuring a pace. */
const coldPrompt = (i: number) => chat(`${uniquePrompt(i)} `.repeat(60), true);

/**
 * Each server's page: idle, with prefix-cache counters that looked up
 * TOKENS_PER_BLOCK tokens for every prompt block this Envoy routed there
 * and missed as many for every block it expected uncached (its written
 * clock), plus `unexpected[address]` tokens missed beyond that.
 */
function pages(host: ProxyWasmHost, unexpected: Record<string, number> = {}, page: VllmState = IDLE_PAGE): Record<string, VllmState> {
  const out: Record<string, VllmState> = {};
  for (const e of ENDPOINTS) {
    const queried = TOKENS_PER_BLOCK * promptBlocksOf(host, e);
    const missed = TOKENS_PER_BLOCK * writtenBlocksOf(host, e) + (unexpected[e] ?? 0);
    out[e] = {
      ...page,
      prefixQueries: 1_000_000 + queried + (unexpected[e] ?? 0),
      prefixHits: 500_000 + queried - TOKENS_PER_BLOCK * writtenBlocksOf(host, e),
    };
    expect(out[e].prefixQueries! - out[e].prefixHits!).toBe(500_000 + missed);
  }
  return out;
}

/**
 * A pool whose servers' pace is measured (a ~90-block prompt each,
 * first token 100 ms later) and whose prompt blocks per token are learned
 * (each has looked up 16,384 tokens since the first scrape). Each server
 * reports `page`'s cache.
 */
async function learnedPool(page: VllmState = IDLE_PAGE): Promise<ProxyWasmHost> {
  const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 }, debugHeaders: true } });
  scrapeRound(host, 50, pages(host, {}, page));
  const warmups = [0, 1, 2].map((i) => send(host, coldPrompt(i)));
  expect(new Set(warmups.map((s) => s.endpoint))).toEqual(new Set(ENDPOINTS));
  host.advance(100);
  for (const s of warmups) {
    firstToken(s.stream);
    s.stream.end("complete");
  }
  for (let i = 0; i < 400 && ENDPOINTS.some((e) => promptBlocksOf(host, e) * TOKENS_PER_BLOCK < 16_384); i++)
    route(host, chat(uniquePrompt(1000 + i).repeat(70)));
  scrapeRound(host, 50, pages(host, {}, page));
  return host;
}

describe("unexpected prefill: what a server's counters show it prefilled beyond what was routed", () => {
  it("every prompt block routed advances the endpoint's prompt clock, cached there or not", async () => {
    const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 } } });
    scrapeRound(host, 50, pages(host));
    const home = route(host, PROMPT)!;
    expect([promptBlocksOf(host, home), writtenBlocksOf(host, home)]).toEqual([blocksOf(PROMPT), blocksOf(PROMPT)]);
    expect(route(host, PROMPT)).toBe(home);
    // Held in full: nothing more written, but the prompt was routed again.
    expect([promptBlocksOf(host, home), writtenBlocksOf(host, home)]).toEqual([2 * blocksOf(PROMPT), blocksOf(PROMPT)]);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("counters that match what was routed leave nothing queued", async () => {
    const host = await learnedPool();
    const s = send(host, PROMPT);
    expect(waitAheadOf(s)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    for (const e of ENDPOINTS) expect(unexpectedStat(host, e)).toBe(0);
    s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a false hit: the prompt's home prefilled 100 blocks it was not sent; the prompt goes elsewhere until that prefill is done at its pace", async () => {
    const host = await learnedPool();
    const home = route(host, PROMPT)!;
    const writtenBefore = writtenBlocksOf(host, home);
    // The next scrape: home missed 1,600 tokens (100 blocks at 16 tokens a block) that nobody routed there.
    scrapeRound(host, 50, pages(host, { [home]: 1600 }));
    const during = send(host, PROMPT);
    expect(waitAheadOf(during)).toEqual({ ...{ [A]: 0, [B]: 0, [C]: 0 }, [home]: 100 });
    expect(ENDPOINTS.map((e) => unexpectedStat(host, e))).toEqual(ENDPOINTS.map((e) => (e === home ? 100 : 0)));
    // 100 blocks ahead at home cost more than prefilling the 10-block prompt again elsewhere.
    expect(during.endpoint).not.toBe(home);
    during.stream.end("complete");
    // What it prefilled wrote into home's cache: its written-blocks clock carries it.
    expect(writtenBlocksOf(host, home)).toBe(writtenBefore + 100);
    // Drained at home's measured pace (~0.9 blocks per ms): 20 ms later, 20 × pace less.
    const pace = prefillPaceOf(host, home).blocksPerMs;
    host.advance(20);
    const later = send(host, chat(uniquePrompt(5000)));
    expect(waitAheadOf(later)[home]).toBeCloseTo(100 - 20 * pace, 6);
    later.stream.end("complete");
    // Once the pace has prefilled it all, the prompt goes home again.
    host.advance(Math.ceil(100 / pace));
    const after = send(host, PROMPT);
    expect(waitAheadOf(after)[home]).toBe(0);
    expect(after.endpoint).toBe(home);
    after.stream.end("complete");
    // The next scrape, whose counters match that clock, finds nothing more;
    // nor does a failed one count again what an earlier one found.
    scrapeRound(host, 50, pages(host));
    expect(unexpectedStat(host, home)).toBe(100);
    scrapeRound(host, 50, { ...pages(host), [home]: { status: 503 } });
    expect(unexpectedStat(host, home)).toBe(100);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("what a false hit prefilled pushes older prefixes out of that server's cache: with a 64-block cache, the prompt is no longer held there", async () => {
    // 64 KV blocks of 16 tokens at the learned 1/16 index blocks per token: an eviction horizon of 64 index blocks.
    const small: VllmState = { ...IDLE_PAGE, numGpuBlocks: 64 };
    const host = await learnedPool(small);
    const home = route(host, PROMPT)!;
    const held = send(host, PROMPT);
    expect(held.endpoint).toBe(home);
    expect(uncachedOf(held)[home]).toBeLessThan(blocksOf(PROMPT) / 2);
    held.stream.end("complete");
    // 100 blocks nobody routed there, more than the whole cache.
    scrapeRound(host, 50, pages(host, { [home]: 1600 }, small));
    host.advance(Math.ceil(100 / prefillPaceOf(host, home).blocksPerMs) + 1);
    const after = send(host, PROMPT);
    expect(waitAheadOf(after)[home]).toBe(0);
    // Uncached at home as everywhere else.
    expect(new Set(Object.values(uncachedOf(after)))).toEqual(new Set([uncachedOf(after)[home]]));
    expect(uncachedOf(after)[home]).toBeGreaterThanOrEqual(blocksOf(PROMPT) - 1);
    after.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("prefill of requests routed before the scrape that the server admits after it is not unexpected", async () => {
    const host = await learnedPool();
    const held = send(host, chat(uniquePrompt(6000).repeat(5)));
    const e = held.endpoint!;
    const blocks = pendingBlocksOf(host, e);
    expect(blocks).toBe(blocksOf(held.body));
    // Not admitted yet: the page shows none of its tokens (its written blocks take 16 tokens each off the misses).
    const lagging = pages(host);
    lagging[e] = { ...lagging[e], prefixQueries: lagging[e].prefixQueries! - TOKENS_PER_BLOCK * blocks };
    scrapeRound(host, 50, lagging);
    // Admitted: the next page shows them all.
    scrapeRound(host, 50, pages(host));
    const s = send(host, chat(uniquePrompt(6001)));
    // Only its own blocks are queued there, drained at the pace for the 100 ms since; none counted twice.
    expect(waitAheadOf(s)[e]).toBeCloseTo(Math.max(0, blocks - 100 * prefillPaceOf(host, e).blocksPerMs), 6);
    for (const x of [held, s]) x.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
