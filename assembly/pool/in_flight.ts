// The requests this Envoy has in flight, per endpoint, in one shared-data
// value for every worker, "llm-picker/pool/v9/inflight":
//   u32 n, then n endpoint entries of INFLIGHT_ENTRY bytes
//     (u32 endpoint id, i32 count, i32 pending prompt blocks, i64 penalty
//     until ms, u32 written blocks, u32 prefill-since ms, f32 prefill blocks
//     per ms, f32 slot hold ms, f32 clock blocks written in a request's
//     life, f32 ms per output token, u32 prompt blocks),
//   then the decoding requests to the end of the value (pool/decode_ends.ts).
// The count goes up when a request is routed and down when its stream ends,
// on any worker; the pending blocks (the prefill the request needs there,
// docs/routing.md) go up when it is routed and down at its first response
// byte or, failing that, at its end; the penalty ("request failures" below)
// excludes the endpoint until then; the written blocks are a clock that only
// goes up (wrapping): the uncached prompt blocks of every request routed
// there, i.e. what this Envoy made the server write to its KV cache, which
// is what evicts older prefixes (docs/hashing.md "Evictions"; the scraper
// compares it with what the server reports it wrote). The prefill-since
// time (low 32 bits of ms) is when the prefill now at the head of the queue
// started: when pending blocks went up from 0, or the last time some went
// down; the blocks per ms are a moving average of what the endpoint
// prefilled per ms between a request's routing and its first token (the
// queue ahead of it and its own blocks): together they say how much of the
// queued prefill is done (EndpointState.remainingPrefill). The slot hold is
// a moving average of a streamed request's time from its first token to its
// end: how long a running request keeps its place in the batch
// (picker/slot_wait.ts); the ms per token, the same over the output tokens
// the request asked for. The prompt blocks are a clock of every prompt block
// routed there, cached or not: the scraper learns from it how many of the
// index's blocks a token the server looks up in its prefix cache is
// (pool/unexpected_prefill.ts). A request reads all of it in one host call, and
// each change is one compare-and-swap of the whole value. A routing decision
// tries its change once against the value it decided on (tryChangeInFlight),
// and is made again when another change came first (docs/routing.md
// "Workers deciding at once").
// (v1 held 8-byte entries without the blocks, v2 12-byte ones without the
// penalty, which had a key of its own, v3 20-byte ones without the clock,
// v4 24-byte ones without the prefill pace, v5 32-byte ones without the
// slot hold, v6 36-byte ones without the life, v7 40-byte ones without the
// ms per token, no count and no decoding requests, v8 44-byte ones without
// the prompt blocks; each layout has a new
// key, so a hot swap never misreads the old.)
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK, StoreValue } from "../util/store";
import { endpointId } from "../prefix/endpoint_id";
import { DecodeChange, placeFreesInMs, withDecodeChange } from "./decode_ends";

export const INFLIGHT_KEY = "llm-picker/pool/v9/inflight";
/**
 * The most a written-blocks clock is taken to advance (2^30 blocks): its
 * wrapping differences are read as i32, so anything that spans more (a
 * horizon, a history's life, what one scrape adds) is capped here, and a
 * difference beyond it is a reset clock, not an advance.
 */
export const MAX_CLOCK_ADVANCE: f64 = 1073741824;
const CAS_RETRIES: i32 = 16;
/** Bytes of the count of endpoint entries at the start of the value. */
const HEADER: i32 = 4;
const INFLIGHT_ENTRY: i32 = 48;
/** Offsets in an endpoint entry. */
const AT_COUNT: i32 = 4;
const AT_PENDING: i32 = 8;
const AT_PENALTY: i32 = 12;
const AT_WRITTEN: i32 = 20;
const AT_SINCE: i32 = 24;
const AT_PACE: i32 = 28;
const AT_HOLD: i32 = 32;
const AT_LIFE: i32 = 36;
const AT_TOKEN_MS: i32 = 40;
const AT_PROMPT: i32 = 44;
/** Weight of a new sample in the moving averages (prefill pace, slot hold, ms per token). */
const PACE_ALPHA: f32 = 0.25;

const NO_DECODES = new Uint8Array(0);

