// The default profile through build/units-scoring.wasm: the
// predicted-prefill scorer (scorers/predicted_prefill.ts: 2 × uncached +
// queued blocks, score P / (P + cost)), the bounded-load picker (bounded_load.ts),
// tie-breaks, and the flag for decisions where load overrode affinity.
// Each row writes out the uncached and queued blocks it expects per
// endpoint (docs/routing.md has the rule).
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"scoring">;
beforeAll(async () => {
  u = await loadUnits("scoring");
});

const enc = (s: string) => new TextEncoder().encode(s);
const addr = (i: number) => `10.0.0.${i + 1}:8000`;

interface Ep {
  inFlight?: number;
  pendingBlocks?: number;
  waiting?: number;
  running?: number;
  healthy?: boolean;
  kvCacheUsage?: number;
  runningLoras?: string[];
  waitingLoras?: string[];
  maxLoras?: number;
  /** Learned batch size (0 or missing: not learned). */
  slotCapacity?: number;
}

interface Req {
  matched?: number[];
  hashed?: number;
  prompt?: number;
  loadFactor?: number;
  waitRatio?: number;
  seed?: number;
  adapter?: string;
  priority?: number;
  /** The fleet's preference for placing a new prefix, per endpoint. */
  placement?: number[];
  /** bound.loadYieldRatio (missing: the default). */
  loadYieldRatio?: number;
  /** The endpoint known to hold the prompt past its hashed blocks, the blocks past them it lacks, and those the others holding the hashed ones lack (missing: none known). */
  past?: { holder: number; lacks: number; othersLack: number };
}

function decide(eps: Ep[], r: Req = {}): any {
  const snapshot = Object.fromEntries(eps.map((e, i) => [addr(i), { inFlight: 0, ...e }]));
  const hashed = r.hashed ?? 0;
  return JSON.parse(
    u.decideDefault(
      enc(JSON.stringify(snapshot)),
      r.adapter ?? "",
      r.priority ?? 0,
      new Int32Array(r.matched ?? []),
      hashed,
      r.prompt ?? hashed,
      r.loadFactor ?? 0,
      r.waitRatio ?? 0,
      r.seed ?? 1,
      new Float64Array(r.placement ?? []),
      r.loadYieldRatio ?? -1,
      r.past?.holder ?? -1,
      r.past?.lacks ?? 0,
      r.past?.othersLack ?? 0,
    ),
  );
}

const byAddr = (values: number[]) => Object.fromEntries(values.map((v, i) => [addr(i), v]));

