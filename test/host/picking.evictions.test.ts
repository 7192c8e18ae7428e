/**
 * Evictions (docs/hashing.md "Evictions"): the index stamps what it records
 * with the endpoint's written-blocks clock (the uncached prompt blocks this
 * Envoy routed there), and stops counting an entry once the server has had
 * more written since than its KV cache holds, in the index's blocks:
 * `num_gpu_blocks` × `block_size` tokens × 4 bytes / 64 until the blocks per
 * token are learned from the tokens the server reports writing into its
 * cache, then × the learned rate. Through the built filter (emulated Envoy), default profile,
 * every endpoint idle in its scrapes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  newPool,
  route,
  scrapeRound,
  send,
  stat,
  statAfterTick,
  uniquePrompt,
  writtenBlocksOf,
  lifeWrittenOf,
  type VllmState,
  blocksOf,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";
import { REPLICAS, replica, replicasAre, TICK } from "./fixtures/fleet.js";

beforeAll(() => ensureBuilt("debug"));

/** 40 KV blocks of 16 tokens: a horizon of 40 × 16 × 4 / 64 = 40 index blocks. */
const SMALL_CACHE: VllmState = { waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 40 };
const chat = (content: string) => JSON.stringify({ model: "m", messages: [{ role: "user", content }], max_tokens: 8, stream: true });

/** A 10-block conversation start that every step below sends again. */
const PROMPT = chat("Explain how a bicycle gearbox is serviced, in order. ".repeat(11));
/** A small unrelated prompt (3 blocks), to write over the servers' caches a few blocks at a time. */
const filler = (i: number) => chat(uniquePrompt(i));

async function pool(followEvictions: boolean, page: VllmState = SMALL_CACHE): Promise<ProxyWasmHost> {
  const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 }, prefix: { followEvictions } } });
  scrapeRound(host, 50, { [A]: page, [B]: page, [C]: page });
  return host;
}

/** Blocks of PROMPT matched by the request that sends it now. */
function matchedBySending(host: ProxyWasmHost): { endpoint: string | undefined; matched: number } {
  return sendAgain(host, PROMPT);
}

/** A prompt of 10 blocks whose session this fleet replica owns (the others it forwards, not routes), and where it went. */
function ownedPrompt(host: ProxyWasmHost): { prompt: string; home: string } {
  for (let i = 0; i < 50; i++) {
    const prompt = chat(`Session ${i}. ${"Explain how a bicycle gearbox is serviced, in order. ".repeat(11)}`);
    const home = route(host, prompt);
    if (home !== undefined) return { prompt, home };
  }
  throw new Error("no session of 50 is owned by this replica");
}

/** Sends `prompt` again: where it went and the blocks of it matched. */
function sendAgain(host: ProxyWasmHost, prompt: string): { endpoint: string | undefined; matched: number } {
  const before = statAfterTick(host, "llm_picker.prefix.matched_blocks") ?? 0;
  const endpoint = route(host, prompt);
  return { endpoint, matched: (statAfterTick(host, "llm_picker.prefix.matched_blocks") ?? 0) - before };
}

const horizonStat = (e: string) => `llm_picker.endpoint.eviction_horizon_blocks.${e.replace(/[.:]/g, "_")}`;

/**
 * A server's token counters for `writes` tokens written into its KV cache
 * since a start of 1,000,000 queried prompt tokens, half of them found
 * cached: each written token is half an uncached prompt token (a quarter
 * more queried, a quarter found) and half a generated one.
 */
function cacheWrites(writes: number): VllmState {
  return { prefixQueries: 1_000_000 + writes, prefixHits: 500_000 + writes / 2, generationTokens: 10_000 + writes / 2 };
}

/**
 * Routes long prompts until the clock of every endpoint in `endpoints` has
 * moved far enough for a learning window (16,384 tokens at `tokensPerBlock`),
 * then answers one scrape round with counters that moved `tokensPerBlock`
 * tokens per block of each endpoint's clock.
 */
function learn(host: ProxyWasmHost, endpoints: string[], tokensPerBlock: number, intervalMs: number): void {
  const big = (i: number) => chat(uniquePrompt(i).repeat(70));
  for (let i = 0; i < 400 && endpoints.some((e) => writtenBlocksOf(host, e) * tokensPerBlock < 16_384); i++) route(host, big(10_000 + i));
  const pages: Record<string, VllmState> = {};
  for (const e of endpoints) {
    expect(writtenBlocksOf(host, e) * tokensPerBlock).toBeGreaterThanOrEqual(16_384);
    pages[e] = { ...SMALL_CACHE, ...cacheWrites(writtenBlocksOf(host, e) * tokensPerBlock) };
  }
  scrapeRound(host, intervalMs, pages);
}

