// A match on blocks another request is still prefilling for the first time
// at an endpoint is not yet a cached prefix there: a request that follows
// it waits for the rest of that prefill. While some endpoint is idle, such a
// match counts as none when most of that prefill is still to run, so the
// first requests for a new shared prompt start it on idle servers instead
// of queueing behind its first prefill (docs/routing.md "Prefill still
// running"). And how much of each endpoint's queued prefill is done at its
// pace, for the cost's queue term (docs/routing.md "Queued prefill drains").
import { EndpointState } from "../pool/endpoint_state";
import { PrefixIndex } from "../prefix/prefix_index";
import { cacheClockBlocks } from "./evictions";
import { batchFull } from "../scoring/bounded_load";
import { PastHashed } from "../scoring/scorer";
import { uncachedBlocks } from "../scoring/scorers/predicted_prefill";

/**
 * The largest share of a server's KV cache a prompt may take to be started
 * there a second time while its first prefill runs elsewhere: a copy then
 * costs little of what the server holds. Above it, the copy pushes out other
 * prompts (a long document in a small cache can take most of it), and
 * waiting for the prefill already running costs less.
 */
const MAX_COPY_SHARE: f64 = 1.0 / 8.0;

/** What the rule needs of the request's prompt, in the prefix index's blocks. */
export class PromptSize {
  constructor(
    /** Blocks hashed (at most prefix.maxBlocks). */
    public hashed: i32,
    /** The whole prompt, estimated from the body's size when longer than the hashed blocks. */
    public total: i32,
    /** Bytes per block (prefix.blockSize). */
    public blockBytes: i32,
  ) {}

  /** Who holds the prompt past its hashed blocks (ScoringRequest.pastHashed); null: unknown. */
  past: PastHashed | null = null;

  /** Blocks of the prompt not cached at endpoint `e` (pool index), which holds `matched` leading blocks. */
  uncachedAt(matched: i32, e: i32): i32 {
    return uncachedBlocks(matched, this.hashed, this.total, this.past, e);
  }

  /**
   * The prompt blocks a match of `matched` blocks stands for: the whole
   * prompt when every hashed block matched (hashing stops at maxBlocks, and
   * a long document continues past it), else the match.
   */
  copied(matched: i32): i32 {
    return matched >= this.hashed && this.total > matched ? this.total : matched;
  }
}

/** Whether some healthy endpoint has nothing in flight and reports nothing running or waiting. */
function someIdle(states: Array<EndpointState>): bool {
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    if (s.isHealthy && !s.failedRequest && s.occupancy <= 0) return true;
  }
  return false;
}

/** A figure an endpoint measures: its own when it has one (positive and finite), else the pool's (`pool`). */
function ownElsePool(own: f64, pool: f64): f64 {
  return own > 0 && isFinite(own) ? own : pool;
}

/**
 * The mean over the endpoints that have measured a figure (read by
 * `figure`; positive and finite) of that figure, 0 when none has. Servers of
 * one pool run one model on like hardware, so one that has not measured its
 * own yet is taken to be like the others.
 */
