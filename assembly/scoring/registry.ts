// Every scorer the filter knows, in the order the decision lists them
// (`"scores"` and `"weights"` in inspect and the debug header follow it).
// Adding a scorer: one file under scorers/ and one line here.
import { Scorer } from "./scorer";
import { InFlightScorer } from "./scorers/in_flight";
import { KvCacheScorer } from "./scorers/kv_cache";
import { LoraAffinityScorer } from "./scorers/lora_affinity";
import { PrefixScorer } from "./scorers/prefix";
import { QueueScorer } from "./scorers/queue";

/** A fresh instance of every registered scorer (called once per configuration). */
export function registeredScorers(): Array<Scorer> {
  return [
    new PrefixScorer(),
    new QueueScorer(),
    new KvCacheScorer(),
    new LoraAffinityScorer(),
    new InFlightScorer(),
  ];
}
