// A server admits a request only when its KV cache has room for the
// blocks of the prompt it does not hold already. Long conversations fill
// the cache before the batch reaches its slots, and then a request waits
// for running ones to end and free their blocks, as it would for a slot
// (docs/routing.md "Room in the KV cache").
import { EndpointState } from "../pool/endpoint_state";

/**
 * Ms until `s`'s KV cache has room for `needTokens` more tokens, a place
 * there held `holdMs` on average; 0 when it has room now or a figure is
 * unknown. From its last scrape: the cache's size (cacheTokens),
 * the share in use and the requests running. Each running request holds
 * about the used tokens over the running count; the requests it reported
 * waiting, and those this Envoy routed there since (occupancy above what
 * it reported), take that much each before this one. Requests end at about
 * running / holdMs per ms, and as many must end as it takes to free what is
 * missing.
 */
export function kvWaitMs(s: EndpointState, needTokens: f64, holdMs: f64): f64 {
  if (!(needTokens > 0) || !isFinite(needTokens) || !(holdMs > 0) || !isFinite(holdMs)) return 0;
  const size = s.cacheTokens;
  if (!s.hasRunning || !s.hasKvCacheUsage || !(s.running >= 1) || size <= 0) return 0;
  const usage = s.kvCacheUsage;
  const perRequest = (usage * size) / s.running;
  if (!(perRequest > 0)) return 0;
  const waiting = s.hasWaiting ? s.waiting : 0;
  const ahead = waiting + max(0.0, s.occupancy - (s.running + waiting));
  const room = size * (1 - usage) - ahead * perRequest;
  if (needTokens <= room) return 0;
  return (((needTokens - room) / perRequest) * holdMs) / s.running;
}
