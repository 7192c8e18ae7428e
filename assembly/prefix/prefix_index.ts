// The prefix index: which endpoint was sent which block hashes, kept in a
// KeyValueStore that is proxy-wasm shared data in Envoy (one store per vm_id,
// shared by every worker; get copies the value; set with compare-and-swap;
// no delete, no listing, no expiry: util/store.ts). Design (docs/hashing.md
// "Index"):
//
//  - Fixed key space: `numBuckets` keys "<prefix>b<n>" plus one meta key.
//    Keys are never created per block hash (they could never be freed).
//  - Blocks are stored in groups of `groupBlocks` consecutive blocks of a
//    chain, so one read returns the state of G blocks for every endpoint. A
//    group has two possible homes (layout version 2):
//      inner home  bucket(h[k·G + G − 1]), its LAST block: where a group is
//                  written when it is not the chain's last group;
//      tail home   bucket(h[k·G]), its FIRST block: where the chain's last
//                  group (usually partial) is written.
//    Keying inner groups by their last block removes the hot bucket of
//    version 1 (every group keyed by its first block): chains that share a
//    group's first block but diverge inside it (one system prompt, then
//    different documents) no longer pile into one bucket; two chains meet in
//    an inner home only if they share the whole group, i.e. write the same
//    entries. The tail home is the only key a longer prompt extending this
//    one can compute without knowing where this one ended (docs/hashing.md
//    "Placement").
//  - A bucket holds at most `bucketEntries` 16-byte entries (hash, endpoint
//    id, stamp: the endpoint's written-blocks clock) in recency order; a write puts its group first, in chain
//    order, and drops from the tail. Total bytes ≤ numBuckets·(8 +
//    16·bucketEntries), set by blocksPerEndpoint × maxEndpoints (default the
//    upstream picker's 31,250 × 16).
//  - Scoring assumes the prefix property (an endpoint that holds block i holds
//    blocks < i, which eviction order preserves) and binary-searches each
//    endpoint's matched length over the groups (an entry older than the
//    endpoint's eviction horizon, in blocks written there since, does not
//    count: docs/hashing.md "Evictions"), each probed in the home its
//    role in THIS chain gives it, sharing reads between endpoints: group 0
//    first, then the last group (a full hit costs two), then bisection. At
//    each endpoint's boundary group (the first it does not fully hold) one
//    more read of the group's other home finds a shorter earlier prompt's
//    last group (the previous turn), shared between endpoints with the same
//    boundary. Score = matched / total (as upstream).
//  - Updates are read-modify-write under CAS with bounded retries; the values
//    read while scoring are reused by `record`, and groups an endpoint already
//    holds with fresh stamps (younger than a quarter of its horizon) are not rewritten, so a request costs about one
//    read per group (16 for 256 blocks of 64 B) and at most one write each.
//  - Endpoints are 32-bit ids (XXH64 of "ip:port"); only the endpoints passed
//    to `score` are counted, so entries of endpoints that left never score.
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK, StoreValue } from "../util/store";
import { RENDER_VERSION } from "../hashing/render";
import {
  BUCKET_HEADER,
  bucketCount,
  emptyBucket,
  ENTRY_SIZE,
  entryEndpoint,
  entryHash,
  entryStamp,
  holdsAll,
  LAYOUT_VERSION,
  mergeInto,
  removeFrom,
} from "./bucket";
import { META_SIZE, PrefixIndexConfig } from "./index_config";
import { endpointId } from "./endpoint_id";

// "LP", 'K' + RENDER_VERSION ("LPM" for render version 2), LAYOUT_VERSION:
// like BUCKET_MAGIC, so a build with another rendering or layout rewrites
// every bucket at init().
const META_MAGIC: u32 = 0x504c | (((0x4b + <u32>RENDER_VERSION) & 0xff) << 16) | (LAYOUT_VERSION << 24);

/** Counters for stats and benchmarks. */
export class PrefixIndexStats {
  reads: i64 = 0;
  writes: i64 = 0;
  casConflicts: i64 = 0;
  /** Bucket writes abandoned after `casRetries` conflicts or a host error. */
  failedWrites: i64 = 0;
  /**
   * Net bytes this VM's successful writes added to the index's values (new
   * length minus the length replaced). Summed over every VM that ever wrote,
   * it is the index's current size (the gauge llm_picker.prefix.index_bytes),
   * at most PrefixIndexConfig.maxBytes().
   */
  valueBytes: i64 = 0;
}

