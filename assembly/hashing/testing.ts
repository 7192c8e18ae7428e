// Unit-test entry for assembly/hashing, assembly/prefix and the fleet's
// session placements (assembly/fleet/placements.ts) (built to
// build/units-hashing.wasm, loaded by test/unit through test/unit/units.ts).
// Exports thin wrappers over the pure functions of these folders; never
// imported by the filter.
import { ByteWriter, sameBytes, utf8 } from "../util/bytes";
import { KeyValueStore, MemoryStore, StoreValue } from "../util/store";
import { PrefixIndex } from "../prefix/prefix_index";
import { bucketEntriesFor, PrefixIndexConfig } from "../prefix/index_config";
import { parseBody } from "../request/parse";
import { hashBody, renderBody, replyEndBlock, replyStartBlock, resumedMessages } from "./render";
import { BlockConfig, chainHashes, ChainHasher } from "./blocks";
import { hex64, hexList } from "../util/hex";
import { xxh64Bytes, Xxh64 } from "./xxhash64";
import { formatPlacement, parsePlacement, parseSessionKey, Placement, SessionPlacements } from "../fleet/placements";

export function selfCheck(input: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.bytes(input);
  return w.toBytes();
}

// ---- xxhash64.ts ---------------------------------------------------------

/** One-shot XXH64 as 16 hex digits. */
/** Messages hashBody has resumed from its conversation memo so far (this module's renderer). */
export function conversationResumedMessages(): i64 {
  return resumedMessages();
}

/** util/bytes sameBytes over a[aAt..aAt+n) and b[bAt..bAt+n) (the caller keeps the ranges inside). */
export function sameBytesAt(a: Uint8Array, aAt: i32, b: Uint8Array, bAt: i32, n: i32): bool {
  if (aAt < 0 || bAt < 0 || n < 0 || aAt + n > a.length || bAt + n > b.length) return false;
  return sameBytes(a.dataStart + <usize>aAt, b.dataStart + <usize>bAt, n);
}

export function xxh64Hex(input: Uint8Array, seed: u64): string {
  return hex64(xxh64Bytes(input, seed));
}

/** Streaming XXH64, fed in the given chunk sizes (the rest in one last chunk). */
export function xxh64StreamHex(input: Uint8Array, seed: u64, chunks: Int32Array): string {
  const s = new Xxh64(seed);
  let off = 0;
  for (let i = 0; i < chunks.length; i++) {
    let n = unchecked(chunks[i]);
    if (n < 0) n = 0;
    if (n > input.length - off) n = input.length - off;
    s.update(input.dataStart + <usize>off, <usize>n);
    off += n;
  }
  s.update(input.dataStart + <usize>off, <usize>(input.length - off));
  return hex64(s.digest());
}

// ---- blocks.ts -----------------------------------------------------------

/** Chain over raw bytes; `salt` "" with hasSalt false = no salt. Hex, space-separated. */
export function chainHex(model: string, salt: string, hasSalt: bool, bytes: Uint8Array, blockSize: i32, maxBlocks: i32, trailing: bool): string {
  const cfg = BlockConfig.of(blockSize, maxBlocks, trailing);
  return hexList(chainHashes(utf8(model), hasSalt ? utf8(salt) : null, bytes, cfg));
}

/** Same chain, bytes written into the sink in the given chunk sizes. */
export function chainChunkedHex(model: string, bytes: Uint8Array, blockSize: i32, maxBlocks: i32, trailing: bool, chunks: Int32Array): string {
  const c = new ChainHasher(BlockConfig.of(blockSize, maxBlocks, trailing));
  c.begin(utf8(model), null);
  let off = 0;
  for (let i = 0; i < chunks.length; i++) {
    let n = unchecked(chunks[i]);
    if (n < 0) n = 0;
    if (n > bytes.length - off) n = bytes.length - off;
    c.write(bytes.dataStart + <usize>off, n);
    off += n;
  }
  c.write(bytes.dataStart + <usize>off, bytes.length - off);
  return hexList(c.finish());
}

/** Chain hashes as little-endian u64 bytes (input for the index wrappers). */
export function chainBytes(model: string, bytes: Uint8Array, blockSize: i32, maxBlocks: i32, trailing: bool): Uint8Array {
  return hashesToBytes(chainHashes(utf8(model), null, bytes, BlockConfig.of(blockSize, maxBlocks, trailing)));
}

function hashesToBytes(h: StaticArray<u64>): Uint8Array {
  const out = new Uint8Array(h.length * 8);
  memory.copy(out.dataStart, changetype<usize>(h), <usize>h.length << 3);
  return out;
}