describe("default profile: predicted prefill = 2 × uncached + queued blocks, within the load bound", () => {
  // Each row: endpoints, request, expected endpoint index, expected uncached
  // and queued blocks per endpoint, endpoints over the bound, load overrode affinity.
  const rows: Array<[string, Ep[], Req, number, number[], number[], number, boolean]> = [
    ["the endpoint holding the prefix wins when nothing is queued", [{}, {}, {}], { matched: [0, 40, 10], hashed: 50 }, 1, [50, 10, 40], [0, 0, 0], 0, false],
    [
      "a queue shorter than twice the blocks saved keeps the prefix: 2 × 10 + 45 = 65 < 2 × 50 + 0",
      [{ inFlight: 1 }, { inFlight: 1, pendingBlocks: 45 }, { inFlight: 1, pendingBlocks: 20 }],
      { matched: [0, 40, 10], hashed: 50 },
      1,
      [50, 10, 40],
      [0, 45, 20],
      0,
      false,
    ],
    [
      "queued prefill ahead outweighs the prefix: 2 × 10 + 85 = 105 > 2 × 50 + 0 = 100 < 2 × 40 + 25",
      [{ inFlight: 1 }, { inFlight: 1, pendingBlocks: 85 }, { inFlight: 1, pendingBlocks: 25 }],
      { matched: [0, 40, 10], hashed: 50 },
      0,
      [50, 10, 40],
      [0, 85, 25],
      0,
      true,
    ],
    [
      "a partial match with a short queue beats a cold idle endpoint: 2 × 30 + 5 = 65 < 2 × 50 = 100 < 2 × 10 + 90",
      [{ inFlight: 1 }, { inFlight: 1, pendingBlocks: 90 }, { inFlight: 1, pendingBlocks: 5 }],
      { matched: [0, 40, 20], hashed: 50 },
      2,
      [50, 10, 30],
      [0, 90, 5],
      0,
      true,
    ],
    [
      // occupancy 6+1+2 = 9: capacity ceil(1.5 × 10 / 3) = 5; 6 > 5. Then equal cost 50: occupancy 1 < 2.
      "the bound (its yield off): the endpoint with the whole prefix but 6 of 9 requests is left out",
      [{ inFlight: 6 }, { inFlight: 1 }, { inFlight: 2 }],
      { matched: [50, 0, 0], hashed: 50, loadYieldRatio: 0 },
      1,
      [0, 50, 50],
      [0, 0, 0],
      1,
      true,
    ],
    [
      "5 of 8 is at the bound and fits: capacity ceil(1.5 × (8 + 1) / 3) = 5, 5 ≤ 5",
      [{ inFlight: 5 }, { inFlight: 1 }, { inFlight: 2 }],
      { matched: [50, 0, 0], hashed: 50 },
      0,
      [0, 50, 50],
      [0, 0, 0],
      0,
      false,
    ],
    [
      "light load: 1 of 1 fits (capacity ceil(1.5 × 2 / 3) = 1): a second request on a prefix is not sent to re-prefill it",
      [{ inFlight: 1 }, { inFlight: 0 }, { inFlight: 0 }],
      { matched: [50, 0, 0], hashed: 50 },
      0,
      [0, 50, 50],
      [0, 0, 0],
      0,
      false,
    ],
    [
      "at 2 of 4 it fits: capacity ceil(1.5 × (4 + 1) / 3) = 3, 2 ≤ 3",
      [{ inFlight: 2 }, { inFlight: 1 }, { inFlight: 1 }],
      { matched: [50, 0, 0], hashed: 50 },
      0,
      [0, 50, 50],
      [0, 0, 0],
      0,
      false,
    ],
    [
      // occupancy = max(in flight, waiting + running): 9 there although this Envoy has 1; total 12,
      // capacity ceil(1.5 × 13 / 3) = 7, 9 > 7.
      "occupancy counts what the server reports (other routers' requests; the bound's yield off)",
      [{ inFlight: 1, waiting: 2, running: 7 }, { inFlight: 1 }, { inFlight: 2 }],
      { matched: [50, 0, 0], hashed: 50, loadYieldRatio: 0 },
      1,
      [0, 50, 50],
      [0, 0, 0],
      1,
      true,
    ],
    [
      // hashing stopped at 256 blocks of a 1,000-block prompt: a full match is taken to hold the rest.
      "long prompt: full match of the hashed part = the rest is cached too; a partial one prefills the rest",
      [{}, {}, {}],
      { matched: [256, 255, 0], hashed: 256, prompt: 1000 },
      0,
      [0, 745, 1000],
      [0, 0, 0],
      0,
      false,
    ],
    [
      "past the hashed blocks, unknown: both endpoints holding all 8 are taken to hold the rest, the idle one wins",
      [{ inFlight: 1, pendingBlocks: 3 }, { inFlight: 1 }],
      { matched: [8, 8], hashed: 8, prompt: 20 },
      1,
      [0, 0],
      [3, 0],
      0,
      false,
    ],
    [
      "past the hashed blocks, endpoint 0 holds the previous turn: it lacks 2 of the 12 after them, endpoint 1 all 12 (30, capped): 2 × 2 + 3 = 7 < 2 × 12",
      [{ inFlight: 1, pendingBlocks: 3 }, { inFlight: 1 }],
      { matched: [8, 8], hashed: 8, prompt: 20, past: { holder: 0, lacks: 2, othersLack: 30 } },
      0,
      [2, 12],
      [3, 0],
      0,
      false,
    ],
    [
      "past the hashed blocks, the others lack 5 (the conversation from its first reply): 2 × 2 + 3 = 7 < 2 × 5",
      [{ inFlight: 1, pendingBlocks: 3 }, { inFlight: 1 }],
      { matched: [8, 8], hashed: 8, prompt: 20, past: { holder: 0, lacks: 2, othersLack: 5 } },
      0,
      [2, 5],
      [3, 0],
      0,
      false,
    ],
    [
      "past the hashed blocks, the holder's queue outweighs what the others lack beyond it: 2 × 2 + 8 > 2 × 5, load overrode affinity",
      [{ inFlight: 1, pendingBlocks: 8 }, { inFlight: 1 }],
      { matched: [8, 8], hashed: 8, prompt: 20, past: { holder: 0, lacks: 2, othersLack: 5 } },
      1,
      [2, 5],
      [8, 0],
      0,
      true,
    ],
    [
      "past the hashed blocks, the holder's lack is capped at the 12 blocks past them: 2 × 12 + 3 > 2 × 12",
      [{ inFlight: 1, pendingBlocks: 3 }, { inFlight: 1 }],
      { matched: [8, 8], hashed: 8, prompt: 20, past: { holder: 0, lacks: 30, othersLack: 30 } },
      1,
      [12, 12],
      [3, 0],
      0,
      false,
    ],
    [
      "past the hashed blocks, a holder that lost hashed blocks lacks what it lacks: 2 × 15 > 2 × 12",
      [{ inFlight: 1 }, { inFlight: 1 }],
      { matched: [5, 8], hashed: 8, prompt: 20, past: { holder: 0, lacks: 2, othersLack: 30 } },
      1,
      [15, 12],
      [0, 0],
      0,
      false,
    ],
    [
      "past the hashed blocks, a queue longer than the re-prefill sends it away from the holder: load overrode affinity (2 × 2 + 30 > 2 × 12)",
      [{ inFlight: 1, pendingBlocks: 30 }, { inFlight: 1 }],
      { matched: [8, 8], hashed: 8, prompt: 20, past: { holder: 0, lacks: 2, othersLack: 30 } },
      1,
      [2, 12],
      [30, 0],
      0,
      true,
    ],
    [
      "no prefix anywhere: least queued prefill wins",
      [
        { inFlight: 1, pendingBlocks: 30 },
        { inFlight: 1, pendingBlocks: 10 },
        { inFlight: 1, pendingBlocks: 20 },
      ],
      { matched: [0, 0, 0], hashed: 8 },
      1,
      [8, 8, 8],
      [30, 10, 20],
      0,
      false,
    ],
    [
      "request not hashed (matched empty): prompt size everywhere, queued work decides",
      [{ pendingBlocks: 3 }, { pendingBlocks: 0 }],
      { hashed: 0, prompt: 12 },
      1,
      [12, 12],
      [3, 0],
      0,
      false,
    ],
  ];
  for (const [name, eps, req, chosen, uncached, queued, overBound, overrode] of rows) {
    it(name, () => {
      for (const seed of [1, 2, 3]) {
        const d = decide(eps, { ...req, seed });
        expect(d.status).toBe(200);
        expect(d.endpoint).toBe(addr(chosen));
        const p = req.prompt ?? req.hashed ?? 0;
        // UNCACHED_WEIGHT = 2: own uncached blocks count twice, queued ones once.
        const want = uncached.map((x, i) => p / (p + 2 * x + queued[i]));
        expect(Object.keys(d.scores)).toEqual(["predicted-prefill"]);
        expect(Object.keys(d.scores["predicted-prefill"])).toEqual(eps.map((_, i) => addr(i)));
        want.forEach((v, i) => {
          expect(d.scores["predicted-prefill"][addr(i)]).toBeCloseTo(v, 6);
        });
        expect(d.overBound).toBe(overBound);
        expect(d.loadOverrodeAffinity).toBe(overrode);
        expect(d.tied).toBe(1);
      }
    });
  }
});

