// A request sent to a server whose batch is full waits for a running
// request to finish before its prefill can start. The cost and the wait
// bound count prefill in blocks, so that wait is converted to the blocks
// the server would prefill in the same time (docs/routing.md "A place in a
// full batch").
import { EndpointState } from "../pool/endpoint_state";
import { batchFull } from "../scoring/bounded_load";
import { blocksPerTokenOf } from "./evictions";
import { kvWaitMs } from "./kv_room";
import { ownElsePool, paceOf, poolMean, PromptSize } from "./prefill_running";
import { uncachedBlocks } from "../scoring/scorers/predicted_prefill";

/** The most any endpoint of the pool has learned as its slot capacity (0: none has). */
export function mostSlots(states: Array<EndpointState>): i32 {
  let most = 0;
  for (let i = 0; i < states.length; i++) most = max(most, unchecked(states[i]).slotCapacity);
  return most;
}

/**
 * The places taken as an endpoint's batch for the wait for a place: the
 * larger of its own learned slot capacity and the most the pool has learned
 * (`poolSlots`, mostSlots); 0: unknown. One model on like hardware runs like
 * batches, and at light load a server is rarely seen full before the first
 * request that waits there. The larger, because a capacity is learned from
 * scrapes that caught the server with requests waiting, which a KV cache
 * short of room for one long prompt also causes; the most the pool has
 * shown running beside a queue is the closest to its batch size.
 */
function placesAt(s: EndpointState, poolSlots: i32): i32 {
  return max(s.slotCapacity, poolSlots);
}

/** Whether a request sent to `s` now waits for a place in its batch (placesAt, `poolSlots` as there) or for room in its KV cache (estimateSlotWait's figure for this decision). */
export function waitsForPlace(s: EndpointState, poolSlots: i32): bool {
  return batchFull(placesAt(s, poolSlots), s.occupancy) || s.slotWaitBlocks > 0;
}

/**
 * Ms until a new request gets a place at an endpoint with `occupancy`
 * requests, `capacity` places and places held `holdMs` each on average:
 * with the batch full, places free at about capacity / holdMs per ms, and
 * the request has occupancy − capacity + 1 ahead of it to wait out. 0 when
 * the batch is not full or a figure is unknown.
 */
export function slotWaitMs(occupancy: f64, capacity: i32, holdMs: f64): f64 {
  if (!batchFull(capacity, occupancy) || !(holdMs > 0) || !isFinite(holdMs)) return 0;
  return ((occupancy - <f64>capacity + 1) * holdMs) / <f64>capacity;
}

/**
 * Sets each endpoint's slotWaitBlocks for this decision: the longer of
 * slotWaitMs with its places (placesAt, `poolSlots` as there) and kvWaitMs
 * for the blocks of `prompt` it does not hold or prefill already (`held`,
 * per endpoint; in tokens at blocksPerTokenOf), with its own slot hold (else
 * the pool's mean), times its prefill pace (else `pool`, the pool's).
 * Endpoints without both keep 0.
 */
export function estimateSlotWait(states: Array<EndpointState>, pool: f64, poolSlots: i32, prompt: PromptSize, held: Int32Array): void {
  const poolHold = poolMean(states, (s: EndpointState): f64 => <f64>s.slotHoldMs);
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    const hold = ownElsePool(<f64>s.slotHoldMs, poolHold);
    const uncached = uncachedBlocks(i < held.length ? unchecked(held[i]) : 0, prompt.hashed, prompt.total);
    const needTokens = <f64>uncached / blocksPerTokenOf(s, prompt.blockBytes);
    const wait = max(slotWaitMs(s.occupancy, placesAt(s, poolSlots), hold), kvWaitMs(s, needTokens, hold));
    if (wait <= 0) continue;
    const pace = paceOf(s, pool);
    if (pace > 0) s.slotWaitBlocks = wait * pace;
  }
}
