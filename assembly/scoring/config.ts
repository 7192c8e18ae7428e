// Scheduling knobs with their defaults. The configuration parser
// (assembly/config) fills these from the plugin configuration.
import { MaxScorePicker, Picker } from "./picker";
import { registeredScorers } from "./registry";
import { Scorer } from "./scorer";

/** A scorer and the weight its (clamped) scores are multiplied by. */
export class WeightedScorer {
  constructor(
    public scorer: Scorer,
    public weight: f64,
  ) {}
}

/**
 * What a decision runs: scorers with their weights, and the picker. The
 * total is Σ weight × clamp(score, 0, 1), not normalised by the weight sum.
 * There is one profile today, "default": every registered scorer in registry
 * order, at its default weight unless `weights.<key>` sets another. Default
 * weights: prefix 3, queue 2, kv-cache 2 (llm-d's recommended profile) so a
 * full prefix hit (3) outweighs one fully loaded signal (2) but not both
 * load signals at their worst (4); lora-affinity 1 and in-flight 1: in-flight
 * duplicates part of waiting+running, so it mostly breaks near-ties.
 */
export class Profile {
  name: string = "default";
  scorers: Array<WeightedScorer> = defaultScorers();
  picker: Picker = new MaxScorePicker();

  /** The entry whose scorer is configured under `weights.<key>`, or null. */
  byWeightKey(key: string): WeightedScorer | null {
    for (let i = 0; i < this.scorers.length; i++) {
      const ws = unchecked(this.scorers[i]);
      if (ws.scorer.weightKey == key) return ws;
    }
    return null;
  }
}

function defaultScorers(): Array<WeightedScorer> {
  const all = registeredScorers();
  const out = new Array<WeightedScorer>(all.length);
  for (let i = 0; i < all.length; i++) {
    const s = unchecked(all[i]);
    unchecked((out[i] = new WeightedScorer(s, s.defaultWeight)));
  }
  return out;
}

/**
 * Hot-spot guard: when load (waiting + running + inFlight) across the
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
  kvCacheThreshold: f64 = 0.8;
}

export class ScoringConfig {
  profile: Profile = new Profile();
  guard: GuardConfig = new GuardConfig();
  saturation: SaturationConfig = new SaturationConfig();
}
