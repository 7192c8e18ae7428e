// Dropping a departed endpoint's prefix-index entries (docs/fleet.md "Pool").
// Scoring already ignores endpoints outside the pool, but a server that
// comes back at the same address (a restarted pod keeping its IP) starts
// with an empty KV cache: its old entries must not score again, and they
// hold bucket space the servers that stay could use.
//
// Shared data cannot list or delete keys, so removal is a sweep over the
// fixed bucket key space, spread over ticks: the lease holder enqueues the
// departed endpoint ids, then every tick rewrites up to `bucketsPerStep`
// buckets without their entries. A full pass over the default index
// (≈ 3,900 buckets) at 256 buckets per 50 ms tick takes under a second.
//
//   "<keyPrefix>purge": u32 cursor (next bucket), then per endpoint being
//   purged u32 id, u32 buckets still to visit.
import { KeyValueStore, STORE_CAS_MISMATCH, STORE_OK } from "../util/store";
import { BUCKET_HEADER, bucketCount, ENTRY_SIZE, entryEndpoint } from "./bucket";
import { PrefixIndexConfig } from "./index_config";

const ENTRY: i32 = 8;
const BUCKET_CAS_RETRIES: i32 = 4;

function purgeKey(config: PrefixIndexConfig): string {
  return config.keyPrefix + "purge";
}

class PurgeQueue {
  cursor: i32 = 0;
  ids: Array<u32> = [];
  remaining: Array<i32> = [];
}

function decodeQueue(v: Uint8Array): PurgeQueue {
  const q = new PurgeQueue();
  if (v.length < 4 || (v.length - 4) % ENTRY != 0) return q;
  q.cursor = load<i32>(v.dataStart);
  const n = (v.length - 4) / ENTRY;
  for (let i = 0; i < n; i++) {
    q.ids.push(load<u32>(v.dataStart + <usize>(4 + i * ENTRY)));
    q.remaining.push(load<i32>(v.dataStart + <usize>(4 + i * ENTRY + 4)));
  }
  return q;
}

function encodeQueue(q: PurgeQueue): Uint8Array {
  const out = new Uint8Array(4 + q.ids.length * ENTRY);
  store<i32>(out.dataStart, q.cursor);
  for (let i = 0; i < q.ids.length; i++) {
    store<u32>(out.dataStart + <usize>(4 + i * ENTRY), unchecked(q.ids[i]));
    store<i32>(out.dataStart + <usize>(4 + i * ENTRY + 4), unchecked(q.remaining[i]));
  }
  return out;
}

/** Schedules a full sweep for each endpoint id (restarts it for an id already queued). Returns false if the write kept losing. */
export function enqueuePurge(kv: KeyValueStore, config: PrefixIndexConfig, ids: Array<u32>): bool {
  if (ids.length == 0) return true;
  const key = purgeKey(config);
  const buckets = config.numBuckets();
  for (let attempt = 0; attempt < BUCKET_CAS_RETRIES * 4; attempt++) {
    const v = kv.get(key);
    const q = v.found ? decodeQueue(v.bytes) : new PurgeQueue();
    for (let i = 0; i < ids.length; i++) {
      const id = unchecked(ids[i]);
      const j = q.ids.indexOf(id);
      if (j >= 0) unchecked((q.remaining[j] = buckets));
      else {
        q.ids.push(id);
        q.remaining.push(buckets);
      }
    }
    const r = kv.set(key, encodeQueue(q), v.found ? v.cas : 0);
    if (r == STORE_OK) return true;
    if (r != STORE_CAS_MISMATCH) return false;
  }
  return false;
}

/** A bucket value without the entries of `ids`, or null when it holds none of them. */
export function withoutEndpoints(v: Uint8Array, ids: Array<u32>): Uint8Array | null {
  const n = bucketCount(v);
  let keep = 0;
  for (let i = 0; i < n; i++) if (!ids.includes(entryEndpoint(v, i))) keep++;
  if (keep == n) return null;
  const out = new Uint8Array(BUCKET_HEADER + keep * ENTRY_SIZE);
  memory.copy(out.dataStart, v.dataStart, <usize>BUCKET_HEADER);
  store<u16>(out.dataStart, <u16>keep, 4);
  let at = BUCKET_HEADER;
  for (let i = 0; i < n; i++) {
    if (ids.includes(entryEndpoint(v, i))) continue;
    memory.copy(out.dataStart + <usize>at, v.dataStart + <usize>(BUCKET_HEADER + i * ENTRY_SIZE), <usize>ENTRY_SIZE);
    at += ENTRY_SIZE;
  }
  return out;
}

export class PurgeStep {
  /** Entries removed in this step. */
  dropped: i32 = 0;
  /** Endpoints whose sweep completed in this step. */
  finished: i32 = 0;
  /** Endpoints still queued after this step. */
  pending: i32 = 0;
}

/** One sweep step: up to `bucketsPerStep` buckets cleaned of every queued id. Cheap (one read) when nothing is queued. */
export function purgeStep(kv: KeyValueStore, config: PrefixIndexConfig, bucketsPerStep: i32): PurgeStep {
  const step = new PurgeStep();
  const key = purgeKey(config);
  const v = kv.get(key);
  if (!v.found || v.bytes.length <= 4) return step;
  const q = decodeQueue(v.bytes);
  if (q.ids.length == 0) return step;
  const buckets = config.numBuckets();
  let b = q.cursor >= 0 && q.cursor < buckets ? q.cursor : 0;
  const count = min(bucketsPerStep, buckets);
  for (let i = 0; i < count; i++) {
    step.dropped += cleanBucket(kv, config.keyPrefix + "b" + b.toString(), q.ids);
    b = b + 1 < buckets ? b + 1 : 0;
  }
  const next = new PurgeQueue();
  next.cursor = b;
  for (let i = 0; i < q.ids.length; i++) {
    const left = unchecked(q.remaining[i]) - count;
    if (left <= 0) {
      step.finished++;
      continue;
    }
    next.ids.push(unchecked(q.ids[i]));
    next.remaining.push(left);
  }
  step.pending = next.ids.length;
  // A lost race (another VM enqueued meanwhile) only repeats this step's buckets next tick.
  kv.set(key, encodeQueue(next), v.cas);
  return step;
}

function cleanBucket(kv: KeyValueStore, key: string, ids: Array<u32>): i32 {
  for (let attempt = 0; attempt < BUCKET_CAS_RETRIES; attempt++) {
    const v = kv.get(key);
    if (!v.found) return 0;
    const next = withoutEndpoints(v.bytes, ids);
    if (next == null) return 0;
    const r = kv.set(key, next!, v.cas);
    if (r == STORE_OK) return bucketCount(v.bytes) - bucketCount(next!);
    if (r != STORE_CAS_MISMATCH) return 0;
  }
  return 0;
}