/** The endpoint entries in `b` (0 when it is empty or not of this layout). */
function entriesIn(b: Uint8Array): i32 {
  if (b.length < HEADER) return 0;
  const n = <i32>load<u32>(b.dataStart);
  return n >= 0 && <i64>HEADER + <i64>n * <i64>INFLIGHT_ENTRY <= <i64>b.length ? n : 0;
}

/** Where the decoding requests start in a value with `n` endpoint entries. */
function decodesStart(n: i32): i32 {
  return HEADER + n * INFLIGHT_ENTRY;
}

/** The decoding requests of `b`, a value with `n` endpoint entries: a view into it. */
function decodesIn(b: Uint8Array, n: i32): Uint8Array {
  const from = decodesStart(n);
  return b.length > from ? b.subarray(from) : NO_DECODES;
}

/** Address of `id`'s entry among the first n entries of `b`, or 0. */
function entryOf(b: Uint8Array, n: i32, id: u32): usize {
  for (let i = 0; i < n; i++) {
    const at = b.dataStart + <usize>(HEADER + i * INFLIGHT_ENTRY);
    if (load<u32>(at) == id) return at;
  }
  return 0;
}

/** In-flight count, pending blocks, penalty and the measured figures per endpoint id, from the shared value. */
export class InFlight {
  /** Address of the selected entry, 0 when the selected id has none (its fields then read 0). */
  private at: usize = 0;
  private readonly entries: i32;

  constructor(public value: StoreValue) {
    this.entries = value.found ? entriesIn(value.bytes) : 0;
  }

  /** Finds `id`'s entry once; the getters below read its fields. */
  select(id: u32): void {
    this.at = entryOf(this.value.bytes, this.entries, id);
  }

  countOf(id: u32): i32 {
    this.select(id);
    return this.count;
  }

  get count(): i32 {
    return this.at != 0 ? load<i32>(this.at, AT_COUNT) : 0;
  }

  get pendingBlocks(): i32 {
    return this.at != 0 ? load<i32>(this.at, AT_PENDING) : 0;
  }

  /** The blocks routed there that it did not hold (a wrapping clock). */
  get writtenBlocks(): u32 {
    return this.at != 0 ? load<u32>(this.at, AT_WRITTEN) : 0;
  }

  /** Until when (ms) it is excluded after a failed request; 0 when never. */
  get penaltyUntil(): i64 {
    return this.at != 0 ? load<i64>(this.at, AT_PENALTY) : 0;
  }

  /** When the prefill at the head of its queue started (low 32 bits of ms). */
  get prefillSinceMs(): u32 {
    return this.at != 0 ? load<u32>(this.at, AT_SINCE) : 0;
  }

  /** Prompt blocks it prefilled per ms, on average (0: not measured yet). */
  get prefillBlocksPerMs(): f32 {
    return this.at != 0 ? load<f32>(this.at, AT_PACE) : 0;
  }

  /** Ms a streamed request ran there after its first token, on average (0: not measured yet). */
  get slotHoldMs(): f32 {
    return this.at != 0 ? load<f32>(this.at, AT_HOLD) : 0;
  }

  /**
   * Clock blocks written there while a request of this Envoy's ran, on
   * average (-1: not measured yet). Stored one above, so that a zeroed
   * entry reads as not measured and a measured 0 stays 0.
   */
  get lifeWrittenBlocks(): f32 {
    const stored = this.at != 0 ? load<f32>(this.at, AT_LIFE) : 0;
    return stored > 0 ? stored - 1 : -1;
  }

  /** Ms per output token of a request there after its first token, on average (0: not measured yet). */
  get msPerToken(): f32 {
    return this.at != 0 ? load<f32>(this.at, AT_TOKEN_MS) : 0;
  }

  /** Every prompt block routed there, cached or not (a wrapping clock). */
  get promptBlocks(): u32 {
    return this.at != 0 ? load<u32>(this.at, AT_PROMPT) : 0;
  }

  /** The decoding requests (decode_ends.ts entries): a view into the value. */
  get decodes(): Uint8Array {
    return this.value.found ? decodesIn(this.value.bytes, this.entries) : NO_DECODES;
  }

