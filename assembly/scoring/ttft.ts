// The default profile's picker: load-bounded prefix affinity on predicted
// time to first token (docs/routing.md explains the shape and the
// measurements behind it).
//
//   1. bound: an endpoint is eligible only while its occupancy (requests
//      there before this one) is ≤ ceil(loadFactor × (the candidates' total
//      occupancy + 1) / candidates) — consistent hashing with bounded loads,
//      with one request of slack so that at light load a second concurrent
//      request on a prefix is not sent to re-prefill it elsewhere; the least
//      occupied endpoint always fits, so the set is never empty;
//   2. cost: among eligible endpoints, the lowest predicted TTFT in prompt
//      blocks = blocks of this prompt not cached there (prefill to do) +
//      blocks routed there whose first token has not come back (prefill
//      queued ahead). Both are prefill work in the same unit, so the
//      trade-off between cache reuse and queueing needs no weight;
//   3. ties: lower occupancy, then uniformly at random.
// A decision where the chosen endpoint holds fewer leading blocks than the
// best-matching candidate is one where load overrode affinity (counted in
// llm_picker.route.load_overrode_affinity).
import { EndpointState } from "../metrics/state";
import { BoundConfig, ScoringRequest } from "./config";
import { Pcg32 } from "./rng";

/** Scorer names in the decision line of the default profile. */
export const SCORE_UNCACHED = "uncached-blocks";
export const SCORE_QUEUED = "queued-blocks";
export const SCORE_OCCUPANCY = "occupancy";

/** What the picker computed, per candidate (same order as the candidates). */
export class CostPick {
  /** Index into the candidates, -1 when there are none. */
  chosen: i32 = -1;
  uncached: Float64Array = new Float64Array(0);
  queued: Float64Array = new Float64Array(0);
  occupancy: Float64Array = new Float64Array(0);
  /** Predicted cost (uncached + queued); +Infinity for endpoints over the bound. */
  cost: Float64Array = new Float64Array(0);
  /** Candidates over the load bound. */
  overBound: i32 = 0;
  /** The chosen endpoint holds fewer leading blocks than the best-matching candidate. */
  loadOverrodeAffinity: bool = false;
  tied: i32 = 0;
}

function matchedOf(req: ScoringRequest, endpoint: i32): i32 {
  const m = req.matchedBlocks;
  if (m == null || endpoint < 0 || endpoint >= m.length) return 0;
  const v = unchecked(m![endpoint]);
  return v > 0 ? (v < req.hashedBlocks ? v : req.hashedBlocks) : 0;
}

/**
 * Prompt blocks not cached at an endpoint holding `matched` of the
 * `hashed` leading blocks of a prompt of `prompt` blocks. Hashing stops at
 * prefix.maxBlocks, so past `hashed` the index cannot tell: an endpoint that
 * holds every hashed block is taken to hold the rest too (a long shared
 * document or conversation continues where the hashed part ends); any other
 * endpoint has the whole rest to prefill.
 */
export function uncachedBlocks(matched: i32, hashed: i32, prompt: i32): f64 {
  const total = prompt > hashed ? prompt : hashed;
  if (hashed > 0 && matched >= hashed) return 0;
  return <f64>(total - matched);
}

/**
 * Capacity of one endpoint under the bound: ceil(factor × (total + 1) / n),
 * at least 1. `total` is the candidates' summed occupancy before this
 * request; an endpoint with occupancy ≤ capacity may take it.
 */
export function boundCapacity(total: f64, n: i32, factor: f64): f64 {
  if (n <= 0) return 1;
  const cap = Math.ceil((factor * (total + 1)) / <f64>n);
  return cap >= 1 ? cap : 1;
}

/** Runs the picker over `cands` (indices in `idx` refer to the full endpoint list, for the matches). */
export function pickByCost(cands: Array<EndpointState>, idx: Array<i32>, req: ScoringRequest, bound: BoundConfig, rng: Pcg32): CostPick {
  const n = cands.length;
  const p = new CostPick();
  p.uncached = new Float64Array(n);
  p.queued = new Float64Array(n);
  p.occupancy = new Float64Array(n);
  p.cost = new Float64Array(n);
  if (n == 0) return p;
  let total: f64 = 0;
  let bestMatch: i32 = 0;
  for (let i = 0; i < n; i++) {
    const s = unchecked(cands[i]);
    const occ = s.occupancy;
    unchecked((p.occupancy[i] = occ));
    total += occ;
    const e = i < idx.length ? unchecked(idx[i]) : -1;
    const m = matchedOf(req, e);
    if (m > bestMatch) bestMatch = m;
    unchecked((p.uncached[i] = uncachedBlocks(m, req.hashedBlocks, req.promptBlocks)));
    unchecked((p.queued[i] = s.pendingBlocks > 0 ? <f64>s.pendingBlocks : 0));
  }
  const cap = boundCapacity(total, n, bound.loadFactor);
  for (let i = 0; i < n; i++) {
    const over = unchecked(p.occupancy[i]) > cap;
    if (over) p.overBound++;
    unchecked((p.cost[i] = over ? Infinity : unchecked(p.uncached[i]) + unchecked(p.queued[i])));
  }
  if (p.overBound == n) {
    // Not reached with factor ≥ 1 (the least occupied endpoint fits); kept so
    // that no configuration can leave a request without an endpoint.
    for (let i = 0; i < n; i++) unchecked((p.cost[i] = unchecked(p.uncached[i]) + unchecked(p.queued[i])));
    p.overBound = 0;
  }
  p.chosen = lowestCost(p, rng);
  if (p.chosen >= 0 && bestMatch > 0) {
    const e = p.chosen < idx.length ? unchecked(idx[p.chosen]) : -1;
    p.loadOverrodeAffinity = matchedOf(req, e) < bestMatch;
  }
  return p;
}

/** Lowest cost, then lowest occupancy, then uniformly at random. */
function lowestCost(p: CostPick, rng: Pcg32): i32 {
  const n = p.cost.length;
  let best = Infinity;
  for (let i = 0; i < n; i++) if (unchecked(p.cost[i]) < best) best = unchecked(p.cost[i]);
  let bestOcc = Infinity;
  for (let i = 0; i < n; i++) {
    if (unchecked(p.cost[i]) == best && unchecked(p.occupancy[i]) < bestOcc) bestOcc = unchecked(p.occupancy[i]);
  }
  let tied = 0;
  for (let i = 0; i < n; i++) if (unchecked(p.cost[i]) == best && unchecked(p.occupancy[i]) == bestOcc) tied++;
  p.tied = tied;
  if (tied == 0) return 0; // every cost NaN: cannot happen with finite inputs
  let k = <i32>rng.below(<u32>tied);
  for (let i = 0; i < n; i++) {
    if (unchecked(p.cost[i]) == best && unchecked(p.occupancy[i]) == bestOcc) {
      if (k == 0) return i;
      k--;
    }
  }
  return 0;
}
