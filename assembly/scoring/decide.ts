// The scheduling decision:
//   1. admission: empty pool → 503;
//   2. filter: unhealthy endpoints out; all unhealthy → all of them, load-only;
//   3. saturation: every endpoint saturated → sheddable requests (priority
//      < 0) get 429, others are routed on load (prefix affinity dropped);
// then, by profile:
//   default (ttft.ts): LoRA filter (best adapter score), load bound, lowest
//      predicted prefill work (uncached + queued blocks), ties on occupancy
//      then at random;
//   seed: 4. hot-spot guard: load imbalanced past the threshold → prefix
//      weight dropped; 5. scorers, weighted sum of clamped scores; 6.
//      max-score picker with a uniformly random tie-break (seeded PRNG).
import { EndpointState } from "../metrics/state";
import { writeJsonString, writeNumber } from "../metrics/jsonout";
import { ByteWriter } from "../util/bytes";
import {
  GuardConfig,
  SaturationConfig,
  SCORER_IN_FLIGHT,
  SCORER_KV_CACHE,
  SCORER_LORA_AFFINITY,
  SCORER_PREFIX,
  SCORER_QUEUE,
  PROFILE_DEFAULT,
  ScoringConfig,
  ScoringRequest,
} from "./config";
import { Pcg32 } from "./rng";
import { pickByCost, SCORE_OCCUPANCY, SCORE_QUEUED, SCORE_UNCACHED } from "./ttft";
import { clampScore, inFlightScores, kvCacheScores, loraAffinityScore, loraAffinityScores, prefixScoresFor, queueScores } from "./scorers";

export const STATUS_ROUTE: i32 = 200;
export const STATUS_SHED: i32 = 429;
export const STATUS_NO_ENDPOINTS: i32 = 503;

/** Totals closer than this are a tie (sums of a few doubles carry rounding noise). */
export const TIE_EPSILON: f64 = 1e-9;

/** One scorer's contribution: raw scores (before clamping) per candidate. */
export class ScorerScores {
  constructor(
    public name: string,
    /** The weight actually applied (0 when the guard or a fallback dropped it). */
    public weight: f64,
    public values: Float64Array,
  ) {}
}

export class Decision {
  status: i32 = STATUS_ROUTE;
  /** Why, in a few words (for logs and the CLI). */
  reason: string = "";
  /** Index into the endpoints array of the chosen endpoint; -1 unless status is 200. */
  chosen: i32 = -1;
  /** Indices into the endpoints array of the endpoints that were scored. */
  candidates: Array<i32> = [];
  /** Per scorer, per candidate (same order as `candidates`). */
  scores: Array<ScorerScores> = [];
  /** Weighted sum per candidate. */
  totals: Float64Array = new Float64Array(0);
  /** The hot-spot guard fired (prefix weight dropped; seed profile). */
  guardFired: bool = false;
  /** Default profile: candidates left out by the load bound. */
  overBound: i32 = 0;
  /** The chosen endpoint holds fewer leading blocks of the request than the best-matching candidate. */
  loadOverrodeAffinity: bool = false;
  /** Every endpoint was unhealthy: all were scored, load only. */
  allUnhealthy: bool = false;
  /** Every endpoint was saturated. */
  saturated: bool = false;
  /** How many candidates shared the best total (1 = no tie). */
  tied: i32 = 0;
}

/**
 * Saturated per seed §3.6 (waiting > queueThreshold or KV usage >
 * kvCacheThreshold). Unknown metrics do not count against an endpoint: a
 * server that exports neither is not shed (the seed skips nil-metric pods,
 * which sheds everything before the first scrape). Health is handled by the
 * caller: saturation is judged over the candidates left by the health filter.
 */
export function isSaturated(s: EndpointState, cfg: SaturationConfig): bool {
  if (s.hasWaiting && s.waiting > cfg.queueThreshold) return true;
  if (s.hasKvCacheUsage && s.kvCacheUsage > cfg.kvCacheThreshold) return true;
  return false;
}