  /** decode_ends.ts placeFreesInMs over this value's decoding requests at endpoint `id`. */
  placeFreesInMs(id: u32, k: i32, places: i32, msPerToken: f64, nowMs: i64, inFlight: i32): f64 {
    return placeFreesInMs(this.decodes, id, k, places, msPerToken, nowMs, inFlight);
  }
}

export function readInFlight(store: KeyValueStore): InFlight {
  return new InFlight(store.get(INFLIGHT_KEY));
}

/** a + b clamped to [0, i32.MAX_VALUE] (a lost increment must not leave a count below 0). */
function clampedAdd(a: i32, b: i32): i32 {
  const c = <i64>a + <i64>b;
  return c <= 0 ? 0 : c >= <i64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>c;
}

/**
 * A copy of the in-flight value with an entry for `id` (appended, all zero,
 * when it had none) and `decode` applied to its decoding requests (null:
 * they are copied as they are).
 */
function copyWithEntry(old: Uint8Array, found: bool, id: u32, decode: DecodeChange | null = null): Uint8Array {
  const n = found ? entriesIn(old) : 0;
  const has = entryOf(old, n, id) != 0;
  const m = n + (has ? 0 : 1);
  const after = withDecodeChange(found ? decodesIn(old, n) : NO_DECODES, decode, id);
  const next = new Uint8Array(decodesStart(m) + after.length);
  store<u32>(next.dataStart, <u32>m);
  if (n > 0) memory.copy(next.dataStart + <usize>HEADER, old.dataStart + <usize>HEADER, <usize>(n * INFLIGHT_ENTRY));
  if (!has) store<u32>(next.dataStart + <usize>decodesStart(n), id);
  if (after.length > 0) memory.copy(next.dataStart + <usize>decodesStart(m), after.dataStart, <usize>after.length);
  return next;
}

/** A change to one endpoint's in-flight entry. */
export class InFlightDelta {
  /** Requests. */
  count: i32 = 0;
  /** Pending prompt blocks. */
  blocks: i32 = 0;
  /** Blocks written to its cache (the clock). */
  written: u32 = 0;
  /** Prompt blocks routed there, cached or not (the prompt clock). */
  prompt: u32 = 0;
  /** Now (ms), for the prefill-since time; < 0: unknown, left as it is. */
  nowMs: i64 = -1;
  /**
   * For a request joining a queue: the ms of prefill the decision took as
   * done of the queue ahead (EndpointState.drainedMs). The queue's start
   * moves up to that long before now when it lay further back, so that the
   * time the server sat idle after the queue drained (its first bytes not
   * back yet) is not counted as prefill of this request's blocks. < 0: left
   * as it is.
   */
  queueCreditMs: f64 = -1;
  /** A measured prefill pace (blocks per ms) to average in; 0: none. */
  pace: f64 = 0;
  /** A measured slot hold (ms from a request's first token to its end) to average in; 0: none. */
  holdMs: f64 = 0;
  /** A measured time per output token (ms; the hold over the tokens asked for) to average in; 0: none. */
  tokenMs: f64 = 0;
  /**
   * The clock when the request that ends now was routed, after its own
   * writes: the clock's advance since is what the server wrote while it ran,
   * averaged in; hasRoutedClock false: none.
   */
  routedClock: u32 = 0;
  hasRoutedClock: bool = false;
  /** What changes among the decoding requests (a request recorded, started or ended); null: nothing. */
  decode: DecodeChange | null = null;
  /** Set by the write: the written-blocks clock with this change (what the value now holds). */
  clockAfter: u32 = 0;
}

/** `average` moved PACE_ALPHA of the way to `sample`; the sample itself when there is no average yet. */
function movingAverage(average: f32, sample: f64): f32 {
  return average > 0 ? average + PACE_ALPHA * (<f32>sample - average) : <f32>sample;
}

/**
 * The queue's start once a request joins it at `nowMs`, when the decision
 * took `creditMs` of prefill as done of the queue ahead: at most that long
 * before now (later than `since` when the queue was taken as drained), so
 * the joining blocks drain from now on; `since` when it is already as
 * recent (the queue still running).
 */
