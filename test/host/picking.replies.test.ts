/**
 * Replies are cached (docs/routing.md "Replies are cached"): a server that
 * answered a chat's previous turn holds the reply it generated, so the next
 * turn's prompt is cached there through that reply, not only through the
 * previous prompt the index recorded. Through the built filter (emulated
 * Envoy), default profile, scraping off: this Envoy's own queued prefill is
 * the load signal. The block arithmetic is written out below.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support";
import { A, B, C, firstToken, newPool, pendingBlocksOf, send, statAfterTick } from "./fixtures/vllm.js";

beforeAll(() => ensureBuilt("debug"));

// Rendered (docs/hashing.md "Framing": 9 + |role| + |text| bytes a message):
// U1 is 608 bytes of text, 621 rendered: 9 whole blocks of 64 before the
// reply. R1 is 1,992 bytes, 2,010 rendered: 41 whole blocks through it. U2
// brings the rendering to 2,652 bytes: 42 hashed blocks; the 2,732-byte
// body estimates 43 prompt blocks.
const U1 = "Tell me how to service the gearbox of a 1998 touring bicycle, step by step. ".repeat(8);
const R1 = "First, remove the rear wheel and clean the hub; then check every bearing for wear. ".repeat(24);
const U2 = "And the chain?";
const turn1 = { model: "m", messages: [{ role: "user", content: U1 }], stream: true };
const turn2 = {
  model: "m",
  messages: [
    { role: "user", content: U1 },
    { role: "assistant", content: R1 },
    { role: "user", content: U2 },
  ],
  stream: true,
};
/** Another question after U1: 9 blocks cached on turn 1's server, 36 not. */
const sideQuestion = {
  model: "m",
  messages: [
    { role: "user", content: U1 },
    { role: "user", content: "What about the brakes on the same bicycle? ".repeat(50) },
  ],
  stream: true,
};

async function secondTurn(creditReplies: boolean) {
  const host = await newPool({ extra: { profile: "default", metrics: { enabled: false }, bound: { loadFactor: 10 }, prefix: { creditReplies } } });
  const first = send(host, JSON.stringify(turn1));
  firstToken(first.stream);
  first.stream.end("complete");
  // Held before its first token: its uncached blocks stay queued on turn 1's server.
  const held = send(host, JSON.stringify(sideQuestion));
  const queued = pendingBlocksOf(host, first.endpoint!);
  const matchedBefore = statAfterTick(host, "llm_picker.prefix.matched_blocks") ?? 0;
  const second = send(host, JSON.stringify(turn2));
  const matched = (statAfterTick(host, "llm_picker.prefix.matched_blocks") ?? 0) - matchedBefore;
  for (const s of [held, second]) s.stream.end("complete");
  expect(host.traps()).toEqual([]);
  host.close();
  return { home: first.endpoint, heldOn: held.endpoint, queued, second: second.endpoint, matched };
}

describe("default profile: a chat's previous reply counts as cached where the previous turn went", () => {
  it("the next turn stays with its conversation although a queue builds there", async () => {
    const r = await secondTurn(true);
    expect([A, B, C]).toContain(r.home);
    expect(r.heldOn).toBe(r.home);
    expect(r.queued).toBe(36);
    // Cached there: 41 blocks (U1 and R1). Cost 2 × (43 − 41) + 36 queued = 40
    // against 2 × 43 = 86 on an idle server; wait 2 + 36 + 1 = 39 ≤ 1.25 × 44.
    expect(r.second).toBe(r.home);
    expect(r.matched).toBe(41);
  });

  it("with prefix.creditReplies off only the recorded prompt counts, and the same turn leaves its conversation", async () => {
    const r = await secondTurn(false);
    expect(r.heldOn).toBe(r.home);
    expect(r.queued).toBe(36);
    // Cached there: 9 blocks (U1). Cost 2 × 34 + 36 = 104 against 86; wait 34 + 36 + 1 = 71 > 1.25 × 44.
    expect(r.second).not.toBe(r.home);
    expect(r.matched).toBe(0);
  });
});
