// Cross-worker pool state in shared data:
//  - "llm-picker/pool/v3/metrics": every endpoint's last scrape, encoded with
//    endpoint_state.ts encodeStates; written by whichever VM holds the scrape
//    lease, read once per request by every worker. (v1 had no learned slot
//    capacity, v2 no learned blocks per token; a new key each time, so a hot
//    swap never misreads the old layout.)
//  - "llm-picker/pool/v6/inflight": requests in flight per endpoint, a flat
//    array of (u32 endpoint id, i32 count, i32 pending prompt blocks,
//    i64 penalty until ms, u32 written blocks, u32 prefill-since ms,
//    f32 prefill blocks per ms, f32 slot hold ms); the count goes up when a
//    request is routed and down when its stream ends, on any worker; the
//    pending blocks (the prefill the request needs there, docs/routing.md)
//    go up when it is routed and down at its first response byte or,
//    failing that, at its end; the penalty (below, "request failures") excludes the endpoint
//    until then; the written blocks are a clock that only goes up (wrapping):
//    the uncached prompt blocks of every request routed there, i.e. what
//    this Envoy made the server write to its KV cache, which is what evicts
//    older prefixes (docs/hashing.md "Evictions"; the scraper compares it
//    with what the server reports it wrote). The prefill-since time (low 32
//    bits of ms) is when the prefill now at the head of the queue started:
//    when pending blocks went up from 0, or the last time some went down;
//    the blocks per ms are a moving average of what the endpoint prefilled
//    per ms between a request's routing and its first token (the queue
//    ahead of it and its own blocks): together they say how much of the
//    queued prefill is done (EndpointState.remainingPrefill). The slot hold
//    is a moving average of a streamed request's time from its first token
//    to its end: how long a running request keeps its place in the batch
//    (picker/slot_wait.ts). One value for
//    all of these: a request reads them in one host call. (v1 held 8-byte
//    entries without the blocks, v2 12-byte ones without the penalty, which
//    had a key of its own, v3 20-byte ones without the clock, v4 24-byte
//    ones without the prefill pace, v5 32-byte ones without the slot hold;
//    each layout has a new key, so a hot swap
//    never misreads the old.)
//  - "llm-picker/pool/v1/lease": which VM scrapes this interval, so Envoy
//    scrapes once per interval rather than once per worker.
// One key each keeps the key space fixed (shared data cannot delete keys:
// util/store.ts) and costs one read per request for each.
// Updates are get → modify → set(cas) with bounded retries (CAS_RETRIES);
// a write that keeps losing is dropped (fail open) and counted.
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK, StoreValue } from "../util/store";
import { decodeStates, encodeStates, EndpointState } from "./endpoint_state";
import { EndpointMetrics } from "../metrics/signals";
import { endpointId } from "../prefix/endpoint_id";

export const METRICS_KEY = "llm-picker/pool/v3/metrics";
export const INFLIGHT_KEY = "llm-picker/pool/v7/inflight";
export const LEASE_KEY = "llm-picker/pool/v1/lease";
const CAS_RETRIES: i32 = 16;
const INFLIGHT_ENTRY: i32 = 40;
/** Offsets in an in-flight entry. */
const AT_COUNT: i32 = 4;
const AT_PENDING: i32 = 8;
const AT_PENALTY: i32 = 12;
const AT_WRITTEN: i32 = 20;
const AT_SINCE: i32 = 24;
const AT_PACE: i32 = 28;
const AT_HOLD: i32 = 32;
const AT_LIFE: i32 = 36;
/** Weight of a new sample in the moving averages (prefill pace, slot hold). */
const PACE_ALPHA: f32 = 0.25;
const LEASE_SIZE: i32 = 16;

/**
 * Creates the pool keys (empty) when they are missing. Proxy-wasm cannot
 * create a key conditionally: a set on a missing key succeeds whatever the
 * CAS, so two workers making their first update at the same moment would
 * overwrite each other (an in-flight increment lost). Creating the keys at
 * configure time leaves every later update a CAS on an existing key; two VMs
 * creating them at once both write the same empty value, so nothing is lost.
 */
export function ensurePoolKeys(kv: KeyValueStore): void {
  if (!kv.get(INFLIGHT_KEY).found) kv.set(INFLIGHT_KEY, new Uint8Array(0), 0);
  if (!kv.get(METRICS_KEY).found) kv.set(METRICS_KEY, new Uint8Array(0), 0);
}