function joinedQueueStart(since: u32, nowMs: i64, creditMs: f64): u32 {
  const now = <u32>nowMs;
  const age = <i32>(now - since); // wrapping ms
  if (!(creditMs < <f64>age)) return since;
  return now - <u32>Math.floor(creditMs);
}

function withDelta(old: Uint8Array, found: bool, id: u32, d: InFlightDelta): Uint8Array {
  const next = copyWithEntry(old, found, id, d.decode);
  const at = entryOf(next, entriesIn(next), id);
  const pendingBefore = load<i32>(at, AT_PENDING);
  store<i32>(at, clampedAdd(load<i32>(at, AT_COUNT), d.count), AT_COUNT);
  store<i32>(at, clampedAdd(pendingBefore, d.blocks), AT_PENDING);
  const clock = load<u32>(at, AT_WRITTEN) + d.written; // a clock: wraps
  store<u32>(at, clock, AT_WRITTEN);
  d.clockAfter = clock;
  store<u32>(at, load<u32>(at, AT_PROMPT) + d.prompt, AT_PROMPT); // a clock: wraps
  // The head of the queue starts now: the queue was empty, or a prefill just ended.
  if (d.nowMs >= 0 && ((d.blocks > 0 && pendingBefore == 0) || d.blocks < 0)) store<u32>(at, <u32>d.nowMs, AT_SINCE);
  else if (d.nowMs >= 0 && d.blocks > 0 && d.queueCreditMs >= 0) store<u32>(at, joinedQueueStart(load<u32>(at, AT_SINCE), d.nowMs, d.queueCreditMs), AT_SINCE);
  if (d.pace > 0 && isFinite(d.pace)) store<f32>(at, movingAverage(load<f32>(at, AT_PACE), d.pace), AT_PACE);
  if (d.holdMs > 0 && isFinite(d.holdMs)) store<f32>(at, movingAverage(load<f32>(at, AT_HOLD), d.holdMs), AT_HOLD);
  if (d.tokenMs > 0 && isFinite(d.tokenMs)) store<f32>(at, movingAverage(load<f32>(at, AT_TOKEN_MS), d.tokenMs), AT_TOKEN_MS);
  if (d.hasRoutedClock) {
    const life = <i32>(load<u32>(at, AT_WRITTEN) - d.routedClock); // wrapping clock
    if (life >= 0) store<f32>(at, movingAverage(load<f32>(at, AT_LIFE), <f64>life + 1), AT_LIFE); // one above: lifeWrittenBlocks
  }
  return next;
}

/**
 * Adds `delta` to `address`'s in-flight count and `blocksDelta` to its
 * pending prompt blocks, and advances its written-blocks clock by
 * `written`. `first` is a value already read (saves a read on the routing
 * path), or null.
 */
export function addInFlight(store: KeyValueStore, address: string, delta: i32, first: StoreValue | null, blocksDelta: i32 = 0, written: u32 = 0): bool {
  const d = new InFlightDelta();
  d.count = delta;
  d.blocks = blocksDelta;
  d.written = written;
  return changeInFlight(store, address, d, first);
}

/** addInFlight with every field of the change (InFlightDelta). */
export function changeInFlight(store: KeyValueStore, address: string, d: InFlightDelta, first: StoreValue | null): bool {
  let v = first != null ? first! : store.get(INFLIGHT_KEY);
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const r = tryChangeInFlight(store, address, d, v);
    if (r == STORE_OK) return true;
    if (r != STORE_CAS_MISMATCH) return false;
    v = store.get(INFLIGHT_KEY);
  }
  return false;
}

/**
 * One compare-and-swap of `d` onto `seen`, the value as it was read:
 * STORE_OK, STORE_CAS_MISMATCH (another change came first; nothing was
 * written) or another host status.
 */
export function tryChangeInFlight(store: KeyValueStore, address: string, d: InFlightDelta, seen: StoreValue): i32 {
  return store.set(INFLIGHT_KEY, withDelta(seen.bytes, seen.found, endpointId(address), d), seen.found ? seen.cas : 0);
}

/** What a decision's write of its request did (writeDecided). */
export enum Written {
  /** The request is counted at its endpoint. */
  Counted = 0,
  /** It is not: a host error, or the retries of a last decision spent. */
  NotCounted = 1,
  /** Another change came first and nothing was written: decide again on the new value. */
  DecideAgain = 2,
}