describe("default profile: a full batch above the pool's mean is left out while another batch has a place", () => {
  // Three endpoints, the first holding all 50 blocks. Columns: occupancy
  // (in flight) per endpoint, learned slot capacity per endpoint, expected
  // endpoints the bound leaves out, whether the prefix holder is chosen.
  // Capacity ceil(1.5 × (T + 1) / 3), pool mean ceil((T + 1) / 3). When
  // every batch is full, the request waits for a place wherever it goes and
  // no endpoint is left out for its batch (the wait for a place is not set
  // in these snapshots, so the holder's cost is the lowest).
  const rows: Array<[string, number[], number[], number, boolean]> = [
    ["8 running of 8 slots, the others at 4 (capacity 9, mean 6): full, out", [8, 4, 4], [8, 8, 8], 1, false],
    ["8 of 9 slots: a slot is free, the prefix holder keeps it", [8, 4, 4], [9, 9, 9], 0, true],
    ["slots not learned: only the load bound applies (8 ≤ 9)", [8, 4, 4], [0, 0, 0], 0, true],
    ["learned on the others only: the holder's batch is not known to be full", [8, 4, 4], [0, 8, 8], 0, true],
    ["every batch full, 8 each (mean 9): balance is all that is left, the holder keeps it", [8, 8, 8], [8, 8, 8], 0, true],
    ["9 against 8 and 8 (mean ceil(26 / 3) = 9): still at the mean", [9, 8, 8], [8, 8, 8], 0, true],
    ["10 against 8 and 8 (mean 9), every batch full: none is left out for it, the holder keeps it", [10, 8, 8], [8, 8, 8], 0, true],
    ["12 against 8 and 8, every batch full: within the load bound (15), the holder keeps it", [12, 8, 8], [8, 8, 8], 0, true],
    ["10 against 8 and 8 with a place free at the third (9 slots): above the mean with a full batch, out", [10, 8, 8], [8, 8, 9], 1, false],
    ["18 against 8 and 8, every batch full: at the load bound (ceil(1.5 × 35 / 3) = 18), kept", [18, 8, 8], [8, 8, 8], 0, true],
    // The load bound's yield off: with nothing queued the holder's wait (1 block) would take it back.
    ["19 against 8 and 8, every batch full: the load bound still holds (ceil(1.5 × 36 / 3) = 18), out", [19, 8, 8], [8, 8, 8], 1, false],
  ];
  for (const [name, occupancy, slots, overBound, holder] of rows) {
    it(name, () => {
      for (const seed of [1, 2, 3]) {
        const d = decide(
          occupancy.map((inFlight, i) => ({ inFlight, slotCapacity: slots[i] })),
          { matched: [50, 0, 0], hashed: 50, seed, loadYieldRatio: 0 },
        );
        expect(d.overBound).toBe(overBound);
        expect(d.endpoint === addr(0)).toBe(holder);
        expect(d.loadOverrodeAffinity).toBe(!holder);
      }
    });
  }

  it("every batch full: the least queued wins although its occupancy is above the mean (was: left out)", () => {
    // Occupancy 10, 8, 8 of 8 slots each; nothing cached anywhere; queued 0, 30, 30 blocks: costs 100, 130, 130.
    const d = decide(
      [
        { inFlight: 10, slotCapacity: 8 },
        { inFlight: 8, slotCapacity: 8, pendingBlocks: 30 },
        { inFlight: 8, slotCapacity: 8, pendingBlocks: 30 },
      ],
      { matched: [0, 0, 0], hashed: 50 },
    );
    expect(d.overBound).toBe(0);
    expect(d.endpoint).toBe(addr(0));
  });

  it("the server's own report counts: 8 running + 3 waiting of 8 slots is full even with nothing of ours in flight", () => {
    const d = decide(
      [
        { running: 8, waiting: 3, slotCapacity: 8 },
        { running: 4, waiting: 0, slotCapacity: 8 },
        { running: 4, waiting: 0, slotCapacity: 8 },
      ],
      { matched: [50, 0, 0], hashed: 50, loadFactor: 3 },
    );
    // occupancy 11, 4, 4: capacity ceil(3 × 20 / 3) = 20 lets it in, the full batch does not (mean 7).
    expect(d.overBound).toBe(1);
    expect(d.endpoint).not.toBe(addr(0));
  });
});

