// The scheduling decision, in order:
//   1. admission: empty pool → 503;
//   2. filter: unhealthy endpoints out; all unhealthy → all of them, load-only;
//      a request continuing a response stored at a healthy endpoint → that
//      endpoint alone (any other would answer 404);
//   3. saturation: every endpoint saturated → sheddable requests (priority
//      < 0) get 429, others are routed on load (affinity weights dropped);
//   4. hot-spot guard (profiles that use it: seed): load imbalanced past the
//      threshold → affinity weights dropped;
//   5. the profile's scorers, weighted sum of clamped scores;
//   6. the profile's picker (seed: max score, uniformly random tie-break;
//      default: the same within a load bound, ties on occupancy first).
// Then: did load override affinity (the chosen endpoint holds fewer of the
// request's leading blocks than another candidate)?
// Scorers and pickers are plugins: assembly/scoring/README.md.
import { EndpointState } from "../pool/endpoint_state";
import { writeJsonText, writeNumber } from "../json/writer";
import { ByteWriter } from "../util/bytes";
import { GuardConfig, SaturationConfig, ScoringConfig } from "./config";
import { countLeftOut, countTied, LeftOut, leftOutName } from "./picker";
import { Pcg32 } from "./rng";
import { Candidates, clampScore, ScoringRequest } from "./scorer";
import { uncachedAtEndpoint } from "./scorers/predicted_prefill";

export const STATUS_ROUTE: i32 = 200;
export const STATUS_SHED: i32 = 429;
export const STATUS_NO_ENDPOINTS: i32 = 503;

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
  /** The hot-spot guard fired (prefix weight dropped). */
  guardFired: bool = false;
  /** Candidates the picker left out before comparing totals (the default profile's load bound). */
  overBound: i32 = 0;
  /** Candidates left out because this request's predicted wait there was too far above its best (the default profile's wait bound). */
  overWait: i32 = 0;
  /** Why each candidate was left out (picker.ts LeftOut, same order as `candidates`); null when the picker left none out by design. */
  leftOut: Uint8Array | null = null;
  /** The chosen endpoint holds fewer of the request's leading blocks than another candidate. */
  loadOverrodeAffinity: bool = false;
  /** Every endpoint was unhealthy: all were scored, load only. */
  allUnhealthy: bool = false;
  /** Every endpoint was saturated. */
  saturated: bool = false;
  /** How many candidates shared the best total (1 = no tie). */
  tied: i32 = 0;
  /** The request continues a response stored at a healthy endpoint, which was the only candidate (ScoringRequest.storedAt). */
  followedStored: bool = false;
  /** The request decided, for the debug rendering ("uncached"); null for a decision made without one. */
  request: ScoringRequest | null = null;
}

/**
 * Saturated: waiting > queueThreshold or KV usage > kvCacheThreshold.
 * Unknown metrics do not count against an endpoint: a server that exports
 * neither is not shed (the upstream picker skips endpoints without metrics,
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

function healthyIndices(endpoints: Array<EndpointState>): Array<i32> {
  // Counted first: the array is made once at its size instead of grown by push.
  let n = 0;
  for (let i = 0; i < endpoints.length; i++) if (unchecked(endpoints[i]).isHealthy) n++;
  const out = new Array<i32>(n);
  let at = 0;
  for (let i = 0; i < endpoints.length && at < n; i++) if (unchecked(endpoints[i]).isHealthy) unchecked((out[at++] = i));
  return out;
}

/**
 * When every endpoint is unhealthy: those whose requests did not just fail,
 * and among them those with the fewest failed scrapes in a row. A dead
 * server fails every scrape; a live one on a loaded host only now and then.
 */
