import { Candidates, Scorer, ScoringRequest } from "../scorer";

/**
 * prefix: how many of the request's leading prefix blocks each endpoint
 * already holds, as computed by the prefix index (assembly/index) before
 * the decision. Affinity: yields to load when load must decide.
 */
export class PrefixScorer extends Scorer {
  constructor() {
    super("prefix", "prefix", 3);
  }

  appliesTo(req: ScoringRequest): bool {
    return req.prefixScores != null;
  }

  yieldsToLoad(): bool {
    return true;
  }

  score(c: Candidates, req: ScoringRequest): Float64Array {
    const byEndpoint = req.prefixScores;
    const n = c.poolIndex.length;
    const out = new Float64Array(n);
    if (byEndpoint == null) return out;
    for (let i = 0; i < n; i++) {
      const e = unchecked(c.poolIndex[i]);
      unchecked((out[i] = e >= 0 && e < byEndpoint.length ? unchecked(byEndpoint[e]) : 0.0));
    }
    return out;
  }
}
