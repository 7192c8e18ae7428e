/**
 * A place in a full batch (docs/routing.md "A place in a full batch"),
 * default profile through the built filter (emulated Envoy): each endpoint's
 * slot hold is measured from its streamed requests (first token to end), and
 * where a batch is full the wait for a place, (occupancy − slots + 1) × hold
 * / slots, counts in the cost at the pool's prefill pace (the mean of the
 * paces the endpoints measured, so that a wait ranks the same in ms and in
 * blocks). An endpoint that has learned fewer slots than the pool has shown
 * takes the pool's.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import {
  A,
  B,
  C,
  firstToken,
  newPool,
  pendingBlocksOf,
  poolPaceOf,
  prefillPaceOf,
  scrapeRound,
  send,
  slotHoldOf,
  uniquePrompt,
  type Sent,
  blocksOf,
  predictedPrefillScoresOf,
  IDLE_PAGE,
  FULL_OF_TWO,
} from "./fixtures/vllm.js";
import { ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

/** ~90-block system prompts, each its own (uniquePrompt differs at every call, so each is made once). */
const SYSTEMS = [0, 1, 2, 3].map((i) => `${uniquePrompt(i)} `.repeat(60));
/** A streamed request of system prompt i. */
const prompt = (i: number) => JSON.stringify({ model: "m", messages: [{ role: "system", content: SYSTEMS[i] }], stream: true });
/** The same with a question after it: a prefix held where prompt(i) went, and blocks of its own to prefill there. */
const followUp = (i: number, question = "and then?") =>
  JSON.stringify({
    model: "m",
    messages: [
      { role: "system", content: SYSTEMS[i] },
      { role: "user", content: question },
    ],
    stream: true,
  });

/** A pool of A, B and C whose first scrape shows `learning` full (two running, one waiting), then every one idle. */
async function pool(learning: string[]): Promise<ProxyWasmHost> {
  const host = await newPool({ extra: { profile: "default", metrics: { intervalMs: 50 }, debugHeaders: true } });
  scrapeRound(host, 50, Object.fromEntries([A, B, C].map((a) => [a, learning.includes(a) ? FULL_OF_TWO : IDLE_PAGE])));
  scrapeRound(host, 50, { [A]: IDLE_PAGE, [B]: IDLE_PAGE, [C]: IDLE_PAGE });
  return host;
}