/**
 * True when an entry `age` blocks old (the endpoint's clock minus the
 * entry's stamp, wrapping) is past the endpoint's eviction horizon (0: no
 * horizon, never). A negative age (another worker wrote it after this one
 * read the clock) is fresh.
 */
// @ts-ignore: decorator
@inline
export function evicted(age: u32, horizon: u32): bool {
  return horizon > 0 && <i32>age > 0 && age > horizon;
}

/** Stamp age (blocks) beyond which a held group is rewritten: a quarter of the horizon, or the fallback. */
function refreshAge(horizon: u32, fallback: u32): u32 {
  return horizon > 0 ? max<u32>(1, horizon >> 2) : fallback;
}

export class PrefixIndex {
  readonly config: PrefixIndexConfig;
  readonly stats: PrefixIndexStats = new PrefixIndexStats();
  private store: KeyValueStore;
  private buckets: i32;
  private group: i32;
  private capacity: i32;
  private keys: Map<i32, string> = new Map<i32, string>();

  // What the last `match` learnt, reused by `record` for the same hashes.
  private lastHashes: StaticArray<u64> | null = null;
  private lastIds: StaticArray<u32> = new StaticArray<u32>(0);
  private lastMatch: Int32Array = new Int32Array(0);
  /** Entries the last `match` left out because their endpoint had its horizon written since. */
  lastEvicted: i32 = 0;
  /** Per endpoint of the last `match`: whether it left out an entry of this prompt there as evicted. */
  private lastEvictedAt: StaticArray<bool> = new StaticArray<bool>(0);
  /** Per endpoint of the last `match`: its written-blocks clock and eviction horizon (0: none). */
  private lastClocks: StaticArray<u32> = new StaticArray<u32>(0);
  private lastHorizons: StaticArray<u32> = new StaticArray<u32>(0);
  /** Per group: the value read (null = not read, or stale after our write). */
  private probed: Array<StoreValue | null> = [];
  /** Per group: its other home was read too (boundary groups only). */
  private probedOther: StaticArray<bool> = new StaticArray<bool>(0);
  /** Per group × endpoint: bit j set = the endpoint holds block k·G + j. */
  private masks: StaticArray<u64> = new StaticArray<u64>(0);
  /** Per group × endpoint: oldest stamp among the endpoint's entries of that group. */
  private oldest: StaticArray<u32> = new StaticArray<u32>(0);

  constructor(store: KeyValueStore, config: PrefixIndexConfig) {
    this.store = store;
    this.config = config;
    this.buckets = config.numBuckets();
    this.group = config.group();
    this.capacity = config.entriesPerBucket();
  }

  // ---- keys ---------------------------------------------------------------

  private bucketKey(b: i32): string {
    if (this.keys.has(b)) return this.keys.get(b);
    const k = this.config.keyPrefix + "b" + b.toString();
    this.keys.set(b, k);
    return k;
  }

  private metaKey(): string {
    return this.config.keyPrefix + "meta";
  }

  private bucketOfHash(h: u64): i32 {
    return <i32>((h ^ (h >> 32)) % <u64>this.buckets);
  }

  /** True when group k is the last group of a chain of n blocks (written to its tail home). */
  private isLastGroup(n: i32, k: i32): bool {
    return (k + 1) * this.group >= n;
  }

  /** Tail home of group k: bucket of its first block (docs/hashing.md "Placement"). */
  private tailBucket(hashes: StaticArray<u64>, k: i32): i32 {
    return this.bucketOfHash(unchecked(hashes[k * this.group]));
  }

  /** Inner home of group k: bucket of its last block; -1 when the chain does not reach it. */
  private innerBucket(hashes: StaticArray<u64>, k: i32): i32 {
    const last = k * this.group + this.group - 1;
    if (last >= hashes.length) return -1;
    return this.bucketOfHash(unchecked(hashes[last]));
  }

  /** Where this chain writes (and first looks for) group k: tail home for its last group, inner home otherwise. */
  private bucketOfGroup(hashes: StaticArray<u64>, k: i32): i32 {
    return this.isLastGroup(hashes.length, k) ? this.tailBucket(hashes, k) : this.innerBucket(hashes, k);
  }