/** True when no candidate has capacity left (an empty list is not "saturated"). */
export function poolSaturated(endpoints: Array<EndpointState>, cfg: SaturationConfig): bool {
  if (endpoints.length == 0) return false;
  for (let i = 0; i < endpoints.length; i++) if (!isSaturated(unchecked(endpoints[i]), cfg)) return false;
  return true;
}

/**
 * SGLang's imbalance rule over candidate loads (waiting + running + inFlight):
 * max − min > abs AND max > rel × min. Needs two candidates or more.
 */
export function hotSpot(candidates: Array<EndpointState>, cfg: GuardConfig): bool {
  if (!cfg.enabled || candidates.length < 2) return false;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < candidates.length; i++) {
    const l = unchecked(candidates[i]).load;
    if (l < min) min = l;
    if (l > max) max = l;
  }
  return max - min > cfg.absThreshold && max > cfg.relThreshold * min;
}

/**
 * Max-score picker: the index of the best total; among totals within
 * TIE_EPSILON of the best, one chosen uniformly at random. -1 when empty.
 */
export function pickMaxScore(totals: Float64Array, rng: Pcg32): i32 {
  const n = totals.length;
  if (n == 0) return -1;
  let best = -Infinity;
  for (let i = 0; i < n; i++) if (unchecked(totals[i]) > best) best = unchecked(totals[i]);
  let tied = 0;
  for (let i = 0; i < n; i++) if (best - unchecked(totals[i]) <= TIE_EPSILON) tied++;
  let k = <i32>rng.below(<u32>tied);
  for (let i = 0; i < n; i++) {
    if (best - unchecked(totals[i]) <= TIE_EPSILON) {
      if (k == 0) return i;
      k--;
    }
  }
  return 0; // not reached: k < tied
}

function countTied(totals: Float64Array): i32 {
  let best = -Infinity;
  for (let i = 0; i < totals.length; i++) if (unchecked(totals[i]) > best) best = unchecked(totals[i]);
  let tied = 0;
  for (let i = 0; i < totals.length; i++) if (best - unchecked(totals[i]) <= TIE_EPSILON) tied++;
  return tied;
}

function healthyIndices(endpoints: Array<EndpointState>): Array<i32> {
  const out = new Array<i32>();
  for (let i = 0; i < endpoints.length; i++) if (unchecked(endpoints[i]).isHealthy) out.push(i);
  return out;
}

function allIndices(n: i32): Array<i32> {
  const out = new Array<i32>(n);
  for (let i = 0; i < n; i++) unchecked((out[i] = i));
  return out;
}

function select(endpoints: Array<EndpointState>, idx: Array<i32>): Array<EndpointState> {
  const out = new Array<EndpointState>(idx.length);
  for (let i = 0; i < idx.length; i++) unchecked((out[i] = endpoints[unchecked(idx[i])]));
  return out;
}

/**
 * Decides where a request goes. `endpoints` is the whole pool (indices in
 * the result refer to it); `rng` breaks ties.
 */
