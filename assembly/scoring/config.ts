// Scheduling knobs (issue 4 points 4 and 6) with their defaults. The lead's
// configuration parser (assembly/config) fills these from the plugin
// configuration; everything here is plain data.

/** Scorer names, as printed by the CLI (`"scores":{"<scorer>":...}`). */
export const SCORER_PREFIX = "prefix";
export const SCORER_QUEUE = "queue";
export const SCORER_KV_CACHE = "kv-cache";
export const SCORER_LORA_AFFINITY = "lora-affinity";
export const SCORER_IN_FLIGHT = "in-flight";

/**
 * Score given to an endpoint for a signal we do not know (never scraped, a
 * server that does not export the metric, a snapshot without the key).
 * 0.5 is the middle of [0,1]: an unknown endpoint neither wins nor loses on
 * that signal against known ones by more than half a weight, and when every
 * candidate is unknown the scorer adds the same amount to all (no effect).
 */
export const NEUTRAL_SCORE: f64 = 0.5;

/**
 * Weights of the weighted sum total = Σ weight × clamp(score, 0, 1)
 * (seed §3.1: no normalisation by the weight sum). Defaults: prefix 3,
 * queue 2, kv-cache 2 are the seed's later defaults (llm-d's recommended
 * profile; issue 4 point 4) so a full prefix hit (3) outweighs one fully
 * loaded signal (2) but not both load signals at their worst (4).
 * lora-affinity 1 and in-flight 1 ("others 1 where the request needs them"):
 * in-flight duplicates part of waiting+running, so it only breaks near-ties.
 */
export class Weights {
  prefix: f64 = 3;
  queue: f64 = 2;
  kvCache: f64 = 2;
  loraAffinity: f64 = 1;
  inFlight: f64 = 1;
}

/**
 * Hot-spot guard: when load (waiting + running + inFlight) across the
 * candidates is imbalanced, the prefix weight is dropped so load decides.
 * Default rule is SGLang's cache_aware one (peers.md §2.3): imbalanced when
 * max − min > absThreshold AND max > relThreshold × min.
 */
export class GuardConfig {
  enabled: bool = true;
  absThreshold: f64 = 64;
  relThreshold: f64 = 1.5;
}

/**
 * Saturation (seed §3.6): an endpoint is saturated when its waiting queue is
 * above queueThreshold or its KV-cache usage above kvCacheThreshold.
 */
export class SaturationConfig {
  queueThreshold: f64 = 5;
  kvCacheThreshold: f64 = 0.8;
}

/** The seed's scheduler: weighted scorers summed, max-score picker, hot-spot guard (`"profile": "seed"`). */
export const PROFILE_SEED: i32 = 0;
/** Load-bounded affinity on predicted time to first token (ttft.ts; docs/routing.md). */
export const PROFILE_DEFAULT: i32 = 1;

/**
 * The default profile's load bound (consistent hashing with bounded loads):
 * an endpoint may take a request only while its load before it is at or
 * below ceil(loadFactor × the pool's mean load counting this request). A
 * ratio to what is measured, never an absolute count, so it means the same
 * on a pool of 2 servers at 3 requests each or of 64 at 200.
 * docs/routing.md has the measurements behind the default.
 */
export class BoundConfig {
  loadFactor: f64 = 1.5;
}

export class ScoringConfig {
  profile: i32 = PROFILE_DEFAULT;
  bound: BoundConfig = new BoundConfig();
  weights: Weights = new Weights();
  guard: GuardConfig = new GuardConfig();
  saturation: SaturationConfig = new SaturationConfig();
}

/** What the scheduler needs to know about the request. */
export class ScoringRequest {
  /**
   * The LoRA adapter the request names (the request's model when it is an
   * adapter), or "" when it names none: the lora-affinity scorer only runs
   * when this is set.
   */
  adapter: string = "";
  /** From x-gateway-inference-priority; < 0 means sheddable (seed §3.6). */
  priority: i32 = 0;
  /**
   * Prefix scores in [0,1] per endpoint (same order as the endpoints array),
   * from the prefix index; null when there is no prefix scorer for this request.
   * Missing entries count as 0.
   */
  prefixScores: Float64Array | null = null;
  /**
   * Leading blocks of this request each endpoint holds (same order as the
   * endpoints array; missing entries count as 0), for the default profile's
   * cost; null when the request was not hashed.
   */
  matchedBlocks: Int32Array | null = null;
  /** Blocks hashed (the index can only answer for these). */
  hashedBlocks: i32 = 0;
  /** Estimated blocks of the whole prompt (≥ hashedBlocks: hashing stops at prefix.maxBlocks). */
  promptBlocks: i32 = 0;
}
