// Cross-worker pool state in shared data:
//  - "llm-picker/pool/v4/metrics": every endpoint's last scrape, encoded with
//    state_codec.ts encodeStates; written by whichever VM holds the scrape
//    lease, read once per request by every worker. (v1 had no learned slot
//    capacity, v2 no learned blocks per token, v3 no unexpected prefill; a
//    new key each time, so a hot swap never misreads the old layout.)
//  - "llm-picker/pool/v9/inflight": requests in flight per endpoint and what
//    they tell of it (pool/in_flight.ts).
//  - "llm-picker/pool/v1/lease": which VM scrapes this interval, so Envoy
//    scrapes once per interval rather than once per worker.
// One key each keeps the key space fixed (shared data cannot delete keys:
// util/store.ts) and costs one read per request for each.
// Updates are get → modify → set(cas) with bounded retries (CAS_RETRIES);
// a write that keeps losing is dropped (fail open) and counted.
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK } from "../util/store";
import { EndpointState } from "./endpoint_state";
import { decodeStates, encodeStates } from "./state_codec";
import { RoutedClocks } from "./unexpected_prefill";
import { EndpointMetrics } from "../metrics/signals";
import { endpointId } from "../prefix/endpoint_id";
import { addInFlight, INFLIGHT_KEY, InFlight, inFlightSnapshot, readInFlight } from "./in_flight";

export const METRICS_KEY = "llm-picker/pool/v4/metrics";
export const LEASE_KEY = "llm-picker/pool/v1/lease";
const CAS_RETRIES: i32 = 16;
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

/** `address`'s published state (one shared-data read, decoded only when it changed), or null when none was published. */
export function publishedState(store: KeyValueStore, address: string): EndpointState | null {
  const states = readStates(store);
  const i = findState(states, address);
  return i >= 0 ? unchecked(states[i]) : null;
}

function findState(states: Array<EndpointState>, address: string): i32 {
  for (let i = 0; i < states.length; i++) if (unchecked(states[i]).address == address) return i;
  return -1;
}

/**
 * Applies one scrape result (metrics, or null for a failure) for `address`
 * to the published states under CAS. Returns the endpoint's state as
 * published (the scraper reads its health from it without reading the
 * value back, and its eviction horizon with the lifeWrittenBlocks set
 * here), or null when the write kept losing or the host refused it. Once
 * published, prefill the scrape found the server did beyond what was
 * routed there is added to its written-blocks clock (UnexpectedPrefill.foundBlocks).
 */
export function publishScrape(store: KeyValueStore, address: string, metrics: EndpointMetrics | null, nowMs: i64): EndpointState | null {
  // One read of the endpoint's in-flight entry per scrape, for everything the scrape compares with what was routed there.
  const entry = inFlightAt(store, address);
  const clocks = new RoutedClocks(entry.writtenBlocks, entry.promptBlocks, entry.pendingBlocks, <f64>entry.prefillBlocksPerMs);
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
    s.unexpected.clearFound();
    if (metrics != null) s.applyScrape(metrics!, nowMs, clocks);
    else s.recordFailure();
    s.lifeWrittenBlocks = entry.lifeWrittenBlocks;
    const encoded = encodeStates(states);
    const r = store.set(METRICS_KEY, encoded, v.found ? v.cas : 0);
    if (r == STORE_OK) {
      publishedBytes = encoded;
      publishedStates = states;
      // Prefill the server did beyond what was expected wrote into its cache
      // too: on the clock, it ages what the index and the turn ends hold there.
      const found = s.unexpected.foundBlocks();
      if (found > 0) addInFlight(store, address, 0, null, 0, found);
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
function inFlightAt(store: KeyValueStore, address: string): InFlight {
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
    s.msPerToken = inflight.msPerToken;
    // Set per decision (picker/prefill_running.ts estimateDrained, picker/slot_wait.ts); a published state is reused across decisions.
    s.drainedBlocks = 0;
    s.drainedMs = 0;
    s.slotWaitBlocks = 0;
    s.unexpectedBlocks = 0;
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
  const ids = new Array<u32>();
  const counts = new Array<i32>();
  const pending = new Array<i32>();
  for (let i = 0; i < states.length; i++) {
    const s = unchecked(states[i]);
    ids.push(endpointId(s.address));
    counts.push(s.hasInFlight ? s.inFlight : 0);
    pending.push(s.pendingBlocks);
  }
  const inflight = inFlightSnapshot(ids, counts, pending);
  kv.set(INFLIGHT_KEY, inflight, 0);
}