export function decide(endpoints: Array<EndpointState>, req: ScoringRequest, cfg: ScoringConfig, rng: Pcg32): Decision {
  const d = new Decision();
  if (endpoints.length == 0) {
    d.status = STATUS_NO_ENDPOINTS;
    d.reason = "no endpoints in the pool";
    return d;
  }
  let idx = healthyIndices(endpoints);
  if (idx.length == 0) {
    // Issue 4 point 2: fall back to load-only picking rather than refusing traffic.
    idx = allIndices(endpoints.length);
    d.allUnhealthy = true;
  }
  d.candidates = idx;
  const cands = select(endpoints, idx);
  d.saturated = poolSaturated(cands, cfg.saturation);
  if (d.saturated && req.priority < 0) {
    d.status = STATUS_SHED;
    d.reason = "all endpoints saturated and the request is sheddable";
    return d;
  }
  if (cfg.profile == PROFILE_DEFAULT) return decideByCost(d, cands, idx, req, cfg, rng);
  d.guardFired = hotSpot(cands, cfg.guard);

  // Prefix affinity yields to load when load is badly spread (guard), when
  // the health data is gone (all unhealthy: "load-only picking", issue 4
  // point 2) and when every server is saturated (issue 4 point 6: the
  // request goes to the least-loaded endpoint).
  const w = cfg.weights;
  const prefixWeight = d.guardFired || d.allUnhealthy || d.saturated ? 0.0 : w.prefix;
  const prefix = req.prefixScores;
  if (prefix != null) d.scores.push(new ScorerScores(SCORER_PREFIX, prefixWeight, prefixScoresFor(idx, prefix)));
  d.scores.push(new ScorerScores(SCORER_QUEUE, w.queue, queueScores(cands)));
  d.scores.push(new ScorerScores(SCORER_KV_CACHE, w.kvCache, kvCacheScores(cands)));
  if (req.adapter.length > 0) {
    d.scores.push(new ScorerScores(SCORER_LORA_AFFINITY, w.loraAffinity, loraAffinityScores(cands, req.adapter)));
  }
  d.scores.push(new ScorerScores(SCORER_IN_FLIGHT, w.inFlight, inFlightScores(cands)));

  d.totals = weightedTotals(d.scores, cands.length);
  d.tied = countTied(d.totals);
  const pick = pickMaxScore(d.totals, rng);
  d.chosen = pick >= 0 && pick < idx.length ? unchecked(idx[pick]) : -1;
  d.status = STATUS_ROUTE;
  d.reason = d.guardFired ? "routed on load (hot-spot guard)" : d.allUnhealthy ? "routed on load (all endpoints unhealthy)" : d.saturated ? "routed on load (all endpoints saturated)" : "routed";
  return d;
}

/** Keeps the candidates with the best lora-affinity score (adapter requests only). */
function loraFiltered(cands: Array<EndpointState>, adapter: string): Array<i32> {
  let best: f64 = -1;
  for (let i = 0; i < cands.length; i++) {
    const v = loraAffinityScore(unchecked(cands[i]), adapter);
    if (v > best) best = v;
  }
  const keep = new Array<i32>();
  for (let i = 0; i < cands.length; i++) if (loraAffinityScore(unchecked(cands[i]), adapter) == best) keep.push(i);
  return keep;
}

/** The default profile (ttft.ts), after health and saturation. */
function decideByCost(d: Decision, all: Array<EndpointState>, allIdx: Array<i32>, req: ScoringRequest, cfg: ScoringConfig, rng: Pcg32): Decision {
  let cands = all;
  let idx = allIdx;
  if (req.adapter.length > 0) {
    const keep = loraFiltered(all, req.adapter);
    if (keep.length < all.length) {
      cands = new Array<EndpointState>(keep.length);
      idx = new Array<i32>(keep.length);
      for (let i = 0; i < keep.length; i++) {
        unchecked((cands[i] = all[unchecked(keep[i])]));
        unchecked((idx[i] = allIdx[unchecked(keep[i])]));
      }
    }
  }
  d.candidates = idx;
  // Without health data or with every server saturated, affinity is dropped:
  // the same prompt size everywhere leaves queued work and occupancy to decide.
  const loadOnly = d.allUnhealthy || d.saturated;
  const r = loadOnly ? promptOnly(req) : req;
  const p = pickByCost(cands, idx, r, cfg.bound, rng);
  d.scores.push(new ScorerScores(SCORE_UNCACHED, 1, p.uncached));
  d.scores.push(new ScorerScores(SCORE_QUEUED, 1, p.queued));
  d.scores.push(new ScorerScores(SCORE_OCCUPANCY, 0, p.occupancy));
  // Totals for the decision line: 1 / (1 + cost), 0 over the bound (higher is better, as in the seed profile).
  const totals = new Float64Array(p.cost.length);
  for (let i = 0; i < totals.length; i++) {
    const c = unchecked(p.cost[i]);
    unchecked((totals[i] = c == Infinity ? 0 : 1.0 / (1.0 + c)));
  }
  d.totals = totals;
  d.tied = p.tied;
  d.overBound = p.overBound;
  d.loadOverrodeAffinity = p.loadOverrodeAffinity;
  d.chosen = p.chosen >= 0 && p.chosen < idx.length ? unchecked(idx[p.chosen]) : -1;
  d.status = STATUS_ROUTE;
  d.reason = d.allUnhealthy ? "routed on load (all endpoints unhealthy)" : d.saturated ? "routed on load (all endpoints saturated)" : p.loadOverrodeAffinity ? "routed on load (affinity bounded)" : "routed";
  return d;
}