describe("default profile: the load bound yields for an endpoint where leaving it out would at least double the request's cost", () => {
  // Three endpoints, the first holding some of the prompt's 50 blocks with
  // 6 of the 9 requests (capacity ceil(1.5 × 10 / 3) = 5: over the load
  // bound), the others cold with 1 and 2 requests. Cost = 2 × uncached +
  // queued + 1 blocks: 101 at the cold ones, so the yield's limit is 50.5
  // (25.25 at ratio 4); wait = uncached + queued + 1: 51 at the cold ones.
  // Each row: blocks the holder holds, blocks queued there, loadYieldRatio
  // (missing: the default 2), expected endpoint, endpoints left out by the
  // bounds (load or batch; wait), whether load overrode affinity.
  const rows: Array<[string, number, number, number | undefined, number, number, number, boolean]> = [
    ["the whole prompt, idle: cost 1 ≤ 50.5, taken back; the cold ones' wait 51 > 1.25 × 1, out on their wait", 50, 0, undefined, 0, 0, 2, false],
    ["26 of 50, idle: cost 49 ≤ 50.5, taken back; the cold ones' wait 51 > 1.25 × 25", 26, 0, undefined, 0, 0, 2, false],
    ["25 of 50, idle: cost 51 > 50.5, left out; equal costs 101 at the cold ones, the less occupied", 25, 0, undefined, 1, 1, 0, true],
    [
      "the whole prompt, 25 blocks queued: cost 26 ≤ 50.5, taken back (its wait, 26, is more than half the cold ones'); their wait 51 > 1.25 × 26",
      50,
      25,
      undefined,
      0,
      0,
      2,
      false,
    ],
    [
      "the whole prompt, 49 blocks queued: cost 50 ≤ 50.5, taken back; the cold ones' wait 51 ≤ 1.25 × 50 keeps them, and its cost wins",
      50,
      49,
      undefined,
      0,
      0,
      0,
      false,
    ],
    ["the whole prompt, 50 blocks queued: cost 51 > 50.5, left out", 50, 50, undefined, 1, 1, 0, true],
    ["ratio 4: 37 of 50, idle: cost 27 > 25.25, left out", 37, 0, 4, 1, 1, 0, true],
    ["ratio 4: 38 of 50, idle: cost 25 ≤ 25.25, taken back", 38, 0, 4, 0, 0, 2, false],
    ["ratio 0: never taken back", 50, 0, 0, 1, 1, 0, true],
  ];
  for (const [name, held, queued, loadYieldRatio, chosen, overBound, overWait, overrode] of rows) {
    it(name, () => {
      for (const seed of [1, 2, 3]) {
        const d = decide([{ inFlight: 6, pendingBlocks: queued }, { inFlight: 1 }, { inFlight: 2 }], {
          matched: [held, 0, 0],
          hashed: 50,
          seed,
          loadYieldRatio,
        });
        expect(d.endpoint).toBe(addr(chosen));
        expect(d.overBound).toBe(overBound);
        expect(d.overWait).toBe(overWait);
        // Left out, by the bound that did: the holder by the load bound, or the two cold ones on their wait.
        const byLoad = overBound === 1 ? { [addr(0)]: "load" } : {};
        const byWait = overWait === 2 ? { [addr(1)]: "wait", [addr(2)]: "wait" } : {};
        expect(d.leftOut).toEqual({ ...byLoad, ...byWait });
        expect(d.loadOverrodeAffinity).toBe(overrode);
      }
    });
  }

  it("not for a full batch while another has a place, nor for a request that was not hashed", () => {
    // 10 of 8 slots against 8 and 8 of 9 (mean ceil(27 / 3) = 9): the batch bound leaves the idle holder out.
    const batch = decide(
      [
        { inFlight: 10, slotCapacity: 8 },
        { inFlight: 8, slotCapacity: 8 },
        { inFlight: 8, slotCapacity: 9 },
      ],
      { matched: [50, 0, 0], hashed: 50 },
    );
    expect(batch.overBound).toBe(1);
    expect(batch.leftOut).toEqual({ [addr(0)]: "batch" });
    expect(batch.endpoint).not.toBe(addr(0));
    // Not hashed: no predicted wait, the load bound holds (6 of 9, capacity 5).
    const unhashed = decide([{ inFlight: 6 }, { inFlight: 1 }, { inFlight: 2 }], { hashed: 0, prompt: 50 });
    expect(unhashed.overBound).toBe(1);
    expect(unhashed.leftOut).toEqual({ [addr(0)]: "load" });
    expect(unhashed.endpoint).toBe(addr(1));
  });
});

