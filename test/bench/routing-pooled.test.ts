/**
 * bench:routing --seeds: each seed's run of a trace, pooled into one row per
 * trace and policy (src/bench/routing-pooled.ts). The percentiles are over
 * every seed's requests together, not a mean of per-seed percentiles.
 */
import { describe, expect, it } from "vitest";
import { parseSeeds, poolSeeds, seededName, unseededName } from "../../src/bench/routing-pooled.js";
import type { PolicyName } from "../../src/bench/routing-policies.js";
import type { RoutingRun } from "../../src/bench/routing-types.js";

const LOOP = { closedLoop: true, substituted: 0, delayed: 0, delayModelMs: 0, sendLateMs: [] };

/** A run of `trace` with these client TTFTs (model ms), `prompt` tokens of which `cached` were cached. */
function run(trace: string, policy: PolicyName, ttfts: number[], prompt: number, cached: number, extra: Partial<RoutingRun["result"]> = {}): RoutingRun {
  const sorted = [...ttfts].sort((a, b) => a - b);
  return {
    result: { policy, trace, requests: ttfts.length, errors: 0, hitRate: cached / prompt, ttftP50Ms: 0, ttftP90Ms: 0, ttftP99Ms: 0, rps: 10, ...extra },
    detail: {
      imbalance: 1.1,
      errorSamples: [],
      loop: LOOP,
      ttfts: sorted,
      warmTtfts: sorted.slice(1),
      serverTtfts: sorted.map((t) => t - 1),
      promptTokens: prompt,
      cachedTokens: cached,
    },
  };
}

/** 1..n ms. */
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("pooling a trace's seeds", () => {
  it("percentiles over every seed's requests together, tokens summed for the hit rate", () => {
    // Seed 1: 1..100 ms, seed 2: 101..200 ms. Pooled, 200 requests 1..200:
    // nearest rank p50 = 100, p90 = 180, p99 = 198 (per seed the p99s were 99 and 199).
    const runs = [
      run(seededName("t", 1), "default", upTo(100), 1000, 800, { rps: 10, busy: 0.5, errors: 0 }),
      run(
        seededName("t", 2),
        "default",
        upTo(100).map((t) => t + 100),
        3000,
        1500,
        { rps: 20, busy: 0.7, errors: 2 },
      ),
    ];
    const [pooled] = poolSeeds(runs);
    expect(pooled.result).toMatchObject({
      policy: "default",
      trace: "t",
      requests: 200,
      errors: 2,
      // 2,300 of 4,000 tokens, not the mean of 80% and 50%.
      hitRate: 0.575,
      ttftP50Ms: 100,
      ttftP90Ms: 180,
      ttftP99Ms: 198,
      rps: 15,
      busy: 0.6,
      maxMeanLoad: 1.1,
      serverTtftP99Ms: 197,
    });
    // Each seed's first request left out of the warm percentiles: 198 of them, rank ⌈0.99 × 198⌉ = 197th.
    expect(pooled.result.warmTtftP99Ms).toBe(199);
    expect(pooled.detail.ttfts).toHaveLength(200);
    // No filter figures in these runs (round robin's, the oracle's): none pooled.
    expect(pooled.detail.filterMatchRatio).toBeUndefined();
    expect(pooled.detail.evictionHorizon).toBeUndefined();
    expect(pooled.detail.unexpectedPrefill).toBeUndefined();
    expect(pooled.detail.redecided).toBeUndefined();
  });

  it("the filter's own figures: the mean match ratio, the decisions where load overrode affinity and the unexpected prefill and the decisions made again summed, the horizons' range", () => {
    const runs = [run(seededName("t", 1), "default", [1], 10, 5), run(seededName("t", 2), "default", [2], 10, 5)];
    Object.assign(runs[0].detail, { filterMatchRatio: 0.6, guardFired: 3, evictionHorizon: [1800, 2300], unexpectedPrefill: 120, redecided: 2 });
    Object.assign(runs[1].detail, { filterMatchRatio: 0.7, guardFired: 4, evictionHorizon: [1700, 2200], unexpectedPrefill: 80, redecided: 0 });
    const [pooled] = poolSeeds(runs);
    expect(pooled.detail.filterMatchRatio).toBeCloseTo(0.65, 12);
    expect(pooled.detail.guardFired).toBe(7);
    expect(pooled.detail.evictionHorizon).toEqual([1700, 2300]);
    expect(pooled.detail.unexpectedPrefill).toBe(200);
    expect(pooled.detail.redecided).toBe(2);
  });

  it("one row per trace and policy, in the order they first appear; runs without a seed left out", () => {
    const runs = [
      run(seededName("a", 1), "round-robin", [5], 10, 1),
      run(seededName("a", 1), "default", [4], 10, 2),
      run(seededName("a", 2), "round-robin", [7], 10, 3),
      run(seededName("a", 2), "default", [6], 10, 4),
      run("b", "default", [1], 10, 5),
      run(seededName("held-out@x", 3), "default", [9], 10, 6),
    ];
    expect(poolSeeds(runs).map((r) => [r.result.trace, r.result.policy, r.result.requests])).toEqual([
      ["a", "round-robin", 2],
      ["a", "default", 2],
      ["held-out@x", "default", 1],
    ]);
  });

  it.each([
    ["pareto-prompts@12", "pareto-prompts"],
    ["held-out@x@3", "held-out@x"],
    ["pareto-prompts", null],
    ["@3", null],
  ])("the trace of a run named %s is %s", (name, trace) => {
    expect(unseededName(name)).toBe(trace);
  });

  it.each([
    ["1,2,3", [1, 2, 3]],
    [" 10, 15 ", [10, 15]],
    ["0", [0]],
    ["", "--seeds needs at least one seed"],
    ["1,x", '--seeds: "x" is not a non-negative integer'],
    ["1,-2", '--seeds: "-2" is not a non-negative integer'],
    ["1.5", '--seeds: "1.5" is not a non-negative integer'],
    ["3,3", "--seeds: 3 is given twice"],
  ])("--seeds %j reads as %j", (text, expected) => {
    expect(parseSeeds(text)).toEqual(expected);
  });
});
