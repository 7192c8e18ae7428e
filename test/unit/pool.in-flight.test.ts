// The in-flight value (assembly/pool/in_flight.ts) with its decoding
// requests (assembly/pool/decode_ends.ts) through build/units-scoring.wasm:
// random sequences of routed, first-token, ended and pruned changes against
// a model written here.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"scoring">;
beforeAll(async () => {
  u = await loadUnits("scoring");
});

const ROUTED = 0;
const FIRST = 1;
const ENDED = 2;
const PRUNED = 3;
const STALE_MS = 600_000;

interface Change {
  kind: number;
  endpoint: number;
  key: number;
  nowMs: number;
  tokens: number;
}
interface Decoding {
  endpoint: number;
  key: number;
  routedMs: number;
  firstMs: number;
  tokens: number;
}

/** What the value should hold after `changes`: counts per endpoint and the decoding requests in order. */
function model(changes: Change[], keep: number): { counts: number[]; decoding: Decoding[] } {
  const counts = new Array(8).fill(0);
  let decoding: Decoding[] = [];
  const dropStale = (now: number) => {
    decoding = decoding.filter((d) => (now - d.routedMs) >>> 0 <= STALE_MS);
  };
  for (const c of changes) {
    if (c.kind === PRUNED) {
      for (let e = Math.max(keep, 0); e < 8; e++) counts[e] = 0;
      decoding = decoding.filter((d) => d.endpoint < keep);
      continue;
    }
    if (c.kind === ROUTED) {
      counts[c.endpoint]++;
      if (c.tokens > 0) {
        dropStale(c.nowMs);
        decoding.push({ endpoint: c.endpoint, key: c.key, routedMs: c.nowMs, firstMs: 0, tokens: c.tokens });
      }
    } else if (c.kind === FIRST) {
      dropStale(c.nowMs);
      for (const d of decoding) if (d.key === c.key) d.firstMs = Math.max(c.nowMs, 1);
    } else {
      counts[c.endpoint] = Math.max(0, counts[c.endpoint] - 1);
      decoding = decoding.filter((d) => d.key !== c.key);
    }
  }
  return { counts, decoding };
}

/** When endpoint 0's first place frees with one place and 1 ms per token, at `now`: its oldest request's tokens less its time running. */
function firstPlaceFrees(decoding: Decoding[], now: number): number {
  const mine = decoding.filter((d) => d.endpoint === 0);
  if (mine.length === 0) return -1;
  const age = (d: Decoding) => (now - d.routedMs) >>> 0;
  const oldest = Math.max(...mine.map(age));
  const ends = mine.filter((d) => age(d) >= oldest).map((d) => Math.max(0, d.tokens - (d.firstMs !== 0 ? (now - d.firstMs) | 0 : age(d))));
  return Math.min(...ends);
}

const changeArb = fc.record({
  kind: fc.constantFrom(ROUTED, ROUTED, FIRST, ENDED, PRUNED),
  endpoint: fc.integer({ min: 0, max: 7 }),
  key: fc.integer({ min: 1, max: 12 }),
  step: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 400_000 })),
  tokens: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000 })),
});

function run(changes: Change[], keep: number, atMs: number) {
  const flat = new Int32Array(changes.flatMap((c) => [c.kind, c.endpoint, c.key, c.nowMs, c.tokens]));
  const [counts, decoding, frees] = u.inFlightSequence(flat, keep, atMs).split("|");
  return {
    counts: counts.split(",").map(Number),
    decoding: decoding === "" ? [] : decoding.split(",").map((d: string) => d.split(":").map(Number)),
    frees: Number.parseFloat(frees),
  };
}

describe("in-flight value with decoding requests", () => {
  it("holds the counts and decoding requests the changes leave, in order, and when the first place frees", () => {
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 60 }), fc.integer({ min: 0, max: 8 }), (raw, keep) => {
        let now = 1;
        const changes: Change[] = raw.map((c) => {
          now += c.step;
          return { kind: c.kind, endpoint: c.endpoint, key: c.key, nowMs: now, tokens: c.tokens };
        });
        const want = model(changes, keep);
        const got = run(changes, keep, now);
        expect(got.counts).toEqual(want.counts);
        expect(got.decoding).toEqual(want.decoding.map((d) => [d.endpoint, d.key, d.firstMs, d.tokens]));
        expect(got.frees).toBe(firstPlaceFrees(want.decoding, now));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    // [case, changes as [kind, endpoint, key, now, tokens], expected decoding requests, expected ms until endpoint 0's first place frees at 1,000]
    ["a request without max_tokens: counted, not recorded", [[ROUTED, 0, 1, 10, 0]], [], -1],
    ["recorded at routing: taken as running since (990 ms of its 800 done)", [[ROUTED, 0, 1, 10, 800]], [[0, 1, 0, 800]], 0],
    ["recorded at routing, 500 tokens at 1 ms from 600", [[ROUTED, 0, 1, 600, 500]], [[0, 1, 0, 500]], 100],
    [
      "from its first token on: 800 tokens at 1 ms from 900",
      [
        [ROUTED, 0, 1, 10, 800],
        [FIRST, 0, 1, 900, 0],
      ],
      [[0, 1, 900, 800]],
      700,
    ],
    [
      "ended: gone",
      [
        [ROUTED, 0, 1, 10, 800],
        [ENDED, 0, 1, 20, 0],
      ],
      [],
      -1,
    ],
    [
      "left behind by a replaced VM: dropped by the next change after 600 s",
      [
        [ROUTED, 0, 1, 10, 800],
        [ROUTED, 1, 2, 600_011, 5],
      ],
      [[1, 2, 0, 5]],
      -1,
    ],
  ] as const)("%s", (_case, changes, decoding, frees) => {
    const list = changes.map(([kind, endpoint, key, nowMs, tokens]) => ({ kind, endpoint, key, nowMs, tokens }));
    const got = run(list, 8, 1000);
    expect(got.decoding).toEqual(decoding);
    expect(got.frees).toBe(frees);
  });
});