describe("default profile: a request's predicted wait stays within waitRatio × its best", () => {
  // Wait = queued + uncached + 1 blocks. One request in flight everywhere
  // and loadFactor 10, so the load bound leaves everyone in. Each row:
  // queued blocks per endpoint, leading blocks held (of 50), waitRatio
  // (0 = default 1.25), expected endpoint, expected endpoints left out,
  // the one left out (null: none).
  const rows: Array<[string, number[], number[], number, number, number, number | null]> = [
    ["the holder's wait 71 > 1.25 × 56: out, although its cost 70 is the lowest (105, 110)", [70, 5, 10], [50, 0, 0], 0, 1, 1, 0],
    ["the holder's wait 70 = 1.25 × 56: it stays, cost 69", [69, 5, 10], [50, 0, 0], 0, 0, 0, null],
    ["waitRatio 2: the holder's wait 71 ≤ 2 × 56 stays", [70, 5, 10], [50, 0, 0], 2, 0, 0, null],
    ["waitRatio 1 (greedy): the holder's wait 61 > 51 is out; cost alone would keep it (60 < 100)", [60, 0], [50, 0], 1, 1, 1, 0],
    ["waitRatio 1.25: 61 ≤ 1.25 × 51, the cost keeps the holder", [60, 0], [50, 0], 0, 0, 0, null],
    ["two partial holders: waits 11, 9 and 51; the cold one is out, the cost picks 8 < 20", [0, 8, 0], [40, 50, 0], 0, 1, 1, 2],
  ];
  for (const [name, queued, matched, waitRatio, chosen, overWait, out] of rows) {
    it(name, () => {
      for (const seed of [1, 2, 3]) {
        const d = decide(
          queued.map((pendingBlocks) => ({ inFlight: 1, pendingBlocks })),
          { matched, hashed: 50, loadFactor: 10, waitRatio, seed },
        );
        expect(d.endpoint).toBe(addr(chosen));
        expect(d.overWait).toBe(overWait);
        expect(d.leftOut).toEqual(out === null ? {} : { [addr(out)]: "wait" });
        expect(d.overBound).toBe(0);
      }
    });
  }

  it("does not apply to a request that was not hashed, names an adapter, or when load alone decides", () => {
    const eps = [
      { inFlight: 1, pendingBlocks: 70 },
      { inFlight: 1, pendingBlocks: 5 },
    ];
    expect(decide(eps, { hashed: 0, prompt: 50, loadFactor: 10 }).overWait).toBe(0);
    const lora = decide(
      eps.map((e) => ({ ...e, runningLoras: [], waitingLoras: [], maxLoras: 4 })),
      { matched: [50, 0], hashed: 50, loadFactor: 10, adapter: "ad" },
    );
    expect(lora.overWait).toBe(0);
    expect(lora.endpoint).toBe(addr(0)); // cost 70 < 105, both with a free adapter slot
    const unhealthy = decide(
      eps.map((e) => ({ ...e, healthy: false })),
      { matched: [50, 0], hashed: 50, loadFactor: 10 },
    );
    expect(unhealthy.allUnhealthy).toBe(true);
    expect(unhealthy.overWait).toBe(0);
  });
});

