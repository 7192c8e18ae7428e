// predicted-prefill: the default profile's scorer (docs/routing.md). The
// prefill cost of sending a request to each endpoint, in prompt blocks:
// blocks of this prompt not cached there (its own prefill, counted twice:
// it waits for it and so does whoever queues behind it; UNCACHED_WEIGHT)
// plus the blocks routed there whose first token has not come back, less
// what the endpoint's prefill pace has done of them since, and what is left
// of prefill the server did that this Envoy did not send it (the prefill
// queued ahead of it: EndpointState.queuedBlocks), plus, where the batch is
// full, the wait for a place in it converted to blocks at the pool's pace
// (EndpointState.slotWaitBlocks). All terms are prefill work, or time
// as prefill work, in the same unit.
// The score is P / (P + cost) with P the prompt's blocks: in (0, 1], 1 for
// no work, and strictly decreasing in the cost, so the best total is the
// lowest cost.
import { Candidates, PastHashed, Scorer, ScoringRequest } from "../scorer";

/**
 * Prompt blocks not cached at endpoint `e` (pool index), which holds
 * `matched` of the `hashed` leading blocks of a prompt of `prompt` blocks.
 * Hashing stops at prefix.maxBlocks, so past `hashed` the index cannot
 * tell: an endpoint that holds every hashed block lacks what `past` says
 * it lacks of the rest (PastHashed.lacksAt), or nothing without it (a long
 * shared document or conversation continues where the hashed part ends);
 * any other endpoint has the whole rest to prefill.
 */
export function uncachedBlocks(matched: i32, hashed: i32, prompt: i32, past: PastHashed | null = null, e: i32 = -1): i32 {
  const total = prompt > hashed ? prompt : hashed;
  if (hashed > 0 && matched >= hashed) return past !== null ? past.lacksAt(e, hashed, prompt) : 0;
  return total - matched;
}

/**
 * Weight of this request's own uncached blocks in the cost. They count
 * twice: once as the prefill this request waits for, and once as the
 * prefill it leaves queued ahead of every request that arrives at that
 * endpoint before it is done. The queued blocks count once (they delay this
 * request only). Sending a request away from the endpoint that holds its
 * prefix adds work that would not exist otherwise; with weight 1 the greedy
 * choice ignores that cost to later requests and, at a busy pool, re-prefills
 * conversations whenever a queue briefly grows (docs/routing.md has the
 * measurements: at 50–80% prefill-busy, weight 1 kept 55% of multi-turn's
 * prompt tokens cached against the oracle's 65%; weight 2 63%).
 */
export const UNCACHED_WEIGHT: f64 = 2;

/** Blocks of this request not cached at endpoint `e` (pool index; -1: none known). */
export function uncachedAtEndpoint(req: ScoringRequest, e: i32): i32 {
  return uncachedBlocks(req.matchedAt(e), req.hashedBlocks, req.promptBlocks, req.pastHashed, e);
}

/** Blocks of this request not cached at candidate i. */
function uncachedAt(c: Candidates, req: ScoringRequest, i: i32): i32 {
  return uncachedAtEndpoint(req, i < c.poolIndex.length ? unchecked(c.poolIndex[i]) : -1);
}

/**
 * What a request waits for at candidate i before its own prefill, in
 * blocks: the prefill queued there (routed, first byte not back, less what
 * its pace has done of them) and the wait for a place in a full batch.
 */
function waitAheadAt(c: Candidates, i: i32): f64 {
  return unchecked(c.states[i]).waitAheadBlocks;
}

/** Predicted prefill cost at candidate i, in blocks (2 × uncached + the wait ahead). */
export function predictedPrefillBlocks(c: Candidates, req: ScoringRequest, i: i32): f64 {
  return UNCACHED_WEIGHT * <f64>uncachedAt(c, req, i) + waitAheadAt(c, i);
}

/**
 * This request's own predicted wait for its first token at candidate i, in
 * blocks: what it waits for ahead of it, its own uncached prefill, and one
 * block for the fixed cost of a request (so an idle endpoint holding the
 * whole prompt is 1, not 0, and ratios stay finite). What the greedy choice
 * minimises; the wait bound (bounded_load.ts) compares it across endpoints.
 */
export function predictedWaitBlocks(c: Candidates, req: ScoringRequest, i: i32): f64 {
  return <f64>uncachedAt(c, req, i) + waitAheadAt(c, i) + 1;
}

export class PredictedPrefillScorer extends Scorer {
  constructor() {
    super("predicted-prefill", "predictedPrefill", 1);
  }

  /** Affinity: with the health data gone or every server saturated, occupancy decides (the picker's tie-break). */
  yieldsToLoad(): bool {
    return true;
  }

  score(c: Candidates, req: ScoringRequest): Float64Array {
    const n = c.length;
    const out = new Float64Array(n);
    const p: f64 = req.promptBlocks > 0 ? <f64>req.promptBlocks : 1;
    for (let i = 0; i < n; i++) unchecked((out[i] = p / (p + predictedPrefillBlocks(c, req, i))));
    return out;
  }
}
