/**
 * Host tier, prefix affinity with the shared-data prefix index:
 * a conversation returns to the server that served its earlier turns; the
 * hot-spot guard lets load decide when one server is far more loaded; a
 * failed request leaves no credit for its new blocks; a pool change drops
 * removed endpoints from scoring and keeps the index of those that remain.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { A, B, C, newPool, poolConfig, scrapeRound, send, stat, statAfterTick, uniquePrompt, type Sent } from "./fixtures/vllm.js";
import { chatBody, ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const INTERVAL = 50;
const noScrape = { metrics: { enabled: false } };

/** A conversation: a long first user turn (~2 KB) then short turns, so earlier turns are most of each request. */
class Conversation {
  turns: string[];
  constructor(seed: number) {
    this.turns = [`${uniquePrompt(seed)} ${"Here is the document to discuss. ".repeat(60)}`];
  }
  /** The body of the next request (all turns so far). */
  body(): string {
    return chatBody(this.turns);
  }
  /** The assistant's answer and the user's next question. */
  advance(i: number): void {
    this.turns.push(`answer ${i}: it depends.`, `follow-up question ${i}?`);
  }
}

const scoresOf = (s: Sent) => JSON.parse(s.headers.find(([k]) => k === "x-llm-picker-scores")![1]);
const hashesOf = (s: Sent) => JSON.parse(new TextDecoder().decode(s.stream.filterState("llm_picker.decision"))).prefix.hashes.length as number;

function complete(s: Sent, status = 200): void {
  s.stream.sendResponseHeaders([[":status", String(status)]], true);
  s.stream.end("complete");
}

