// A fleet's placement of a new prefix (docs/fleet.md "Placing a new
// prefix"), through build/units-scoring.wasm: among the endpoints within the
// load bound whose predicted prefill is best, the most preferred one wins,
// whatever their occupancy; the preference never beats a better total or
// the bound.
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
}

function chosen(eps: Ep[], placement: number[], seed = 1): string {
  const snapshot = Object.fromEntries(eps.map((e, i) => [addr(i), { inFlight: 0, ...e }]));
  const d = JSON.parse(
    u.decideDefault(enc(JSON.stringify(snapshot)), "", 0, new Int32Array(eps.map(() => 0)), 20, 20, 0, seed, new Float64Array(placement)),
  ) as { endpoint: string };
  return d.endpoint;
}

describe("placement preference of a new prefix (default profile, bounded-load picker)", () => {
  // [case, endpoints, preference per endpoint, expected endpoint]
  const rows: Array<[string, Ep[], number[], string]> = [
    ["equal totals, equal occupancy: the most preferred", [{}, {}, {}], [0.1, 0.9, 0.5], addr(1)],
    ["equal totals: the preference beats a lower occupancy (replicas see different occupancies)", [{}, { inFlight: 1 }, {}], [0.1, 0.9, 0.5], addr(1)],
    ["the preferred endpoint is over the bound ⌈1.5 × 4 / 3⌉ = 2: the next preferred", [{}, { inFlight: 3 }, {}], [0.1, 0.9, 0.5], addr(2)],
    ["a better total wins: queued prefill on the preferred endpoint", [{}, { inFlight: 1, pendingBlocks: 20 }, {}], [0.1, 0.9, 0.5], addr(2)],
    ["only the best totals compete", [{ pendingBlocks: 5 }, { inFlight: 1, pendingBlocks: 5 }, {}], [0.1, 0.9, 0.5], addr(2)],
  ];
  it.each(rows)("%s", (_, eps, placement, want) => {
    expect(chosen(eps, placement)).toBe(want);
  });

  it("is deterministic: the same endpoint for every seed (no random tie-break)", () => {
    const picks = new Set(Array.from({ length: 20 }, (_, seed) => chosen([{}, {}, {}, {}], [0.3, 0.2, 0.8, 0.7], seed + 1)));
    expect([...picks]).toEqual([addr(2)]);
  });

  it("without a preference, ties are broken at random among the least occupied (unchanged)", () => {
    const picks = new Set(Array.from({ length: 40 }, (_, seed) => chosen([{}, {}, {}, {}], [], seed + 1)));
    expect(picks.size).toBeGreaterThan(1);
  });
});
