/**
 * A conversation's last turn (docs/hashing.md "A conversation's last
 * turn"): when a chat request ends, the filter records where and at what
 * written-blocks clock, keyed by its rendering's last whole block; the
 * next turn reads it back at its reply's start and judges its history at
 * that server by what was written there since that end against the part
 * of the cache free then, whatever the index's stamps (taken when each
 * request was routed) say: held while at most 0.6 of it was written, pushed
 * out from 1.1 of it, and in between held in part, by the chance that it is
 * (heldMatch). Through the built filter (emulated Envoy), default profile,
 * one server with a 40-block cache in the index's blocks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  blocksOf,
  newPool,
  predictedPrefillScoresOf,
  route,
  scrapeRound,
  send,
  type Sent,
  stat,
  statAfterTick,
  uniquePrompt,
  waitAheadOf,
  writtenBlocksOf,
  type VllmState,
} from "./fixtures/vllm.js";

const horizonStat = (e: string) => `llm_picker.endpoint.eviction_horizon_blocks.${e.replace(/[.:]/g, "_")}`;
import { ensureBuilt } from "../support";
import { REPLICAS, replica, replicasAre } from "./fixtures/fleet.js";

beforeAll(() => ensureBuilt("debug"));

/** 40 KV blocks of 16 tokens: 40 × 16 × 4 / 64 = 40 index blocks. */
const CACHE: VllmState = { waiting: 0, running: 0, kv: 0, blockSize: 16, numGpuBlocks: 40 };
const QUESTION = "Explain how a bicycle gearbox is serviced, in order. ".repeat(11);
const REPLY = "First the chain is taken off and cleaned, then the hub is opened. ".repeat(4);
type Message = { role: string; content: string };
const chatOf = (messages: Message[]) => JSON.stringify({ model: "m", messages, max_tokens: 8, stream: true });
/** A conversation's first turn (one question, 10 blocks) and its next (the first, the reply to it and a new question). */
function conversation(opening = ""): { first: string; next: string } {
  const question = opening + QUESTION;
  return {
    first: chatOf([{ role: "user", content: question }]),
    next: chatOf([
      { role: "user", content: question },
      { role: "assistant", content: REPLY },
      { role: "user", content: "And the brakes?" },
    ]),
  };
}
const { first: FIRST, next: NEXT } = conversation();
/**
 * The blocks of NEXT matched at its previous turn's server when `written`
 * blocks were written there after that turn ended with `free` blocks of the
 * cache free: the 13 it holds (the first turn's 9 whole blocks and the
 * reply's 4) weighed by the chance that the history is still held, 1 up to
 * 0.6 × free, 0 from 1.1 × free, linear in between (one server: pushed out,
 * it holds none of them).
 */
function heldMatch(written: number, free: number): number {
  const share = written / free;
  const chance = share <= 0.6 ? 1 : share >= 1.1 ? 0 : (1.1 - share) / 0.5;
  return Math.round(chance * 13);
}
/** A small unrelated chat (3 blocks). */
const filler = (i: number) => chatOf([{ role: "user", content: uniquePrompt(i) }]);

/** One server, so that every request goes there: what is judged is only what NEXT holds. */
async function pool(kv: number, extra: Record<string, unknown> = {}): Promise<ProxyWasmHost> {
  const host = await newPool({ endpoints: [A], extra: { profile: "default", metrics: { intervalMs: 50 }, ...extra } });
  scrapeRound(host, 50, { [A]: { ...CACHE, kv } });
  return host;
}

/** Sends fillers, left open, until `home`'s clock has moved more than `blocks`; returns them. */
function writeWhileOpen(host: ProxyWasmHost, home: string, blocks: number, from: number): Sent[] {
  const start = writtenBlocksOf(host, home);
  const open: Sent[] = [];
  for (let i = from; i < from + 400 && writtenBlocksOf(host, home) - start <= blocks; i++) open.push(send(host, filler(i)));
  return open;
}

/** Ends each stream with a complete response. */
function endAll(streams: Sent[]): void {
  for (const s of streams) {
    s.stream.sendResponseHeaders([[":status", "200"]], true);
    s.stream.end("complete");
  }
}

/** Routes (and ends) fillers until `home`'s clock has moved more than `blocks` past `from`; returns how far it moved. */
function writeAfter(host: ProxyWasmHost, home: string, from: number, blocks: number, first: number): number {
  for (let i = first; i < first + 400 && writtenBlocksOf(host, home) - from <= blocks; i++) route(host, filler(i));
  return writtenBlocksOf(host, home) - from;
}