function bytesToHashes(b: Uint8Array): StaticArray<u64> {
  const n = b.length >> 3;
  const h = new StaticArray<u64>(n);
  memory.copy(changetype<usize>(h), b.dataStart, <usize>n << 3);
  return h;
}

// ---- index (assembly/index) ----------------------------------------------
// Stores and indexes live in module globals, addressed by small handles, so a
// test can put several indexes (worker VMs) over one store.

const stores: Array<ConflictStore> = [];
const indexes: Array<PrefixIndex> = [];

export function storeNew(): i32 {
  stores.push(new ConflictStore(new MemoryStore()));
  return stores.length - 1;
}

export function storeReads(s: i32): i32 {
  return s < stores.length ? stores[s].inner.reads : -1;
}

export function storeWrites(s: i32): i32 {
  return s < stores.length ? stores[s].inner.writes : -1;
}

export function storeTotalBytes(s: i32): i32 {
  return s < stores.length ? stores[s].inner.totalBytes() : -1;
}

export function storeKeyCount(s: i32): i32 {
  return s < stores.length ? stores[s].inner.keyCount() : -1;
}

export function storeGet(s: i32, key: string): Uint8Array {
  if (s >= stores.length) return new Uint8Array(0);
  return stores[s].inner.get(key).bytes;
}

export function storeSet(s: i32, key: string, value: Uint8Array): i32 {
  if (s >= stores.length) return -1;
  return stores[s].inner.set(key, value, 0);
}

export function indexNew(s: i32, blocksPerEndpoint: i32, maxEndpoints: i32, groupBlocks: i32, bucketEntries: i32, casRetries: i32): i32 {
  if (s >= stores.length) return -1;
  const c = new PrefixIndexConfig();
  c.blocksPerEndpoint = blocksPerEndpoint;
  c.maxEndpoints = maxEndpoints;
  c.groupBlocks = groupBlocks;
  c.bucketEntries = bucketEntries;
  c.casRetries = casRetries;
  indexes.push(new PrefixIndex(stores[s], c));
  return indexes.length - 1;
}

export function indexBucketEntriesFor(groupBlocks: i32, maxEndpoints: i32): i32 {
  return bucketEntriesFor(groupBlocks, maxEndpoints);
}

export function indexInit(ix: i32): i32 {
  return ix < indexes.length ? indexes[ix].init() : -1;
}

export function indexMaxBytes(ix: i32): f64 {
  return ix < indexes.length ? <f64>indexes[ix].config.maxBytes() : -1;
}

export function indexNumBuckets(ix: i32): i32 {
  return ix < indexes.length ? indexes[ix].config.numBuckets() : -1;
}

/** [reads, writes, casConflicts, failedWrites] of the index's own counters. */
export function indexStats(ix: i32): Float64Array {
  const r = new Float64Array(4);
  if (ix >= indexes.length) return r;
  const s = indexes[ix].stats;
  r[0] = <f64>s.reads;
  r[1] = <f64>s.writes;
  r[2] = <f64>s.casConflicts;
  r[3] = <f64>s.failedWrites;
  return r;
}

function splitEndpoints(csv: string): Array<string> {
  if (csv.length == 0) return [];
  return csv.split(",");
}

export function indexScore(ix: i32, hashes: Uint8Array, endpointsCsv: string): Float64Array {
  if (ix >= indexes.length) return new Float64Array(0);
  return indexes[ix].score(bytesToHashes(hashes), splitEndpoints(endpointsCsv));
}

export function indexMatch(ix: i32, hashes: Uint8Array, endpointsCsv: string): Int32Array {
  if (ix >= indexes.length) return new Int32Array(0);
  return indexes[ix].match(bytesToHashes(hashes), splitEndpoints(endpointsCsv));
}

/** match with each endpoint's written-blocks clock and eviction horizon (Uint32Arrays in endpoint order). */
export function indexMatchAt(ix: i32, hashes: Uint8Array, endpointsCsv: string, clocks: Uint32Array, horizons: Uint32Array): Int32Array {
  if (ix >= indexes.length) return new Int32Array(0);
  return indexes[ix].match(bytesToHashes(hashes), splitEndpoints(endpointsCsv), toStatic(clocks), toStatic(horizons));
}

function toStatic(a: Uint32Array): StaticArray<u32> {
  const out = new StaticArray<u32>(a.length);
  for (let i = 0; i < a.length; i++) unchecked((out[i] = a[i]));
  return out;
}

/** Score then record the same request on `endpoint` (the filter's flow: one hashes array). */
export function indexScoreAndRecord(ix: i32, hashes: Uint8Array, endpointsCsv: string, endpoint: string, stamp: f64): Float64Array {
  if (ix >= indexes.length) return new Float64Array(0);
  const h = bytesToHashes(hashes);
  const s = indexes[ix].score(h, splitEndpoints(endpointsCsv));
  indexes[ix].record(h, endpoint, <u32>stamp);
  return s;
}

