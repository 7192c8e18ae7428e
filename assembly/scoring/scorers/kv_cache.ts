import { Candidates, NEUTRAL_SCORE, Scorer, ScoringRequest } from "../scorer";

/** kv-cache: 1 − KV-cache usage (vllm:kv_cache_usage_perc); unknown → neutral. */
export class KvCacheScorer extends Scorer {
  constructor() {
    super("kv-cache", "kvCache", 2);
  }

  score(c: Candidates, req: ScoringRequest): Float64Array {
    const n = c.length;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = unchecked(c.states[i]);
      unchecked((out[i] = s.hasKvCacheUsage ? 1.0 - s.kvCacheUsage : NEUTRAL_SCORE));
    }
    return out;
  }
}