/**
 * At KV use 0.5 (a free part of 20 blocks): an earlier request runs while
 * 20 blocks are written (so the index's horizon adds a mean life), then
 * FIRST is routed and ends, then more than `blocks` blocks are written at
 * its server, within the index's horizon. Returns the pool, that horizon and
 * the blocks written after FIRST ended.
 */
async function firstTurnThenWritten(blocks: number, extra: Record<string, unknown> = {}): Promise<{ host: ProxyWasmHost; horizon: number; after: number }> {
  const host = await pool(0.5, extra);
  const long = send(host, filler(5_000));
  endAll(writeWhileOpen(host, A, 19, 0));
  endAll([long]);
  expect(route(host, FIRST)).toBe(A);
  const ended = writtenBlocksOf(host, A);
  scrapeRound(host, 50, { [A]: { ...CACHE, kv: 0.5 } });
  const horizon = stat(host, horizonStat(A)) ?? 0;
  const after = writeAfter(host, A, ended, blocks, 1_000);
  expect(after).toBeGreaterThan(blocks);
  expect(after).toBeLessThanOrEqual(horizon);
  return { host, horizon, after };
}

/** Where `next` goes and the blocks of it held there (the prefix.matched_blocks counter's advance). */
function sendNext(host: ProxyWasmHost, next = NEXT): { endpoint: string | undefined; matched: number } {
  const before = statAfterTick(host, "llm_picker.prefix.matched_blocks") ?? 0;
  const endpoint = route(host, next);
  return { endpoint, matched: (statAfterTick(host, "llm_picker.prefix.matched_blocks") ?? 0) - before };
}

