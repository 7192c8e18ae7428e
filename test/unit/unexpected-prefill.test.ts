// assembly/pool/unexpected_prefill.ts through build/units-scoring.wasm:
// prefill a server's prefix-cache counters show beyond what this Envoy
// expected to send it (docs/routing.md "Prefill the server did not expect").
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"scoring">;
beforeAll(async () => {
  u = await loadUnits("scoring");
});

/** A scrape: the server's counters, this Envoy's clocks and queue, and when. */
type Scrape = { queries: number; hits: number; written: number; prompt: number; pending: number; pace: number; now: number };
/** What the detector holds after it: owed, blocks, atMs, what remains then, the learned ratio (null: not yet), the blocks folded into the clock. */
type After = [number, number, number, number, number | null, number];

function observe(scrapes: Scrape[]): After[] {
  const flat = scrapes.flatMap((s) => [s.queries, s.hits, s.written, s.prompt, s.pending, s.pace, s.now]);
  const got = Array.from(u.observeUnexpectedPrefill(new Float64Array(flat)), (x) => (Number.isNaN(x) ? null : x));
  const out: After[] = [];
  for (let i = 0; i < scrapes.length; i++) out.push(got.slice(i * 6, i * 6 + 6) as After);
  return out;
}

/**
 * The counters after `missed` more prompt tokens not found and `found`
 * more found, the clocks after `written` more blocks expected uncached and
 * `routed` more prompt blocks.
 */
function next(s: Scrape, o: { missed?: number; found?: number; written?: number; routed?: number; pending?: number; pace?: number; now: number }): Scrape {
  const missed = o.missed ?? 0;
  const found = o.found ?? 0;
  return {
    queries: s.queries + missed + found,
    hits: s.hits + found,
    written: (s.written + (o.written ?? 0)) % 2 ** 32,
    prompt: s.prompt + (o.routed ?? 0),
    pending: o.pending ?? 0,
    pace: o.pace ?? 1,
    now: o.now,
  };
}

const R = 1 / 16;
/** The first scrape, and one that closes a learning window at 16 tokens a block, half the tokens missed, as expected. */
const START: Scrape = { queries: 1_000_000, hits: 500_000, written: 0, prompt: 0, pending: 0, pace: 0, now: 0 };
const LEARNED = next(START, { missed: 8192, found: 8192, written: 512, routed: 1024, now: 50 });

