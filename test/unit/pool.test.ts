// assembly/pool through build/units-scoring.wasm: the binary encoding of an
// endpoint's state in shared data, and the endpoints snapshot reader
// (`inspect --endpoints` and the `snapshot` configuration key).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"scoring">;
beforeAll(async () => {
  u = await loadUnits("scoring");
});

const enc = (s: string) => new TextEncoder().encode(s);
// ---------------------------------------------------------------------------
// Endpoint state: binary encoding.

const stateArb = fc.record({
  address: fc.string({ maxLength: 40 }),
  waiting: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: null }),
  running: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: null }),
  kvCacheUsage: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
  maxLoras: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
  inFlight: fc.option(fc.integer({ min: 0, max: 1 << 30 }), { nil: null }),
  healthy: fc.option(fc.boolean(), { nil: null }),
  scrapedAtMs: fc.option(fc.integer({ min: 0, max: 2 ** 50 }), { nil: null }),
  consecutiveFailures: fc.integer({ min: 0, max: 1000 }),
  blockSize: fc.option(fc.integer({ min: 0, max: 1 << 20 }), { nil: null }),
  numGpuBlocks: fc.option(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { nil: null }),
  slotCapacity: fc.integer({ min: 0, max: 1 << 20 }),
  // The learned sums: tokens in (0, 2^40], blocks at most one per token (whole numbers: the JSON the test reads prints them exactly).
  learned: fc.option(
    fc
      .tuple(fc.integer({ min: 1, max: 2 ** 40 }), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([tokens, rate]) => ({ tokens, blocks: Math.floor(tokens * rate) })),
    { nil: null },
  ),
  mark: fc.option(fc.tuple(fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })), { nil: null }),
  // The same two of the prompt blocks per token, and what the unexpected-prefill detector keeps between scrapes.
  promptLearned: fc.option(
    fc
      .tuple(fc.integer({ min: 1, max: 2 ** 40 }), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([tokens, rate]) => ({ tokens, blocks: Math.floor(tokens * rate) })),
    { nil: null },
  ),
  promptMark: fc.option(fc.tuple(fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })), { nil: null }),
  seen: fc.option(
    fc.record({
      missesSeen: fc.integer({ min: 0, max: 2 ** 50 }),
      writtenSeen: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      owed: fc.integer({ min: 0, max: 2 ** 31 }),
      blocks: fc.integer({ min: 0, max: 2 ** 40 }),
      atMs: fc.integer({ min: 0, max: 2 ** 50 }),
    }),
    { nil: null },
  ),
  loras: fc.option(
    fc.record({
      running: fc.array(
        fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes("\n")),
        { maxLength: 6 },
      ),
      waiting: fc.array(
        fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes("\n")),
        { maxLength: 6 },
      ),
    }),
    { nil: null },
  ),
});

type StateArb = typeof stateArb extends fc.Arbitrary<infer T> ? T : never;

function encodeFrom(s: StateArb): Uint8Array {
  const n = (v: number | boolean | null) => (v === null ? NaN : Number(v));
  const nums = new Float64Array([
    n(s.waiting),
    n(s.running),
    n(s.kvCacheUsage),
    n(s.maxLoras),
    n(s.inFlight),
    n(s.healthy),
    n(s.scrapedAtMs),
    s.consecutiveFailures,
    n(s.blockSize),
    n(s.numGpuBlocks),
    s.slotCapacity,
    s.learned === null ? NaN : s.learned.blocks,
    s.learned === null ? NaN : s.learned.tokens,
    s.mark === null ? NaN : s.mark[0],
    s.mark === null ? NaN : s.mark[1],
    s.promptLearned === null ? NaN : s.promptLearned.blocks,
    s.promptLearned === null ? NaN : s.promptLearned.tokens,
    s.promptMark === null ? NaN : s.promptMark[0],
    s.promptMark === null ? NaN : s.promptMark[1],
    s.seen === null ? NaN : s.seen.missesSeen,
    s.seen === null ? NaN : s.seen.writtenSeen,
    s.seen === null ? NaN : s.seen.owed,
    s.seen === null ? NaN : s.seen.blocks,
    s.seen === null ? NaN : s.seen.atMs,
  ]);
  return u.encodeStateFrom(s.address, nums, s.loras !== null, (s.loras?.running ?? []).join("\n"), (s.loras?.waiting ?? []).join("\n"));
}

