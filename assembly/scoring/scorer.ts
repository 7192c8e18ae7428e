// What a scorer is, and what it is given. Scorers are pure: they read the
// candidates' states and the request, and return one score per candidate.
// How to add one: assembly/scoring/README.md.
import { EndpointState } from "../pool/endpoint_state";

/**
 * Score given to an endpoint for a signal we do not know (never scraped, a
 * server that does not export the metric, a snapshot without the key).
 * 0.5 is the middle of [0,1]: an unknown endpoint neither wins nor loses on
 * that signal against known ones by more than half a weight, and when every
 * candidate is unknown the scorer adds the same amount to all (no effect).
 */
export const NEUTRAL_SCORE: f64 = 0.5;

/**
 * What is known of a prompt past its hashed blocks (hashing stops at
 * prefix.maxBlocks): one endpoint, `holder`, received this conversation's
 * previous turn and lacks only the `holderLacks` blocks that follow its
 * reply; any other endpoint holding every hashed block is taken to lack
 * `othersLack`, the conversation from its first reply on (what precedes
 * it, a shared head, it holds). Both at most the blocks past the hashed
 * ones (docs/routing.md "Past the hashed blocks").
 */
export class PastHashed {
  constructor(
    /** Pool index of the endpoint that holds the previous turn. */
    public holder: i32,
    /** Blocks of this prompt past the hashed ones that `holder` still lacks. */
    public holderLacks: i32,
    /** Blocks past the hashed ones that any other endpoint holding the hashed ones lacks. */
    public othersLack: i32,
  ) {}

  /**
   * Blocks past the hashed ones that endpoint `e` (pool index) lacks when
   * it holds every hashed block, of a prompt of `prompt` blocks with
   * `hashed` hashed.
   */
  lacksAt(e: i32, hashed: i32, prompt: i32): i32 {
    const rest = prompt > hashed ? prompt - hashed : 0;
    const lacks = e == this.holder ? this.holderLacks : this.othersLack;
    return lacks < rest ? lacks : rest;
  }
}

/** What the scheduler needs to know about the request. */
export class ScoringRequest {
  /**
   * The LoRA adapter the request names (the request's model when it is an
   * adapter), or "" when it names none: the lora-affinity scorer only runs
   * when this is set.
   */
  adapter: string = "";
  /** From x-gateway-inference-priority; < 0 means sheddable (may get 429). */
  priority: i32 = 0;
  /**
   * Prefix scores in [0,1] per endpoint (same order as the endpoints array),
   * from the prefix index; null when there is no prefix scorer for this request.
   * Missing entries count as 0.
   */
  prefixScores: Float64Array | null = null;
  /**
   * Leading blocks of this request each endpoint holds (same order as the
   * endpoints array; missing entries count as 0), from the prefix index;
   * null when the request was not hashed.
   */
  matchedBlocks: Int32Array | null = null;
  /**
   * What the index credits each endpoint with, where it differs from
   * matchedBlocks: blocks another request is still prefilling there count
   * in it and not in matchedBlocks (docs/routing.md "Prefill still
   * running"). null: the same as matchedBlocks. Only for telling whether
   * load overrode affinity.
   */
  creditedBlocks: Int32Array | null = null;
  /** Blocks hashed (the index can only answer for these). */
  hashedBlocks: i32 = 0;
  /**
   * Per endpoint (same order as the endpoints array), a preference among
   * endpoints the scores cannot tell apart, the same in every replica of a
   * fleet: set for a prefix no endpoint holds yet, so that replicas that
   * each see it first place it on the same server (docs/fleet.md
   * "Placing a new prefix"). null: ties are broken as usual.
   */
  placement: Float64Array | null = null;
  /** Estimated blocks of the whole prompt (≥ hashedBlocks: hashing stops at prefix.maxBlocks). */
  promptBlocks: i32 = 0;
  /** Who holds the prompt past its hashed blocks; null: every endpoint holding the hashed ones is taken to hold the rest. */
  pastHashed: PastHashed | null = null;
  /**
   * The endpoint (index into the endpoints array) that stores what the
   * request continues: the response its `previous_response_id` names, or
   * that a GET or cancel reads. A server keeps those in its own memory and
   * any other answers 404, so while it is healthy it is the only candidate
   * (docs/routing.md "Responses that continue a stored one"). -1: none.
   */
  storedAt: i32 = -1;