describe("unexpected prefill from the server's prefix-cache counters", () => {
  it("learns the prompt blocks per token over a window, then finds prefill beyond what was expected", () => {
    // 1,600 tokens missed where 10 blocks (160 tokens) were expected: 90 blocks unexpected.
    const falseHit = next(LEARNED, { missed: 1600, written: 10, routed: 100, pending: 10, now: 100 });
    const later = next(falseHit, { now: 130 });
    expect(observe([START, LEARNED, falseHit, later])).toEqual([
      [0, 0, 0, 0, null, 0],
      [0, 0, 0, 0, R, 0],
      // Folded into the written-blocks clock: the next scrape reads it there as expected.
      [0, 90, 100, 90, R, 90],
      // 30 ms on at 1 block per ms: 60 left; the fold is not taken for a shortfall.
      [0, 90, 100, 60, R, 0],
    ]);
  });

  it("requests routed but not yet admitted are owed, not unexpected, when they are admitted", () => {
    const routed = next(LEARNED, { written: 50, routed: 50, pending: 50, now: 100 });
    const admitted = next(routed, { missed: 800, pending: 50, now: 150 });
    expect(observe([START, LEARNED, routed, admitted]).slice(2)).toEqual([
      [50, 0, 0, 0, R, 0],
      [0, 0, 0, 0, R, 0],
    ]);
  });

  it("prefixes found cached beyond what was expected are owed at most the pending blocks: a later false hit still shows", () => {
    // 100 blocks expected uncached were all found: 70 of them cannot be requests still to come (30 pending).
    const found = next(LEARNED, { found: 1600, written: 100, routed: 100, pending: 30, now: 100 });
    const thirty = next(found, { missed: 480, now: 150 });
    const falseHit = next(thirty, { missed: 320, now: 200 });
    expect(observe([START, LEARNED, found, thirty, falseHit]).slice(2)).toEqual([
      [30, 0, 0, 0, R, 0],
      [0, 0, 0, 0, R, 0],
      [0, 20, 200, 20, R, 20],
    ]);
  });

  it("a new finding adds to what is left of the last (100 less 20 ms at 1 block per ms, and 50 more)", () => {
    const first = next(LEARNED, { missed: 1600, now: 100 });
    const second = next(first, { missed: 800, now: 120 });
    expect(observe([START, LEARNED, first, second]).slice(2)).toEqual([
      [0, 100, 100, 100, R, 100],
      [0, 130, 120, 130, R, 50],
    ]);
  });

  it.each([
    ["before the ratio is learned", [START, next(START, { missed: 1600, now: 50 })], [0, 0, 0, 0, null, 0]],
    ["across a server restart (counters back to near 0)", [START, LEARNED, { ...LEARNED, queries: 5000, hits: 0, now: 100 }], [0, 0, 0, 0, R, 0]],
    [
      "after a server restart, only what the counters add since",
      [
        START,
        LEARNED,
        { ...LEARNED, queries: 5000, hits: 0, now: 100 },
        next({ ...LEARNED, queries: 5000, hits: 0 }, { missed: 1600, written: 100, now: 150 }),
      ],
      [0, 0, 0, 0, R, 0],
    ],
    [
      "across a reset clock (this Envoy's in-flight value started again)",
      [START, LEARNED, { ...next(LEARNED, { missed: 1600, now: 100 }), written: 0 }],
      [0, 0, 0, 0, R, 0],
    ],
    [
      "a page whose counters are not counts changes nothing (what is owed stays)",
      [START, LEARNED, next(LEARNED, { written: 50, routed: 50, pending: 50, now: 100 }), { ...LEARNED, hits: -1, written: 50, pending: 0, now: 150 }],
      [50, 0, 0, 0, R, 0],
    ],
    [
      "without a pace nothing remains: nothing says when it ends",
      [START, LEARNED, next(LEARNED, { missed: 1600, pace: 0, now: 100 })],
      [0, 100, 100, 0, R, 100],
    ],
  ] as Array<[string, Scrape[], After]>)("%s", (_name, scrapes, last) => {
    expect(observe(scrapes).at(-1)).toEqual(last);
  });

  it("whatever the counters and clocks do, the values stay finite and in range (property)", () => {
    const scrape = fc.record({
      queries: fc.double({ min: -10, max: 1e12, noNaN: false }),
      hits: fc.double({ min: -10, max: 1e12, noNaN: false }),
      written: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      prompt: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      pending: fc.integer({ min: -5, max: 1 << 20 }),
      pace: fc.double({ min: -1, max: 100, noNaN: false }),
      now: fc.integer({ min: 0, max: 2 ** 40 }),
    });
    fc.assert(
      fc.property(fc.array(scrape, { maxLength: 30 }), (scrapes) => {
        // A scrape whose counters are not counts (NaN, negative) is ignored: what is owed stays as the last valid one left it.
        let bound = 0;
        for (const [i, [owed, blocks, , remaining, ratio, fold]] of observe(scrapes).entries()) {
          const { queries, hits, pending } = scrapes[i];
          if (Number.isFinite(queries) && Number.isFinite(hits) && queries >= 0 && hits >= 0) bound = Math.max(0, pending);
          expect(owed >= 0 && owed <= bound).toBe(true);
          expect(blocks >= 0 && Number.isFinite(blocks)).toBe(true);
          expect(remaining >= 0 && remaining <= blocks).toBe(true);
          expect(Number.isInteger(fold) && fold >= 0 && fold <= blocks + 0.5).toBe(true);
          if (ratio !== null) expect(ratio >= 0 && ratio <= 1).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