describe("default profile: a place in a full batch", () => {
  it("the slot hold is a moving average of the time from a streamed request's first token to its end", async () => {
    const host = await pool([A, B, C]);
    const first = send(host, prompt(1));
    host.advance(100);
    firstToken(first.stream);
    host.advance(400);
    first.stream.end("complete");
    expect(slotHoldOf(host, first.endpoint!)).toBeCloseTo(400, 3);
    // The next at the same endpoint (its prompt is cached there): 400 + 0.25 × (800 − 400).
    // (A request with nothing to prefill is not watched for its first token, so it gives no sample.)
    const second = send(host, followUp(1));
    expect(second.endpoint).toBe(first.endpoint);
    firstToken(second.stream);
    host.advance(800);
    second.stream.end("complete");
    expect(slotHoldOf(host, first.endpoint!)).toBeCloseTo(500, 3);
    // A response that is not streamed has no first token before its end: it says nothing of the hold.
    const whole = send(host, JSON.stringify({ model: "m", messages: [{ role: "user", content: uniquePrompt(2) }] }));
    host.advance(50);
    whole.stream.end("complete");
    expect(slotHoldOf(host, first.endpoint!)).toBeCloseTo(500, 3);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a first token that waited for a place in a full batch measures no prefill pace", async () => {
    const host = await pool([A, B, C]);
    const warm = [1, 2, 3].map((i) => send(host, prompt(i)));
    host.advance(100);
    for (const s of warm) firstToken(s.stream);
    // A second of each at its endpoint: every batch holds two, the most it runs.
    const held = [1, 2, 3].map((i) => send(host, followUp(i)));
    host.advance(10);
    for (const s of held) firstToken(s.stream);
    // A third follow-up waits for a place wherever it goes; its first token, 1 s
    // later, would read as a pace 100 times slower: its endpoint keeps its own.
    const third = send(host, followUp(1, "and after that?"));
    expect(pendingBlocksOf(host, third.endpoint!)).toBeGreaterThan(0);
    const before = prefillPaceOf(host, third.endpoint!).blocksPerMs;
    host.advance(1000);
    firstToken(third.stream);
    expect(prefillPaceOf(host, third.endpoint!).blocksPerMs).toBe(before);
    expect(before).toBeGreaterThan(0);
    for (const s of [...warm, ...held, third]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it.each([
    // [case, endpoints whose scrape showed them full, whether a request has ended (a hold is measured), the wait ahead at each, in the pool's hold / 2 × pace]
    ["every endpoint learned 2 slots", [A, B, C], true, 1],
    ["only A learned its slots: B and C take the pool's", [A], true, 1],
    ["no request has ended: no hold, no wait counted", [A, B, C], false, 0],
  ] as const)("every batch full with two requests: the wait for a place, %s", async (_case, learning, ended, waits) => {
    const host = await pool([...learning]);
    // One prompt per endpoint, first tokens 100, 200 and 400 ms later (a
    // pace of its blocks / 100, / 200 and / 400), then each ends at 1,000
    // ms: holds of 900, 800 and 600.
    const warm = [1, 2, 3].map((i) => send(host, prompt(i)));
    expect(new Set(warm.map((s) => s.endpoint)).size).toBe(3);
    const firstAt = [100, 200, 400];
    for (const [i, s] of warm.entries()) {
      host.advance(firstAt[i] - (i === 0 ? 0 : firstAt[i - 1]));
      firstToken(s.stream);
    }
    host.advance(600);
    if (ended) for (const s of warm) s.stream.end("complete");
    // Two more of each prompt, at its endpoint, past their first tokens:
    // every endpoint runs two (one when the first has not ended: then a
    // second of each fills it), nothing queued for prefill.
    const held: Sent[] = [];
    for (const i of ended ? [1, 1, 2, 2, 3, 3] : [1, 2, 3]) {
      const s = send(host, prompt(i));
      expect(s.endpoint).toBe(warm[i - 1].endpoint);
      firstToken(s.stream);
      held.push(s);
    }
    // One more of the first prompt: at each endpoint its wait ahead is one
    // place, (2 − 2 + 1) × the pool's hold / 2 (the mean of the three holds,
    // 766.7 ms, so 383.3 ms everywhere: each endpoint's own hold differs
    // with the answers that taught it, not with how fast its places free),
    // in blocks at the pool's pace, the mean of the three paces.
    const next = send(host, prompt(1));
    const scores = predictedPrefillScoresOf(next);
    const p = blocksOf(prompt(1));
    const paces = warm.map((s) => prefillPaceOf(host, s.endpoint!).blocksPerMs);
    for (const [i, pace] of paces.entries()) expect(pace).toBeCloseTo(blocksOf(prompt(i + 1)) / firstAt[i], 5);
    const poolPace = poolPaceOf(host);
    expect(poolPace).toBeCloseTo((paces[0] + paces[1] + paces[2]) / 3, 5);
    const holds = [900, 800, 600];
    const poolHold = (holds[0] + holds[1] + holds[2]) / 3;
    for (const [i, s] of warm.entries()) {
      const uncached = i === 0 ? 0 : p;
      const waitAhead = p / scores[s.endpoint!] - p - 2 * uncached;
      if (ended) expect(slotHoldOf(host, s.endpoint!)).toBeCloseTo(holds[i], 3);
      expect(waitAhead).toBeCloseTo((waits * poolHold * poolPace) / 2, 1);
    }
    for (const s of [...(ended ? [] : warm), ...held, next]) s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
