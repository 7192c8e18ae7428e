// A request sent to a server whose batch is full waits for a running
// request to finish before its prefill can start. The cost and the wait
// bound count prefill in blocks, so that wait is converted to the blocks
// the pool prefills in the same time (docs/routing.md "A place in a full
// batch"). At the pool's pace, not each server's own: servers of one pool
// prefill alike, and the paces they measure differ with the requests that
// happened to teach them, not with their hardware; converted at its own, a
// server's longest wait could rank below another's shortest.
import { EndpointState } from "../pool/endpoint_state";
import { batchFull } from "../scoring/bounded_load";
import { blocksPerTokenOf } from "./evictions";
import { kvWaitMs } from "./kv_room";
import { poolMean, PromptSize } from "./prefill_running";
import { InFlight } from "../pool/in_flight";
import { endpointId } from "../prefix/endpoint_id";

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

/** Above this occupancy (a server's report, not this Envoy's requests) the ends this Envoy knows cannot cover the queue. */
const MAX_AHEAD: f64 = 1048576;

/**
 * Ms until a new request gets a place at `s` with `places` places: when the
 * k-th of its running requests ends where their lengths are known
 * (`inflight`'s decoding requests at `msPerToken`; docs/routing.md "When
 * places free"), else slotWaitMs with the average hold. 0 when its batch
 * is not full.
 */
function placeWaitMs(s: EndpointState, places: i32, hold: f64, inflight: InFlight, msPerToken: f64, nowMs: i64): f64 {
  const average = slotWaitMs(s.occupancy, places, hold);
  if (average <= 0 || !(s.occupancy < MAX_AHEAD)) return average;
  const k = <i32>Math.ceil(s.occupancy - <f64>places + 1);
  const known = inflight.placeFreesInMs(endpointId(s.address), k, places, msPerToken, nowMs, s.inFlight);
  return known >= 0 ? known : average;
}

/**
 * Sets each endpoint's slotWaitBlocks for this decision: the longer of the
 * wait for a place (placeWaitMs, with its places by placesAt, `poolSlots`
 * as there) and kvWaitMs for the blocks of `prompt` it does not hold or
 * prefill already (`held`, per endpoint; in tokens at blocksPerTokenOf),
 * with the pool's mean slot hold and ms per output token, times `pool`,
 * the pool's prefill pace (poolPace). Endpoints keep 0 without a wait, and
 * all do while no pace or hold is measured. The pool's hold and ms per
 * token, not each endpoint's own, for the pace's reason (above): each is a
 * moving average over an endpoint's last few answers, so it differs
 * between servers with the answers that taught it, and past a full batch's
 * known ends the wait is occupancy times hold.
 */
export function estimateSlotWait(states: Array<EndpointState>, pool: f64, poolSlots: i32, prompt: PromptSize, held: Int32Array, inflight: InFlight, nowMs: i64): void {
  const poolHold = poolMean(states, (s: EndpointState): f64 => <f64>s.slotHoldMs);
  const poolTokenMs = poolMean(states, (s: EndpointState): f64 => <f64>s.msPerToken);
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    const uncached = prompt.uncachedAt(i < held.length ? unchecked(held[i]) : 0, i);
    const needTokens = <f64>uncached / blocksPerTokenOf(s, prompt.blockBytes);
    const slot = placeWaitMs(s, placesAt(s, poolSlots), poolHold, inflight, poolTokenMs, nowMs);
    const wait = max(slot, kvWaitMs(s, needTokens, poolHold));
    if (wait <= 0) continue;
    if (pool > 0) s.slotWaitBlocks = wait * pool;
  }
}
