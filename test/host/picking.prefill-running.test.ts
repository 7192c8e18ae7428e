/**
 * A prefill still running (docs/routing.md "Prefill still running"), default
 * profile through the built filter (emulated Envoy): while a prompt's first
 * prefill runs at one endpoint (its request has not had its first token)
 * and another endpoint is idle, the next request for a prompt that takes at
 * most 1/8 of a server's KV cache starts it on the idle endpoint instead of
 * queueing behind it, unless the endpoint's measured prefill pace says most
 * of it is done. Every endpoint scraped idle, with `num_gpu_blocks` in its
 * page (the cache size the 1/8 is of).
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  firstToken,
  hotBody,
  newPool,
  pendingBlocksOf,
  prefillPaceOf,
  scrapeRound,
  send,
  SHARED_PROMPT,
  stat,
  uniquePrompt,
  type Sent,
  type VllmState,
  blocksOf,
  predictedPrefillScoresOf,
  IDLE_PAGE,
  FULL_OF_TWO,
  waitAheadOf,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

/** 2048 KV blocks of 16 tokens: a horizon of 2048 × 16 × 4 / 64 = 2048 index blocks, so prompts of up to 256 blocks may be started twice. */
const LARGE_CACHE: VllmState = IDLE_PAGE;
/** A quarter of that: up to 64 blocks, less than the shared prompt below. */
const SMALL_CACHE: VllmState = { ...LARGE_CACHE, numGpuBlocks: 512 };
/** Up to 75 blocks: more than the 32 hashed with prefix.maxBlocks 32, less than the whole prompt. */
const CACHE_600: VllmState = { ...LARGE_CACHE, numGpuBlocks: 600 };
/** A server that reports one request running and one waiting: its batch holds one (learned slot capacity 1), so it is full. */
const FULL_BATCH: VllmState = { ...LARGE_CACHE, running: 1, waiting: 1 };
/** The page without `vllm:cache_config_info`: the cache size is unknown. */
const NO_CACHE_SIZE: VllmState = { waiting: 0, running: 0, kv: 0 };

const SHARED_BLOCKS = blocksOf(JSON.stringify({ model: "m", messages: [{ role: "system", content: SHARED_PROMPT }] }));
/** A streamed ~90-block prompt of its own (a prefill that shares nothing), for measuring a pace. */
const coldPrompt = (i: number) => JSON.stringify({ model: "m", messages: [{ role: "system", content: `${uniquePrompt(i)} `.repeat(60) }], stream: true });
/** The same, ~4/3 as long (~120 blocks). */
const longColdPrompt = (i: number) => JSON.stringify({ model: "m", messages: [{ role: "system", content: `${uniquePrompt(i)} `.repeat(80) }], stream: true });
const overrides = (host: ProxyWasmHost) => stat(host, "llm_picker.route.load_overrode_affinity") ?? 0;
const pending = (host: ProxyWasmHost): Record<string, number> => ({
  [A]: pendingBlocksOf(host, A),
  [B]: pendingBlocksOf(host, B),
  [C]: pendingBlocksOf(host, C),
});

async function pool(page: VllmState, prefix: Record<string, unknown> = {}, debugHeaders = false): Promise<ProxyWasmHost> {
  const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 }, prefix, debugHeaders } });
  scrapeRound(host, 50, { [A]: page, [B]: page, [C]: page });
  return host;
}