/** `stamp`: the endpoint's written-blocks clock after this write (docs/hashing.md "Evictions"). */
export function indexRecord(ix: i32, hashes: Uint8Array, endpoint: string, stamp: f64): bool {
  if (ix >= indexes.length) return false;
  return indexes[ix].record(bytesToHashes(hashes), endpoint, <u32>stamp);
}

export function indexForget(ix: i32, hashes: Uint8Array, fromBlock: i32, endpoint: string): bool {
  if (ix >= indexes.length) return false;
  return indexes[ix].forget(bytesToHashes(hashes), fromBlock, endpoint);
}

export function indexHolds(ix: i32, hashes: Uint8Array, from: i32, to: i32, endpoint: string): bool {
  if (ix >= indexes.length) return false;
  return indexes[ix].holds(bytesToHashes(hashes), from, to, endpoint);
}

// ---- multi-writer interleaving --------------------------------------------

class Job {
  constructor(public writer: i32, public hashes: StaticArray<u64>, public endpoint: string) {}
}

/**
 * A store that, between a writer's read and its write, lets *another*
 * writer (another worker VM's index over the same shared data) run a whole
 * pending update first, as the schedule says: byte i of `schedule` decides
 * for the i-th outer write. The outer write then meets a CAS mismatch, as in
 * Envoy when two workers update one key. `ignoreCas` simulates a store that
 * does not enforce CAS, to show the test detects lost updates.
 */
class ConflictStore extends KeyValueStore {
  schedule: Uint8Array = new Uint8Array(0);
  step: i32 = 0;
  pending: Array<Job> = [];
  writers: Array<PrefixIndex> = [];
  current: i32 = -1;
  nested: bool = false;
  ignoreCas: bool = false;
  jobsFailed: i32 = 0;
  injected: i32 = 0;

  constructor(public inner: MemoryStore) {
    super();
  }

  get(key: string): StoreValue {
    return this.inner.get(key);
  }

  set(key: string, value: Uint8Array, cas: u32): i32 {
    if (!this.nested && this.step < this.schedule.length) {
      const inject = this.schedule[this.step++] != 0;
      if (inject && this.runOtherWriter()) this.injected++;
    }
    return this.inner.set(key, value, this.ignoreCas ? 0 : cas);
  }

  private runOtherWriter(): bool {
    for (let i = 0; i < this.pending.length; i++) {
      const job = this.pending[i];
      if (job.writer == this.current) continue;
      this.pending.splice(i, 1);
      this.nested = true;
      if (!this.writers[job.writer].record(job.hashes, job.endpoint, 1000)) this.jobsFailed++;
      this.nested = false;
      return true;
    }
    return false;
  }
}

