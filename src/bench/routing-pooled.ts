/**
 * One trace at several seeds, pooled (`npm run bench:routing -- --seeds 1,2,3`).
 * A p99 over one run's few hundred requests is its few slowest requests, and
 * it moves by tens of percent between seeds and between runs of one seed;
 * the same trace at several seeds, its requests pooled, puts the percentile
 * over a few thousand. Each seed's run is named `trace@seed`; the pooled row
 * keeps the trace's own name, so the goals (routing-goals.ts) read it.
 */
import { percentile, roundTo } from "./routing-run.js";
import type { PolicyName } from "./routing-policies.js";
import type { RoutingDetail, RoutingResult, RoutingRun } from "./routing-types.js";

/** The separator between a trace's name and its seed in a per-seed run's name. */
export const SEED_SEPARATOR = "@";

/** The name of `trace`'s run at `seed`. */
export function seededName(trace: string, seed: number): string {
  return `${trace}${SEED_SEPARATOR}${seed}`;
}

/** The trace a per-seed run's name stands for, or null for a name without a seed. */
export function unseededName(name: string): string | null {
  const at = name.lastIndexOf(SEED_SEPARATOR);
  return at > 0 ? name.slice(0, at) : null;
}
const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
const merged = (lists: number[][]) => lists.flat().sort((a, b) => a - b);

/** Per-seed figures that are rates or shares of the whole run: their mean (those are what seeds do not change much). */
function meanOf(results: RoutingResult[], pick: (r: RoutingResult) => number | undefined): number | undefined {
  const xs = results.map(pick).filter((v): v is number => v !== undefined);
  return xs.length > 0 ? roundTo(mean(xs), 3) : undefined;
}

/** One pooled run of `trace` × `policy` from its per-seed runs. */
function pool(trace: string, policy: PolicyName, runs: RoutingRun[]): RoutingRun {
  const results = runs.map((r) => r.result);
  const details = runs.map((r) => r.detail);
  const ttfts = merged(details.map((d) => d.ttfts));
  const warm = merged(details.map((d) => d.warmTtfts));
  const server = merged(details.map((d) => d.serverTtfts));
  const prompt = sum(details.map((d) => d.promptTokens));
  const cached = sum(details.map((d) => d.cachedTokens));
  const warmup = sum(results.map((r) => r.warmupRequests ?? 0));
  const activations = results.some((r) => r.activations !== undefined) ? sum(results.map((r) => r.activations ?? 0)) : undefined;
  const imbalance = Math.max(...details.map((d) => d.imbalance));
  const opt = (key: string, v: number | undefined) => (v === undefined ? {} : { [key]: v });
  const result: RoutingResult = {
    policy,
    trace,
    requests: sum(results.map((r) => r.requests)),
    errors: sum(results.map((r) => r.errors)),
    ...(warmup > 0 ? { warmupRequests: warmup } : {}),
    hitRate: roundTo(prompt > 0 ? cached / prompt : 0, 4),
    ttftP50Ms: roundTo(percentile(ttfts, 50)),
    ttftP90Ms: roundTo(percentile(ttfts, 90)),
    ttftP99Ms: roundTo(percentile(ttfts, 99)),
    rps: roundTo(mean(results.map((r) => r.rps)), 2),
    maxMeanLoad: roundTo(imbalance, 2),
    ...opt("activations", activations),
    ...opt(
      "busy",
      meanOf(results, (r) => r.busy),
    ),
    ...opt(
      "kvUsage",
      meanOf(results, (r) => r.kvUsage),
    ),
    ...opt(
      "slotUsage",
      meanOf(results, (r) => r.slotUsage),
    ),
    serverTtftP50Ms: roundTo(percentile(server, 50)),
    serverTtftP90Ms: roundTo(percentile(server, 90)),
    serverTtftP99Ms: roundTo(percentile(server, 99)),
    ...opt(
      "offeredRate",
      meanOf(results, (r) => r.offeredRate),
    ),
    // The harness's own lateness: the worst seed's, so a late client in any run shows.
    ...opt("sendLateP99Ms", results.some((r) => r.sendLateP99Ms !== undefined) ? Math.max(...results.map((r) => r.sendLateP99Ms ?? 0)) : undefined),
    warmTtftP90Ms: roundTo(percentile(warm, 90)),
    warmTtftP99Ms: roundTo(percentile(warm, 99)),
  };
  const detail: RoutingDetail = {
    imbalance,
    errorSamples: details.flatMap((d) => d.errorSamples).slice(0, 5),
    loop: details[0].loop,
    ttfts,
    warmTtfts: warm,
    serverTtfts: server,
    promptTokens: prompt,
    cachedTokens: cached,
  };
  // The filter's own figures, where the runs have them: the mean match ratio, the decisions and the unexpected prefill summed, the horizons' range.
  const ratios = details.map((d) => d.filterMatchRatio).filter((v): v is number => v !== undefined);
  if (ratios.length > 0) detail.filterMatchRatio = mean(ratios);
  if (details.some((d) => d.guardFired !== undefined)) detail.guardFired = sum(details.map((d) => d.guardFired ?? 0));
  const horizons = details.flatMap((d) => d.evictionHorizon ?? []);
  if (horizons.length > 0) detail.evictionHorizon = [Math.min(...horizons), Math.max(...horizons)];
  if (details.some((d) => d.unexpectedPrefill !== undefined)) detail.unexpectedPrefill = sum(details.map((d) => d.unexpectedPrefill ?? 0));
  if (details.some((d) => d.redecided !== undefined)) detail.redecided = sum(details.map((d) => d.redecided ?? 0));
  return { result, detail };
}

/**
 * The per-seed runs (named seededName) pooled per trace and policy, in the
 * order the traces and policies first appear: the requests of every seed
 * together for the percentiles, tokens summed for the hit rate, the busiest
 * seed's load spread, counts summed, the rest (rates, shares) averaged.
 * Runs whose names carry no seed are left out.
 */
export function poolSeeds(runs: RoutingRun[]): RoutingRun[] {
  const groups = new Map<string, { trace: string; policy: PolicyName; runs: RoutingRun[] }>();
  for (const run of runs) {
    const trace = unseededName(run.result.trace);
    if (trace === null) continue;
    const key = `${trace}\u0000${run.result.policy}`;
    const group = groups.get(key);
    if (group) group.runs.push(run);
    else groups.set(key, { trace, policy: run.result.policy, runs: [run] });
  }
  return [...groups.values()].map((g) => pool(g.trace, g.policy, g.runs));
}

/** Parses `--seeds`: distinct non-negative integers, in order; a message naming the bad value otherwise. */
export function parseSeeds(text: string): number[] | string {
  const parts = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) return "--seeds needs at least one seed";
  const seeds: number[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(n)) return `--seeds: "${p}" is not a non-negative integer`;
    if (seeds.includes(n)) return `--seeds: ${n} is given twice`;
    seeds.push(n);
  }
  return seeds;
}