export function poolMean(states: Array<EndpointState>, figure: (s: EndpointState) => f64): f64 {
  let sum: f64 = 0;
  let n = 0;
  for (let i = 0; i < states.length; i++) {
    const v = figure(unchecked(states[i]));
    if (v > 0 && isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n > 0 ? sum / <f64>n : 0;
}

/** The pool's prefill pace (prompt blocks per ms): poolMean of the paces the endpoints have measured. */
export function poolPace(states: Array<EndpointState>): f64 {
  return poolMean(states, (s: EndpointState): f64 => <f64>s.prefillBlocksPerMs);
}

/** An endpoint's prefill pace (blocks per ms): its own measured, else the pool's (`pool`, poolPace); 0 when neither is known. */
export function paceOf(s: EndpointState, pool: f64): f64 {
  return ownElsePool(<f64>s.prefillBlocksPerMs, pool);
}

/**
 * Whether endpoint `e`'s match of `blocks` blocks is a prefill still
 * running there and mostly still to run: the entries of the prompt's first
 * group were written by a request whose blocks are still queued (younger,
 * on the endpoint's written-blocks clock, than its queued blocks), at least
 * as many blocks are queued as the match, and at `pace` at least
 * 1 / waitRatio of the match is still to prefill (all of it while no pace
 * is known), and the match takes at most MAX_COPY_SHARE of the server's
 * cache (its eviction horizon; unknown: no), counting the whole prompt when
 * every hashed block matched.
 */
function stillPrefilling(s: EndpointState, e: i32, blocks: i32, index: PrefixIndex, nowMs: i64, pace: f64, waitRatio: f64, prompt: PromptSize): bool {
  if (blocks <= 0 || s.pendingBlocks < blocks) return false;
  const cache = cacheClockBlocks(s, prompt.blockBytes);
  if (cache <= 0 || <f64>prompt.copied(blocks) > cache * MAX_COPY_SHARE) return false;
  const stamp = index.stampAt(e, 0);
  if (stamp < 0) return false;
  const age = <i32>(s.writtenBlocks - <u32>stamp); // wrapping clock
  if (age < 0 || age >= s.pendingBlocks) return false;
  const ratio = waitRatio > 1 ? waitRatio : 1;
  return s.remainingPrefill(nowMs, pace) >= <f64>blocks / ratio;
}

/**
 * Sets to 0 the matches that are prefills still running (stillPrefilling)
 * while some healthy endpoint is idle, and returns the matches as they
 * were, or null when none changed.
 */
export function discountPendingMatches(
  matched: Int32Array,
  states: Array<EndpointState>,
  index: PrefixIndex,
  nowMs: i64,
  waitRatio: f64,
  prompt: PromptSize,
): Int32Array | null {
  const n = min(matched.length, states.length);
  let any = false;
  for (let e = 0; e < n && !any; e++) if (unchecked(matched[e]) > 0 && unchecked(states[e]).pendingBlocks > 0) any = true;
  if (!any || !someIdle(states)) return null;
  const pool = poolPace(states);
  let before: Int32Array | null = null;
  for (let e = 0; e < n; e++) {
    const s = unchecked(states[e]);
    if (!stillPrefilling(s, e, unchecked(matched[e]), index, nowMs, paceOf(s, pool), waitRatio, prompt)) continue;
    if (before == null) before = matched.slice();
    unchecked((matched[e] = 0));
  }
  return before;
}

/**
 * The fastest prefill pace (blocks per ms) consistent with the queues
 * still waiting: a queue's start moves at every first token from it, so no
 * prefill in a queue has finished since the queue's start, and its server
 * prefills fewer than pending / elapsed blocks per ms. Servers of one pool
 * prefill at about one pace, so the least of these bounds them all. 0 when
 * no queue has run for a ms yet.
 */
export function paceBound(states: Array<EndpointState>, nowMs: i64): f64 {
  let bound: f64 = Infinity;
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    const age = s.queueAgeMs(nowMs);
    if (age <= 0) continue;
    const pace = <f64>s.pendingBlocks / age;
    if (pace < bound) bound = pace;
  }
  return isFinite(bound) ? bound : 0;
}

/**
 * Takes each endpoint's queue as drained at its prefill pace since the head
 * of the queue started (EndpointState.drainedBlocks): its own measured pace,
 * else the pool's mean (`pool`, poolPace), else (no first token back yet: a
 * cold pool) the fastest pace the queues allow (paceBound), and never faster
 * than that. What is left of prefill the server did that nobody expected
 * (EndpointState.unexpectedBlocks) drains at the same pace.
 * Counted whole, a queue whose prefill is nearly done weighs as much as one
 * just started. Not while the endpoint's batch is full: then the queued
 * requests wait for a running one to finish, not for prefill, and the pace
 * says nothing about when they start (docs/routing.md "Queued prefill
 * drains").
 */
export function estimateDrained(states: Array<EndpointState>, nowMs: i64, pool: f64): void {
  const bound = paceBound(states, nowMs);
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    const measured = paceOf(s, pool);
    let pace = measured > 0 ? measured : bound;
    if (bound > 0 && pace > bound) pace = bound;
    s.unexpectedBlocks = s.unexpected.remaining(nowMs, pace);
    if (pace <= 0 || batchFull(s.slotCapacity, s.occupancy)) continue;
    const done = pace * s.queueAgeMs(nowMs);
    const pending = <f64>s.pendingBlocks;
    // (Within rounding: the bound is pending / age for its own queue, and that queue is drained.)
    if (done < pending * (1 - 1e-12)) {
      s.drainedBlocks = done;
      continue;
    }
    // Drained, its first bytes not back yet. A request that joins it should
    // not count the idle time since as prefill of its own blocks: the time
    // the queue took, at the pace measured (the bound no longer holds once
    // its blocks raise this queue's pending / age), is all the credit kept.
    s.drainedBlocks = pending;
    s.drainedMs = pending / (measured > 0 ? measured : pace);
  }
}

/**
 * A prefill pace measured at a first token (prompt blocks per ms): the
 * blocks queued ahead of the request when it was routed plus its own, over
 * the time since; 0 when no time passed or nothing was prefilled.
 */
export function prefillPace(ownBlocks: i32, aheadBlocks: i32, routedAtMs: i64, nowMs: i64): f64 {
  const elapsed = nowMs - routedAtMs;
  const blocks = max(0, ownBlocks) + max(0, aheadBlocks);
  if (elapsed <= 0 || blocks <= 0) return 0;
  return <f64>blocks / <f64>elapsed;
}