// The last published value this VM decoded, and what it decoded to. The
// value changes once per scrape, requests read it far more often: reusing
// the decoded states while the bytes are the same saves a decode (and its
// allocations) per request. Readers change only health (refreshHealth) and
// the in-flight count (poolStates); a reuse puts back the decoded values of
// those, so every read sees exactly what a fresh decode would give.
let lastStatesBytes: Uint8Array = new Uint8Array(0);
let lastStates: Array<EndpointState> = new Array<EndpointState>();
let lastDecoded: Array<EndpointState> = new Array<EndpointState>();

/** Reads the published endpoint states (empty when nothing was published). */
export function readStates(store: KeyValueStore): Array<EndpointState> {
  const v = store.get(METRICS_KEY);
  if (!v.found || v.bytes.length == 0) return new Array<EndpointState>();
  const b = v.bytes;
  if (b.length == lastStatesBytes.length && memory.compare(b.dataStart, lastStatesBytes.dataStart, <usize>b.length) == 0) {
    for (let i = 0; i < lastStates.length; i++) {
      const s = unchecked(lastStates[i]);
      const d = unchecked(lastDecoded[i]);
      s.healthy = d.healthy;
      s.hasHealthy = d.hasHealthy;
      s.inFlight = d.inFlight;
      s.hasInFlight = d.hasInFlight;
    }
    return lastStates;
  }
  const decoded = decodeStates(b);
  if (decoded == null) return new Array<EndpointState>();
  // Readers get `lastStates`; `lastDecoded` keeps the decoded health and in-flight values.
  const kept = new Array<EndpointState>(decoded!.length);
  for (let i = 0; i < decoded!.length; i++) {
    const d = unchecked(decoded![i]);
    const k = new EndpointState(d.address);
    k.healthy = d.healthy;
    k.hasHealthy = d.hasHealthy;
    k.inFlight = d.inFlight;
    k.hasInFlight = d.hasInFlight;
    unchecked((kept[i] = k));
  }
  lastStatesBytes = b;
  lastStates = decoded!;
  lastDecoded = kept;
  return lastStates;
}

function findState(states: Array<EndpointState>, address: string): i32 {
  for (let i = 0; i < states.length; i++) if (unchecked(states[i]).address == address) return i;
  return -1;
}

/**
 * Applies one scrape result (metrics, or null for a failure) for `address`
 * to the published states under CAS. Returns the endpoint's state as
 * published (the scraper reads its health from it without reading the
 * value back), or null when the write kept losing or the host refused it.
 */
export function publishScrape(store: KeyValueStore, address: string, metrics: EndpointMetrics | null, nowMs: i64): EndpointState | null {
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const v = store.get(METRICS_KEY);
    let states: Array<EndpointState> = new Array<EndpointState>();
    if (v.found && v.bytes.length > 0) {
      if (sameBytes(v.bytes, publishedBytes)) states = publishedStates;
      else {
        const decoded = decodeStates(v.bytes);
        if (decoded != null) states = decoded!;
      }
    }
    // The cached states are being changed: they match no value until the write succeeds.
    publishedBytes = NO_BYTES;
    let i = findState(states, address);
    if (i < 0) {
      states.push(new EndpointState(address));
      i = states.length - 1;
    }
    const s = unchecked(states[i]);
    if (metrics != null) s.applyScrape(metrics!, nowMs, s.wantsClock(metrics!.cacheWrites) ? inFlightAt(store, address).writtenBlocks : 0);
    else s.recordFailure();
    const encoded = encodeStates(states);
    const r = store.set(METRICS_KEY, encoded, v.found ? v.cas : 0);
    if (r == STORE_OK) {
      publishedBytes = encoded;
      publishedStates = states;
      return s;
    }
    if (r != STORE_CAS_MISMATCH) return null;
  }
  return null;
}

// What this VM published last, decoded: the scraping VM is usually the only
// writer of the published states, so its next publish finds its own value
// there and updates these objects instead of decoding the value again. Any
// other value (another VM wrote) is decoded as before.
const NO_BYTES = new Uint8Array(0);
let publishedBytes: Uint8Array = NO_BYTES;
let publishedStates: Array<EndpointState> = new Array<EndpointState>();