function randomChain(state: StaticArray<u64>, n: i32): StaticArray<u64> {
  const h = new StaticArray<u64>(n);
  for (let i = 0; i < n; i++) {
    // splitmix64
    let z = (state[0] += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    h[i] = z ^ (z >> 31);
  }
  return h;
}

/**
 * `writers` indexes over one store (one bucket, so every update collides),
 * `jobsPerWriter` records of `blocksPerJob` random blocks each, endpoints
 * "10.0.0.<writer>:8000". Returns [jobsFailed, casConflicts, lostJobs,
 * storeReads, storeWrites, injected]; lostJobs counts jobs whose entries are not all
 * in the store at the end (capacity is sized to hold everything).
 */
export function interleave(writers: i32, jobsPerWriter: i32, blocksPerJob: i32, groupBlocks: i32, schedule: Uint8Array, casRetries: i32, ignoreCas: bool, seed: u64): Int32Array {
  const total = writers * jobsPerWriter * blocksPerJob;
  const store = new ConflictStore(new MemoryStore());
  store.ignoreCas = ignoreCas;
  const c = new PrefixIndexConfig();
  c.blocksPerEndpoint = total;
  c.maxEndpoints = 1;
  c.bucketEntries = total; // one bucket holding everything
  c.groupBlocks = groupBlocks;
  c.casRetries = casRetries;
  for (let w = 0; w < writers; w++) store.writers.push(new PrefixIndex(store, c));
  store.writers[0].init();
  store.schedule = schedule; // after init: only record's writes meet injections
  const rng = new StaticArray<u64>(1);
  rng[0] = seed;
  const all: Array<Job> = [];
  for (let j = 0; j < jobsPerWriter; j++) {
    for (let w = 0; w < writers; w++) {
      const job = new Job(w, randomChain(rng, blocksPerJob), "10.0.0." + w.toString() + ":8000");
      all.push(job);
      store.pending.push(job);
    }
  }
  while (store.pending.length > 0) {
    const job = store.pending.shift();
    store.current = job.writer;
    if (!store.writers[job.writer].record(job.hashes, job.endpoint, 1000)) store.jobsFailed++;
  }
  let conflicts: i64 = 0;
  for (let w = 0; w < writers; w++) conflicts += store.writers[w].stats.casConflicts;
  let lost = 0;
  for (let i = 0; i < all.length; i++) {
    const job = all[i];
    if (!store.writers[0].holds(job.hashes, 0, job.hashes.length, job.endpoint)) lost++;
  }
  const r = new Int32Array(6);
  r[5] = store.injected;
  r[0] = store.jobsFailed;
  r[1] = <i32>conflicts;
  r[2] = lost;
  r[3] = store.inner.reads;
  r[4] = store.inner.writes;
  return r;
}

// ---- render.ts (real bodies through request/parse.ts) ----------------------

/** Rendering of a body parsed for `api` (0 completions, 1 chat, 2 responses); "!" + message on a parse error. */
export function renderHex(body: Uint8Array, api: i32): string {
  const r = parseBody(body, api);
  const p = r.parsed;
  if (p === null) return "!" + (r.error !== null ? r.error!.message : "");
  const b = renderBody(p.body);
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}

/** Hashes of a body parsed for `api`, with `model` ("" = the body's model), its first `trustedEnd` bytes not checked again. "!" + message on a parse error. */
export function hashBodyHex(body: Uint8Array, api: i32, model: string, blockSize: i32, maxBlocks: i32, trailing: bool, trustedEnd: i32 = 0): string {
  const r = parseBody(body, api, trustedEnd);
  const p = r.parsed;
  if (p === null) return "!" + (r.error !== null ? r.error!.message : "");
  const m = model.length > 0 ? utf8(model) : p.model;
  return hexList(hashBody(m, p.body, BlockConfig.of(blockSize, maxBlocks, trailing)));
}

/** Same as hashBodyHex, as LE bytes for the index wrappers (empty on a parse error). */
export function hashBodyBytes(body: Uint8Array, api: i32, blockSize: i32, maxBlocks: i32, trailing: bool): Uint8Array {
  const r = parseBody(body, api);
  const p = r.parsed;
  if (p === null) return new Uint8Array(0);
  return hashesToBytes(hashBody(p.model, p.body, BlockConfig.of(blockSize, maxBlocks, trailing)));
}

/** The previous reply's whole blocks [start, end) in a body parsed for `api` ([-1, -1] on a parse error). */
export function replySpanOf(body: Uint8Array, api: i32, blockSize: i32, maxBlocks: i32, trailing: bool): Int32Array {
  const r = parseBody(body, api);
  const p = r.parsed;
  if (p === null) {
    const bad = new Int32Array(2);
    bad.fill(-1);
    return bad;
  }
  hashBody(p.model, p.body, BlockConfig.of(blockSize, maxBlocks, trailing));
  const span = new Int32Array(2);
  span[0] = replyStartBlock();
  span[1] = replyEndBlock();
  return span;
}

// ---- fleet session placements (assembly/fleet/placements.ts) --------------

const placementStores: Array<SessionPlacements> = [];

export function placementsNew(s: i32): i32 {
  if (s >= stores.length) return -1;
  placementStores.push(new SessionPlacements(stores[s]));
  return placementStores.length - 1;
}

/** `session` as 16 hex digits; false when not written (or a bad handle/key). */
export function placementsRecord(p: i32, session: string, endpointId: u32, blocks: i32): bool {
  const key = parseSessionKey(session);
  if (p >= placementStores.length || key == 0) return false;
  return placementStores[p].record(key, new Placement(endpointId, blocks));
}

/** The session's placement in the header format, or "" when none. */
export function placementsLookup(p: i32, session: string): string {
  const key = parseSessionKey(session);
  if (p >= placementStores.length || key == 0) return "";
  const found = placementStores[p].lookup(key);
  return found != null ? formatPlacement(found) : "";
}

export function placementFormat(endpointId: u32, blocks: i32): string {
  return formatPlacement(new Placement(endpointId, blocks));
}

/** The header value parsed and formatted again, or "invalid". */
export function placementParse(value: string): string {
  const p = parsePlacement(value);
  return p != null ? formatPlacement(p) : "invalid";
}

/** The session header parsed (hex again), or "invalid" (parsed as 0). */
export function sessionKeyParse(value: string): string {
  const k = parseSessionKey(value);
  return k != 0 ? hex64(k) : "invalid";
}