describe("default profile: ties, bound factor, health, saturation, LoRA", () => {
  it("equal cost: the less occupied endpoint wins; equal occupancy: each of the tied at random", () => {
    const d = decide([{ inFlight: 3 }, { inFlight: 1 }, { inFlight: 2 }], { matched: [50, 50, 50], hashed: 50, loadFactor: 3 });
    expect(d.endpoint).toBe(addr(1));
    expect(d.tied).toBe(3); // "tied" counts equal totals; the picker then looks at occupancy
    const seen = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const e = decide([{ inFlight: 2 }, { inFlight: 2 }, { inFlight: 5 }], { matched: [50, 50, 50], hashed: 50, loadFactor: 3, seed });
      expect(e.tied).toBe(3);
      seen.add(e.endpoint);
    }
    expect([...seen].sort()).toEqual([addr(0), addr(1)]);
  });

  it("a larger loadFactor keeps affinity longer: 6 of 8 fits with factor 3 (capacity ceil(3 × 9 / 3) = 9)", () => {
    const d = decide([{ inFlight: 6 }, { inFlight: 1 }, { inFlight: 1 }], { matched: [50, 0, 0], hashed: 50, loadFactor: 3 });
    expect(d.endpoint).toBe(addr(0));
    expect(d.overBound).toBe(0);
    expect(d.loadOverrodeAffinity).toBe(false);
  });

  it("the bound (its yield off): 4 of 7 against capacity ceil(1.5 × 8 / 3) = 4 fits; one more (5 of 8, capacity ceil(1.5 × 9 / 3) = 5) fits; 6 of 9 (capacity 5) does not", () => {
    const at = (k: number, others: number[]) =>
      decide([{ inFlight: k }, ...others.map((n) => ({ inFlight: n }))], { matched: [50, 0, 0], hashed: 50, loadYieldRatio: 0 });
    expect(at(4, [1, 2]).endpoint).toBe(addr(0));
    expect(at(5, [1, 2]).endpoint).toBe(addr(0));
    expect(at(6, [1, 2]).overBound).toBe(1);
  });

  it("the bound never empties the pool: an idle pool of one takes everything", () => {
    const d = decide([{ inFlight: 0 }], { matched: [5], hashed: 5, loadFactor: 1 });
    expect(d.endpoint).toBe(addr(0));
    expect(d.overBound).toBe(0);
  });

  it("totals are the scores (weight 1); the endpoint over the bound keeps its total but is not picked", () => {
    // The bound's yield off (the holder's wait 1 is below half the third's 4).
    const d = decide([{ inFlight: 6 }, { inFlight: 1 }, { inFlight: 1, pendingBlocks: 1 }], { matched: [50, 0, 48], hashed: 50, loadYieldRatio: 0 });
    // occupancy 6+1+1 = 8, capacity ceil(1.5 × 9 / 3) = 5: the first is over. Costs: 0, 2 × 50 + 0, 2 × 2 + 1.
    const expected = [1, 50 / 150, 50 / 55];
    expect(d.weights).toEqual({ "predicted-prefill": 1 });
    expect(Object.keys(d.total)).toEqual([addr(0), addr(1), addr(2)]);
    Object.values(d.total).forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i], 6);
    });
    expect(d.overBound).toBe(1);
    expect(d.endpoint).toBe(addr(2));
    expect(d.loadOverrodeAffinity).toBe(true);
  });

  it("unhealthy endpoints are out; all unhealthy: the prefill scorer yields (weight 0) and occupancy decides", () => {
    const some = decide([{ healthy: false }, {}, {}], { matched: [50, 10, 0], hashed: 50 });
    expect(some.endpoint).toBe(addr(1));
    expect(Object.keys(some.scores["predicted-prefill"])).toEqual([addr(1), addr(2)]);
    const all = decide(
      [
        { healthy: false, inFlight: 3 },
        { healthy: false, inFlight: 1 },
      ],
      { matched: [50, 0], hashed: 50 },
    );
    expect(all.allUnhealthy).toBe(true);
    expect(all.weights).toEqual({ "predicted-prefill": 0 });
    expect(all.endpoint).toBe(addr(1));
    expect(all.loadOverrodeAffinity).toBe(true);
  });

  it("every endpoint saturated: a sheddable request gets 429", () => {
    const eps = [
      { waiting: 9, pendingBlocks: 4 },
      { waiting: 6, pendingBlocks: 1 },
    ];
    expect(decide(eps, { matched: [50, 0], hashed: 50, priority: -1 }).status).toBe(429);
  });

  const saturatedRows: Array<[string, number[], Req, number]> = [
    // [case, pending blocks at endpoints 0 and 1 (9 and 6 waiting), request, expected endpoint]; occupancy alone would pick endpoint 1 in every row
    ["the prompt held at the busier one: its wait 0 + 4 + 1 = 5 blocks against 50 + 1 + 1 = 52", [4, 1], { matched: [50, 0], hashed: 50 }, 0],
    ["held nowhere, less queued at the busier one: 50 + 1 + 1 = 52 against 50 + 4 + 1 = 55", [1, 4], { matched: [0, 0], hashed: 50 }, 0],
    ["not hashed: no prediction, the lower occupancy", [1, 4], {}, 1],
  ];
  it.each(saturatedRows)("every endpoint saturated: the least predicted wait decides, affinity's weight 0: %s", (_case, pending, req, expected) => {
    const eps = [
      { waiting: 9, pendingBlocks: pending[0] },
      { waiting: 6, pendingBlocks: pending[1] },
    ];
    const d = decide(eps, { ...req, loadFactor: 10 });
    expect(d.saturated).toBe(true);
    expect(d.weights).toEqual({ "predicted-prefill": 0 });
    expect(d.endpoint).toBe(addr(expected));
  });

  it("LoRA: the adapter already running counts like the whole prompt cached (lora-affinity, weight 1)", () => {
    const eps = [
      { runningLoras: ["other"], waitingLoras: [], maxLoras: 1 },
      { runningLoras: ["ad"], waitingLoras: [], maxLoras: 1, pendingBlocks: 30 },
    ];
    // totals: 1 (prompt cached) + 0 (no slot) against 50 / (50 + 2 × 50 + 30) + 1 (adapter running).
    const d = decide(eps, { matched: [50, 0], hashed: 50, adapter: "ad" });
    expect(d.scores["lora-affinity"]).toEqual(byAddr([0, 1]));
    expect(d.total[addr(0)]).toBeCloseTo(1, 6);
    expect(d.total[addr(1)]).toBeCloseTo(50 / 180 + 1, 6);
    expect(d.endpoint).toBe(addr(1));
    // Without an adapter, lora-affinity does not run.
    expect(Object.keys(decide(eps, { matched: [50, 0], hashed: 50 }).scores)).toEqual(["predicted-prefill"]);
  });
});

