import { EndpointState } from "../../pool/endpoint_state";
import { Candidates, NEUTRAL_SCORE, Scorer, ScoringRequest } from "../scorer";

function contains(list: Array<string>, name: string): bool {
  for (let i = 0; i < list.length; i++) if (unchecked(list[i]) == name) return true;
  return false;
}

/**
 * lora-affinity: 1.0 when the adapter is running there; else 0.8 when a
 * slot is free (len(running) + len(waiting) < maxLoras, an unknown maxLoras
 * counting as 0, as an unset limit does in the upstream endpoint picker);
 * else 0.6 when the adapter is waiting there; else 0. An endpoint that
 * exports no LoRA info gets NEUTRAL_SCORE.
 */
export function loraAffinityScore(s: EndpointState, adapter: string): f64 {
  if (!s.hasLoras) return NEUTRAL_SCORE;
  if (contains(s.runningLoras, adapter)) return 1.0;
  const max = s.hasMaxLoras ? s.maxLoras : 0;
  if (s.runningLoras.length + s.waitingLoras.length < max) return 0.8;
  if (contains(s.waitingLoras, adapter)) return 0.6;
  return 0.0;
}

/** lora-affinity: only for requests that name an adapter. */
export class LoraAffinityScorer extends Scorer {
  constructor() {
    super("lora-affinity", "loraAffinity", 1);
  }

  appliesTo(req: ScoringRequest): bool {
    return req.adapter.length > 0;
  }

  score(c: Candidates, req: ScoringRequest): Float64Array {
    const n = c.length;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) unchecked((out[i] = loraAffinityScore(unchecked(c.states[i]), req.adapter)));
    return out;
  }
}
