// The prefix index's size and layout settings, and the bucket size that
// keeps a shared group for every endpoint (docs/hashing.md "Index", "Bucket
// size").
import { BUCKET_HEADER, ENTRY_SIZE } from "./bucket";

/** Bytes of the index's meta value (magic, settings). */
export const META_SIZE: i32 = 16;

/** Most entries a bucket is given by bucketEntriesFor: 64 KB per read. */
export const MAX_BUCKET_ENTRIES: i32 = 4096;

/**
 * Entries per bucket so that one group of a prefix that every endpoint
 * holds fits in its bucket for all of them: an entry is one block of one
 * endpoint, and a group's entries for every endpoint share one bucket. A
 * smaller bucket keeps only the most recent writers of a popular group (with
 * 128 entries and 16-block groups, 8 endpoints), so the index forgets that
 * the others hold the prompt everyone shares and routes it to whichever
 * servers wrote it last: docs/hashing.md "Bucket size". At least 128 (2 KB
 * per read), at most MAX_BUCKET_ENTRIES.
 */
export function bucketEntriesFor(groupBlocks: i32, maxEndpoints: i32): i32 {
  const group = <i64>min(max(groupBlocks, 1), 64);
  const want = group * <i64>max(maxEndpoints, 1);
  return <i32>min<i64>(max<i64>(want, 128), <i64>MAX_BUCKET_ENTRIES);
}

export class PrefixIndexConfig {
  /** Blocks remembered per endpoint (upstream's `lruCapacityPerServer`). */
  blocksPerEndpoint: i32 = 31250;
  /** Endpoints the capacity is sized for; total entries = blocksPerEndpoint × maxEndpoints. */
  maxEndpoints: i32 = 16;
  /** Consecutive blocks stored together under one key (1..64). */
  groupBlocks: i32 = 16;
  /** Entries per bucket value (16 B each; 128 → 2 KB copied per read). The router sizes it with bucketEntriesFor. */
  bucketEntries: i32 = 128;
  /** Compare-and-swap attempts per bucket write before giving up (fail open). */
  casRetries: i32 = 8;
  /**
   * Groups an endpoint holds with stamps younger than this many blocks
   * written there are not rewritten, when the endpoint's eviction horizon
   * is unknown (with a horizon: a quarter of it). 0: blocksPerEndpoint / 4.
   */
  refreshBlocks: i32 = 0;
  /** Key prefix in shared data. */
  keyPrefix: string = "llm-picker/prefix/";

  /** Number of bucket keys. */
  numBuckets(): i32 {
    const g = this.entriesPerBucket();
    const total = <i64>max(1, this.blocksPerEndpoint) * <i64>max(1, this.maxEndpoints);
    const n = (total + <i64>g - 1) / <i64>g;
    return <i32>min<i64>(max<i64>(n, 1), 1 << 24);
  }

  entriesPerBucket(): i32 {
    return min(max(this.bucketEntries, 1), 0xffff);
  }

  group(): i32 {
    return min(max(this.groupBlocks, 1), 64);
  }

  /** Upper bound of the bytes of all values this index writes. */
  maxBytes(): i64 {
    return <i64>this.numBuckets() * <i64>(BUCKET_HEADER + ENTRY_SIZE * this.entriesPerBucket()) + <i64>META_SIZE;
  }
}