function sameBytes(a: Uint8Array, b: Uint8Array): bool {
  return b.length > 0 && a.length == b.length && memory.compare(a.dataStart, b.dataStart, <usize>a.length) == 0;
}

/** `address`'s in-flight entry, read now (one shared-data read); its fields read as none when it has no entry. */
export function inFlightAt(store: KeyValueStore, address: string): InFlight {
  const inflight = readInFlight(store);
  inflight.select(endpointId(address));
  return inflight;
}

/**
 * Drops states of endpoints no longer configured (so the value stays bounded
 * by the pool size). Called by the scraper after a configuration change.
 */
export function prunePublished(store: KeyValueStore, addresses: Array<string>): void {
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const v = store.get(METRICS_KEY);
    if (!v.found || v.bytes.length == 0) return;
    const decoded = decodeStates(v.bytes);
    if (decoded == null) return;
    const kept = new Array<EndpointState>();
    for (let i = 0; i < decoded!.length; i++) {
      const s = unchecked(decoded![i]);
      if (addresses.includes(s.address)) kept.push(s);
    }
    if (kept.length == decoded!.length) return;
    const r = store.set(METRICS_KEY, encodeStates(kept), v.cas);
    if (r != STORE_CAS_MISMATCH) return;
  }
}

// ---- in-flight counts -------------------------------------------------------

/** In-flight count, pending blocks and penalty per endpoint id, from the shared value. */
export class InFlight {
  /** Address of the selected entry, 0 when the selected id has none (its fields then read 0). */
  private at: usize = 0;

  constructor(public value: StoreValue) {}

  /** Finds `id`'s entry once; the getters below read its fields. */
  select(id: u32): void {
    const b = this.value.bytes;
    this.at = this.value.found ? entryOf(b, b.length / INFLIGHT_ENTRY, id) : 0;
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
}

export function readInFlight(store: KeyValueStore): InFlight {
  return new InFlight(store.get(INFLIGHT_KEY));
}

/** a + b clamped to [0, i32.MAX_VALUE] (a lost increment must not leave a count below 0). */
function clampedAdd(a: i32, b: i32): i32 {
  const c = <i64>a + <i64>b;
  return c <= 0 ? 0 : c >= <i64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>c;
}

/** A copy of the in-flight value with an entry for `id` (appended, all zero, when it had none). */
function copyWithEntry(old: Uint8Array, found: bool, id: u32): Uint8Array {
  const n = found ? old.length / INFLIGHT_ENTRY : 0;
  if (entryOf(old, n, id) != 0) return old.slice(0, n * INFLIGHT_ENTRY);
  const next = new Uint8Array((n + 1) * INFLIGHT_ENTRY);
  if (n > 0) memory.copy(next.dataStart, old.dataStart, <usize>(n * INFLIGHT_ENTRY));
  store<u32>(next.dataStart + <usize>(n * INFLIGHT_ENTRY), id);
  return next;
}

/** Address of `id`'s entry among the first n entries of `b`, or 0. */
function entryOf(b: Uint8Array, n: i32, id: u32): usize {
  for (let i = 0; i < n; i++) {
    const at = b.dataStart + <usize>(i * INFLIGHT_ENTRY);
    if (load<u32>(at) == id) return at;
  }
  return 0;
}

/** A change to one endpoint's in-flight entry. */
export class InFlightDelta {
  /** Requests. */
  count: i32 = 0;
  /** Pending prompt blocks. */
  blocks: i32 = 0;
  /** Blocks written to its cache (the clock). */
  written: u32 = 0;
  /** Now (ms), for the prefill-since time; < 0: unknown, left as it is. */
  nowMs: i64 = -1;
  /** A measured prefill pace (blocks per ms) to average in; 0: none. */
  pace: f64 = 0;
  /** A measured slot hold (ms from a request's first token to its end) to average in; 0: none. */
  holdMs: f64 = 0;
  /**
   * The clock when the request that ends now was routed, after its own
   * writes: the clock's advance since is what the server wrote while it ran,
   * averaged in; hasRoutedClock false: none.
   */
  routedClock: u32 = 0;
  hasRoutedClock: bool = false;
  /** Set by the write: the written-blocks clock with this change (what the value now holds). */
  clockAfter: u32 = 0;
}

/** `average` moved PACE_ALPHA of the way to `sample`; the sample itself when there is no average yet. */
function movingAverage(average: f32, sample: f64): f32 {
  return average > 0 ? average + PACE_ALPHA * (<f32>sample - average) : <f32>sample;
}

function withDelta(old: Uint8Array, found: bool, id: u32, d: InFlightDelta): Uint8Array {
  const next = copyWithEntry(old, found, id);
  const at = entryOf(next, next.length / INFLIGHT_ENTRY, id);
  const pendingBefore = load<i32>(at, AT_PENDING);
  store<i32>(at, clampedAdd(load<i32>(at, AT_COUNT), d.count), AT_COUNT);
  store<i32>(at, clampedAdd(pendingBefore, d.blocks), AT_PENDING);
  const clock = load<u32>(at, AT_WRITTEN) + d.written; // a clock: wraps
  store<u32>(at, clock, AT_WRITTEN);
  d.clockAfter = clock;
  // The head of the queue starts now: the queue was empty, or a prefill just ended.
  if (d.nowMs >= 0 && ((d.blocks > 0 && pendingBefore == 0) || d.blocks < 0)) store<u32>(at, <u32>d.nowMs, AT_SINCE);
  if (d.pace > 0 && isFinite(d.pace)) store<f32>(at, movingAverage(load<f32>(at, AT_PACE), d.pace), AT_PACE);
  if (d.holdMs > 0 && isFinite(d.holdMs)) store<f32>(at, movingAverage(load<f32>(at, AT_HOLD), d.holdMs), AT_HOLD);
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
  const id = endpointId(address);
  let v = first != null ? first! : store.get(INFLIGHT_KEY);
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const next = withDelta(v.bytes, v.found, id, d);
    const r = store.set(INFLIGHT_KEY, next, v.found ? v.cas : 0);
    if (r == STORE_OK) return true;
    if (r != STORE_CAS_MISMATCH) return false;
    v = store.get(INFLIGHT_KEY);
  }
  return false;
}