/**
 * PROMPT, last sent to `home`, matches there in full while up to `horizon`
 * blocks were written after it (three-block fillers stop within 3 of the
 * aim), and not at all once more were.
 */
function expectHeldUntil(host: ProxyWasmHost, home: string, horizon: number): void {
  const age = writeOver(host, home, writtenBlocksOf(host, home), horizon - 3, 0);
  expect(age).toBeLessThanOrEqual(horizon);
  expect(matchedBySending(host)).toEqual({ endpoint: home, matched: 10 });
  expect(writeOver(host, home, writtenBlocksOf(host, home), horizon, 1_000)).toBeGreaterThan(horizon);
  expect(matchedBySending(host).matched).toBe(0);
}

/** Routes fillers until `home`'s clock is more than `age` blocks past `stamp`; returns the clock's age then. */
function writeOver(host: ProxyWasmHost, home: string, stamp: number, age: number, from: number): number {
  for (let i = from; i < from + 400 && writtenBlocksOf(host, home) - stamp <= age; i++) route(host, filler(i));
  return writtenBlocksOf(host, home) - stamp;
}

describe('evictions: what a server has had written over since no longer counts (docs/hashing.md "Evictions")', () => {
  it("each routed request advances its endpoint's clock by the blocks it did not hold there", async () => {
    const host = await pool(true);
    const home = route(host, PROMPT)!;
    expect(writtenBlocksOf(host, home)).toBe(blocksOf(PROMPT));
    for (const other of [A, B, C].filter((e) => e !== home)) expect(writtenBlocksOf(host, other)).toBe(0);
    // Sent again: held there in full, so nothing new is written.
    expect(route(host, PROMPT)).toBe(home);
    expect(writtenBlocksOf(host, home)).toBe(blocksOf(PROMPT));
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a prompt matches its server until 40 blocks were written there after it, and not after", async () => {
    const host = await pool(true);
    expect(stat(host, horizonStat(A))).toBe(40);
    const home = route(host, PROMPT)!;
    const stamp = writtenBlocksOf(host, home);
    // Within the horizon (age ≤ 40): still held. Three-block fillers stop at an age of 30–40.
    const age = writeOver(host, home, stamp, 29, 0);
    expect(age).toBeGreaterThan(29);
    expect(age).toBeLessThanOrEqual(40);
    const hit = matchedBySending(host);
    expect(hit).toEqual({ endpoint: home, matched: 10 });
    // That send rewrote the prompt (its stamp was over a quarter of the horizon old): the clock restarts from now.
    expect(statAfterTick(host, "llm_picker.prefix.evicted_lookups")).toBe(0);
    const restamped = writtenBlocksOf(host, home);
    expect(writeOver(host, home, restamped, 40, 1_000)).toBeGreaterThan(40);
    expect(matchedBySending(host).matched).toBe(0);
    // That lookup left the prompt's entries at its server out: counted once.
    expect(statAfterTick(host, "llm_picker.prefix.evicted_lookups")).toBe(1);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it.each([
    ["prefix.followEvictions off", false, SMALL_CACHE],
    ["a server that does not report its cache size", true, { waiting: 0, running: 0, kv: 0 } as VllmState],
  ])("with %s the prompt keeps matching however much is written", async (_name, follow, page) => {
    const host = await pool(follow, page);
    expect(stat(host, horizonStat(A))).toBe(0);
    const home = route(host, PROMPT)!;
    expect(writeOver(host, home, writtenBlocksOf(host, home), 200, 0)).toBeGreaterThan(200);
    expect(matchedBySending(host)).toEqual({ endpoint: home, matched: 10 });
    expect(statAfterTick(host, "llm_picker.prefix.evicted_lookups")).toBe(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  // Each server reports writing `tokensPerBlock` tokens into its KV cache
  // (prompt tokens it did not find cached, and generated ones) for every
  // block this Envoy's written-blocks clock advanced there: the filter
  // learns 1/tokensPerBlock blocks per token, and the horizon becomes
  // 640 tokens × that.
  it.each([
    ["128 tokens a block (other clients' traffic, long replies)", 128, 5],
    ["32 tokens a block (a tokenizer of 2 bytes a token)", 32, 20],
    ["8 tokens a block (a tokenizer of 8 bytes a token)", 8, 80],
  ])("the horizon follows the learned blocks per token: %s", async (_name, tokensPerBlock, horizon) => {
    const host = await pool(true, { ...SMALL_CACHE, ...cacheWrites(0) });
    learn(host, [A, B, C], tokensPerBlock, 50);
    // The horizon as the stats show it, for every endpoint.
    for (const e of [A, B, C]) expect(stat(host, horizonStat(e))).toBe(horizon);
    expectHeldUntil(host, route(host, PROMPT)!, horizon);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("in a fleet, a replica learns the rate of its own clock: the other replicas' writes count as the server's", async () => {
    const host = await replica(REPLICAS[0], [A, B], true, 3, { profile: "default", prefix: { followEvictions: true } });
    replicasAre(host, REPLICAS, { [A]: { ...SMALL_CACHE, ...cacheWrites(0) }, [B]: { ...SMALL_CACHE, ...cacheWrites(0) } });
    // The server writes 128 tokens per block of this replica's clock (most of them for the other replicas): a horizon of 5.
    learn(host, [A, B], 128, TICK);
    for (const e of [A, B]) expect(stat(host, horizonStat(e))).toBe(5);
    const { prompt, home } = ownedPrompt(host);
    expect(writeOver(host, home, writtenBlocksOf(host, home), 2, 0)).toBeLessThanOrEqual(5);
    expect(sendAgain(host, prompt)).toEqual({ endpoint: home, matched: 10 });
    expect(writeOver(host, home, writtenBlocksOf(host, home), 5, 1_000)).toBeGreaterThan(5);
    expect(sendAgain(host, prompt).matched).toBe(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("in a fleet, a session's placement is not credited where the index found the prompt written over", async () => {
    const host = await replica(REPLICAS[0], [A, B], true, 3, { profile: "default", prefix: { followEvictions: true } });
    replicasAre(host, REPLICAS, { [A]: SMALL_CACHE, [B]: SMALL_CACHE });
    const { prompt, home } = ownedPrompt(host);
    // Fillers of other sessions: the ones this replica owns are written to A or B.
    const age = writeOver(host, home, writtenBlocksOf(host, home), 29, 0);
    expect(age).toBeGreaterThan(29);
    expect(age).toBeLessThanOrEqual(40);
    expect(sendAgain(host, prompt)).toEqual({ endpoint: home, matched: 10 });
    // Past the horizon: the index leaves the prompt out there, and so does the session's
    // placement (all its blocks but the last, recorded at each turn), which alone would give 9.
    expect(writeOver(host, home, writtenBlocksOf(host, home), 40, 1_000)).toBeGreaterThan(40);
    expect(sendAgain(host, prompt).matched).toBe(0);
    expect(statAfterTick(host, "llm_picker.prefix.evicted_lookups")).toBe(1);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  // Under KV pressure the cache keeps less: what no running request holds
  // is evicted least recently used first, and a request's blocks join that
  // order only when it ends. So an entry lasts the cache's free part
  // (1 - KV use) plus what the server writes while its request runs
  // (measured per endpoint), at most the whole cache (40 here).
  it.each([
    ["KV use 0: the whole cache", 0, 40],
    ["KV use 0.5: half of it", 0.5, 20],
    ["KV use 0.75: a quarter", 0.75, 10],
    ["KV use 1: nothing free", 1, 1],
  ])("requests that end with nothing written while they ran: %s", async (_name, kv, horizon) => {
    const host = await pool(true, { ...SMALL_CACHE, kv });
    // Nothing measured yet: the whole cache.
    for (const e of [A, B, C]) expect(stat(host, horizonStat(e))).toBe(40);
    const home = route(host, PROMPT)!;
    expect(lifeWrittenOf(host, home)).toBe(0);
    scrapeRound(host, 50, { [A]: { ...SMALL_CACHE, kv }, [B]: { ...SMALL_CACHE, kv }, [C]: { ...SMALL_CACHE, kv } });
    expect(stat(host, horizonStat(home))).toBe(horizon);
    // Below 10 every filler would push the prompt out at once.
    if (horizon >= 10) expectHeldUntil(host, home, horizon);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("what a server writes while a request runs there lengthens its horizon under KV pressure", async () => {
    const page = { ...SMALL_CACHE, kv: 0.75 };
    const host = await pool(true, page);
    const held = send(host, PROMPT);
    const home = held.endpoint!;
    const routedClock = writtenBlocksOf(host, home);
    // Other requests, left open, write to the same server while it runs.
    const open = [];
    for (let i = 0; i < 400 && writtenBlocksOf(host, home) - routedClock < 12; i++) open.push(send(host, filler(i)));
    const written = writtenBlocksOf(host, home) - routedClock;
    expect(written).toBeGreaterThanOrEqual(12);
    expect(written).toBeLessThanOrEqual(14);
    held.stream.sendResponseHeaders([[":status", "200"]], true);
    held.stream.end("complete");
    expect(lifeWrittenOf(host, home)).toBe(written);
    scrapeRound(host, 50, { [A]: page, [B]: page, [C]: page });
    expect(stat(host, horizonStat(home))).toBe(10 + written);
    // The others have not had a request end: the whole cache.
    for (const e of [A, B, C].filter((e) => e !== home)) expect(stat(host, horizonStat(e))).toBe(40);
    for (const s of open) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
