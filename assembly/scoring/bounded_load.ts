// The default profile's picker: the best total among the endpoints within a
// load bound (consistent hashing with bounded loads; docs/routing.md).
//
// An endpoint's occupancy is the requests on it as best known (this Envoy's
// in flight, or waiting + running as it reports when that is more). With n
// candidates and total occupancy T, an endpoint whose occupancy before this
// request is above ⌈loadFactor × (T + 1) / n⌉ is left out. Comparing the
// occupancy before the request leaves one request of slack, so at light
// load a second concurrent request on a prefix is not sent to re-prefill it
// elsewhere. An endpoint whose batch is full (occupancy at or above the
// slot capacity learned from its scrapes: this request would wait for a
// running request to finish) is left out too while some batch has a place,
// unless its occupancy is at most the pool's mean (⌈(T + 1) / n⌉). The load
// bound (not the batch bound) yields for an endpoint where this request's
// predicted cost (2 × uncached + queued: its own wait and the prefill it
// leaves queued for the requests after it) is at most 1 / loadYieldRatio of
// the best among the endpoints it keeps: spreading that doubles the work
// is too much to pay. When
// every batch is full, no endpoint is left out for it: the request waits
// for a place wherever it goes, and the wait for a place (when the running
// requests end there) ranks them better than occupancy does. The least
// occupied endpoint always fits, so the set is never empty.
//
// A second bound is on this request's own wait: an endpoint where its
// predicted wait for the first token (prefill queued there plus its own
// uncached prefill, in blocks) is above waitRatio × the best such wait
// among the endpoints the load bound kept is left out. The cost the
// endpoints are ranked on counts the request's uncached blocks twice (the
// prefill it leaves queued for later requests), so without this bound a
// request could accept up to twice the wait it has elsewhere to save work
// for others, and the tail is made of such requests.
//
// Among the rest: the best total, then the lower occupancy, then uniformly
// at random. When every endpoint is saturated, affinity yields (its total is
// 0 everywhere) and the endpoints are ranked on this request's predicted
// wait instead: with every batch full, the wait for a place differs between
// servers by when their running requests end, which occupancy does not
// show (docs/routing.md "When places free").
import { LeftOut, Picker, TIE_EPSILON } from "./picker";
import { Pcg32 } from "./rng";
import { Candidates, ScoringRequest } from "./scorer";
import { predictedPrefillBlocks, predictedWaitBlocks } from "./scorers/predicted_prefill";

/**
 * The bound's one parameter: a ratio to the pool's measured mean occupancy,
 * never an absolute count, so it means the same on 2 servers at 3 requests
 * each and on 64 at 200. docs/routing.md has the measurements behind 1.5.
 */
export class BoundConfig {
  loadFactor: f64 = 1.5;
  /**
   * The most a request's predicted wait may exceed its best predicted wait
   * in the pool, as a ratio: 1 is the greedy choice (no request waits longer
   * to save work for others), larger lets the cost keep more affinity.
   * docs/routing.md has the measurements behind 1.25.
   */
  waitRatio: f64 = 1.25;
  /**
   * The load bound yields for an endpoint where this request's predicted
   * cost is at most 1 / loadYieldRatio of the best among the endpoints the
   * bound keeps. 0: never.
   */
  loadYieldRatio: f64 = 2;
}

/** Capacity of one endpoint: ⌈factor × (total + 1) / n⌉, at least 1. */
export function boundCapacity(total: f64, n: i32, factor: f64): f64 {
  if (n <= 0) return 1;
  const cap = Math.ceil((factor * (total + 1)) / <f64>n);
  return cap >= 1 ? cap : 1;
}

/**
 * Whether an endpoint with `occupancy` requests on it would make a new
 * request wait for a running one to finish: its learned slot capacity
 * (0: not learned) is reached.
 */
export function batchFull(slotCapacity: i32, occupancy: f64): bool {
  return slotCapacity > 0 && occupancy >= <f64>slotCapacity;
}

/** Whether some candidate's batch has a place free (or its size is not learned yet). */
function anyBatchRoom(c: Candidates, occ: Float64Array, n: i32): bool {
  for (let i = 0; i < n; i++) if (!batchFull(unchecked(c.states[i]).slotCapacity, unchecked(occ[i]))) return true;
  return false;
}

