/**
 * bench:fleet's workload (src/bench/fleet.ts): its own offered rate per
 * trace, lighter than the routing benchmark's loaded defaults, with --rate
 * and --load on top, and the simulators' time scale that follows the rate.
 * Pure parts only; the benchmark itself runs 3 Envoys and a kill (npm run
 * bench:fleet), too long for the test tiers.
 */
import { describe, expect, test } from "vitest";
import { FLEET_RATES, type FleetResult, fleetWorkload, main, recoveryAfterKill } from "../../src/bench/fleet.js";
import { goalLines } from "../../src/bench/fleet-results.js";
import { ALL_TRACE_NAMES, DEFAULT_RATES } from "../../src/bench/traces/generators.js";

describe("bench:fleet workload", () => {
  test.each([
    // trace, --rate, --load, offered rate, source, timeScale
    ["multi-turn", undefined, 1, 20, "fleet default", 0.5],
    ["pareto-prompts", undefined, 1, 16, "fleet default", 0.5],
    ["system-prompts", undefined, 1, 25, "fleet default", 0.5],
    ["pareto-prompts", undefined, 2, 32, "fleet default × 2", 0.64],
    ["multi-turn", 40, 1, 40, "--rate", 0.8],
    ["multi-turn", 40, 0.5, 20, "--rate × 0.5", 0.5],
    ["long-context", undefined, 1, 1.5, "fleet default", 0.5],
  ] as const)("%s --rate %s --load %s: %s requests per model second (%s), timeScale %s", (name, rate, load, offered, source, timeScale) => {
    expect(fleetWorkload(name, rate, load)).toEqual({ rate: offered, source, timeScale });
  });

  test("every trace has a fleet rate, below the routing benchmark's loaded default", () => {
    for (const name of ALL_TRACE_NAMES) {
      expect(FLEET_RATES[name], name).toBeGreaterThan(0);
      expect(FLEET_RATES[name], name).toBeLessThan(DEFAULT_RATES[name]);
    }
  });

  test("--rate and --load must be numbers > 0, --kv-blocks a positive integer", async () => {
    await expect(main(["--rate", "0"])).rejects.toThrow(/--rate: "0"/);
    await expect(main(["--load=-1"])).rejects.toThrow(/--load: "-1"/);
    await expect(main(["--load", "x"])).rejects.toThrow(/--load: "x"/);
    await expect(main(["--kv-blocks", "1.5"])).rejects.toThrow(/--kv-blocks: "1.5"/);
  });
});

describe("bench:fleet recovery rule", () => {
  /** A run whose 5-second windows held `ratios` of 1,000 prompt tokens cached, killed at `killAtS`. */
  const run = (ratios: number[], killAtS?: number) =>
    ({ windowTokens: ratios.map((r) => [r * 1000, 1000]), ...(killAtS !== undefined ? { killAtS } : {}) }) as unknown as FleetResult;
  const single = run([0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);
  test.each([
    // windows of the killed run (the last one partial, ignored), kill at,
    // 10-s rule, 5-s rule: to the end of the first good span (the kill's
    // window, 10–15 s, ends at 15 s, its 10-s span at 20 s).
    ["never below 97%", [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1], 12, 8, 3],
    // 15–20 s holds 0.8 (89% of single): the 15–25 s span (0.85, 94%) fails, 20–30 s is the first good one.
    ["a dip right after the kill", [0.9, 0.9, 0.5, 0.8, 0.9, 0.9, 0.9, 0.9, 0.1], 12, 18, 13],
    // 35–40 s at 95%: the span 30–40 s holds 97.5%.
    ["one late 5-s window at 95% of single: the 10-s spans around it stay above 97%", [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.855, 0.1], 12, 8, null],
    ["two late windows at 95%", [0.9, 0.9, 0.9, 0.9, 0.9, 0.855, 0.855, 0.9, 0.1], 12, 28, 28],
    ["still low at the end", [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.1], 12, null, null],
  ])("%s", (_name, windows, killAtS, tenSeconds, fiveSeconds) => {
    expect(recoveryAfterKill(run(windows, killAtS), single)).toBe(tenSeconds);
    expect(recoveryAfterKill(run(windows, killAtS), single, 1)).toBe(fiveSeconds);
  });

  test("no kill, no recovery figure", () => {
    expect(recoveryAfterKill(run([0.9, 0.9]), single)).toBeUndefined();
  });
});

describe("bench:fleet load spread", () => {
  const result = (setup: string, maxMeanLoad: number) =>
    ({ setup, trace: "multi-turn", maxMeanLoad, hitRateBeforeKill: 0.6, ttftP50MsBeforeKill: 100 }) as unknown as FleetResult;
  test.each([
    [[result("single", 1.1)], "multi-turn: busiest model server's requests over the mean (1 = even): single ×1.10"],
    [
      [result("single", 1.04), result("naive-3", 1.5), result("sharded-3", 1.123)],
      "multi-turn: busiest model server's requests over the mean (1 = even): single ×1.04, naive-3 ×1.50, sharded-3 ×1.12",
    ],
  ])("one line per trace with every setup's ratio (%#)", (results, line) => {
    expect(goalLines(results)).toContain(line);
  });
});