describe("prefix affinity", () => {
  it("each conversation's later turns return to the server that served its first turn (neutral load)", async () => {
    const host = await newPool({ workers: 2, extra: { ...noScrape, debugHeaders: true } });
    const convs = Array.from({ length: 6 }, (_, i) => new Conversation(i));
    const home: string[] = [];
    for (const c of convs) {
      const s = send(host, c.body(), { worker: home.length % 2 });
      home.push(s.endpoint!);
      complete(s);
    }
    for (let turn = 1; turn <= 3; turn++) {
      convs.forEach((c, i) => {
        c.advance(turn);
        const s = send(host, c.body(), { worker: (i + turn) % 2 });
        expect(s.endpoint).toBe(home[i]);
        const prefix = scoresOf(s).scores.prefix;
        expect(prefix[home[i]]).toBeGreaterThan(0.8);
        for (const other of [A, B, C].filter((e) => e !== home[i])) expect(prefix[other]).toBe(0);
        complete(s);
      });
    }
    expect(statAfterTick(host, "llm_picker.prefix.matched_blocks")).toBeGreaterThan(0);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("the hot-spot guard makes load decide when the conversation's server has far more load", async () => {
    const host = await newPool({ extra: { debugHeaders: true } });
    const equal = { waiting: 0, running: 10, kv: 0.2 };
    scrapeRound(host, INTERVAL, { [A]: equal, [B]: equal, [C]: equal });
    const conv = new Conversation(42);
    const first = send(host, conv.body());
    const home = first.endpoint!;
    complete(first);
    const others = [A, B, C].filter((e) => e !== home);

    // Moderately busier (load 12 vs 10, no guard): prefix outweighs its queue score.
    scrapeRound(host, INTERVAL, { ...Object.fromEntries(others.map((e) => [e, equal])), [home]: { waiting: 2, running: 10, kv: 0.2 } });
    conv.advance(1);
    const moderate = send(host, conv.body());
    expect(moderate.endpoint).toBe(home);
    expect(scoresOf(moderate).guard).toBe(false);
    complete(moderate);

    // Hot spot (load 150 vs 10: 140 > 64 and 150 > 1.5 × 10): load decides.
    scrapeRound(host, INTERVAL, { ...Object.fromEntries(others.map((e) => [e, equal])), [home]: { waiting: 40, running: 110, kv: 0.2 } });
    conv.advance(2);
    const hot = send(host, conv.body());
    const scores = scoresOf(hot);
    expect(scores.guard).toBe(true);
    expect(scores.weights.prefix).toBe(0);
    expect(scores.scores.prefix[home]).toBeGreaterThan(0.8); // the affinity was there, and ignored
    expect(others).toContain(hot.endpoint);
    complete(hot);
    expect(stat(host, "llm_picker.hot_spot_guard")).toBe(1);
    host.close();
  });

  for (const [name, fail] of [
    ["answered 500", (s: Sent) => complete(s, 500)],
    ["answered 503", (s: Sent) => complete(s, 503)],
    ["was reset by the client before the response", (s: Sent) => s.stream.end("client_reset")],
    ["was reset by the upstream", (s: Sent) => s.stream.end("upstream_reset")],
    ["timed out (504)", (s: Sent) => s.stream.end("timeout")],
  ] as const) {
    it(`an endpoint that ${name} keeps no credit for that request's new blocks (but keeps earlier credit)`, async () => {
      const host = await newPool({ extra: { ...noScrape, debugHeaders: true, inspect: true } });
      // A fresh conversation whose only request failed: nobody holds its blocks.
      const lost = new Conversation(7);
      const s0 = send(host, lost.body());
      fail(s0);
      lost.advance(1);
      const s1 = send(host, lost.body());
      expect(scoresOf(s1).scores.prefix).toEqual({ [A]: 0, [B]: 0, [C]: 0 });
      complete(s1);

      // Turn 1 succeeded on X, turn 2 failed on X: turn 3 still matches turn 1's blocks only.
      const conv = new Conversation(8);
      const t1 = send(host, conv.body());
      const x = t1.endpoint!;
      complete(t1);
      conv.advance(1);
      const t2 = send(host, conv.body());
      expect(t2.endpoint).toBe(x);
      const score2 = scoresOf(t2).scores.prefix[x];
      const n2 = hashesOf(t2);
      fail(t2);
      conv.advance(2);
      const t3 = send(host, conv.body());
      const n3 = hashesOf(t3);
      // matched blocks at turn 3 = matched at turn 2 (turn 1's full blocks).
      expect(Math.round(scoresOf(t3).scores.prefix[x] * n3)).toBe(Math.round(score2 * n2));
      expect(Math.round(score2 * n2)).toBeGreaterThan(10);
      expect(t3.endpoint).toBe(x);
      complete(t3);
      expect(host.traps()).toEqual([]);
      host.close();
    });
  }

  it("control: after a 200 the next turn matches the previous turn's blocks too", async () => {
    const host = await newPool({ extra: { ...noScrape, debugHeaders: true, inspect: true } });
    const conv = new Conversation(9);
    complete(send(host, conv.body()));
    conv.advance(1);
    const t2 = send(host, conv.body());
    const matched2 = Math.round(scoresOf(t2).scores.prefix[t2.endpoint!] * hashesOf(t2));
    complete(t2);
    conv.advance(2);
    const t3 = send(host, conv.body());
    const matched3 = Math.round(scoresOf(t3).scores.prefix[t3.endpoint!] * hashesOf(t3));
    expect(matched3).toBeGreaterThan(matched2);
    complete(t3);
    host.close();
  });
});

describe("pool changes at runtime (host.reconfigure)", () => {
  it("removed endpoints never score; the index of endpoints that remain survives", async () => {
    const extra = { debugHeaders: true };
    const host = await newPool({ workers: 2, extra });
    const best = (winner: string) => Object.fromEntries([A, B, C].map((e) => [e, { waiting: e === winner ? 0 : 3, kv: 0.2 }]));
    scrapeRound(host, INTERVAL, best(A));
    const onA = new Conversation(100);
    const a1 = send(host, onA.body());
    expect(a1.endpoint).toBe(A);
    complete(a1);
    scrapeRound(host, INTERVAL, best(B));
    const onB = new Conversation(200);
    const b1 = send(host, onB.body());
    expect(b1.endpoint).toBe(B);
    complete(b1);
    const equal = { waiting: 1, kv: 0.2 };
    scrapeRound(host, INTERVAL, { [A]: equal, [B]: equal, [C]: equal });

    expect(host.reconfigure(poolConfig([B, C], extra))).toBe(true);
    onA.advance(1);
    const a2 = send(host, onA.body(), { worker: 1 });
    const sa = scoresOf(a2);
    expect(sa.scores.prefix).toEqual({ [B]: 0, [C]: 0 }); // A is not scored at all
    expect([B, C]).toContain(a2.endpoint);
    complete(a2);
    onB.advance(1);
    const b2 = send(host, onB.body(), { worker: 0 });
    expect(b2.endpoint).toBe(B);
    expect(scoresOf(b2).scores.prefix[B]).toBeGreaterThan(0.8);
    complete(b2);
    // Scraping follows the new pool: no callouts to A any more.
    const before = host.httpCalls().length;
    for (let i = 0; i < 4; i++) scrapeRound(host, INTERVAL, { [B]: equal, [C]: equal });
    const after = host
      .httpCalls()
      .slice(before)
      .map((c) => c.headers.find(([k]) => k === ":authority")![1]);
    expect(after.filter((a) => a === A)).toEqual([]);
    expect(after.filter((a) => a === B).length).toBeGreaterThanOrEqual(1);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