  /**
   * The other home of group k (where a chain of another length would have
   * written it), or -1 when there is none or it is the same key.
   */
  private otherBucketOfGroup(hashes: StaticArray<u64>, k: i32): i32 {
    const other = this.isLastGroup(hashes.length, k) ? this.innerBucket(hashes, k) : this.tailBucket(hashes, k);
    return other == this.bucketOfGroup(hashes, k) ? -1 : other;
  }

  private get(key: string): StoreValue {
    this.stats.reads++;
    return this.store.get(key);
  }

  /** A write replacing a value of `replaced` bytes (0: none). */
  private set(key: string, value: Uint8Array, cas: u32, replaced: i32): i32 {
    this.stats.writes++;
    const status = this.store.set(key, value, cas);
    if (status == STORE_OK) this.stats.valueBytes += <i64>value.length - <i64>replaced;
    return status;
  }

  // ---- startup ------------------------------------------------------------

  /**
   * Run once per VM start (cheap when nothing changed: one read). Creates
   * every bucket key when the meta key is absent or names another geometry
   * or layout, and blanks keys a larger earlier geometry left behind, so the
   * byte bound holds across configuration changes (keys cannot be deleted).
   * Creating keys up front matters because proxy-wasm cannot create a key
   * conditionally: a first write to a missing key always succeeds, so two
   * first writers could overwrite each other. Returns the number of keys written.
   */
  init(): i32 {
    const meta = this.get(this.metaKey());
    let oldBuckets: i32 = 0;
    if (meta.found && meta.bytes.length == META_SIZE && load<u32>(meta.bytes.dataStart) == META_MAGIC) {
      oldBuckets = load<i32>(meta.bytes.dataStart, 4);
      const oldCap = load<i32>(meta.bytes.dataStart, 8);
      if (oldBuckets == this.buckets && oldCap == this.capacity) return 0;
    }
    let written = 0;
    const empty = emptyBucket();
    for (let b = 0; b < this.buckets; b++) {
      const v = this.get(this.bucketKey(b));
      if (v.found && v.bytes.length >= BUCKET_HEADER) {
        // Keep our own layout's entries; shrink a bucket that a larger
        // bucketEntries left behind. Foreign layouts become empty.
        const n = bucketCount(v.bytes);
        if (n == 0 && v.bytes.length == BUCKET_HEADER && load<u32>(v.bytes.dataStart) == load<u32>(empty.dataStart)) continue;
        if (n > 0 && n <= this.capacity) continue;
        const next = n > this.capacity ? v.bytes.slice(0, BUCKET_HEADER + this.capacity * ENTRY_SIZE) : empty;
        if (n > this.capacity) store<u16>(next.dataStart, <u16>this.capacity, 4);
        if (this.set(this.bucketKey(b), next, v.cas, v.bytes.length) == STORE_OK) written++;
        continue;
      }
      if (this.set(this.bucketKey(b), empty, 0, v.found ? v.bytes.length : 0) == STORE_OK) written++;
    }
    for (let b = this.buckets; b < oldBuckets; b++) {
      // Leftover keys of a larger geometry: an empty value is the only "delete".
      const key = this.config.keyPrefix + "b" + b.toString();
      const old = this.get(key);
      if (this.set(key, new Uint8Array(0), 0, old.found ? old.bytes.length : 0) == STORE_OK) written++;
    }
    const m = new Uint8Array(META_SIZE);
    store<u32>(m.dataStart, META_MAGIC);
    store<i32>(m.dataStart, this.buckets, 4);
    store<i32>(m.dataStart, this.capacity, 8);
    store<i32>(m.dataStart, this.group, 12);
    this.set(this.metaKey(), m, 0, meta.found ? meta.bytes.length : 0);
    return written + 1;
  }

  // ---- scoring ------------------------------------------------------------

