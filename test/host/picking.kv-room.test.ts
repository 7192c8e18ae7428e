/**
 * Room in the KV cache (docs/routing.md "Room in the KV cache"), default
 * profile through the built filter (emulated Envoy): a server admits a
 * request only when its KV cache has room for the blocks it does not hold
 * already, so where the last scrape shows too little room the wait for
 * running requests to end and free their blocks counts in the cost, like
 * the wait for a place in a full batch.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  blocksOf,
  firstToken,
  newPool,
  prefillPaceOf,
  poolPaceOf,
  scrapeRound,
  send,
  slotHoldOf,
  uniquePrompt,
  waitAheadOf,
  type VllmState,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

/** A 256-block cache of 16-token blocks: 4,096 tokens. */
const CACHE: VllmState = { waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 256 };

/** A streamed chat request of exactly `blocks` 64-byte blocks, its text unique. */
function bodyOf(blocks: number, i: number): string {
  const open = JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: uniquePrompt(i) }] });
  const body = open.replace('"}]}', `${" ".repeat(blocks * 64 - open.length)}"}]}`);
  expect(blocksOf(body)).toBe(blocks);
  expect(Buffer.byteLength(body)).toBe(blocks * 64);
  return body;
}

/**
 * A pool whose servers have each shown 32 running beside a queue (so a
 * batch of 4 never waits for a slot), and whose every endpoint has run one
 * streamed request: first token 100 ms after routing (its pace), end 600
 * ms later (a slot hold of 600). `warmed`: the prompt each endpoint holds.
 */
async function warmPool(): Promise<{ host: ProxyWasmHost; warmed: Record<string, string> }> {
  const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 }, debugHeaders: true } });
  const seen: VllmState = { ...CACHE, running: 32, waiting: 1, kv: 0.5 };
  scrapeRound(host, 50, { [A]: seen, [B]: seen, [C]: seen });
  scrapeRound(host, 50, { [A]: CACHE, [B]: CACHE, [C]: CACHE });
  const bodies = [1, 2, 3].map((i) => bodyOf(20, i));
  const warm = bodies.map((b) => send(host, b));
  expect(new Set(warm.map((s) => s.endpoint))).toEqual(new Set([A, B, C]));
  host.advance(100);
  for (const s of warm) firstToken(s.stream);
  host.advance(600);
  for (const s of warm) s.stream.end("complete");
  for (const e of [A, B, C]) expect(slotHoldOf(host, e)).toBeCloseTo(600, 3);
  return { host, warmed: Object.fromEntries(warm.map((s, i) => [s.endpoint!, bodies[i]])) };
}

describe("default profile: room in the KV cache", () => {
  it.each([
    // [case, A's KV cache use, requests A reports waiting, the wait for room at A in ms]
    // A 40-block prompt is 640 tokens (4 bytes a token until the ratio is learned). A runs 4,
    // each holding use × 4,096 / 4 tokens; those waiting take as much each before it; the
    // tokens missing are freed at that much per request ending, 4 ending per 600 ms.
    ["half full: room for it", 0.5, 0, 0],
    ["half full, two waiting: 1,024 tokens left, room still", 0.5, 2, 0],
    ["three quarters full, one waiting: 256 tokens left, half a request to end", 0.75, 1, 75],
    ["95% full: 204.8 tokens left, 435.2 missing of 972.8 a request", 0.95, 0, 67.1],
    ["full: 640 missing of 1,024 a request", 1, 0, 93.75],
  ] as const)("A runs 4: %s", async (_case, kv, waiting, waitMs) => {
    const { host } = await warmPool();
    const roomy: VllmState = { ...CACHE, running: 4, kv: 0.1 };
    scrapeRound(host, 50, { [A]: { ...CACHE, running: 4, waiting, kv }, [B]: roomy, [C]: roomy });
    const next = send(host, bodyOf(40, 10));
    const ahead = waitAheadOf(next);
    expect(ahead[A]).toBeCloseTo(waitMs * prefillPaceOf(host, A).blocksPerMs, 1);
    expect(prefillPaceOf(host, A).blocksPerMs).toBeCloseTo(20 / 100, 5);
    expect(ahead[B]).toBe(0);
    expect(ahead[C]).toBe(0);
    next.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a server without room: a prompt it holds needs none and stays; a new one goes where there is room", async () => {
    const { host } = await warmPool();
    const history = bodyOf(40, 20);
    const home = send(host, history);
    host.advance(100);
    firstToken(home.stream);
    home.stream.end("complete");
    // Its server full, one waiting there, fewer requests on it than on the others.
    const full: VllmState = { ...CACHE, running: 4, waiting: 1, kv: 1 };
    const roomy: VllmState = { ...CACHE, running: 6, kv: 0.2 };
    scrapeRound(host, 50, Object.fromEntries([A, B, C].map((e) => [e, e === home.endpoint ? full : roomy])));
    // The conversation's 40 blocks are all held there: nothing to make room for.
    const again = send(host, history);
    expect(waitAheadOf(again)[home.endpoint!]).toBe(0);
    expect(again.endpoint).toBe(home.endpoint);
    again.stream.end("complete");
    // A new 40-block prompt: 640 + 1,024 tokens missing there, 1.625 requests to end,
    // 243.75 ms, in blocks at the pool's pace (its own is 0.25 a ms, after the 0.4 of the
    // request above; the others' 0.2: a mean of 0.2167, 52.8 blocks).
    // Everywhere else it has room; without the wait, the least occupied server would take it.
    expect(prefillPaceOf(host, home.endpoint!).blocksPerMs).toBeCloseTo(0.25, 5);
    expect(poolPaceOf(host)).toBeCloseTo(0.65 / 3, 5);
    const fresh = send(host, bodyOf(40, 21));
    expect(waitAheadOf(fresh)[home.endpoint!]).toBeCloseTo(243.75 * (0.65 / 3), 3);
    expect(fresh.endpoint).not.toBe(home.endpoint);
    fresh.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("requests routed there since the scrape take room before it, as those the server reported waiting", async () => {
    const { host, warmed } = await warmPool();
    // A reports one running on half its cache: 2,048 tokens a request, 2,048 free.
    const roomy: VllmState = { ...CACHE, running: 1, kv: 0.5 };
    scrapeRound(host, 50, { [A]: roomy, [B]: { ...roomy, kv: 0.1 }, [C]: { ...roomy, kv: 0.1 } });
    const first = send(host, bodyOf(40, 30));
    expect(waitAheadOf(first)[A]).toBe(0);
    first.stream.end("complete");
    // Two of A's own prompt routed there since: one more than it reported, taking 2,048 tokens
    // ahead; the 640 of a new prompt are missing, a third of a request: 600 / 1 × 0.3125 ms.
    const open = [send(host, warmed[A]), send(host, warmed[A])];
    for (const s of open) expect(s.endpoint).toBe(A);
    const next = send(host, bodyOf(40, 31));
    expect(waitAheadOf(next)[A]).toBeCloseTo(187.5 * poolPaceOf(host), 1);
    expect(poolPaceOf(host)).toBeCloseTo(0.2, 5);
    for (const s of [...open, next]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