/** The request with no prefix knowledge (every endpoint prefills the whole prompt). */
function promptOnly(req: ScoringRequest): ScoringRequest {
  const r = new ScoringRequest();
  r.adapter = req.adapter;
  r.priority = req.priority;
  r.hashedBlocks = req.hashedBlocks;
  r.promptBlocks = req.promptBlocks;
  return r;
}

function weightedTotals(scores: Array<ScorerScores>, n: i32): Float64Array {
  const totals = new Float64Array(n);
  for (let k = 0; k < scores.length; k++) {
    const s = unchecked(scores[k]);
    if (s.weight == 0) continue;
    for (let i = 0; i < n && i < s.values.length; i++) {
      unchecked((totals[i] += s.weight * clampScore(unchecked(s.values[i]))));
    }
  }
  return totals;
}

// ---------------------------------------------------------------------------
// JSON rendering for the CLI line (issue 4 point 9) and debug headers.

function writeByAddress(w: ByteWriter, d: Decision, endpoints: Array<EndpointState>, values: Float64Array): void {
  w.byte(0x7b);
  for (let i = 0; i < d.candidates.length && i < values.length; i++) {
    const e = unchecked(d.candidates[i]);
    if (e < 0 || e >= endpoints.length) continue;
    if (i > 0) w.byte(0x2c);
    writeJsonString(w, unchecked(endpoints[e]).address);
    w.byte(0x3a);
    writeNumber(w, unchecked(values[i]));
  }
  w.byte(0x7d);
}

/**
 * Writes the decision's fields, without the surrounding braces, so the CLI
 * can splice them into its line:
 *   "status":200,"endpoint":"ip:port","scores":{"<scorer>":{"<address>":n}},
 *   "weights":{"<scorer>":n},"total":{"<address>":n},"guard":false,
 *   "allUnhealthy":false,"saturated":false,"tied":1
 * or, for a reject, "status":429|503,"reason":"...".
 * Scores are the raw scorer outputs; totals use the clamped scores.
 */
export function writeDecisionFields(w: ByteWriter, d: Decision, endpoints: Array<EndpointState>): void {
  w.str('"status":');
  w.str(d.status.toString());
  if (d.status != STATUS_ROUTE) {
    w.str(',"reason":');
    writeJsonString(w, d.reason);
    return;
  }
  w.str(',"endpoint":');
  if (d.chosen >= 0 && d.chosen < endpoints.length) writeJsonString(w, unchecked(endpoints[d.chosen]).address);
  else w.str("null");
  w.str(',"scores":{');
  for (let k = 0; k < d.scores.length; k++) {
    const s = unchecked(d.scores[k]);
    if (k > 0) w.byte(0x2c);
    writeJsonString(w, s.name);
    w.byte(0x3a);
    writeByAddress(w, d, endpoints, s.values);
  }
  w.str('},"weights":{');
  for (let k = 0; k < d.scores.length; k++) {
    const s = unchecked(d.scores[k]);
    if (k > 0) w.byte(0x2c);
    writeJsonString(w, s.name);
    w.byte(0x3a);
    writeNumber(w, s.weight);
  }
  w.str('},"total":');
  writeByAddress(w, d, endpoints, d.totals);
  w.str(',"guard":');
  w.str(d.guardFired ? "true" : "false");
  w.str(',"overBound":');
  w.str(d.overBound.toString());
  w.str(',"loadOverrodeAffinity":');
  w.str(d.loadOverrodeAffinity ? "true" : "false");
  w.str(',"allUnhealthy":');
  w.str(d.allUnhealthy ? "true" : "false");
  w.str(',"saturated":');
  w.str(d.saturated ? "true" : "false");
  w.str(',"tied":');
  w.str(d.tied.toString());
}
