// The scorers (issue 4 point 4; seed §3.2). Each takes the candidate
// endpoints and returns one score per candidate, in the candidates' order.
// Scores are meant to lie in [0,1]; the engine clamps them anyway.
import { EndpointState } from "../metrics/state";
import { NEUTRAL_SCORE } from "./config";

/**
 * Lower is better, min-max normalised over the candidates whose value is
 * known: (max − v)/(max − min), 1.0 for all when max == min (the seed's
 * queue-scorer). Unknown values get NEUTRAL_SCORE.
 */
function minMaxLowerIsBetter(values: Float64Array, known: StaticArray<bool>): Float64Array {
  const n = values.length;
  const out = new Float64Array(n);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    if (!unchecked(known[i])) continue;
    const v = unchecked(values[i]);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  for (let i = 0; i < n; i++) {
    if (!unchecked(known[i])) {
      unchecked((out[i] = NEUTRAL_SCORE));
    } else if (max == min) {
      unchecked((out[i] = 1.0));
    } else {
      unchecked((out[i] = (max - unchecked(values[i])) / (max - min)));
    }
  }
  return out;
}

/** queue: on the waiting queue (vllm:num_requests_waiting). */
export function queueScores(c: Array<EndpointState>): Float64Array {
  const n = c.length;
  const v = new Float64Array(n);
  const k = new StaticArray<bool>(n);
  for (let i = 0; i < n; i++) {
    const s = unchecked(c[i]);
    unchecked((v[i] = s.waiting));
    unchecked((k[i] = s.hasWaiting));
  }
  return minMaxLowerIsBetter(v, k);
}

/** in-flight: fewer requests in flight from this Envoy = higher, like queue. */
export function inFlightScores(c: Array<EndpointState>): Float64Array {
  const n = c.length;
  const v = new Float64Array(n);
  const k = new StaticArray<bool>(n);
  for (let i = 0; i < n; i++) {
    const s = unchecked(c[i]);
    unchecked((v[i] = <f64>s.inFlight));
    unchecked((k[i] = s.hasInFlight));
  }
  return minMaxLowerIsBetter(v, k);
}

/** kv-cache: 1 − usage (seed kv-cache-utilization-scorer); unknown → neutral. */
export function kvCacheScores(c: Array<EndpointState>): Float64Array {
  const n = c.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = unchecked(c[i]);
    unchecked((out[i] = s.hasKvCacheUsage ? 1.0 - s.kvCacheUsage : NEUTRAL_SCORE));
  }
  return out;
}

function contains(list: Array<string>, name: string): bool {
  for (let i = 0; i < list.length; i++) if (unchecked(list[i]) == name) return true;
  return false;
}

/**
 * lora-affinity (seed §3.2): 1.0 when the adapter is running there; else
 * 0.8 when a slot is free (len(running) + len(waiting) < maxLoras, an
 * unknown maxLoras counting as 0 like the seed's unset MaxActiveModels);
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

export function loraAffinityScores(c: Array<EndpointState>, adapter: string): Float64Array {
  const n = c.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) unchecked((out[i] = loraAffinityScore(unchecked(c[i]), adapter)));
  return out;
}

/** prefix: scores computed by the prefix index, indexed like the full endpoint list. */
export function prefixScoresFor(candidateIndex: Array<i32>, byEndpoint: Float64Array): Float64Array {
  const n = candidateIndex.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const e = unchecked(candidateIndex[i]);
    unchecked((out[i] = e >= 0 && e < byEndpoint.length ? unchecked(byEndpoint[e]) : 0.0));
  }
  return out;
}

/** The engine's clamp (seed §3.1); NaN counts as 0. */
export function clampScore(x: f64): f64 {
  if (!(x > 0)) return 0;
  return x > 1 ? 1 : x;
}
