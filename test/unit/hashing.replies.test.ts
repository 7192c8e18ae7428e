// The previous reply of a chat, in whole blocks (assembly/hashing/render.ts
// replyStartBlock and replyEndBlock; docs/routing.md "Replies are cached"), through
// build/units-hashing.wasm: table rows with the block arithmetic written
// out, and random conversations against the independent reference
// (src/reference/render.ts).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { replyBlocks as referenceReply, render as referenceRender, responsesReplyBlocks } from "../../src/reference/render.ts";
import { loadUnits, type Units } from "../support";

let u: Units<"hashing">;
const enc = new TextEncoder();
const CHAT = 1;
const COMPLETIONS = 0;
const RESPONSES = 2;

beforeAll(async () => {
  u = await loadUnits("hashing");
});

const span = (body: unknown, blockSize = 64, maxBlocks = 256, api = CHAT) =>
  Array.from(u.replySpanOf(enc.encode(JSON.stringify(body)), api, blockSize, maxBlocks, true) as Int32Array);
const msg = (role: string, content: string) => ({ role, content });

describe("the previous reply's blocks", () => {
  // Rendered sizes (docs/hashing.md "Framing"): a message is 'M', then
  // 'r' role 00 00, then 's' text 00 00: 9 + |role| + |text| bytes.
  // user "u" × 100: 9 + 4 + 100 = 113 bytes; assistant "a" × 200: 9 + 9 + 200 = 218.
  const user = msg("user", "u".repeat(100));
  const reply = msg("assistant", "a".repeat(200));
  it.each([
    ["user, assistant, user: the reply spans bytes 113–331", [user, reply, msg("user", "next")], [1, 5]],
    ["a trailing assistant message (a prefill to continue) is not a reply", [user, reply], [0, 0]],
    ["no assistant message", [user, msg("user", "next")], [0, 0]],
    ["the last of two replies: bytes 444–662", [user, reply, user, reply, msg("user", "next")], [6, 10]],
    ["a reply inside the first block counts from block 0", [msg("user", "hi"), msg("assistant", "ok"), msg("user", "next")], [0, 0]],
  ])("%s", (_name, messages, expected) => {
    expect(span({ model: "m", messages })).toEqual(expected);
  });

  it("a reply past prefix.maxBlocks is capped there", () => {
    // 4-block cap: start 1 (113 bytes), end min(5, 4).
    expect(span({ model: "m", messages: [user, reply, msg("user", "next")] }, 64, 4)).toEqual([1, 4]);
  });

  it("completions prompts and unparsable bodies have none", () => {
    expect(span({ model: "m", prompt: "a".repeat(500) }, 64, 256, COMPLETIONS)).toEqual([0, 0]);
    expect(Array.from(u.replySpanOf(enc.encode("{"), CHAT, 64, 256, true) as Int32Array)).toEqual([-1, -1]);
  });

  it("the rendering of the messages before the reply is a prefix of the whole rendering (what the previous turn's server holds)", () => {
    const body = { model: "m", messages: [user, reply, msg("user", "next")] };
    const whole = referenceRender("chat", body);
    const before = referenceRender("chat", { ...body, messages: [user] });
    expect(Buffer.from(whole.subarray(0, before.length)).equals(Buffer.from(before))).toBe(true);
  });
});

