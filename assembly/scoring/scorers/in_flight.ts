import { Candidates, minMaxLowerIsBetter, Scorer, ScoringRequest } from "../scorer";

/**
 * in-flight: requests this Envoy has sent to the endpoint and not yet seen
 * finish; fewer is better, min-max normalised like queue. It reacts between
 * scrapes, which the scraped queue cannot.
 */
export class InFlightScorer extends Scorer {
  constructor() {
    super("in-flight", "inFlight", 1);
  }

  score(c: Candidates, req: ScoringRequest): Float64Array {
    const n = c.length;
    const v = new Float64Array(n);
    const k = new StaticArray<bool>(n);
    for (let i = 0; i < n; i++) {
      const s = unchecked(c.states[i]);
      unchecked((v[i] = <f64>s.inFlight));
      unchecked((k[i] = s.hasInFlight));
    }
    return minMaxLowerIsBetter(v, k);
  }
}