  /**
   * Matched blocks per endpoint (same order as `endpoints`): the length of
   * the chain prefix each endpoint holds. Remembers what it read for `record`.
   * `clocks` and `horizons` (per endpoint, or null): its written-blocks clock
   * now, and how many blocks written there evict an entry (0: never);
   * docs/hashing.md "Evictions".
   */
  match(hashes: StaticArray<u64>, endpoints: Array<string>, clocks: StaticArray<u32> | null = null, horizons: StaticArray<u32> | null = null): Int32Array {
    const n = hashes.length;
    const E = endpoints.length;
    const K = (n + this.group - 1) / this.group;
    const ids = new StaticArray<u32>(E);
    for (let e = 0; e < E; e++) unchecked((ids[e] = endpointId(unchecked(endpoints[e]))));
    this.lastHashes = hashes;
    this.lastIds = ids;
    this.lastClocks = clocks != null && clocks.length == E ? clocks : new StaticArray<u32>(E);
    this.lastHorizons = horizons != null && horizons.length == E ? horizons : new StaticArray<u32>(E);
    this.lastEvicted = 0;
    this.lastEvictedAt = new StaticArray<bool>(E);
    this.probed = new Array<StoreValue | null>(K);
    this.probedOther = new StaticArray<bool>(K);
    this.masks = new StaticArray<u64>(K * E);
    this.oldest = new StaticArray<u32>(K * E);
    const result = new Int32Array(E);
    this.lastMatch = result;
    if (n == 0) return result;
    for (let e = 0; e < E; e++) {
      let lo = 0;
      let hi = K;
      let triedLast = false;
      while (lo < hi) {
        let mid: i32;
        if (lo == 0) mid = 0;
        else if (!triedLast && hi == K) {
          mid = K - 1;
          triedLast = true;
        } else mid = (lo + hi) >>> 1;
        if (this.groupFull(hashes, mid, e)) lo = mid + 1;
        else hi = mid;
      }
      // lo = first group the endpoint does not fully hold; it was probed
      // unless lo == K (everything held). Its other home may hold a shorter
      // prompt's last group (the previous turn ended inside group lo).
      if (lo < K) this.probeOther(hashes, lo);
      let m = lo * this.group;
      if (lo < K) m += <i32>ctz<u64>(~this.maskOf(lo, e));
      unchecked((result[e] = min(m, n)));
    }
    return result;
  }

  /**
   * After `match`: the oldest stamp among endpoint `e`'s entries in the group
   * that holds block `block` of the matched chain, or -1 when that group was
   * not read or `e` has no entry there. The first group and the group
   * holding an endpoint's last matched block were always read (match's
   * search starts on the first and ends on the other).
   */
  stampAt(e: i32, block: i32): i64 {
    const E = this.lastIds.length;
    const k = block / this.group;
    if (e < 0 || e >= E || block < 0 || k >= this.probed.length || unchecked(this.probed[k]) === null) return -1;
    if (unchecked(this.masks[k * E + e]) == 0) return -1;
    return <i64>unchecked(this.oldest[k * E + e]);
  }

  /** Per endpoint: matched blocks / total blocks, 0 without hashes (as upstream). */
  score(hashes: StaticArray<u64>, endpoints: Array<string>): Float64Array {
    const m = this.match(hashes, endpoints);
    const out = new Float64Array(endpoints.length);
    const n = hashes.length;
    if (n == 0) return out;
    for (let e = 0; e < m.length; e++) unchecked((out[e] = <f64>unchecked(m[e]) / <f64>n));
    return out;
  }

  private groupLen(n: i32, k: i32): i32 {
    return min(this.group, n - k * this.group);
  }

  private maskOf(k: i32, e: i32): u64 {
    return unchecked(this.masks[k * this.lastIds.length + e]);
  }

  private groupFull(hashes: StaticArray<u64>, k: i32, e: i32): bool {
    this.probe(hashes, k);
    const len = this.groupLen(hashes.length, k);
    const full: u64 = len == 64 ? <u64>-1 : ((<u64>1 << <u64>len) - 1);
    return (this.maskOf(k, e) & full) == full;
  }

  /** Reads group k's bucket once and records, per endpoint, which of its blocks it holds. */
  private probe(hashes: StaticArray<u64>, k: i32): void {
    if (unchecked(this.probed[k]) !== null) return;
    const v = this.get(this.bucketKey(this.bucketOfGroup(hashes, k)));
    unchecked((this.probed[k] = v));
    this.addMasks(hashes, k, v);
  }

  /**
   * Reads group k's other home once and adds what it holds to the masks. Any
   * entry whose hash equals h[i] of this chain is evidence that the endpoint
   * was sent block i (hashes are chained), whichever bucket it sits in.
   */
  private probeOther(hashes: StaticArray<u64>, k: i32): void {
    if (unchecked(this.probedOther[k])) return;
    unchecked((this.probedOther[k] = true));
    const b = this.otherBucketOfGroup(hashes, k);
    if (b < 0) return;
    this.addMasks(hashes, k, this.get(this.bucketKey(b)));
  }

