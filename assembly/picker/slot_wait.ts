// A request sent to a server whose batch is full waits for a running
// request to finish before its prefill can start. The cost and the wait
// bound count prefill in blocks, so that wait is converted to the blocks
// the server would prefill in the same time (docs/routing.md "A place in a
// full batch").
import { EndpointState } from "../pool/endpoint_state";
import { batchFull } from "../scoring/bounded_load";
import { paceOf, poolPace } from "./prefill_running";

/**
 * The pool's mean slot hold (ms a running request keeps its place after its
 * first token), 0 when no endpoint has measured one. Like the pace: one
 * model on like hardware, so an endpoint without its own is taken to be
 * like the others.
 */
export function poolSlotHold(states: Array<EndpointState>): f64 {
  let sum: f64 = 0;
  let n = 0;
  for (let i = 0; i < states.length; i++) {
    const hold = <f64>unchecked(states[i]).slotHoldMs;
    if (hold > 0 && isFinite(hold)) {
      sum += hold;
      n++;
    }
  }
  return n > 0 ? sum / <f64>n : 0;
}

/**
 * Sets each endpoint's poolSlots for this decision: the most any endpoint
 * has learned as its slot capacity (EndpointState.waitSlots).
 */
export function assumePoolSlots(states: Array<EndpointState>): void {
  let most = 0;
  for (let i = 0; i < states.length; i++) most = max(most, unchecked(states[i]).slotCapacity);
  for (let i = 0; i < states.length; i++) unchecked(states[i]).poolSlots = most;
}

/**
 * Ms until a new request gets a place at an endpoint with `occupancy`
 * requests, `capacity` places (its learned slot capacity) and places held
 * `holdMs` each on average: with the batch full, places free at about
 * capacity / holdMs per ms, and the request has occupancy − capacity + 1
 * ahead of it to wait out. 0 when the batch is not full or a figure is
 * unknown.
 */
export function slotWaitMs(occupancy: f64, capacity: i32, holdMs: f64): f64 {
  if (!batchFull(capacity, occupancy) || !(holdMs > 0) || !isFinite(holdMs)) return 0;
  return ((occupancy - <f64>capacity + 1) * holdMs) / <f64>capacity;
}

/**
 * Sets each endpoint's slotWaitBlocks for this decision: slotWaitMs with
 * its waitSlots and its own slot hold (else the pool's), times its prefill
 * pace (else the pool's). Endpoints without both keep 0.
 */
export function estimateSlotWait(states: Array<EndpointState>): void {
  const pool = poolPace(states);
  const poolHold = poolSlotHold(states);
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    const own = <f64>s.slotHoldMs;
    const wait = slotWaitMs(s.occupancy, s.waitSlots, own > 0 && isFinite(own) ? own : poolHold);
    if (wait <= 0) continue;
    const pace = paceOf(s, pool);
    if (pace > 0) s.slotWaitBlocks = wait * pace;
  }
}