const round6 = (x: number | null) => (x === null ? null : Math.round(x * 1e6) / 1e6);

describe("endpoint state encoding", () => {
  it("decode(encode(s)) == s", () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const back = JSON.parse(u.decodeStateJson(encodeFrom(s)));
        expect(back).toEqual({
          address: s.address,
          waiting: round6(s.waiting),
          running: round6(s.running),
          kvCacheUsage: round6(s.kvCacheUsage),
          maxLoras: s.maxLoras,
          inFlight: s.inFlight,
          scrapedAtMs: s.scrapedAtMs,
          blockSize: s.blockSize,
          numGpuBlocks: s.numGpuBlocks,
          slotCapacity: s.slotCapacity,
          clockSum: s.learned === null ? null : s.learned.blocks,
          tokensSum: s.learned === null ? null : s.learned.tokens,
          tokensMark: s.mark === null ? null : s.mark[0],
          clockMark: s.mark === null ? null : s.mark[1],
          promptClockSum: s.promptLearned === null ? null : s.promptLearned.blocks,
          promptTokensSum: s.promptLearned === null ? null : s.promptLearned.tokens,
          promptTokensMark: s.promptMark === null ? null : s.promptMark[0],
          promptClockMark: s.promptMark === null ? null : s.promptMark[1],
          missesSeen: s.seen === null ? null : s.seen.missesSeen,
          writtenSeen: s.seen === null ? null : s.seen.writtenSeen,
          owed: s.seen === null ? null : s.seen.owed,
          unexpectedBlocks: s.seen === null ? null : s.seen.blocks,
          unexpectedAtMs: s.seen === null ? null : s.seen.atMs,
          consecutiveFailures: s.consecutiveFailures,
          healthy: s.healthy,
          runningLoras: s.loras === null ? null : s.loras.running,
          waitingLoras: s.loras === null ? null : s.loras.waiting,
        });
      }),
      { numRuns: 300 },
    );
  });

  it("a fixed encoding (version 4 layout is stable)", () => {
    const b = encodeFrom({
      address: "a:1",
      waiting: 2,
      running: null,
      kvCacheUsage: 0.5,
      maxLoras: null,
      inFlight: 3,
      healthy: true,
      scrapedAtMs: null,
      consecutiveFailures: 0,
      blockSize: null,
      numGpuBlocks: null,
      slotCapacity: 32,
      learned: { tokens: 32768, blocks: 2048 },
      mark: [40000, 7],
      promptLearned: { tokens: 16384, blocks: 1024 },
      promptMark: null,
      seen: { missesSeen: 900, writtenSeen: 5, owed: 3, blocks: 90, atMs: 1234 },
      loras: { running: ["x"], waiting: [] },
    });
    // version, flags = waiting|kv|loras|inFlight|healthy|blocksPerToken|mark|promptBlocks|seen = 1+4+8+32+64+1024+2048+4096+16384 = 23661
    expect(Array.from(b.slice(0, 6))).toEqual([4, 23661 & 0xff, 23661 >> 8, 3, 0, 0x61]);
    // address, 3 × f64, maxLoras + inFlight, healthy, scrapedAtMs, failures +
    // blockSize + numGpuBlocks, slotCapacity, twice clockSum + tokensSum +
    // tokensMark, clockMark, missesSeen + writtenSeen + owed + blocks +
    // atMs, then the two adapter lists
    expect(b.length).toBe(1 + 2 + 5 + 24 + 8 + 1 + 8 + 12 + 4 + 2 * (24 + 4) + (8 + 4 + 8 + 8 + 8) + (2 + 2 + 1) + 2);
    const slots = b.length - (2 + 2 + 1) - 2 - 36 - 2 * 28 - 4;
    expect(Array.from(b.slice(slots, slots + 4))).toEqual([32, 0, 0, 0]);
    const at = (from: number, n: number) => new DataView(b.buffer, b.byteOffset + from, n);
    const ratio = (v: DataView) => [v.getFloat64(0, true), v.getFloat64(8, true), v.getFloat64(16, true), v.getUint32(24, true)];
    expect(ratio(at(slots + 4, 28))).toEqual([2048, 32768, 40000, 7]);
    expect(ratio(at(slots + 32, 28))).toEqual([1024, 16384, 0, 0]);
    const seen = at(slots + 60, 36);
    expect([
      seen.getFloat64(0, true),
      seen.getUint32(8, true),
      seen.getFloat64(12, true),
      seen.getFloat64(20, true),
      Number(seen.getBigUint64(28, true)),
    ]).toEqual([900, 5, 3, 90, 1234]);
  });

  it("every truncation of a valid encoding decodes to null", () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const b = encodeFrom(s);
        for (let n = 0; n < b.length; n++) expect(u.decodeStateJson(b.slice(0, n))).toBe("null");
        const longer = new Uint8Array(b.length + 1);
        longer.set(b);
        expect(u.decodeStateJson(longer)).toBe("null"); // trailing bytes refused
      }),
      { numRuns: 60 },
    );
  });

  it("garbage never traps (random bytes, flipped valid encodings, pools)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const out = u.decodeStateJson(b);
        expect(() => JSON.parse(out)).not.toThrow();
        expect(() => JSON.parse(u.decodeStatesJson(b))).not.toThrow();
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(stateArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (s, flips) => {
        const b = encodeFrom(s);
        for (const [p, v] of flips) b[p % b.length] = v;
        const out = JSON.parse(u.decodeStateJson(b));
        if (out !== null) {
          for (const k of ["waiting", "running"]) if (out[k] !== null) expect(out[k]).toBeGreaterThanOrEqual(0);
          if (out.kvCacheUsage !== null) expect(out.kvCacheUsage).toBeLessThanOrEqual(1);
          if (out.tokensSum !== null) expect(out.tokensSum).toBeGreaterThan(0);
          if (out.clockSum !== null) expect(out.clockSum >= 0 && out.clockSum <= out.tokensSum).toBe(true);
          if (out.promptClockSum !== null) expect(out.promptClockSum >= 0 && out.promptClockSum <= out.promptTokensSum).toBe(true);
          for (const k of ["missesSeen", "owed", "unexpectedBlocks"]) if (out[k] !== null) expect(out[k]).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("wrong version and unknown flags are refused", () => {
    const b = encodeFrom({
      address: "a",
      waiting: 1,
      running: 1,
      kvCacheUsage: 0,
      maxLoras: 1,
      inFlight: 0,
      healthy: true,
      scrapedAtMs: 5,
      consecutiveFailures: 0,
      blockSize: 16,
      numGpuBlocks: 10,
      slotCapacity: 0,
      learned: null,
      mark: null,
      promptLearned: null,
      promptMark: null,
      seen: null,
      loras: null,
    });
    expect(u.decodeStateJson(b)).not.toBe("null");
    // Version 1 (no slotCapacity), 2 (no blocksPerToken), 3 (no unexpected prefill) and any later version are refused.
    for (const version of [1, 2, 3, 5]) {
      const other = b.slice();
      other[0] = version;
      expect(u.decodeStateJson(other)).toBe("null");
    }
    const flags = b.slice();
    flags[2] |= 0x80; // bit 15
    expect(u.decodeStateJson(flags)).toBe("null");
  });
});

// ---------------------------------------------------------------------------
// Blocks per token: how far this Envoy's written-blocks clock advances per
// token the server reports writing into its KV cache, one window per 16,384
// tokens, as the ratio of the windows' sums, each older window weighted 7/8
// (docs/hashing.md "Evictions").

describe("blocks per token learned from the server's cache writes", () => {
  const W = 16384;
  const WRAP = 2 ** 32;
  const D = 0.875;
  it.each([
    // [case, (cache writes, clock) pairs, blocksPerToken after each (null: not learned)]
    ["the first scrape only marks", [[1000, 0]], [null]],
    [
      "a window closes at 16,384 tokens, not before",
      [
        [1000, 0],
        [10000, 100],
        [1000 + W, 1024],
      ],
      [null, null, 0.0625],
    ],
    [
      "later windows add to the sums, the older ones weighted 7/8",
      [
        [1000, 0],
        [1000 + W, 1024],
        [1000 + 3 * W, 2048],
      ],
      [null, 0.0625, (1024 * D + 1024) / (W * D + 2 * W)],
    ],
    [
      "a counter that went back (a restarted server) opens a new window without adding to the sums",
      [
        [1000, 0],
        [1000 + W, 1024],
        [500, 2100],
        [500 + W, 2100 + 2048],
      ],
      [null, 0.0625, 0.0625, (1024 * D + 2048) / (W * D + W)],
    ],
    [
      "a clock that went back (a new in-flight value) is over a block per token: nothing added, a new window",
      [
        [0, 5000],
        [W, 10],
        [2 * W, 10 + 512],
      ],
      [null, null, 512 / W],
    ],
    [
      "the clock wraps",
      [
        [0, WRAP - 296],
        [W, 728],
      ],
      [null, 1024 / W],
    ],
    [
      "nothing written there by this Envoy while the server wrote: 0 blocks per token",
      [
        [0, 7],
        [20000, 7],
      ],
      [null, 0],
    ],
    [
      "a negative or non-finite counter is ignored",
      [
        [0, 0],
        [NaN, 500],
        [-5, 500],
        [Infinity, 500],
        [W, 1024],
      ],
      [null, null, null, null, 0.0625],
    ],
  ] as Array<[string, Array<[number, number]>, Array<number | null>]>)("%s", (_name, steps, expected) => {
    const got = u.learnBlocksPerToken(new Float64Array(steps.map(([t]) => t)), new Float64Array(steps.map(([, r]) => r)));
    expect(Array.from(got, (x) => (Number.isNaN(x) ? null : x))).toEqual(expected);
  });

  it("stays in [0, 1] whatever the counters do (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 0, max: 1e12, noNaN: true }), fc.integer({ min: 0, max: WRAP - 1 })), { maxLength: 40 }), (steps) => {
        const got = u.learnBlocksPerToken(new Float64Array(steps.map(([t]) => t)), new Float64Array(steps.map(([, r]) => r)));
        for (const x of got) if (!Number.isNaN(x)) expect(x >= 0 && x <= 1).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------
// Endpoints snapshot (CLI --endpoints FILE) and pools.

describe("endpoints snapshot", () => {
  const full =
    '{"10.0.0.1:8000": {"waiting": 3, "running": 2, "kvCacheUsage": 0.25, "runningLoras": ["a"], "waitingLoras": [], "maxLoras": 4, "inFlight": 1, "healthy": true},' +
    ' "10.0.0.2:8000": {}, "10.0.0.3:8000": {"waiting": null, "healthy": false}}';

  it("reads every key, missing and null mean unknown, order kept", () => {
    expect(JSON.parse(u.snapshotRoundTrip(enc(full)))).toEqual({
      "10.0.0.1:8000": { waiting: 3, running: 2, kvCacheUsage: 0.25, runningLoras: ["a"], waitingLoras: [], maxLoras: 4, inFlight: 1, healthy: true },
      "10.0.0.2:8000": {},
      "10.0.0.3:8000": { healthy: false },
    });
    expect(Object.keys(JSON.parse(u.snapshotRoundTrip(enc(full))))).toEqual(["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"]);
  });

  it("slotCapacity: read, written back when learned, refused when not a count", () => {
    const snap = '{"a:1": {"slotCapacity": 32, "inFlight": 1}, "b:1": {"slotCapacity": 0}}';
    expect(JSON.parse(u.snapshotRoundTrip(enc(snap)))).toEqual({ "a:1": { inFlight: 1, slotCapacity: 32 }, "b:1": {} });
    expect(JSON.parse(u.decodeStatesJson(u.encodeSnapshot(enc(snap)))).map((s: any) => s.slotCapacity)).toEqual([32, 0]);
    for (const bad of ["-1", "1.5", '"32"', "2e6"]) {
      expect(JSON.parse(u.snapshotRoundTrip(enc(`{"a:1": {"slotCapacity": ${bad}}}`))).error).toMatch(/slotCapacity/);
    }
  });

  it("pool encoding round-trips through decodeStates", () => {
    const pool = JSON.parse(u.decodeStatesJson(u.encodeSnapshot(enc(full))));
    expect(pool.map((s: any) => s.address)).toEqual(["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"]);
    expect(pool[0]).toMatchObject({
      waiting: 3,
      running: 2,
      kvCacheUsage: 0.25,
      runningLoras: ["a"],
      waitingLoras: [],
      maxLoras: 4,
      inFlight: 1,
      healthy: true,
    });
    expect(pool[1]).toMatchObject({ waiting: null, healthy: null, runningLoras: null });
    expect(JSON.parse(u.decodeStatesJson(u.encodeSnapshot(enc("{}"))))).toEqual([]);
  });

  const errors: Array<[string, string]> = [
    ['{"a:1": {"waitng": 1}}', "a:1.waitng: unknown key"],
    ['{"a:1": {"kvCacheUsage": 1.5}}', "a:1.kvCacheUsage: must be between 0 and 1"],
    ['{"a:1": {"waiting": -1}}', "a:1.waiting: must be a non-negative number"],
    ['{"a:1": {"maxLoras": 1.5}}', "a:1.maxLoras: expected an integer"],
    ['{"a:1": {"inFlight": "3"}}', "a:1.inFlight: expected a number, got a string"],
    ['{"a:1": {"healthy": 1}}', "a:1.healthy: expected a boolean, got a number"],
    ['{"a:1": {"runningLoras": [1]}}', "a:1.runningLoras[0]: expected a string, got a number"],
    ['{"a:1": {}, "a:1": {}}', "a:1: duplicate endpoint address"],
    ['{"": {}}', "empty endpoint address"],
    ['[{"a:1": {}}]', "expected an object, got an array"],
    ['{"a:1": {}', "invalid JSON"],
    ['{"a:1": {}} x', "invalid JSON"],
  ];
  for (const [json, message] of errors) {
    it(`refuses ${json}`, () => {
      expect(JSON.parse(u.snapshotRoundTrip(enc(json))).error).toContain(message);
    });
  }

  it("never traps on random or mutated snapshots", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(() => JSON.parse(u.snapshotRoundTrip(b))).not.toThrow();
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 5 }), (flips) => {
        const b = enc(full);
        for (const [p, v] of flips) b[p % b.length] = v;
        expect(() => JSON.parse(u.snapshotRoundTrip(b))).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------

// publishScrape keeps its own last value decoded and updates it in place
// when the store still holds exactly that value; any other value is decoded.
describe("publishing scrapes", () => {
  const page = (waiting: number, running: number) => `vllm:num_requests_waiting ${waiting}\nvllm:num_requests_running ${running}\n`;
  const pages = (...p: string[]) => enc(p.join("\u0000"));
  type State = { address: string; waiting: number | null; running: number | null; healthy: boolean; consecutiveFailures: number };
  const run = (p: Uint8Array, outsideAt: number): { states: State[]; health: string } => {
    const [json, health] = u.publishSequence(p, outsideAt).split("|");
    return { states: JSON.parse(json), health };
  };

  // `healthy` as applyScrape and recordFailure leave it (a good scrape sets it, a failure does not
  // touch it). Had the scraper's read of 10.0.0.2's health at 4000 ms (stale: "0") been written
  // into the kept state, the last publish would carry false for it.
  const HEALTHY_AS_PUBLISHED = [true, true];

  it("successive publishes by one writer keep every endpoint's latest values", () => {
    const { states, health } = run(pages(page(1, 2), page(3, 4), page(5, 6), "", page(7, 8)), -1);
    expect(states.map((s) => [s.address, s.waiting, s.running, s.consecutiveFailures])).toEqual([
      ["10.0.0.1:8000", 7, 8, 0],
      ["10.0.0.2:8000", 3, 4, 1],
    ]);
    // The health read at each publish is the published state's; reading it changed nothing published.
    expect(health).toBe("11101"); // the failed scrape leaves 10.0.0.2 last scraped at 2000 ms: stale at 4000
    expect(states.map((s) => s.healthy)).toEqual(HEALTHY_AS_PUBLISHED);
  });

  it("a value written by another VM in between is decoded, not overwritten with the cached one", () => {
    const { states } = run(pages(page(1, 2), page(3, 4), page(5, 6), page(9, 9)), 2);
    expect(states.map((s) => [s.address, s.waiting, s.running])).toEqual([
      ["10.0.0.1:8000", 5, 6],
      ["10.0.0.2:8000", 9, 9],
      ["10.0.0.9:8000", null, null],
    ]);
    const { states: outsideLast } = run(pages(page(1, 2), page(3, 4), page(5, 6)), 2);
    expect(outsideLast.map((s) => [s.address, s.waiting])).toEqual([
      ["10.0.0.1:8000", 5],
      ["10.0.0.2:8000", 77],
      ["10.0.0.9:8000", null],
    ]);
  });
});