  /**
   * Blocks of the prompt endpoint `e` holds or is prefilling, as far as is
   * known: its credited leading blocks and, where that is every hashed
   * block, the blocks past them it is not taken to lack (PastHashed).
   */
  heldBlocks(e: i32): i32 {
    const credited = this.creditedAt(e);
    if (this.hashedBlocks <= 0 || credited < this.hashedBlocks) return credited;
    const rest = this.promptBlocks > this.hashedBlocks ? this.promptBlocks - this.hashedBlocks : 0;
    const past = this.pastHashed;
    return credited + rest - (past !== null ? past.lacksAt(e, this.hashedBlocks, this.promptBlocks) : 0);
  }

  /** Leading blocks endpoint `e` (pool index) holds, capped at hashedBlocks; 0 when unknown. */
  matchedAt(e: i32): i32 {
    return this.capped(this.matchedBlocks, e);
  }

  /** Leading blocks endpoint `e` holds or is prefilling (creditedBlocks, else matchedAt), capped the same way. */
  creditedAt(e: i32): i32 {
    return this.creditedBlocks != null ? this.capped(this.creditedBlocks, e) : this.matchedAt(e);
  }

  private capped(m: Int32Array | null, e: i32): i32 {
    if (m == null || e < 0 || e >= m.length) return 0;
    const v = unchecked(m[e]);
    return v > 0 ? (v < this.hashedBlocks ? v : this.hashedBlocks) : 0;
  }
}

/**
 * The endpoints being scored. Scorers see every candidate at once, and the
 * whole pool they were drawn from, so a score may be relative (min-max over
 * the candidates, load against the pool's mean) rather than per endpoint.
 */
export class Candidates {
  constructor(
    /** The whole pool; `poolIndex` and the decision's indices refer to it. */
    public pool: Array<EndpointState>,
    /** Index into `pool` of each candidate. */
    public poolIndex: Array<i32>,
    /** The candidates' states, in the same order as `poolIndex`. */
    public states: Array<EndpointState>,
    /**
     * Per pool endpoint, a deterministic preference for placing a prefix no
     * endpoint holds yet (ScoringRequest.placement); null: none.
     */
    public placement: Float64Array | null = null,
  ) {}

  /**
   * Affinity yields to load for this decision (health data gone, every
   * endpoint saturated, the hot-spot guard): a picker must not bound on
   * predicted prefill either, only on load.
   */
  loadOnly: bool = false;
  /**
   * Load decides because every endpoint is saturated (not the guard, not
   * missing health data): a picker that predicts this request's wait may
   * rank on it instead of on occupancy (bounded_load.ts).
   */
  allSaturated: bool = false;

  get length(): i32 {
    return this.states.length;
  }
}

/**
 * One scoring signal. Subclasses set the three names in their constructor
 * and implement `score`; `appliesTo` and `yieldsToLoad` have defaults.
 */
export abstract class Scorer {
  constructor(
    /** Name in the decision (`"scores":{"<name>":…}`, inspect, debug header). */
    public readonly name: string,
    /** Key under `weights` in the plugin configuration. */
    public readonly weightKey: string,
    /** Weight when the configuration does not set one. */
    public readonly defaultWeight: f64,
  ) {}

  /**
   * One score per candidate, in the candidates' order, meant to lie in
   * [0,1]. The engine clamps (NaN counts as 0) and multiplies by the weight.
   * Must not trap on any state (unknown metrics are normal).
   */
  abstract score(c: Candidates, req: ScoringRequest): Float64Array;

  /**
   * Whether this scorer has anything to say about this request. A scorer
   * that does not apply is left out of the decision and its output.
   */
  appliesTo(req: ScoringRequest): bool {
    return true;
  }

  /**
   * True for affinity scorers: their weight is dropped when load must decide
   * (the hot-spot guard fired, every endpoint is unhealthy, or every
   * endpoint is saturated).
   */
  yieldsToLoad(): bool {
    return false;
  }
}

/** The engine's clamp into [0,1]; NaN counts as 0. */
export function clampScore(x: f64): f64 {
  if (!(x > 0)) return 0;
  return x > 1 ? 1 : x;
}

/**
 * Lower is better, min-max normalised over the candidates whose value is
 * known: (max − v)/(max − min), 1.0 for all when max == min. Unknown values
 * get NEUTRAL_SCORE.
 */
export function minMaxLowerIsBetter(values: Float64Array, known: StaticArray<bool>): Float64Array {
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
