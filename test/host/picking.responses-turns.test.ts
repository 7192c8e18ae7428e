/**
 * A /v1/responses conversation sent as items, turn by turn (a stateless
 * client resending its history: docs/routing.md "Replies are cached" and
 * "Past the hashed blocks"): its previous answer is the last run of the
 * model's output items (reasoning, a message, function calls) that a client
 * item follows. Past prefix.maxBlocks, where every turn hashes to the same
 * blocks of a long tools array, the server that got the previous turn holds
 * the rest but for the items after that answer; any other holding the
 * hashed blocks lacks the conversation from its first answer on. Through
 * the built filter (emulated Envoy), default profile, prefix.maxBlocks 8,
 * two servers scraped idle, debug headers on, the block arithmetic written
 * out, as picking.past-hashed.test.ts does for chat.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { HttpStream } from "../../src/host/index.js";
import { A, B, blocksOf, newPool, send, type Sent, stat } from "./fixtures/vllm.js";
import { expectUncached, twoCutHolders } from "./fixtures/past-hashed.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const PATH = "/v1/responses";
const MAX_BLOCKS = 8;
/** 24 tools of ~80 bytes in the Responses format: ~2 KB, rendered first, so the 8 hashed blocks are all tools. */
const TOOLS = Array.from({ length: 24 }, (_, i) => ({ type: "function", name: `lookup_${i}`, description: `Looks up record kind ${i}.` }));
type Item = Record<string, unknown>;
const body = (input: Item[]) => JSON.stringify({ model: "m", tools: TOOLS, input, max_output_tokens: 8, stream: true });
const task = (i: number): Item => ({ role: "user", content: `Task ${i}: reconcile the ledger of branch ${i} against its bank statements.` });
/** The model's answer to the task: reasoning, then a function call (one run). */
const REASONING: Item = {
  type: "reasoning",
  summary: [{ type: "summary_text", text: "The statements and the ledger must be compared entry by entry. ".repeat(3) }],
};
const CALL: Item = { type: "function_call", call_id: "call_1", name: "lookup_3", arguments: '{"branch":1,"kind":"statement"}' };
const OUTPUT: Item = { type: "function_call_output", call_id: "call_1", output: "Two entries differ by the same amount: 412.50 on the 3rd and on the 17th." };
const firstTurn = (i: number) => body([task(i)]);
const nextTurn = (i: number) => body([task(i), REASONING, CALL, OUTPUT]);

/** What the previous turn's server lacks: the items after the answer, as the body has them. */
const lacks = Math.ceil(JSON.stringify(OUTPUT).length / 64);
/** What another server holding the hashed blocks lacks: the conversation from its first answer on. */
const othersLack = Math.ceil((JSON.stringify(REASONING).length + JSON.stringify(CALL).length + JSON.stringify(OUTPUT).length) / 64);

/** The server's first event after the lifecycle ones, then the end. */
function answered(s: HttpStream): void {
  s.sendResponseHeaders(
    [
      [":status", "200"],
      ["content-type", "text/event-stream"],
    ],
    false,
  );
  s.sendResponseBody('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n', true);
  s.end("complete");
}

const finish = (s: Sent) => answered(s.stream);
const twoHolders = () => twoCutHolders(firstTurn, MAX_BLOCKS, finish, PATH);

describe("default profile, /v1/responses past the hashed blocks: the previous turn's server holds the rest", () => {
  it("the next turn goes to its previous turn's server, which lacks only the tool's output; the other lacks the answer too", async () => {
    const { host, x, y } = await twoHolders();
    const next = send(host, nextTurn(1), { path: PATH });
    const p = blocksOf(nextTurn(1));
    expect([lacks, othersLack]).toEqual([3, 8]);
    expect(p).toBeGreaterThan(MAX_BLOCKS + othersLack);
    expectUncached(next, p, { [x]: lacks, [y]: othersLack });
    expect(next.endpoint).toBe(x);
    finish(next);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a next turn whose previous turn this filter never saw end: both are taken to hold the rest; the one not running anything wins", async () => {
    const { host, x, y } = await twoHolders();
    const s = send(host, nextTurn(4), { path: PATH });
    const p = blocksOf(nextTurn(4));
    expectUncached(s, p, { [x]: 0, [y]: 0 });
    expect(s.endpoint).toBe(y);
    finish(s);
    host.close();
  });
});

describe("default profile, /v1/responses within the hashed blocks: the previous answer counts as cached where the previous turn went", () => {
  // Rendered ('x' ‖ canonical JSON ‖ 00 00): the task 591 bytes (9 whole
  // blocks), the answer (reasoning 258, call 116) through byte 965 (15
  // whole blocks), the tool's output 138 more: 1,103 bytes, 18 blocks. The
  // first turn's server was sent the first 9 and generated the next 6.
  const LONG_TASK: Item = { role: "user", content: "Reconcile the ledger of the north branch against its bank statements. ".repeat(8) };
  const turn1 = JSON.stringify({ model: "m", input: [LONG_TASK], stream: true });
  const turn2 = JSON.stringify({ model: "m", input: [LONG_TASK, REASONING, CALL, OUTPUT], stream: true });

  it("the next turn's match at that server runs through the answer (15 blocks; 9 without it)", async () => {
    const host = await newPool({ extra: { profile: "default", metrics: { enabled: false } } });
    const first = send(host, turn1, { path: PATH });
    finish(first);
    host.advance(1000); // the prefix counters reach Envoy on a tick
    const flushed = stat(host, "llm_picker.prefix.matched_blocks") ?? 0;
    const next = send(host, turn2, { path: PATH });
    host.advance(1000);
    expect(next.endpoint).toBe(first.endpoint);
    expect((stat(host, "llm_picker.prefix.matched_blocks") ?? 0) - flushed).toBe(15);
    finish(next);
    host.close();
  });
});

describe("responses conversations of any items, cut after two blocks, route and never trap", () => {
  const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "grapheme", maxLength: 60 }), fc.constant(""));
  const item = fc.oneof(
    text.map((t) => ({ role: "user", content: t })),
    text.map((t) => ({ type: "message", role: "assistant", content: [{ type: "output_text", text: t }] })),
    text.map((t) => ({ type: "function_call", call_id: "c", name: "f", arguments: t })),
    text.map((t) => ({ type: "function_call_output", call_id: "c", output: t })),
    text.map((t) => ({ type: "reasoning", summary: [{ type: "summary_text", text: t }] })),
  );
  it("every turn is routed to a member of the pool, and no VM traps", async () => {
    const host = await newPool({ endpoints: [A, B], extra: { profile: "default", metrics: { enabled: false }, prefix: { maxBlocks: 2 } } });
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), fc.boolean(), (items, tools) => {
        for (let n = 1; n <= items.length; n++) {
          const s = send(host, JSON.stringify({ model: "m", input: items.slice(0, n), ...(tools ? { tools: TOOLS } : {}), stream: true }), { path: PATH });
          expect([A, B]).toContain(s.endpoint);
          finish(s);
        }
      }),
      { numRuns: 200 },
    );
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
