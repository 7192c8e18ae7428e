// predicted-prefill: the default profile's scorer (docs/routing.md). The
// prefill work a request would wait for and do at each endpoint, in prompt
// blocks: blocks of this prompt not cached there (its own prefill) plus the
// blocks routed there whose first token has not come back (the prefill
// queued ahead of it). Both terms are prefill work in the same unit, so the
// trade-off between cache reuse and queueing needs no weight. The score is
// P / (P + cost) with P the prompt's blocks: in (0, 1], 1 for no work, and
// strictly decreasing in the cost, so the best total is the lowest cost.
import { Candidates, Scorer, ScoringRequest } from "../scorer";

/**
 * Prompt blocks not cached at an endpoint holding `matched` of the
 * `hashed` leading blocks of a prompt of `prompt` blocks. Hashing stops at
 * prefix.maxBlocks, so past `hashed` the index cannot tell: an endpoint that
 * holds every hashed block is taken to hold the rest too (a long shared
 * document or conversation continues where the hashed part ends); any other
 * endpoint has the whole rest to prefill.
 */
export function uncachedBlocks(matched: i32, hashed: i32, prompt: i32): i32 {
  const total = prompt > hashed ? prompt : hashed;
  if (hashed > 0 && matched >= hashed) return 0;
  return total - matched;
}

/** Predicted prefill work at candidate i, in blocks (uncached + queued). */
export function predictedPrefillBlocks(c: Candidates, req: ScoringRequest, i: i32): f64 {
  const e = i < c.poolIndex.length ? unchecked(c.poolIndex[i]) : -1;
  const uncached = uncachedBlocks(req.matchedAt(e), req.hashedBlocks, req.promptBlocks);
  const queued = unchecked(c.states[i]).pendingBlocks;
  return <f64>uncached + <f64>(queued > 0 ? queued : 0);
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