function leastFailing(endpoints: Array<EndpointState>): Array<i32> {
  let fewest = i32.MAX_VALUE;
  for (let i = 0; i < endpoints.length; i++) {
    const e = unchecked(endpoints[i]);
    if (!e.failedRequest && e.consecutiveFailures < fewest) fewest = e.consecutiveFailures;
  }
  const out = new Array<i32>();
  for (let i = 0; i < endpoints.length; i++) {
    const e = unchecked(endpoints[i]);
    if (!e.failedRequest && e.consecutiveFailures == fewest) out.push(i);
  }
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
  d.request = req;
  if (endpoints.length == 0) {
    d.status = STATUS_NO_ENDPOINTS;
    d.reason = "no endpoints in the pool";
    return d;
  }
  let idx = healthyIndices(endpoints);
  if (idx.length == 0) {
    // Without health data, picking on load beats refusing all traffic; but
    // not on an endpoint that looks dead (it has no load and would win every
    // decision): see leastFailing. Every endpoint when all look dead.
    idx = leastFailing(endpoints);
    if (idx.length == 0) idx = allIndices(endpoints.length);
    d.allUnhealthy = true;
  } else if (req.storedAt >= 0 && idx.includes(req.storedAt)) {
    idx = [req.storedAt];
    d.followedStored = true;
  }
  d.candidates = idx;
  const c = new Candidates(endpoints, idx, select(endpoints, idx), req.placement);
  d.saturated = poolSaturated(c.states, cfg.saturation);
  if (d.saturated && req.priority < 0) {
    d.status = STATUS_SHED;
    d.reason = "all endpoints saturated and the request is sheddable";
    return d;
  }
  const profile = cfg.profile;
  d.guardFired = profile.usesGuard && hotSpot(c.states, cfg.guard);

  // Affinity yields to load when load is badly spread (guard), when the
  // health data is gone (all unhealthy) and when every server is saturated
  // (the request should go where it waits least: the bounded-load picker
  // ranks on its predicted wait there, docs/routing.md "When places free").
  const loadOnly = d.guardFired || d.allUnhealthy || d.saturated;
  c.loadOnly = loadOnly;
  c.allSaturated = d.saturated && !d.guardFired && !d.allUnhealthy;
  for (let k = 0; k < profile.scorers.length; k++) {
    const ws = unchecked(profile.scorers[k]);
    const s = ws.scorer;
    if (!s.appliesTo(req)) continue;
    const weight = loadOnly && s.yieldsToLoad() ? 0.0 : ws.weight;
    d.scores.push(new ScorerScores(s.name, weight, s.score(c, req)));
  }

  d.totals = weightedTotals(d.scores, c.length);
  d.tied = countTied(d.totals);
  const pick = profile.picker.pick(d.totals, c, req, rng);
  d.leftOut = profile.picker.leftOut;
  d.overBound = countLeftOut(d.leftOut, LeftOut.Load, LeftOut.Batch);
  d.overWait = countLeftOut(d.leftOut, LeftOut.Wait);
  d.chosen = pick >= 0 && pick < idx.length ? unchecked(idx[pick]) : -1;
  d.loadOverrodeAffinity = d.chosen >= 0 && req.heldBlocks(d.chosen) < mostHeld(req, idx);
  d.status = STATUS_ROUTE;
  d.reason = d.followedStored
    ? "routed to the server storing the response it continues"
    : d.guardFired
    ? "routed on load (hot-spot guard)"
    : d.allUnhealthy
      ? "routed on load (all endpoints unhealthy)"
      : d.saturated
        ? "routed on load (all endpoints saturated)"
        : d.loadOverrodeAffinity
          ? "routed on load (affinity bounded)"
          : "routed";
  return d;
}

