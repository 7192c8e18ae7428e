// assembly/scoring through build/units-scoring.wasm: the seed profile's
// scorers, weighted sum, hot-spot guard, health filter, admission and the
// max-score picker (docs/reference/seed.md#scorers-and-picking and
// #admission; the default profile: scoring.ttft.test.ts).
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"scoring">;
beforeAll(async () => {
  u = await loadUnits("scoring");
});

const enc = (s: string) => new TextEncoder().encode(s);

interface Opts {
  adapter?: string;
  priority?: number;
  prefix?: number[];
  seed?: number;
  /** [prefix, queue, kvCache, loraAffinity, inFlight]; default: the built-in defaults */
  weights?: number[];
  /** [enabled, abs, rel] */
  guard?: number[];
  /** [queue, kv] */
  saturation?: number[];
}

function decide(snapshot: Record<string, object>, o: Opts = {}): any {
  const out = u.decideSnapshot(
    enc(JSON.stringify(snapshot)),
    o.adapter ?? "",
    o.priority ?? 0,
    new Float64Array(o.prefix ?? []),
    o.seed ?? 1,
    new Float64Array(o.weights ?? []),
    new Float64Array(o.guard ?? []),
    new Float64Array(o.saturation ?? []),
  );
  return JSON.parse(out);
}

// ---------------------------------------------------------------------------
// The seed's golden scheduling cases (docs/reference/seed.md#golden-scheduling-cases): weights kv/queue/prefix/lora 1, prefix 0
// (5-character prompts), MaxActiveModels 0, pod i = 192.168.1.(i+1):8000.
// Our in-flight scorer is given weight 0 so totals are exactly q+kv+lora.

const TARGET = "sql-lora-1fdg2";
const pod = (queue: number, kv: number, active: boolean) => ({
  waiting: queue,
  kvCacheUsage: kv,
  runningLoras: active ? [TARGET] : ["foo"],
  waitingLoras: [],
  maxLoras: 0,
  healthy: true,
});
const pods = (...ps: object[]) => Object.fromEntries(ps.map((p, i) => [`192.168.1.${i + 1}:8000`, p]));
const GOLDEN_WEIGHTS = [1, 1, 1, 1, 0];

describe("seed golden scheduling cases", () => {
  const cases: Array<[string, object[], string, number[]]> = [
    ["select lower queue and kv cache", [pod(3, 0.2, false), pod(0, 0.1, false), pod(10, 0.2, false)], "192.168.1.2:8000", [1.5, 1.9, 0.8]],
    ["select active lora, low queue", [pod(0, 0.2, false), pod(0, 0.1, true), pod(10, 0.2, false)], "192.168.1.2:8000", [1.8, 2.9, 0.8]],
    ["select lora despite higher kv", [pod(10, 0.2, false), pod(10, 0.4, true), pod(10, 0.3, false)], "192.168.1.2:8000", [1.8, 2.6, 1.7]],
    ["don't shed by default", [pod(6, 0.2, true), pod(0, 0.85, false), pod(10, 0.9, false)], "192.168.1.1:8000", [2.2, 1.15, 0.1]],
  ];
  for (const [name, ps, endpoint, totals] of cases) {
    it(name, () => {
      for (const seed of [1, 2, 3, 42]) {
        const d = decide(pods(...ps), { adapter: TARGET, prefix: [0, 0, 0], weights: GOLDEN_WEIGHTS, seed });
        expect(d.status).toBe(200);
        expect(d.endpoint).toBe(endpoint);
        expect(Object.values(d.total)).toEqual(totals);
        expect(d.tied).toBe(1);
      }
    });
  }

  it("the last case is saturated: a sheddable request gets 429", () => {
    const ps = pods(pod(6, 0.2, true), pod(0, 0.85, false), pod(10, 0.9, false));
    expect(decide(ps, { adapter: TARGET, weights: GOLDEN_WEIGHTS }).saturated).toBe(true);
    expect(decide(ps, { adapter: TARGET, weights: GOLDEN_WEIGHTS, priority: -1 })).toEqual({
      status: 429,
      reason: "all endpoints saturated and the request is sheddable",
    });
  });
});