  private addMasks(hashes: StaticArray<u64>, k: i32, v: StoreValue): void {
    if (!v.found) return;
    const E = this.lastIds.length;
    const start = k * this.group;
    const len = this.groupLen(hashes.length, k);
    const count = bucketCount(v.bytes);
    // A two-word filter of the group's hashes (one bit each from two
    // 6-bit slices): most of a bucket's entries belong to other chains and
    // fail it with two bit tests, instead of a compare with every hash of
    // the group. Exact: an entry that passes is still compared in full.
    let lowBits: u64 = 0;
    let highBits: u64 = 0;
    for (let j = 0; j < len; j++) {
      const h = unchecked(hashes[start + j]);
      lowBits |= (<u64>1) << (h & 63);
      highBits |= (<u64>1) << ((h >> 6) & 63);
    }
    for (let i = 0; i < count; i++) {
      const eh = entryHash(v.bytes, i);
      if ((lowBits & ((<u64>1) << (eh & 63))) == 0 || (highBits & ((<u64>1) << ((eh >> 6) & 63))) == 0) continue;
      const ep = entryEndpoint(v.bytes, i);
      let e = 0;
      while (e < E && unchecked(this.lastIds[e]) != ep) e++;
      if (e == E) continue; // not in the pool: never scores
      for (let j = 0; j < len; j++) {
        if (unchecked(hashes[start + j]) != eh) continue;
        const stamp = entryStamp(v.bytes, i);
        if (evicted(unchecked(this.lastClocks[e]) - stamp, unchecked(this.lastHorizons[e]))) {
          this.lastEvicted++;
          unchecked((this.lastEvictedAt[e] = true));
          break;
        }
        const slot = k * E + e;
        const before = unchecked(this.masks[slot]);
        const prevOldest = unchecked(this.oldest[slot]);
        unchecked((this.masks[slot] = before | (<u64>1 << <u64>j)));
        if (before == 0 || <i32>(stamp - prevOldest) < 0) unchecked((this.oldest[slot] = stamp));
        break;
      }
    }
  }

  /** Whether the last `match` left out an entry of its prompt at endpoint `e` (its index there) as evicted. */
  evictedAt(e: i32): bool {
    return e >= 0 && e < this.lastEvictedAt.length && unchecked(this.lastEvictedAt[e]);
  }

  // ---- updates ------------------------------------------------------------

  /**
   * Records that `hashes` were sent to `endpoint` (upstream's PreRequest),
   * stamped with the endpoint's written-blocks clock after this request's
   * writes. Returns false when a bucket write was abandoned (CAS retries
   * exhausted or a host error): the index then misses those blocks, nothing else.
   */
  record(hashes: StaticArray<u64>, endpoint: string, stamp: u32): bool {
    const n = hashes.length;
    if (n == 0) return true;
    const K = (n + this.group - 1) / this.group;
    const id = endpointId(endpoint);
    const skipThrough = this.freshThrough(hashes, id, stamp);
    let ok = true;
    // Deepest group first, so that in any bucket (and across buckets of
    // similar load) the early groups of a prefix are the most recent writes
    // and are evicted last.
    for (let k = K - 1; k > skipThrough; k--) {
      const start = k * this.group;
      const end = start + this.groupLen(n, k);
      if (!this.writeGroup(hashes, k, start, end, id, stamp)) ok = false;
    }
    return ok;
  }