describe("a conversation's last turn: its history judged from the turn's end (docs/hashing.md \"A conversation's last turn\")", () => {
  // The first turn runs while 20 blocks are written at its server; 21 to 24 more
  // are written after it ended. Its entries, stamped when it was routed, are 41
  // or more blocks old: past the 40-block horizon. Since its end, 24 at most of
  // the 40 free were written (0.6): the server still holds it.
  it("a history the index has aged out is held when little was written after its turn ended", async () => {
    const host = await pool(0);
    const first = send(host, FIRST);
    const home = first.endpoint!;
    expect(home).toBe(A);
    const open = writeWhileOpen(host, home, 19, 0);
    endAll([first]);
    const ended = writtenBlocksOf(host, home);
    endAll(open);
    const after = writeAfter(host, home, ended, 20, 1_000);
    expect(after).toBeGreaterThan(20);
    expect(after).toBeLessThanOrEqual(24);
    const next = sendNext(host);
    // The first turn's 9 whole blocks and the reply's 4 after them (its tenth, partial block is not the next turn's).
    expect(next).toEqual({ endpoint: home, matched: 13 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  // At KV use 0.5 the free part is 20 blocks: a history that ended then is
  // held while 12 of them are written, pushed out from 22, held in part in
  // between (13 blocks held: the first turn's whole blocks and the reply's).
  // An earlier request ran while 20 blocks were written, so the index adds a
  // mean life to its horizon and keeps the first turn (which ended at once)
  // past 20 blocks: only the turn's end tells these apart.
  it.each([
    ["at most 0.6 of the free part: held", 9, 12, 13, 13],
    ["0.8 to 0.95 of it: held in part", 16, 19, 4, 8],
    ["1.1 of it or more, within the index's horizon: not held", 21, 24, 0, 0],
  ])("a history written over after its turn ended, %s", async (_name, blocks, most, fewest, mostMatched) => {
    const { host, horizon, after } = await firstTurnThenWritten(blocks);
    // The index's horizon: the free part and the mean life.
    expect(horizon).toBeGreaterThanOrEqual(24);
    expect(after).toBeLessThanOrEqual(most);
    const next = sendNext(host);
    expect(next).toEqual({ endpoint: A, matched: heldMatch(after, 20) });
    expect(next.matched).toBeGreaterThanOrEqual(fewest);
    expect(next.matched).toBeLessThanOrEqual(mostMatched);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  // The history queues behind the part of the cache free when its turn
  // ended, whatever the KV use is when the next turn comes: 22 to 24 blocks
  // written since are past what a history lasts from KV use 0.5 (1.1 of a
  // 20-block free part) and within what surely holds from KV use 0 (0.6 of 40).
  it.each([
    ["ended at KV use 0.5, next turn at 0: not held", 0.5, 0, 0],
    ["ended at KV use 0, next turn at 0.5: held", 0, 0.5, 13],
  ])("the free part at the turn's end decides: %s", async (_name, kvAtEnd, kvNow, matched) => {
    const host = await pool(kvAtEnd);
    const first = send(host, FIRST);
    expect(first.endpoint).toBe(A);
    endAll([first]);
    const ended = writtenBlocksOf(host, A);
    const after = writeAfter(host, A, ended, 21, 1_000);
    expect(after).toBeGreaterThan(21);
    expect(after).toBeLessThanOrEqual(24);
    scrapeRound(host, 50, { [A]: { ...CACHE, kv: kvNow } });
    expect(sendNext(host)).toEqual({ endpoint: A, matched });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("no end is recorded where no scrape told the server's cache size: the index alone judges the next turn", async () => {
    const host = await newPool({ endpoints: [A], extra: { profile: "default", metrics: { intervalMs: 50 } } });
    scrapeRound(host, 50, { [A]: { waiting: 0, running: 0, kv: 0.5 } });
    const first = send(host, FIRST);
    endAll([first]);
    // The cache size is known from here on. A few blocks written after the
    // end are within the index's horizon (a free part of 20): held, where an
    // end recorded without a free part would have lasted none of them.
    scrapeRound(host, 50, { [A]: { ...CACHE, kv: 0.5 } });
    const ended = writtenBlocksOf(host, A);
    expect(writeAfter(host, A, ended, 4, 1_000)).toBeLessThanOrEqual(8);
    expect(sendNext(host)).toEqual({ endpoint: A, matched: 13 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  // In a fleet the session's owner also credits the server its last turn went to (its
  // placement: all its blocks but the last) unless the index found them evicted there.
  // Here the index does not (what is written after the turn is left running, so the
  // mean life its horizon adds stays), but the turn's end does: the end has the last word.
  it("in a fleet, a session's placement is not credited where its last turn's end says its history was written over", async () => {
    const page = { ...CACHE, kv: 0.5 };
    const host = await replica(REPLICAS[0], [A], true, 3, { profile: "default" });
    replicasAre(host, REPLICAS, { [A]: page });
    // Sessions other replicas own are forwarded, not routed: the loops go on until A's clock moved enough.
    endAll(writeWhileOpen(host, A, 19, 0));
    let owned: { first: string; next: string } | undefined;
    for (let i = 0; i < 50 && owned === undefined; i++) {
      const c = conversation(`Session ${i}. `);
      if (route(host, c.first) === A) owned = c;
    }
    expect(owned).toBeDefined();
    const ended = writtenBlocksOf(host, A);
    replicasAre(host, REPLICAS, { [A]: page });
    const horizon = stat(host, horizonStat(A)) ?? 0;
    expect(horizon).toBeGreaterThanOrEqual(24);
    const open = writeWhileOpen(host, A, 21, 1_000);
    const after = writtenBlocksOf(host, A) - ended;
    // 1.1 of the 20-block free part or more: pushed out.
    expect(after).toBeGreaterThan(21);
    expect(after).toBeLessThanOrEqual(horizon);
    expect(sendNext(host, owned!.next)).toEqual({ endpoint: A, matched: 0 });
    endAll(open);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

describe('a cut rendering\'s last turn: its server holds the rest past the hashed blocks while little was written after it ended (docs/routing.md "Past the hashed blocks")', () => {
  // prefix.maxBlocks 8: QUESTION alone is past 8 blocks, so FIRST and NEXT
  // are both cut and hash to the same 8 blocks; FIRST's end is keyed by its
  // last hashed block and its messages. NEXT then finds it: A lacks only the
  // new question after the reply (1 block), so its predicted prefill costs
  // 2 × 1 blocks. When more than the free part was written after FIRST ended,
  // nothing is known past the hashed blocks and A is taken to hold the rest
  // (cost 0), as for any prompt no turn end speaks for. The same setup as
  // above: KV use 0.5 (free part 20 blocks), an earlier request that ran while
  // 20 blocks were written (the index's horizon stays past what is written).
  const lacks = Math.ceil(JSON.stringify({ role: "user", content: "And the brakes?" }).length / 64);
  it.each([
    ["within what it lasts: credited with the rest but the new question", 12, 2 * lacks],
    ["past what it lasts: nothing known past the hashed blocks", 17, 0],
  ])("%s", async (_name, blocks, uncachedCost) => {
    const { host } = await firstTurnThenWritten(blocks, { prefix: { maxBlocks: 8 }, debugHeaders: true });
    const next = send(host, NEXT);
    expect(next.endpoint).toBe(A);
    const p = blocksOf(NEXT);
    expect(lacks).toBe(1);
    expect(predictedPrefillScoresOf(next)[A]).toBeCloseTo(p / (p + uncachedCost + waitAheadOf(next)[A]), 6);
    endAll([next]);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