// A fleet's placement of a new prefix (docs/fleet.md "Placing a new
// prefix"): among the endpoints within the load bound whose predicted
// prefill is best, the most preferred one wins, whatever their occupancy;
// the preference never beats a better total or the bound.
describe("placement preference of a new prefix (default profile, bounded-load picker)", () => {
  // [case, endpoints, preference per endpoint, expected endpoint]
  const placementRows: Array<[string, Ep[], number[], string]> = [
    ["equal totals, equal occupancy: the most preferred", [{}, {}, {}], [0.1, 0.9, 0.5], addr(1)],
    ["equal totals: the preference beats a lower occupancy (replicas see different occupancies)", [{}, { inFlight: 1 }, {}], [0.1, 0.9, 0.5], addr(1)],
    ["the preferred endpoint is over the bound ⌈1.5 × 4 / 3⌉ = 2: the next preferred", [{}, { inFlight: 3 }, {}], [0.1, 0.9, 0.5], addr(2)],
    ["a better total wins: queued prefill on the preferred endpoint", [{}, { inFlight: 1, pendingBlocks: 20 }, {}], [0.1, 0.9, 0.5], addr(2)],
    ["only the best totals compete", [{ pendingBlocks: 5 }, { inFlight: 1, pendingBlocks: 5 }, {}], [0.1, 0.9, 0.5], addr(2)],
  ];
  it.each(placementRows)("%s", (_, eps, placement, want) => {
    expect(decide(eps, { matched: eps.map(() => 0), hashed: 20, placement }).endpoint).toBe(want);
  });

  it("is deterministic: the same endpoint for every seed (no random tie-break)", () => {
    const picks = new Set(
      Array.from(
        { length: 20 },
        (_, seed) => decide([{}, {}, {}, {}], { matched: [0, 0, 0, 0], hashed: 20, placement: [0.3, 0.2, 0.8, 0.7], seed: seed + 1 }).endpoint,
      ),
    );
    expect([...picks]).toEqual([addr(2)]);
  });

  it("without a preference, ties are broken at random among the least occupied (unchanged)", () => {
    const picks = new Set(Array.from({ length: 40 }, (_, seed) => decide([{}, {}, {}, {}], { matched: [0, 0, 0, 0], hashed: 20, seed: seed + 1 }).endpoint));
    expect(picks.size).toBeGreaterThan(1);
  });
});