describe("default profile: a prefill still running", () => {
  it("cold start: while a shared prompt's first prefill runs, its next requests go to idle endpoints; then they follow it", async () => {
    const host = await pool(LARGE_CACHE);
    // Three requests held before their first token: each finds the copies
    // already sent still being prefilled and an idle endpoint, so each goes
    // to a different endpoint with the whole prompt queued there.
    const cold = [0, 1, 2].map((i) => send(host, hotBody(40 + i)));
    expect(new Set(cold.map((s) => s.endpoint)).size).toBe(3);
    for (const [i, s] of cold.entries()) expect(pendingBlocksOf(host, s.endpoint!)).toBe(blocksOf(hotBody(40 + i)));
    expect(overrides(host)).toBe(2);
    // No endpoint idle: the fourth queues behind one of the prefills and
    // queues only its own question there, not the prompt again.
    const before = pending(host);
    const fourth = send(host, hotBody(43));
    const added = pendingBlocksOf(host, fourth.endpoint!) - before[fourth.endpoint!];
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThan(blocksOf(hotBody(43)) - SHARED_BLOCKS + 2);
    // The first prefills finish (first token) and the requests end: every
    // endpoint holds the prompt and is idle; the next requests follow the
    // copies, spreading by occupancy only.
    for (const s of [...cold, fourth]) {
      firstToken(s.stream);
      s.stream.end("complete");
    }
    const warm = [0, 1, 2].map((i) => send(host, hotBody(50 + i)));
    for (const s of warm) expect(pendingBlocksOf(host, s.endpoint!)).toBeLessThan(blocksOf(hotBody(50)) - SHARED_BLOCKS + 2);
    expect(overrides(host)).toBe(2);
    for (const s of warm) s.stream.end("complete");
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it.each([
    // [case, scraped page, prefix settings]
    ["the prompt takes more than 1/8 of the cache (~95 blocks of a 512-block horizon)", SMALL_CACHE, {}],
    ["the prompt, hashed only to prefix.maxBlocks (32 of ~95 blocks), takes more than 1/8 of the cache (a 600-block horizon)", CACHE_600, { maxBlocks: 32 }],
    ["the servers do not report their cache size", NO_CACHE_SIZE, {}],
    ["prefix.spreadFirstPrefills is off", LARGE_CACHE, { spreadFirstPrefills: false }],
  ] as const)("the second request waits for the first prefill when %s", async (_case, page, prefix) => {
    const host = await pool(page, prefix);
    const first = send(host, hotBody(90));
    const second = send(host, hotBody(91));
    expect(second.endpoint).toBe(first.endpoint);
    // It queued only its question behind the first request's whole prompt.
    expect(pendingBlocksOf(host, first.endpoint!)).toBeLessThan(blocksOf(hotBody(90)) + blocksOf(hotBody(91)) - SHARED_BLOCKS + 2);
    expect(overrides(host)).toBe(0);
    for (const s of [first, second]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("prefill pace: measured at the first token; a prefill mostly done by that pace is waited for, not started again", async () => {
    const host = await pool(LARGE_CACHE);
    // Three cold prompts of ~90 blocks held at once (occupancy spreads them
    // over A, B and C), first tokens 100 ms later: each endpoint prefilled
    // its prompt's blocks in 100 ms with nothing queued ahead.
    const warmups = [0, 1, 2].map((i) => send(host, coldPrompt(70 + i)));
    expect(new Set(warmups.map((s) => s.endpoint))).toEqual(new Set([A, B, C]));
    host.advance(100);
    for (const [i, s] of warmups.entries()) {
      firstToken(s.stream);
      expect(prefillPaceOf(host, s.endpoint!).blocksPerMs).toBeCloseTo(blocksOf(coldPrompt(70 + i)) / 100, 5);
      s.stream.end("complete");
    }
    // The shared prompt's first request; the second, at once, finds its
    // prefill just started and goes to an idle endpoint.
    const first = send(host, hotBody(80));
    const second = send(host, hotBody(81));
    expect(second.endpoint).not.toBe(first.endpoint);
    // 90 ms on, at about 0.9 blocks per ms, ~15 of the ~95 blocks queued at
    // each are left, less than 1 / waitRatio (0.8) of the match: the third
    // waits there instead of starting the prompt on the idle endpoint.
    host.advance(90);
    const third = send(host, hotBody(82));
    expect([first.endpoint, second.endpoint]).toContain(third.endpoint);
    expect(overrides(host)).toBe(1);
    for (const s of [first, second, third]) s.stream.end("complete");
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("an endpoint that has not measured a pace yet is taken to prefill at the pool's", async () => {
    const host = await pool(LARGE_CACHE);
    // A and B each hold a cold ~90-block prompt; the shared prompt's first
    // request goes to C, the idle one. 100 ms later A and B's first tokens
    // give them a pace (~0.9 blocks per ms); C has none of its own.
    const warmups = [0, 1].map((i) => send(host, coldPrompt(75 + i)));
    const first = send(host, hotBody(85));
    expect(new Set([...warmups, first].map((s) => s.endpoint)).size).toBe(3);
    host.advance(100);
    for (const s of warmups) {
      firstToken(s.stream);
      s.stream.end("complete");
    }
    expect(prefillPaceOf(host, first.endpoint!).blocksPerMs).toBe(0);
    // At the pool's pace C's prefill, started 100 ms ago, is about done: the
    // next request waits for it there, though A and B are idle.
    const second = send(host, hotBody(86));
    expect(second.endpoint).toBe(first.endpoint);
    expect(overrides(host)).toBe(0);
    for (const s of [first, second]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  // Blocks of the long (L, ~120) and short (S, ~90) prompts below; the
  // fastest pace their queues allow 100 ms in is L / 100 (~1.2 per ms).
  const L = blocksOf(longColdPrompt(100));
  const S = blocksOf(coldPrompt(101));
  it.each([
    // [case, scraped page, ms from routing to first token of an S-block warm-up (the pace measured first; 0: none),
    //  the blocks left of the first, second and third endpoints' queues at the fourth request, where it goes]
    ["no endpoint has a pace: the queues drain at the fastest pace they allow (1.2 blocks per ms)", LARGE_CACHE, 0, [0, S - L / 2, 0.6 * L], "first"],
    ["a slow pace is measured (~0.3 blocks per ms): the queues drain at it", LARGE_CACHE, 300, [L - S / 3, S - S / 6, L - (0.4 * S) / 3], "second"],
    ["a fast pace is measured (~3 blocks per ms): the queues drain at the fastest pace they allow", LARGE_CACHE, 30, [0, S - L / 2, 0.6 * L], "first"],
    ["every batch is full (each server reports one running and one waiting): the queues count whole", FULL_BATCH, 0, [L, S, L], "second"],
  ] as const)("a pool where every endpoint is prefilling a new prompt, %s", async (_case, page, warmupMs, left, expected) => {
    const host = await pool(page, {}, true);
    if (warmupMs > 0) {
      const warmup = send(host, coldPrompt(199));
      host.advance(warmupMs);
      firstToken(warmup.stream);
      warmup.stream.end("complete");
      expect(prefillPaceOf(host, warmup.endpoint!).blocksPerMs).toBeCloseTo(S / warmupMs, 5);
    }
    // ~120 blocks start at 0 ms, ~90 at 50 ms and ~120 at 60 ms, one per endpoint.
    const first = send(host, longColdPrompt(100));
    host.advance(50);
    const second = send(host, coldPrompt(101));
    host.advance(10);
    const third = send(host, longColdPrompt(102));
    expect(new Set([first, second, third].map((s) => s.endpoint)).size).toBe(3);
    expect(pending(host)[first.endpoint!]).toBe(blocksOf(longColdPrompt(100)));
    // 100 ms in, no first token back from these: no endpoint prefills faster
    // than 120 / 100 blocks per ms. At that pace the first is about done and
    // the others have ~30 and ~72 blocks left; at 0.3 blocks per ms ~90,
    // ~75 and ~108 are left, and the second's queue is the shortest, as it
    // is counted whole.
    host.advance(40);
    const fourth = send(host, coldPrompt(103));
    // Its predicted-prefill score at each is S / (S + 2 × S uncached + the queue left).
    const scores = predictedPrefillScoresOf(fourth);
    const queueLeft = [first, second, third].map((s) => S / scores[s.endpoint!] - 3 * S);
    for (const [i, blocks] of left.entries()) expect(queueLeft[i]).toBeCloseTo(blocks, 1);
    expect(fourth.endpoint).toBe(expected === "first" ? first.endpoint : second.endpoint);
    for (const s of [first, second, third, fourth]) s.stream.end("complete");
    expect(pending(host)).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a queue drained in one decision counts whole in the next once its batch is full, with no scrape between", async () => {
    // Capacity 2 learned (two running while one waited), then every server
    // scraped idle: the endpoint states decoded from that scrape serve every
    // decision below.
    const host = await pool(FULL_OF_TWO, {}, true);
    scrapeRound(host, 50, { [A]: LARGE_CACHE, [B]: LARGE_CACHE, [C]: LARGE_CACHE });
    const first = send(host, longColdPrompt(110));
    host.advance(50);
    const second = send(host, coldPrompt(111));
    host.advance(10);
    const third = send(host, longColdPrompt(112));
    expect(new Set([first, second, third].map((s) => s.endpoint)).size).toBe(3);
    // 100 ms in, as in the table's first row: the first queue is taken as
    // drained and the fourth request joins it, filling that batch.
    host.advance(40);
    const fourth = send(host, coldPrompt(113));
    const queueLeft = (s: Sent, at: string) => S / predictedPrefillScoresOf(s)[at] - 3 * S;
    expect(queueLeft(fourth, first.endpoint!)).toBeCloseTo(0, 1);
    expect(fourth.endpoint).toBe(first.endpoint);
    // Its batch is full now (two in flight, capacity 2): its queue, the
    // first prompt and the fourth's, counts whole, not as drained before.
    host.advance(10);
    const fifth = send(host, coldPrompt(114));
    expect(pending(host)[first.endpoint!]).toBe(L + S);
    expect(queueLeft(fifth, first.endpoint!)).toBeCloseTo(L + S, 1);
    for (const s of [first, second, third, fourth, fifth]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a request joining a queue taken as drained (its first byte not back yet) keeps its own blocks queued, and its pace is measured over them alone", async () => {
    const host = await pool(LARGE_CACHE, {}, true);
    // A pace of about one block per ms measured first (the pool's from then on).
    const warmup = send(host, coldPrompt(130));
    host.advance(S);
    firstToken(warmup.stream);
    warmup.stream.end("complete");
    const pace = prefillPaceOf(host, warmup.endpoint!).blocksPerMs;
    expect(pace).toBeCloseTo(1, 1);
    // The shared prompt, then 120 ms with no first byte back from it: at
    // that pace its prefill ended after ~90 ms, so its queue is taken as drained.
    const first = send(host, hotBody(150));
    const x = first.endpoint!;
    host.advance(120);
    // Another question on the shared prompt follows it there, queueing only its question (k blocks).
    const before = pendingBlocksOf(host, x);
    const second = send(host, hotBody(151));
    expect(second.endpoint).toBe(x);
    expect(waitAheadOf(second)[x]).toBeCloseTo(0, 5);
    const k = pendingBlocksOf(host, x) - before;
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThan(10);
    // The queue's start moved up to the drained queue's length at that pace
    // before now: the ~30 idle ms are not taken as prefill of the question.
    expect(prefillPaceOf(host, x).sinceMs).toBe((host.nowMs() - Math.floor(before / pace)) >>> 0);
    host.advance(1);
    const third = send(host, coldPrompt(132));
    expect(waitAheadOf(third)[x]).toBeCloseTo(before + k - pace * (Math.floor(before / pace) + 1), 4);
    // The second's first token 20 ms after it was routed: a pace over its own
    // k blocks (nothing was queued ahead of it as its decision saw it), not
    // over the first prompt's too.
    host.advance(19);
    firstToken(second.stream);
    const sample = k / 20;
    const own = x === warmup.endpoint ? pace + 0.25 * (sample - pace) : sample;
    expect(prefillPaceOf(host, x).blocksPerMs).toBeCloseTo(own, 4);
    for (const s of [first, second, third]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a prompt an endpoint holds is followed while idle endpoints wait: its queued suffixes are not a prefill of the prompt", async () => {
    const host = await pool(LARGE_CACHE);
    const first = send(host, hotBody(60));
    firstToken(first.stream);
    first.stream.end("complete");
    // Two requests held at the holder: each queues its question only, so the
    // prompt there is not being prefilled and B and C, idle, do not take them.
    const held = [send(host, hotBody(61)), send(host, hotBody(62))];
    expect(held.map((s) => s.endpoint)).toEqual([first.endpoint, first.endpoint]);
    expect(overrides(host)).toBe(0);
    for (const s of held) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