// ---------------------------------------------------------------------------
// Each scorer's table (raw scores per endpoint, in pool order).

const addr = (i: number) => `10.0.0.${i + 1}:8000`;
const pool = (...eps: object[]) => Object.fromEntries(eps.map((e, i) => [addr(i), e]));
const scoresOf = (d: any, scorer: string) => Object.values(d.scores[scorer]);

describe("scorers", () => {
  const queue: Array<[string, object[], unknown[]]> = [
    ["all equal: 1.0 for all", [{ waiting: 4 }, { waiting: 4 }], [1, 1]],
    ["min-max", [{ waiting: 0 }, { waiting: 5 }, { waiting: 10 }], [1, 0.5, 0]],
    ["unknown is neutral 0.5, range over known", [{ waiting: 2 }, {}, { waiting: 6 }], [1, 0.5, 0]],
    ["all unknown: 0.5", [{}, {}], [0.5, 0.5]],
  ];
  for (const [name, eps, want] of queue) it(`queue: ${name}`, () => expect(scoresOf(decide(pool(...eps)), "queue")).toEqual(want));

  const kv: Array<[string, object[], unknown[]]> = [
    ["1 - usage", [{ kvCacheUsage: 0 }, { kvCacheUsage: 0.3 }, { kvCacheUsage: 1 }], [1, 0.7, 0]],
    ["unknown is neutral", [{}, { kvCacheUsage: 0.9 }], [0.5, 0.1]],
  ];
  for (const [name, eps, want] of kv) it(`kv-cache: ${name}`, () => expect(scoresOf(decide(pool(...eps)), "kv-cache")).toEqual(want));

  const inflight: Array<[string, object[], unknown[]]> = [
    ["min-max", [{ inFlight: 0 }, { inFlight: 2 }, { inFlight: 4 }], [1, 0.5, 0]],
    ["all equal", [{ inFlight: 7 }, { inFlight: 7 }], [1, 1]],
    ["unknown is neutral", [{}, { inFlight: 1 }, { inFlight: 3 }], [0.5, 1, 0]],
  ];
  for (const [name, eps, want] of inflight) it(`in-flight: ${name}`, () => expect(scoresOf(decide(pool(...eps)), "in-flight")).toEqual(want));

  const lora: Array<[string, object, number]> = [
    ["adapter running: 1.0", { runningLoras: ["x", "a"], waitingLoras: [], maxLoras: 2 }, 1.0],
    ["free slot: 0.8", { runningLoras: ["b"], waitingLoras: [], maxLoras: 2 }, 0.8],
    ["free slot wins over waiting: 0.8", { runningLoras: [], waitingLoras: ["a"], maxLoras: 2 }, 0.8],
    ["slots full, adapter waiting: 0.6", { runningLoras: ["b"], waitingLoras: ["a"], maxLoras: 2 }, 0.6],
    ["slots full, adapter absent: 0", { runningLoras: ["b", "c"], waitingLoras: [], maxLoras: 2 }, 0],
    ["unknown maxLoras counts as 0 slots", { runningLoras: [], waitingLoras: [] }, 0],
    ["no LoRA info: neutral 0.5", {}, 0.5],
    ["adapter names are exact", { runningLoras: ["a-v2", "A"], waitingLoras: [], maxLoras: 0 }, 0],
  ];
  for (const [name, ep, want] of lora) {
    it(`lora-affinity: ${name}`, () => expect(decide(pool(ep), { adapter: "a" }).scores["lora-affinity"][addr(0)]).toBe(want));
  }

  it("lora-affinity only runs when the request names an adapter", () => {
    expect(decide(pool({ runningLoras: ["a"], waitingLoras: [] })).scores["lora-affinity"]).toBeUndefined();
  });

  it("prefix: caller's scores, missing entries 0; absent when not supplied", () => {
    const d = decide(pool({}, {}, {}), { prefix: [0.75, 0.25] });
    expect(scoresOf(d, "prefix")).toEqual([0.75, 0.25, 0]);
    expect(decide(pool({})).scores.prefix).toBeUndefined();
  });

  it("default weights: prefix 3, queue 2, kv-cache 2, lora-affinity 1, in-flight 1", () => {
    expect(decide(pool({}), { adapter: "a", prefix: [0] }).weights).toEqual({ prefix: 3, queue: 2, "kv-cache": 2, "lora-affinity": 1, "in-flight": 1 });
  });

  it("totals are the weighted sum of clamped scores", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            waiting: fc.integer({ min: 0, max: 50 }),
            kvCacheUsage: fc.double({ min: 0, max: 1, noNaN: true }),
            inFlight: fc.integer({ min: 0, max: 20 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.array(fc.double({ min: -1, max: 2, noNaN: true }), { minLength: 6, maxLength: 6 }),
        fc.array(
          fc.integer({ min: 0, max: 20 }).map((x) => x / 4),
          { minLength: 5, maxLength: 5 },
        ),
        (eps, prefix, weights) => {
          const d = decide(pool(...eps), { prefix, weights, guard: [0, 64, 1.5] });
          const w: Record<string, number> = d.weights;
          const prefixDropped = d.guard || d.allUnhealthy || d.saturated;
          expect(w).toEqual({ prefix: prefixDropped ? 0 : weights[0], queue: weights[1], "kv-cache": weights[2], "in-flight": weights[4] });
          for (let i = 0; i < eps.length; i++) {
            let want = 0;
            for (const s of Object.keys(d.scores)) want += w[s] * Math.min(1, Math.max(0, d.scores[s][addr(i)]));
            expect(d.total[addr(i)]).toBeCloseTo(want, 4);
          }
          // the chosen endpoint has the best total
          const best = Math.max(...(Object.values(d.total) as number[]));
          expect(d.total[d.endpoint]).toBeCloseTo(best, 5);
        },
      ),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------
// Hot-spot guard (SGLang's rule on waiting + running + inFlight).

describe("hot-spot guard", () => {
  // Endpoint 1 holds the whole prefix but is much more loaded.
  const hot = (load: number, cold: number) =>
    pool({ waiting: 0, running: load, inFlight: 0, kvCacheUsage: 0.1 }, { waiting: 0, running: cold, inFlight: 0, kvCacheUsage: 0.1 });
  const cases: Array<[string, number, number, number[] | undefined, boolean]> = [
    ["100 vs 10: diff 90 > 64 and 100 > 15 → fires", 100, 10, undefined, true],
    ["70 vs 10: diff 60 ≤ 64 → quiet", 70, 10, undefined, false],
    ["300 vs 230: 300 ≤ 1.5 × 230 → quiet", 300, 230, undefined, false],
    ["65 vs 0: diff 65 > 64, any max > 1.5 × 0 → fires", 65, 0, undefined, true],
    ["custom thresholds abs 5, rel 1.1: 12 vs 5 → fires", 12, 5, [1, 5, 1.1], true],
    ["disabled", 100, 10, [0, 64, 1.5], false],
  ];
  for (const [name, a, b, guard, fires] of cases) {
    it(name, () => {
      const d = decide(hot(a, b), { prefix: [1, 0], guard });
      expect(d.guard).toBe(fires);
      expect(d.weights.prefix).toBe(fires ? 0 : 3);
      // fired: load decides → the cold endpoint; quiet: a full prefix hit (3)
      // beats the queue gap (2)
      expect(d.endpoint).toBe(fires ? addr(1) : addr(0));
    });
  }

  it("load counts waiting + running + inFlight", () => {
    const d = decide(pool({ waiting: 30, running: 30, inFlight: 30 }, { waiting: 5, running: 5, inFlight: 5 }), { prefix: [1, 0] });
    expect(d.guard).toBe(true); // 90 vs 15
    expect(decide(pool({ waiting: 30, running: 30 }, { waiting: 5, running: 5 }), { prefix: [1, 0] }).guard).toBe(false); // 60 vs 10
  });
});

// ---------------------------------------------------------------------------
// Health filter and the all-unhealthy fallback.

describe("health filter", () => {
  it("unhealthy endpoints are not candidates, even with the best scores", () => {
    const d = decide(pool({ waiting: 0, healthy: false }, { waiting: 9, healthy: true }, { waiting: 5 }), { prefix: [1, 0, 0] });
    expect(d.endpoint).toBe(addr(2)); // unknown health counts as healthy
    expect(Object.keys(d.total)).toEqual([addr(1), addr(2)]);
    expect(d.allUnhealthy).toBe(false);
    expect(d.weights.prefix).toBe(3);
  });

  it("all unhealthy: every endpoint is scored, load only (prefix weight 0)", () => {
    const d = decide(pool({ waiting: 9, healthy: false }, { waiting: 0, healthy: false }), { prefix: [1, 0] });
    expect(d.status).toBe(200);
    expect(d.allUnhealthy).toBe(true);
    expect(d.weights.prefix).toBe(0);
    expect(d.endpoint).toBe(addr(1));
    expect(Object.keys(d.total)).toEqual([addr(0), addr(1)]);
  });

  it("all unhealthy is not shed: sheddable requests are still routed when load allows", () => {
    const d = decide(pool({ waiting: 0, healthy: false }), { priority: -1 });
    expect(d.status).toBe(200);
  });
});

// ---------------------------------------------------------------------------
// Admission: only sheddable requests, only when every endpoint is saturated.

describe("admission", () => {
  it("empty pool → 503", () => {
    expect(decide({})).toEqual({ status: 503, reason: "no endpoints in the pool" });
    expect(decide({}, { priority: -1 }).status).toBe(503);
  });

  const sat = { waiting: 6, kvCacheUsage: 0.1 };
  const kvSat = { waiting: 0, kvCacheUsage: 0.81 };
  const free = { waiting: 5, kvCacheUsage: 0.8 }; // thresholds are strict (> 5, > 0.8)
  const cases: Array<[string, object[], number, number[] | undefined, number, boolean]> = [
    ["all saturated, sheddable → 429", [sat, kvSat], -1, undefined, 429, true],
    ["all saturated, priority 0 → routed", [sat, kvSat], 0, undefined, 200, true],
    ["one at the thresholds has capacity → routed", [sat, free], -1, undefined, 200, false],
    ["unknown metrics do not count as saturated", [sat, {}], -1, undefined, 200, false],
    ["unhealthy free endpoint does not save the pool", [sat, { ...free, healthy: false }], -1, undefined, 429, true],
    ["custom thresholds (queue 10, kv 0.9)", [sat, kvSat], -1, [10, 0.9], 200, false],
    ["custom thresholds (queue 1, kv 0.5)", [free], -1, [1, 0.5], 429, true],
  ];
  for (const [name, eps, priority, saturation, status, saturated] of cases) {
    it(name, () => {
      const d = decide(pool(...eps), { priority, saturation });
      expect(d.status).toBe(status);
      if (status === 200) expect(d.saturated).toBe(saturated);
    });
  }

  it("saturated, not sheddable: load decides (prefix dropped) → the least-loaded endpoint", () => {
    const d = decide(pool({ waiting: 40, kvCacheUsage: 0.95 }, { waiting: 8, kvCacheUsage: 0.85 }), { prefix: [1, 0] });
    expect(d.saturated).toBe(true);
    expect(d.weights.prefix).toBe(0);
    expect(d.endpoint).toBe(addr(1));
  });
});

// ---------------------------------------------------------------------------
// Max-score picker: ties broken uniformly at random, seedable.

describe("max-score picker", () => {
  it("only maxima win; ties are uniform (chi-square, 3 cells, 30,000 draws)", () => {
    const draws = 30000;
    const counts = Array.from(u.pickCounts(new Float64Array([1, 0.5, 1, 1]), 7, draws)) as number[];
    expect(counts[1]).toBe(0);
    const expected = draws / 3;
    const chi2 = [counts[0], counts[2], counts[3]].reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(13.8); // df = 2, p = 0.001
    expect(counts[0] + counts[2] + counts[3]).toBe(draws);
  });

  it("totals within 1e-9 tie (float noise), larger gaps do not", () => {
    const c = Array.from(u.pickCounts(new Float64Array([0.1 + 0.2, 0.3, 0.3 - 1e-6]), 3, 2000)) as number[];
    expect(c[0]).toBeGreaterThan(800);
    expect(c[1]).toBeGreaterThan(800);
    expect(c[2]).toBe(0);
  });

  it("a single maximum always wins", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 8 }), fc.nat(), (t, seed) => {
        const max = Math.max(...t);
        const winners = t.filter((x) => max - x <= 1e-9).length;
        const counts = Array.from(u.pickCounts(new Float64Array(t), seed >>> 0, 50)) as number[];
        t.forEach((x, i) => {
          if (max - x > 1e-9) expect(counts[i]).toBe(0);
        });
        if (winners === 1) expect(counts[t.indexOf(max)]).toBe(50);
      }),
      { numRuns: 200 },
    );
  });

  it("same seed, same decision; seeds spread ties across endpoints", () => {
    const eq = pool({ waiting: 1 }, { waiting: 1 }, { waiting: 1 });
    expect(decide(eq, { seed: 99 }).endpoint).toBe(decide(eq, { seed: 99 }).endpoint);
    const hits: Record<string, number> = {};
    for (let seed = 0; seed < 300; seed++) {
      const d = decide(eq, { seed });
      expect(d.tied).toBe(3);
      hits[d.endpoint] = (hits[d.endpoint] ?? 0) + 1;
    }
    expect(Object.keys(hits).sort()).toEqual([addr(0), addr(1), addr(2)]);
    for (const k of Object.keys(hits)) expect(hits[k]).toBeGreaterThan(60);
  });

  it("PCG32 below(n) stays in range and covers it", () => {
    const xs = Array.from(u.rngBelow(5, 7, 2000)) as number[];
    expect(Math.max(...xs)).toBe(6);
    expect(Math.min(...xs)).toBe(0);
    expect(Array.from(u.rngBelow(5, 1, 10))).toEqual(Array(10).fill(0));
    expect(Array.from(u.rngBelow(5, 0, 10))).toEqual(Array(10).fill(0));
    expect(Array.from(u.rngBelow(1, 1000, 5))).not.toEqual(Array.from(u.rngBelow(2, 1000, 5)));
  });
});

