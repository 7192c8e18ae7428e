/**
 * Past the hashed blocks (docs/routing.md "Past the hashed blocks"): hashing
 * stops at prefix.maxBlocks, so every turn of a conversation whose shared
 * head (here a tools array) is longer than that hashes to the same blocks,
 * and every server that was sent that head holds all of them. The end of a
 * conversation's turn is recorded under a key made of the last hashed block
 * and its messages; its next turn finds it and counts that server as
 * holding the prompt up to the messages after its reply, and every other
 * server that holds the hashed blocks as lacking the conversation from its
 * first reply on. Through the built filter (emulated
 * Envoy), default profile, prefix.maxBlocks 8, two servers scraped idle
 * with their cache size, debug headers on. The block arithmetic is written
 * out below.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { A, B, blocksOf, firstToken, newPool, send, type Sent } from "./fixtures/vllm.js";
import { expectUncached, twoCutHolders } from "./fixtures/past-hashed.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const MAX_BLOCKS = 8;
/** 24 tools of ~90 bytes: ~2.2 KB, rendered first, so the 8 hashed blocks (512 bytes) are all tools. */
const TOOLS = Array.from({ length: 24 }, (_, i) => ({ type: "function", function: { name: `lookup_${i}`, description: `Looks up record kind ${i}.` } }));
type Message = { role: string; content: string };
const body = (messages: Message[]) => JSON.stringify({ model: "m", messages, tools: TOOLS, max_tokens: 8, stream: true });
const task = (i: number): Message => ({ role: "user", content: `Task ${i}: reconcile the ledger of branch ${i} against its bank statements.` });
const REPLY: Message = { role: "assistant", content: "I looked the records up; two entries differ by the same amount. ".repeat(6) };
const STEP: Message = { role: "user", content: "Now explain the difference." };
/** A conversation's first turn and its next (the first, the reply to it, a new step). */
const firstTurn = (i: number) => body([task(i)]);
const nextTurn = (i: number) => body([task(i), REPLY, STEP]);

/** Blocks of the prompt the filter estimates from the body (hashing stops at 8). */
const promptBlocks = (b: string) => blocksOf(b);
/** What the previous turn's server lacks: the messages after the reply, as the body has them. */
const lacks = Math.ceil(JSON.stringify(STEP).length / 64);
/** What another server holding the hashed blocks lacks: the conversation from its first reply on. */
const othersLack = Math.ceil((JSON.stringify(REPLY).length + JSON.stringify(STEP).length) / 64);

function finish(s: Sent): void {
  firstToken(s.stream);
  s.stream.end("complete");
}

const twoHolders = () => twoCutHolders(firstTurn, MAX_BLOCKS, finish);

describe("default profile: past the hashed blocks, the server that got a conversation's previous turn holds the rest", () => {
  it("the next turn goes to its previous turn's server, which lacks only the step after the reply; the other lacks the reply too", async () => {
    const { host, x, y } = await twoHolders();
    const next = send(host, nextTurn(1));
    const p = promptBlocks(nextTurn(1));
    expect(p).toBeGreaterThan(MAX_BLOCKS + othersLack);
    expect([lacks, othersLack]).toEqual([1, 8]);
    // UNCACHED_WEIGHT 2: at X 2 × 1 block, at Y 2 × 8.
    expectUncached(next, p, { [x]: lacks, [y]: othersLack });
    expect(next.endpoint).toBe(x);
    finish(next);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it.each([
    ["a first turn (no reply to follow)", () => firstTurn(3)],
    ["a next turn whose previous turn this filter never saw end", () => nextTurn(4)],
  ])("%s: both servers hold every hashed block and are taken to hold the rest; the one not running anything wins", async (_name, make) => {
    const { host, y, x } = await twoHolders();
    const b = make();
    const s = send(host, b);
    const p = promptBlocks(b);
    expectUncached(s, p, { [x]: 0, [y]: 0 });
    expect(s.endpoint).toBe(y);
    finish(s);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a next turn whose previous turn went to the other server follows it there", async () => {
    const { host, y } = await twoHolders();
    const next = send(host, nextTurn(2));
    expect(next.endpoint).toBe(y);
    expectUncached(next, promptBlocks(nextTurn(2)), { [y]: lacks });
    finish(next);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

describe("past the hashed blocks: any conversation, cut after two blocks, routes and never traps", () => {
  // Every chat past 128 bytes is cut (prefix.maxBlocks 2): each request and
  // its end go through the cut key's record and lookup. Roles at random
  // (assistant messages anywhere, first or last included), contents with
  // escapes and non-ASCII text, tools or none; each conversation is sent
  // one prefix of its messages at a time, as turns, each ended.
  const role = fc.constantFrom("system", "user", "assistant", "tool", "developer");
  const content = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 80 }), fc.constant(""));
  const message = fc.record({ role, content });
  const conversation = fc.record({
    messages: fc.array(message, { minLength: 1, maxLength: 8 }),
    tools: fc.option(fc.constant(TOOLS), { nil: undefined }),
  });

  it("every turn is routed to a member of the pool, and no VM traps", async () => {
    const host = await newPool({ endpoints: [A, B], extra: { profile: "default", metrics: { enabled: false }, prefix: { maxBlocks: 2 } } });
    fc.assert(
      fc.property(conversation, ({ messages, tools }) => {
        for (let n = 1; n <= messages.length; n++) {
          const s = send(host, JSON.stringify({ model: "m", messages: messages.slice(0, n), tools, max_tokens: 8, stream: true }));
          expect([A, B]).toContain(s.endpoint);
          finish(s);
        }
      }),
      { numRuns: 300, seed: 27 },
    );
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