/**
 * A decision's write of its request (docs/routing.md "Workers deciding at
 * once"): one compare-and-swap of `d` onto `seen`, the value the decision
 * read. With `last` the change is written onto whatever came first, with
 * the retries every other change has, and never asks to decide again.
 */
export function writeDecided(store: KeyValueStore, address: string, d: InFlightDelta, seen: StoreValue, last: bool): Written {
  if (last) return changeInFlight(store, address, d, seen) ? Written.Counted : Written.NotCounted;
  const status = tryChangeInFlight(store, address, d, seen);
  return status == STORE_OK ? Written.Counted : status == STORE_CAS_MISMATCH ? Written.DecideAgain : Written.NotCounted;
}

/** Keeps only the entries of configured endpoints, and their decoding requests (bounded value after pool changes). */
export function pruneInFlight(kv: KeyValueStore, addresses: Array<string>): void {
  const ids = new Array<u32>();
  for (let i = 0; i < addresses.length; i++) ids.push(endpointId(unchecked(addresses[i])));
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const v = kv.get(INFLIGHT_KEY);
    if (!v.found) return;
    const b = v.bytes;
    const n = entriesIn(b);
    const decodes = decodesIn(b, n);
    const kept = withDecodeChange(decodes, DecodeChange.keep(ids), 0);
    const next = new Uint8Array(decodesStart(n) + kept.length);
    let m = 0;
    for (let i = 0; i < n; i++) {
      const at = b.dataStart + <usize>(HEADER + i * INFLIGHT_ENTRY);
      if (!ids.includes(load<u32>(at))) continue;
      memory.copy(next.dataStart + <usize>(HEADER + m * INFLIGHT_ENTRY), at, <usize>INFLIGHT_ENTRY);
      m++;
    }
    if (m == n && kept.length == decodes.length) return;
    store<u32>(next.dataStart, <u32>m);
    if (kept.length > 0) memory.copy(next.dataStart + <usize>decodesStart(m), kept.dataStart, <usize>kept.length);
    if (kv.set(INFLIGHT_KEY, next.slice(0, decodesStart(m) + kept.length), v.cas) != STORE_CAS_MISMATCH) return;
  }
}

/** The value for fixed in-flight counts and pending blocks per endpoint id (a snapshot; nothing measured, no decoding requests). */
export function inFlightSnapshot(ids: Array<u32>, counts: Array<i32>, pending: Array<i32>): Uint8Array {
  const n = ids.length;
  const out = new Uint8Array(decodesStart(n));
  store<u32>(out.dataStart, <u32>n);
  for (let i = 0; i < n; i++) {
    const at = out.dataStart + <usize>(HEADER + i * INFLIGHT_ENTRY);
    store<u32>(at, unchecked(ids[i]));
    store<i32>(at, i < counts.length ? unchecked(counts[i]) : 0, AT_COUNT);
    store<i32>(at, i < pending.length ? unchecked(pending[i]) : 0, AT_PENDING);
  }
  return out;
}

// ---- request failures -----------------------------------------------------------

/*
 * Endpoints that just failed a request, until when: the penalty field of
 * their in-flight entry (ms; 0 or past: none). A request the filter sent
 * to an endpoint that answered 5xx, or that Envoy had to retry elsewhere
 * (connection refused, 5xx), excludes that endpoint for a while, as a failed
 * scrape would, but without waiting for the next scrape, and without a good
 * scrape clearing it: a server whose /metrics is fine but whose requests fail
 * is the case this covers.
 */

/** Excludes `address` until `untilMs`. */
export function penalize(kv: KeyValueStore, address: string, untilMs: i64): bool {
  const id = endpointId(address);
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const v = kv.get(INFLIGHT_KEY);
    const next = copyWithEntry(v.bytes, v.found, id);
    store<i64>(entryOf(next, entriesIn(next), id), untilMs, AT_PENALTY);
    const r = kv.set(INFLIGHT_KEY, next, v.found ? v.cas : 0);
    if (r == STORE_OK) return true;
    if (r != STORE_CAS_MISMATCH) return false;
  }
  return false;
}
