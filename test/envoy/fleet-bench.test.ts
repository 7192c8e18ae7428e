/**
 * bench:fleet's workload (src/bench/fleet.ts): its own offered rate per
 * trace, lighter than the routing benchmark's loaded defaults, with --rate
 * and --load on top, and the simulators' time scale that follows the rate.
 * Pure parts only; the benchmark itself runs 3 Envoys and a kill (npm run
 * bench:fleet), too long for the test tiers.
 */
import { describe, expect, test } from "vitest";
import { FLEET_RATES, fleetWorkload, main } from "../../src/bench/fleet.js";
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