  /**
   * Deepest group that `endpoint` held in full with stamps younger than its
   * refresh age (refreshAge) when `match` read it (same hashes only), or -1.
   * Every group up to it was written by the same earlier `record`, so none
   * needs a rewrite.
   */
  private freshThrough(hashes: StaticArray<u64>, id: u32, stamp: u32): i32 {
    if (!this.sameAsLast(hashes)) return -1;
    const E = this.lastIds.length;
    let e = 0;
    while (e < E && unchecked(this.lastIds[e]) != id) e++;
    if (e == E) return -1;
    // Groups the endpoint holds in full: a whole chain held counts its last,
    // partial group too (a full hit reads only groups 0 and K−1; rounding
    // down would skip to group 0 and rewrite every group in between).
    const held = unchecked(this.lastMatch[e]);
    const heldGroups = held >= hashes.length ? this.probed.length : held / this.group;
    const fallback = this.config.refreshBlocks > 0 ? this.config.refreshBlocks : max(1, this.config.blocksPerEndpoint / 4);
    const refresh = refreshAge(unchecked(this.lastHorizons[e]), <u32>fallback);
    for (let k = min(heldGroups, this.probed.length) - 1; k >= 0; k--) {
      if (unchecked(this.probed[k]) === null) continue;
      if (!this.groupFull(hashes, k, e)) return -1;
      const age = stamp - unchecked(this.oldest[k * E + e]);
      return <i32>age < 0 || age < refresh ? k : -1;
    }
    return -1;
  }

  /** True when `hashes` are the ones the last `match` read for (same content). */
  private sameAsLast(hashes: StaticArray<u64>): bool {
    const last = this.lastHashes;
    if (last === null) return false;
    if (last === hashes) return true;
    const n = hashes.length;
    if (last.length != n) return false;
    return memory.compare(changetype<usize>(last), changetype<usize>(hashes), <usize>n << 3) == 0;
  }

  /** Read-modify-write of one group's bucket under CAS, bounded retries. */
  private writeGroup(hashes: StaticArray<u64>, k: i32, from: i32, to: i32, id: u32, stamp: u32): bool {
    const key = this.bucketKey(this.bucketOfGroup(hashes, k));
    let current: StoreValue | null = null;
    if (k < this.probed.length && this.sameAsLast(hashes)) {
      current = unchecked(this.probed[k]);
      unchecked((this.probed[k] = null)); // stale once we write
    }
    for (let attempt = 0; attempt < this.config.casRetries; attempt++) {
      const v = current !== null ? current : this.get(key);
      current = null;
      if (!v.found) {
        // Missing key (init() not run): create it empty, then merge under CAS.
        this.set(key, emptyBucket(), 0, 0);
        continue;
      }
      const next = mergeInto(v.bytes, hashes, from, to, id, stamp, this.capacity);
      const status = this.set(key, next, v.cas, v.bytes.length);
      if (status == STORE_OK) return true;
      if (status != STORE_CAS_MISMATCH) break;
      this.stats.casConflicts++;
    }
    this.stats.failedWrites++;
    return false;
  }

  /**
   * Response correction: removes `endpoint`'s entries for
   * blocks [fromBlock, n), the blocks that request newly credited it with,
   * after a 5xx or a reset. Returns false when a write was abandoned.
   */
  forget(hashes: StaticArray<u64>, fromBlock: i32, endpoint: string): bool {
    const n = hashes.length;
    const from = max(fromBlock, 0);
    if (from >= n) return true;
    const id = endpointId(endpoint);
    let ok = true;
    for (let k = from / this.group; k * this.group < n; k++) {
      const start = max(k * this.group, from);
      const end = k * this.group + this.groupLen(n, k);
      const key = this.bucketKey(this.bucketOfGroup(hashes, k));
      let done = false;
      for (let attempt = 0; attempt < this.config.casRetries && !done; attempt++) {
        const v = this.get(key);
        if (!v.found) {
          done = true;
          break;
        }
        const next = removeFrom(v.bytes, hashes, start, end, id);
        if (next === null) {
          done = true;
          break;
        }
        const status = this.set(key, next, v.cas, v.bytes.length);
        if (status == STORE_OK) done = true;
        else if (status == STORE_CAS_MISMATCH) this.stats.casConflicts++;
        else break;
      }
      if (!done) {
        this.stats.failedWrites++;
        ok = false;
      }
    }
    // Anything match() read is stale now.
    this.lastHashes = null;
    return ok;
  }

  /** True when the store holds (hash i, endpoint) for every i in [from, to) where this chain writes it (tests). */
  holds(hashes: StaticArray<u64>, from: i32, to: i32, endpoint: string): bool {
    const id = endpointId(endpoint);
    for (let i = from; i < to; i++) {
      const k = i / this.group;
      const v = this.store.get(this.bucketKey(this.bucketOfGroup(hashes, k)));
      if (!v.found || !holdsAll(v.bytes, hashes, i, i + 1, id)) return false;
    }
    return true;
  }
}