describe("the build finds the same reply as the reference", () => {
  const role = fc.constantFrom("system", "user", "assistant", "tool");
  const text = fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom("", "é".repeat(90), "x".repeat(700)));
  it("random conversations, block sizes and caps", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(role, text), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 1, max: 128 }),
        fc.integer({ min: 1, max: 300 }),
        (ms, S, cap) => {
          const body = { model: "m", messages: ms.map(([r, t]) => msg(r, t)) };
          expect(span(body, S, cap)).toEqual(referenceReply(body, S, cap));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("replies of conversations resumed from the memo (hashing/conversation.ts)", () => {
  // The same conversation sent again turn after turn (grown, or its last
  // message replaced) resumes its earlier messages instead of rendering them:
  // the reply found among them must be the reference's too.
  const role = fc.constantFrom("user", "assistant", "system");
  const text = fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom("x".repeat(300), "é".repeat(60)));
  it("every turn of growing and forked conversations, interleaved", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.boolean(), role, text), { minLength: 1, maxLength: 25 }),
        fc.constantFrom(8, 32, 64),
        fc.constantFrom(300, 6),
        (steps, S, cap) => {
          const convs: Array<Array<{ role: string; content: string }>> = [[], [], []];
          for (const [c, fork, r, t] of steps) {
            const ms = convs[c];
            if (fork && ms.length > 0) ms[ms.length - 1] = msg(r, t);
            else ms.push(msg(r, t));
            const body = { model: "m", messages: [...ms] };
            expect(span(body, S, cap)).toEqual(referenceReply(body, S, cap));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("the previous reply of a /v1/responses request sent as items: the last run of the model's output items that a client item follows", () => {
  // Rendered sizes ('x' ‖ canonical JSON ‖ 00 00): user 131 bytes, call 83,
  // its output 211, reasoning 189, the assistant message 285, "next" 35.
  const user = { role: "user", content: "u".repeat(100) };
  const call = { type: "function_call", call_id: "c1", name: "lookup", arguments: '{"id":1}' };
  const out = { type: "function_call_output", call_id: "c1", output: "o".repeat(150) };
  const reasoning = { type: "reasoning", summary: [{ type: "summary_text", text: "r".repeat(120) }] };
  const answer = { type: "message", role: "assistant", content: [{ type: "output_text", text: "a".repeat(200) }] };
  const next = { role: "user", content: "next" };
  const responses = (input: unknown, cap = 256) => span({ model: "m", input }, 64, cap, RESPONSES);
  it.each([
    ["a function call and its output: the call, bytes 131–214", [user, call, out], 256, [2, 3]],
    ["reasoning then an answer, then the next question: one run, bytes 131–605", [user, reasoning, answer, next], 256, [2, 9]],
    ["a trailing answer (nothing follows it) is not a reply", [user, answer], 256, [0, 0]],
    ["the last of two runs: bytes 425–899", [user, call, out, reasoning, answer, next], 256, [6, 14]],
    ["a run starting past the 4 hashed blocks: the earlier one", [user, call, out, reasoning, answer, next], 4, [2, 3]],
    ["a run cut by the 4 hashed blocks ends there", [user, reasoning, answer, next], 4, [2, 4]],
    ["two parallel calls, then their outputs: one run", [user, call, { ...call, call_id: "c2" }, out, { ...out, call_id: "c2" }], 256, [2, 4]],
    ["items of other types (a reference) are the client's", [user, call, { type: "item_reference", id: "x" }], 256, [2, 3]],
  ])("%s", (_name, input, cap, expected) => {
    expect(responses(input, cap as number)).toEqual(expected);
  });

  it("a string input has none", () => {
    expect(responses("u".repeat(500))).toEqual([0, 0]);
  });

  it("random item sequences, block sizes and caps: the build finds the reference's reply (fast-check)", () => {
    const text = fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom("", "é".repeat(60), "x".repeat(500)));
    const item = fc.oneof(
      text.map((t) => ({ role: "user", content: t })),
      text.map((t) => ({ role: "assistant", content: t })),
      text.map((t) => ({ type: "message", role: "assistant", content: [{ type: "output_text", text: t }] })),
      text.map((t) => ({ type: "function_call", call_id: "c", name: "f", arguments: t })),
      text.map((t) => ({ type: "function_call_output", call_id: "c", output: t })),
      text.map((t) => ({ type: "reasoning", summary: [{ type: "summary_text", text: t }] })),
      text.map((t) => ({ type: "web_search_call", id: t })),
    );
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 128 }), fc.integer({ min: 1, max: 300 }), (input, S, cap) => {
        const body = { model: "m", instructions: "Be brief.", input };
        expect(span(body, S, cap, RESPONSES)).toEqual(responsesReplyBlocks(body, S, cap));
      }),
      { numRuns: 300 },
    );
  });
});