/** A per-candidate prediction (in blocks) for every candidate. */
function perCandidate(c: Candidates, req: ScoringRequest, n: i32, predict: (c: Candidates, req: ScoringRequest, i: i32) => f64): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) unchecked((out[i] = predict(c, req, i)));
  return out;
}

/** This request's predicted wait at each candidate, in blocks (predictedWaitBlocks). */
function predictedWaits(c: Candidates, req: ScoringRequest, n: i32): Float64Array {
  return perCandidate(c, req, n, predictedWaitBlocks);
}

/**
 * The predicted cost at each candidate, in blocks, plus the one block a
 * request costs anywhere (so that ratios stay finite): 2 × uncached +
 * queued + 1 (scorers/predicted_prefill.ts).
 */
function predictedCosts(c: Candidates, req: ScoringRequest, n: i32): Float64Array {
  return perCandidate(c, req, n, (c: Candidates, req: ScoringRequest, i: i32): f64 => predictedPrefillBlocks(c, req, i) + 1);
}

/** The least of `values` among the eligible (Infinity when none is). */
function bestEligible(eligible: StaticArray<bool>, values: Float64Array): f64 {
  let best = Infinity;
  for (let i = 0; i < eligible.length; i++) if (unchecked(eligible[i]) && unchecked(values[i]) < best) best = unchecked(values[i]);
  return best;
}

/** Totals that rank the candidates on this request's predicted wait for its first token (the least wait is the best total). */
function byPredictedWait(c: Candidates, req: ScoringRequest, n: i32): Float64Array {
  const ranked = predictedWaits(c, req, n);
  for (let i = 0; i < n; i++) unchecked((ranked[i] = -unchecked(ranked[i])));
  return ranked;
}

export class BoundedLoadPicker extends Picker {
  constructor(
    /** Shared with the configuration, so `bound.loadFactor` applies whatever the key order. */
    public bound: BoundConfig,
  ) {
    super("bounded-load");
  }

  pick(totals: Float64Array, c: Candidates, req: ScoringRequest, rng: Pcg32): i32 {
    const n = c.length < totals.length ? c.length : totals.length;
    this.leftOut = null;
    if (n == 0) return -1;
    const occ = new Float64Array(n);
    let total: f64 = 0;
    for (let i = 0; i < n; i++) {
      const o = unchecked(c.states[i]).occupancy;
      unchecked((occ[i] = o));
      total += o;
    }
    const cap = boundCapacity(total, n, this.bound.loadFactor);
    const fair = boundCapacity(total, n, 1);
    const eligible = new StaticArray<bool>(n);
    const overLoad = new StaticArray<bool>(n);
    // Why each candidate is left out (LeftOut): the decision's counts and its rendering read it.
    const why = new Uint8Array(n);
    this.leftOut = why;
    const someRoom = anyBatchRoom(c, occ, n);
    let excluded = 0;
    for (let i = 0; i < n; i++) {
      const o = unchecked(occ[i]);
      const batchOk = o <= fair || !someRoom || !batchFull(unchecked(c.states[i]).slotCapacity, o);
      unchecked((overLoad[i] = o > cap && batchOk));
      const ok = o <= cap && batchOk;
      unchecked((eligible[i] = ok));
      if (!ok) {
        excluded++;
        unchecked((why[i] = batchOk ? LeftOut.Load : LeftOut.Batch));
      }
    }
    if (excluded == n) {
      // Not reached with factor ≥ 1 (the least occupied fits); kept so that no
      // configuration can leave a request without an endpoint.
      for (let i = 0; i < n; i++) unchecked((eligible[i] = true));
      why.fill(LeftOut.Kept);
      excluded = 0;
    }
    if (req.matchedBlocks != null && req.adapter.length == 0 && !c.loadOnly) {
      if (!c.allSaturated && excluded > 0) this.yieldLoadBound(eligible, overLoad, predictedCosts(c, req, n), why);
      this.boundWait(eligible, predictedWaits(c, req, n), why);
    }
    const ranked = c.allSaturated && req.matchedBlocks != null && req.adapter.length == 0 ? byPredictedWait(c, req, n) : totals;
    return this.bestOf(ranked, eligible, occ, c, rng);
  }