/** The most of the prompt any candidate holds or is prefilling (ScoringRequest.heldBlocks; 0 when the request was not hashed). */
function mostHeld(req: ScoringRequest, idx: Array<i32>): i32 {
  let best = 0;
  for (let i = 0; i < idx.length; i++) {
    const m = req.heldBlocks(unchecked(idx[i]));
    if (m > best) best = m;
  }
  return best;
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
// JSON rendering for the inspect line and the debug header.

/** Each candidate's predicted prefill ahead of the request, in blocks (EndpointState.waitAheadBlocks): what the cost's queued term read. */
function waitAheadOf(d: Decision, endpoints: Array<EndpointState>): Float64Array {
  const out = new Float64Array(d.candidates.length);
  for (let i = 0; i < d.candidates.length; i++) {
    const e = unchecked(d.candidates[i]);
    if (e >= 0 && e < endpoints.length) unchecked((out[i] = unchecked(endpoints[e]).waitAheadBlocks));
  }
  return out;
}

/** Each candidate's blocks of the request's prompt predicted not cached there: what the cost's uncached term read. */
function uncachedOf(d: Decision, req: ScoringRequest): Float64Array {
  const out = new Float64Array(d.candidates.length);
  for (let i = 0; i < d.candidates.length; i++) unchecked((out[i] = <f64>uncachedAtEndpoint(req, unchecked(d.candidates[i]))));
  return out;
}

/** The candidates a bound left out, by address: the bound's name (picker.ts leftOutName). */
function writeLeftOut(w: ByteWriter, d: Decision, endpoints: Array<EndpointState>, why: Uint8Array): void {
  w.byte(0x7b);
  let first = true;
  for (let i = 0; i < d.candidates.length && i < why.length; i++) {
    const e = unchecked(d.candidates[i]);
    const name = leftOutName(unchecked(why[i]));
    if (e < 0 || e >= endpoints.length || name.length == 0) continue;
    if (!first) w.byte(0x2c);
    first = false;
    writeJsonText(w, unchecked(endpoints[e]).address);
    w.byte(0x3a);
    writeJsonText(w, name);
  }
  w.byte(0x7d);
}

function writeByAddress(w: ByteWriter, d: Decision, endpoints: Array<EndpointState>, values: Float64Array): void {
  w.byte(0x7b);
  for (let i = 0; i < d.candidates.length && i < values.length; i++) {
    const e = unchecked(d.candidates[i]);
    if (e < 0 || e >= endpoints.length) continue;
    if (i > 0) w.byte(0x2c);
    writeJsonText(w, unchecked(endpoints[e]).address);
    w.byte(0x3a);
    writeNumber(w, unchecked(values[i]));
  }
  w.byte(0x7d);
}

/**
 * Writes the decision's fields, without the surrounding braces, so the CLI
 * can splice them into its line:
 *   "status":200,"endpoint":"ip:port","scores":{"<scorer>":{"<address>":n}},
 *   "weights":{"<scorer>":n},"total":{"<address>":n},"waitAhead":{"<address>":n},
 *   "uncached":{"<address>":n},"guard":false,
 *   "overBound":0,"overWait":0,"leftOut":{"<address>":"load"|"batch"|"wait"},
 *   "loadOverrodeAffinity":false,"allUnhealthy":false,
 *   "saturated":false,"tied":1
 * and "followedStored":true when the request continued a stored response; or, for a reject, "status":429|503,"reason":"...".
 * Scores are the raw scorer outputs; totals use the clamped scores.
 */
export function writeDecisionFields(w: ByteWriter, d: Decision, endpoints: Array<EndpointState>): void {
  w.str('"status":');
  w.str(d.status.toString());
  if (d.status != STATUS_ROUTE) {
    w.str(',"reason":');
    writeJsonText(w, d.reason);
    return;
  }
  w.str(',"endpoint":');
  if (d.chosen >= 0 && d.chosen < endpoints.length) writeJsonText(w, unchecked(endpoints[d.chosen]).address);
  else w.str("null");
  w.str(',"scores":{');
  for (let k = 0; k < d.scores.length; k++) {
    const s = unchecked(d.scores[k]);
    if (k > 0) w.byte(0x2c);
    writeJsonText(w, s.name);
    w.byte(0x3a);
    writeByAddress(w, d, endpoints, s.values);
  }
  w.str('},"weights":{');
  for (let k = 0; k < d.scores.length; k++) {
    const s = unchecked(d.scores[k]);
    if (k > 0) w.byte(0x2c);
    writeJsonText(w, s.name);
    w.byte(0x3a);
    writeNumber(w, s.weight);
  }
  w.str('},"total":');
  writeByAddress(w, d, endpoints, d.totals);
  w.str(',"waitAhead":');
  writeByAddress(w, d, endpoints, waitAheadOf(d, endpoints));
  const req = d.request;
  if (req != null) {
    w.str(',"uncached":');
    writeByAddress(w, d, endpoints, uncachedOf(d, req));
  }
  w.str(',"guard":');
  w.str(d.guardFired ? "true" : "false");
  w.str(',"overBound":');
  w.str(d.overBound.toString());
  w.str(',"overWait":');
  w.str(d.overWait.toString());
  const leftOut = d.leftOut;
  if (leftOut != null) {
    w.str(',"leftOut":');
    writeLeftOut(w, d, endpoints, leftOut);
  }
  w.str(',"loadOverrodeAffinity":');
  w.str(d.loadOverrodeAffinity ? "true" : "false");
  w.str(',"allUnhealthy":');
  w.str(d.allUnhealthy ? "true" : "false");
  w.str(',"saturated":');
  w.str(d.saturated ? "true" : "false");
  w.str(',"tied":');
  w.str(d.tied.toString());
  if (d.followedStored) w.str(',"followedStored":true');
}
