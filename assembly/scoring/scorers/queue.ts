import { Candidates, minMaxLowerIsBetter, Scorer, ScoringRequest } from "../scorer";

/**
 * queue: the server's waiting queue (vllm:num_requests_waiting), shorter is
 * better, min-max normalised over the candidates (all equal: 1 each).
 */
export class QueueScorer extends Scorer {
  constructor() {
    super("queue", "queue", 2);
  }

  score(c: Candidates, req: ScoringRequest): Float64Array {
    const n = c.length;
    const v = new Float64Array(n);
    const k = new StaticArray<bool>(n);
    for (let i = 0; i < n; i++) {
      const s = unchecked(c.states[i]);
      unchecked((v[i] = s.waiting));
      unchecked((k[i] = s.hasWaiting));
    }
    return minMaxLowerIsBetter(v, k);
  }
}