describe("decision JSON", () => {
  it("shape for the CLI line", () => {
    const d = decide(pool({ waiting: 1, kvCacheUsage: 0.5, inFlight: 2, healthy: true }, { waiting: 3, kvCacheUsage: 0.25, inFlight: 0, pendingBlocks: 7 }), {
      prefix: [0.5, 0],
      seed: 4,
    });
    expect(d).toEqual({
      status: 200,
      endpoint: addr(0),
      scores: {
        prefix: { [addr(0)]: 0.5, [addr(1)]: 0 },
        queue: { [addr(0)]: 1, [addr(1)]: 0 },
        "kv-cache": { [addr(0)]: 0.5, [addr(1)]: 0.75 },
        "in-flight": { [addr(0)]: 0, [addr(1)]: 1 },
      },
      weights: { prefix: 3, queue: 2, "kv-cache": 2, "in-flight": 1 },
      total: { [addr(0)]: 4.5, [addr(1)]: 2.5 },
      waitAhead: { [addr(0)]: 0, [addr(1)]: 7 },
      // No blocks hashed: nothing to prefill anywhere as far as the cost can tell.
      uncached: { [addr(0)]: 0, [addr(1)]: 0 },
      guard: false,
      overBound: 0,
      overWait: 0,
      loadOverrodeAffinity: false,
      allUnhealthy: false,
      saturated: false,
      tied: 1,
    });
  });

  it("addresses are JSON-escaped", () => {
    const d = decide({ 'a"b\\c': {} });
    expect(d.endpoint).toBe('a"b\\c');
  });
});