/** Keeps only the ids of configured endpoints (bounded value after pool changes). */
export function pruneInFlight(store: KeyValueStore, addresses: Array<string>): void {
  const ids = new Array<u32>();
  for (let i = 0; i < addresses.length; i++) ids.push(endpointId(unchecked(addresses[i])));
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const v = store.get(INFLIGHT_KEY);
    if (!v.found) return;
    const n = v.bytes.length / INFLIGHT_ENTRY;
    const next = new Uint8Array(v.bytes.length);
    let m = 0;
    for (let i = 0; i < n; i++) {
      const at = v.bytes.dataStart + <usize>(i * INFLIGHT_ENTRY);
      if (!ids.includes(load<u32>(at))) continue;
      memory.copy(next.dataStart + <usize>(m * INFLIGHT_ENTRY), at, <usize>INFLIGHT_ENTRY);
      m++;
    }
    if (m == n) return;
    if (store.set(INFLIGHT_KEY, next.slice(0, m * INFLIGHT_ENTRY), v.cas) != STORE_CAS_MISMATCH) return;
  }
}

// ---- scrape lease -------------------------------------------------------------

/**
 * Tries to take (or keep) the scrape lease for `owner` until nowMs + ttlMs.
 * The lease is held by one VM at a time; another VM takes over once it has
 * expired (the holder's VM was replaced or its ticks stopped).
 */
export function acquireLease(kv: KeyValueStore, owner: u64, nowMs: i64, ttlMs: i64): bool {
  const v = kv.get(LEASE_KEY);
  if (v.found && v.bytes.length == LEASE_SIZE) {
    const holder = load<u64>(v.bytes.dataStart);
    const until = load<i64>(v.bytes.dataStart, 8);
    if (holder != owner && until > nowMs) return false;
  }
  const next = new Uint8Array(LEASE_SIZE);
  store<u64>(next.dataStart, owner);
  store<i64>(next.dataStart, nowMs + ttlMs, 8);
  return kv.set(LEASE_KEY, next, v.found ? v.cas : 0) == STORE_OK;
}

/**
 * When the lease that another VM holds expires (ms), or 0 when `owner` holds
 * it, it is free or unreadable: a VM that does not scrape can sleep until
 * then instead of asking on every tick.
 */
