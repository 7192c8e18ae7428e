// Scheduling knobs with their defaults. The configuration parser
// (assembly/config) fills these from the plugin configuration.
import { BoundConfig, BoundedLoadPicker } from "./bounded_load";
import { MaxScorePicker, Picker } from "./picker";
import { registeredScorers } from "./registry";
import { Scorer } from "./scorer";
import { CACHE_BOUND_KV_USE } from "../pool/endpoint_state";

export { BoundConfig } from "./bounded_load";

/** A scorer and the weight its (clamped) scores are multiplied by. */
export class WeightedScorer {
  constructor(
    public scorer: Scorer,
    public weight: f64,
  ) {}
}

/** The scorers of the seed profile, in output order (registry names). */
const SEED_SCORERS = ["prefix", "queue", "kv-cache", "lora-affinity", "in-flight"];
/**
 * The scorers of the default profile. lora-affinity (weight 1, only for
 * requests naming an adapter) puts an adapter already running on a par with
 * the whole prompt being cached (predicted-prefill's range is (0, 1] too).
 */
const DEFAULT_SCORERS = ["predicted-prefill", "lora-affinity"];

/**
 * What a decision runs: scorers with their weights, the picker, and whether
 * the hot-spot guard applies. The total is Σ weight × clamp(score, 0, 1),
 * not normalised by the weight sum; `weights.<key>` overrides a scorer's
 * default weight.
 *
 * - "default" (docs/routing.md): the predicted-prefill scorer (and
 *   lora-affinity for adapter requests) with the bounded-load picker; the
 *   bound replaces the hot-spot guard.
 * - "seed": the seed's weighted scorers with the max-score picker and the
 *   hot-spot guard. Default weights: prefix 3, queue 2, kv-cache 2 (llm-d's
 *   recommended profile) so a full prefix hit (3) outweighs one fully
 *   loaded signal (2) but not both load signals at their worst (4);
 *   lora-affinity 1 and in-flight 1: in-flight duplicates part of
 *   waiting+running, so it mostly breaks near-ties.
 */
export class Profile {
  name: string = "default";
  scorers: Array<WeightedScorer> = [];
  picker: Picker = new MaxScorePicker();
  usesGuard: bool = false;

  static seed(): Profile {
    const p = new Profile();
    p.name = "seed";
    p.scorers = scorersNamed(SEED_SCORERS);
    p.picker = new MaxScorePicker();
    p.usesGuard = true;
    return p;
  }

  static byDefault(bound: BoundConfig): Profile {
    const p = new Profile();
    p.name = "default";
    p.scorers = scorersNamed(DEFAULT_SCORERS);
    p.picker = new BoundedLoadPicker(bound);
    p.usesGuard = false;
    return p;
  }

  /** The entry whose scorer is configured under `weights.<key>`, or null. */
  byWeightKey(key: string): WeightedScorer | null {
    for (let i = 0; i < this.scorers.length; i++) {
      const ws = unchecked(this.scorers[i]);
      if (ws.scorer.weightKey == key) return ws;
    }
    return null;
  }
}

/** The registered scorers with these names, in this order, at their default weights. */
function scorersNamed(names: Array<string>): Array<WeightedScorer> {
  const all = registeredScorers();
  const out = new Array<WeightedScorer>();
  for (let k = 0; k < names.length; k++) {
    for (let i = 0; i < all.length; i++) {
      const s = unchecked(all[i]);
      if (s.name == unchecked(names[k])) out.push(new WeightedScorer(s, s.defaultWeight));
    }
  }
  return out;
}

/**
 * Hot-spot guard (seed profile): when load (waiting + running + inFlight) across the
 * candidates is imbalanced, affinity weights are dropped so load decides.
 * The rule is SGLang's cache-aware router's: imbalanced when
 * max − min > absThreshold AND max > relThreshold × min.
 */
export class GuardConfig {
  enabled: bool = true;
  absThreshold: f64 = 64;
  relThreshold: f64 = 1.5;
}

/**
 * Saturation, as the upstream endpoint picker defines it: an endpoint is saturated when its waiting queue is
 * above queueThreshold or its KV-cache usage above kvCacheThreshold.
 */
export class SaturationConfig {
  queueThreshold: f64 = 5;
  /** Its default is also the KV use above which no slot capacity is learnt (EndpointState.learnSlotCapacity). */
  kvCacheThreshold: f64 = CACHE_BOUND_KV_USE;
}

export class ScoringConfig {
  bound: BoundConfig;
  profile: Profile;
  guard: GuardConfig = new GuardConfig();
  saturation: SaturationConfig = new SaturationConfig();

  constructor() {
    const bound = new BoundConfig();
    this.bound = bound;
    this.profile = Profile.byDefault(bound);
  }

  /** Selects a profile by name ("default" or "seed"); false for another name. */
  selectProfile(name: string): bool {
    if (name == "default") this.profile = Profile.byDefault(this.bound);
    else if (name == "seed") this.profile = Profile.seed();
    else return false;
    return true;
  }
}