  /** The best of `totals` among the eligible, then the lower occupancy, then a random one. */
  private bestOf(totals: Float64Array, eligible: StaticArray<bool>, occ: Float64Array, c: Candidates, rng: Pcg32): i32 {
    const n = eligible.length;
    let best = -Infinity;
    for (let i = 0; i < n; i++) if (unchecked(eligible[i]) && unchecked(totals[i]) > best) best = unchecked(totals[i]);
    const placed = this.byPlacement(eligible, totals, best, c);
    if (placed >= 0) return placed;
    let bestOcc = Infinity;
    for (let i = 0; i < n; i++) {
      if (unchecked(eligible[i]) && best - unchecked(totals[i]) <= TIE_EPSILON && unchecked(occ[i]) < bestOcc) bestOcc = unchecked(occ[i]);
    }
    let tied = 0;
    for (let i = 0; i < n; i++) if (this.isBest(eligible, totals, occ, best, bestOcc, i)) tied++;
    if (tied == 0) return 0; // every total NaN: cannot happen with the scorers' finite outputs
    let k = <i32>rng.below(<u32>tied);
    for (let i = 0; i < n; i++) {
      if (!this.isBest(eligible, totals, occ, best, bestOcc, i)) continue;
      if (k == 0) return i;
      k--;
    }
    return 0;
  }

  /**
   * Takes back the endpoints the load bound alone left out where this
   * request's predicted cost (its uncached prefill, counted twice, and the
   * prefill queued there) is at most 1 / loadYieldRatio of the best among
   * the endpoints kept. The bound spreads load for the requests to come;
   * that is worth a small difference in work, not twice the work. Most of
   * an endpoint's occupancy is requests decoding, which delay a first token
   * by a decode step, where leaving the endpoint out redoes this request's
   * prefill elsewhere, and that prefill delays whoever comes next there:
   * the cost counts both, where the request's own wait counted only the
   * first. While prefill queues up there the cost grows and the bound holds
   * again; a full batch is not taken back (its bound is apart).
   */
  private yieldLoadBound(eligible: StaticArray<bool>, overLoad: StaticArray<bool>, costs: Float64Array, why: Uint8Array): void {
    if (!(this.bound.loadYieldRatio > 0)) return;
    const limit = bestEligible(eligible, costs) / this.bound.loadYieldRatio;
    for (let i = 0; i < eligible.length; i++) {
      if (unchecked(overLoad[i]) && !unchecked(eligible[i]) && unchecked(costs[i]) <= limit) {
        unchecked((eligible[i] = true));
        unchecked((why[i] = LeftOut.Kept));
      }
    }
  }

  /**
   * Leaves out the eligible endpoints where this request's predicted wait is
   * above waitRatio × the best among them (that one always stays). Only for
   * hashed requests without a LoRA adapter: without the index there is no
   * prediction, and the prediction does not know how long an adapter takes
   * to get a slot where it is not loaded (lora-affinity weighs that). Not
   * when load alone decides (c.loadOnly).
   */
  private boundWait(eligible: StaticArray<bool>, waits: Float64Array, why: Uint8Array): void {
    const limit = this.bound.waitRatio * bestEligible(eligible, waits);
    for (let i = 0; i < eligible.length; i++) {
      if (unchecked(eligible[i]) && unchecked(waits[i]) > limit) {
        unchecked((eligible[i] = false));
        unchecked((why[i] = LeftOut.Wait));
      }
    }
  }

  /**
   * With a placement preference: among the eligible endpoints with the best
   * total, the one preferred most (occupancy does not break this tie, since
   * replicas see different occupancies and must agree). -1 without one.
   */
  private byPlacement(eligible: StaticArray<bool>, totals: Float64Array, best: f64, c: Candidates): i32 {
    const placement = c.placement;
    if (placement == null) return -1;
    let chosen = -1;
    let top = -Infinity;
    for (let i = 0; i < eligible.length; i++) {
      if (!unchecked(eligible[i]) || best - unchecked(totals[i]) > TIE_EPSILON) continue;
      const e = unchecked(c.poolIndex[i]);
      const w = e >= 0 && e < placement.length ? unchecked(placement[e]) : -Infinity;
      if (chosen < 0 || w > top) {
        chosen = i;
        top = w;
      }
    }
    return chosen;
  }

  private isBest(eligible: StaticArray<bool>, totals: Float64Array, occ: Float64Array, best: f64, bestOcc: f64, i: i32): bool {
    return unchecked(eligible[i]) && best - unchecked(totals[i]) <= TIE_EPSILON && unchecked(occ[i]) == bestOcc;
  }
}