export function leaseExpiry(kv: KeyValueStore, owner: u64): i64 {
  const v = kv.get(LEASE_KEY);
  if (!v.found || v.bytes.length != LEASE_SIZE || load<u64>(v.bytes.dataStart) == owner) return 0;
  return load<i64>(v.bytes.dataStart, 8);
}

/**
 * Gives the lease up if `owner` holds it (its root context is being retired,
 * e.g. by a configuration update), so the new root scrapes on its first tick
 * instead of waiting for the lease to expire. One CAS attempt: if another VM
 * changed it meanwhile, that VM holds it and there is nothing to release.
 */
export function releaseLease(kv: KeyValueStore, owner: u64, nowMs: i64): void {
  const v = kv.get(LEASE_KEY);
  if (!v.found || v.bytes.length != LEASE_SIZE || load<u64>(v.bytes.dataStart) != owner) return;
  const next = new Uint8Array(LEASE_SIZE);
  store<u64>(next.dataStart, owner);
  store<i64>(next.dataStart, nowMs - 1, 8); // expired
  kv.set(LEASE_KEY, next, v.cas);
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
    store<i64>(entryOf(next, next.length / INFLIGHT_ENTRY, id), untilMs, AT_PENALTY);
    const r = kv.set(INFLIGHT_KEY, next, v.found ? v.cas : 0);
    if (r == STORE_OK) return true;
    if (r != STORE_CAS_MISMATCH) return false;
  }
  return false;
}

/** Endpoint states for the configured pool: published metrics (if any) plus in-flight counts. */
export function poolStates(addresses: Array<string>, published: Array<EndpointState>, inflight: InFlight, nowMs: i64, staleAfterMs: i64, scraping: bool, usable: Array<bool> | null = null): Array<EndpointState> {
  const out = new Array<EndpointState>(addresses.length);
  for (let i = 0; i < addresses.length; i++) {
    const a = unchecked(addresses[i]);
    const j = findState(published, a);
    const s = j >= 0 ? unchecked(published[j]) : new EndpointState(a);
    // Health only means something when scraping is on; otherwise unknown (= healthy).
    if (scraping) s.refreshHealth(nowMs, staleAfterMs);
    if (usable != null && i < usable.length && !unchecked(usable[i])) {
      // Envoy would not route to it (draining, failed health check, ejected).
      s.hasHealthy = true;
      s.healthy = false;
    }
    inflight.select(endpointId(a)); // one lookup for the four fields
    if (inflight.penaltyUntil > nowMs) {
      // It just failed a request: out of decisions until the penalty ends.
      s.healthy = false;
      s.hasHealthy = true;
      s.failedRequest = true;
    }
    s.inFlight = inflight.count;
    s.hasInFlight = true;
    s.pendingBlocks = inflight.pendingBlocks;
    s.writtenBlocks = inflight.writtenBlocks;
    s.prefillSinceMs = inflight.prefillSinceMs;
    s.prefillBlocksPerMs = inflight.prefillBlocksPerMs;
    s.lifeWrittenBlocks = inflight.lifeWrittenBlocks;
    s.slotHoldMs = inflight.slotHoldMs;
    // Set per decision (picker/prefill_running.ts estimateDrained, picker/slot_wait.ts); a published state is reused across decisions.
    s.drainedBlocks = 0;
    s.slotWaitBlocks = 0;
    unchecked((out[i] = s));
  }
  return out;
}

/**
 * Publishes fixed endpoint states (the `snapshot` configuration used by
 * `llm-picker inspect --endpoints`): their metrics, health and in-flight
 * counts replace whatever was published.
 */
export function publishSnapshot(kv: KeyValueStore, states: Array<EndpointState>): void {
  kv.set(METRICS_KEY, encodeStates(states), 0);
  const inflight = new Uint8Array(states.length * INFLIGHT_ENTRY);
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    store<u32>(inflight.dataStart + <usize>(i * INFLIGHT_ENTRY), endpointId(s.address));
    store<i32>(inflight.dataStart + <usize>(i * INFLIGHT_ENTRY + AT_COUNT), s.hasInFlight ? s.inFlight : 0);
    store<i32>(inflight.dataStart + <usize>(i * INFLIGHT_ENTRY + AT_PENDING), s.pendingBlocks);
  }
  kv.set(INFLIGHT_KEY, inflight, 0);
}
