// Layout of one bucket value in the prefix index (docs/hashing.md "Index").
//
//   offset 0  u32  magic: 'L', 'P', 'V' + render version, layout version (bytes in memory order)
//   offset 4  u16  entry count
//   offset 6  u16  reserved (0)
//   offset 8  count × 16-byte entries, most recently written first:
//             u64 block hash | u32 endpoint id | u32 stamp (the endpoint's
//             written-blocks clock when written, wrapping: docs/hashing.md "Evictions")
//
// A value whose magic differs, or whose length does not match its count, is
// read as an empty bucket: a module never misreads another module's values
// after a hot swap (same vm_id, so the same shared data); the first write
// replaces it in place, so the byte bound holds across versions.
//
// Layout versions: 1 = every group in the bucket of its first block; 2 = a
// group in the bucket of its last block, a chain's last group in the bucket
// of its first block (docs/hashing.md "Placement"). The entry bytes did not
// change, but a version-1 value sits under another key than version 2 looks
// in, so the version was bumped. 3 = stamps are the endpoint's written-blocks
// clock instead of seconds (a version-2 stamp read as a clock would make
// entries look fresh or evicted at random).
// The render version (hashing/render.ts) is in the magic too: a build that
// renders requests into other bytes computes other block hashes, so entries
// written by the previous rendering could never match again and would only
// take room; they are dropped instead. It enters as a letter offset so that
// render version 2 spells "LPX", the magic of the builds before it was part
// of it: their values stay valid, and an upgrade keeps the index.
import { RENDER_VERSION } from "../hashing/render";

export const LAYOUT_VERSION: u32 = 3;
/** Identifies values this build wrote: "LP", 'V' + RENDER_VERSION, LAYOUT_VERSION. */
export const BUCKET_MAGIC: u32 = 0x504c | (((0x56 + <u32>RENDER_VERSION) & 0xff) << 16) | (LAYOUT_VERSION << 24);
export const BUCKET_HEADER: i32 = 8;
export const ENTRY_SIZE: i32 = 16;

/** Number of valid entries in a bucket value, 0 when the layout is not ours. */
export function bucketCount(v: Uint8Array): i32 {
  if (v.length < BUCKET_HEADER) return 0;
  if (load<u32>(v.dataStart) != BUCKET_MAGIC) return 0;
  const n = <i32>load<u16>(v.dataStart, 4);
  if (v.length != BUCKET_HEADER + n * ENTRY_SIZE) return 0;
  return n;
}

// @ts-ignore: decorator
@inline export function entryHash(v: Uint8Array, i: i32): u64 {
  return load<u64>(v.dataStart + <usize>(BUCKET_HEADER + i * ENTRY_SIZE));
}

// @ts-ignore: decorator
@inline export function entryEndpoint(v: Uint8Array, i: i32): u32 {
  return load<u32>(v.dataStart + <usize>(BUCKET_HEADER + i * ENTRY_SIZE + 8));
}

// @ts-ignore: decorator
@inline export function entryStamp(v: Uint8Array, i: i32): u32 {
  return load<u32>(v.dataStart + <usize>(BUCKET_HEADER + i * ENTRY_SIZE + 12));
}

/** An empty bucket value of the current layout. */
export function emptyBucket(): Uint8Array {
  const v = new Uint8Array(BUCKET_HEADER);
  store<u32>(v.dataStart, BUCKET_MAGIC);
  return v;
}

function contains(hashes: StaticArray<u64>, from: i32, to: i32, h: u64): bool {
  for (let j = from; j < to; j++) if (unchecked(hashes[j]) == h) return true;
  return false;
}

/**
 * New bucket value: the entries (hashes[from..to), endpoint, stamp) first, in
 * chain order, then the old entries minus duplicates of those, truncated to
 * `capacity`. Putting a group's blocks in chain order at the front means that
 * truncation drops the deepest block of the oldest write first, so early
 * blocks of a prefix outlive its later blocks (the prefix property scoring
 * relies on: prefix_index.ts).
 */
export function mergeInto(old: Uint8Array, hashes: StaticArray<u64>, from: i32, to: i32, endpoint: u32, stamp: u32, capacity: i32): Uint8Array {
  const oldCount = bucketCount(old);
  let fresh = to - from;
  if (fresh > capacity) fresh = capacity;
  // Count survivors first so the value is allocated once at its final size.
  let keep = 0;
  for (let i = 0; i < oldCount && fresh + keep < capacity; i++) {
    if (entryEndpoint(old, i) == endpoint && contains(hashes, from, to, entryHash(old, i))) continue;
    keep++;
  }
  const n = fresh + keep;
  const v = new Uint8Array(BUCKET_HEADER + n * ENTRY_SIZE);
  const base = v.dataStart;
  store<u32>(base, BUCKET_MAGIC);
  store<u16>(base, <u16>n, 4);
  let p = base + <usize>BUCKET_HEADER;
  for (let j = from; j < from + fresh; j++) {
    store<u64>(p, unchecked(hashes[j]));
    store<u32>(p, endpoint, 8);
    store<u32>(p, stamp, 12);
    p += <usize>ENTRY_SIZE;
  }
  let kept = 0;
  for (let i = 0; i < oldCount && kept < keep; i++) {
    if (entryEndpoint(old, i) == endpoint && contains(hashes, from, to, entryHash(old, i))) continue;
    memory.copy(p, old.dataStart + <usize>(BUCKET_HEADER + i * ENTRY_SIZE), <usize>ENTRY_SIZE);
    p += <usize>ENTRY_SIZE;
    kept++;
  }
  return v;
}

/** Old entries minus (hashes[from..to), endpoint); null when nothing matched. */
export function removeFrom(old: Uint8Array, hashes: StaticArray<u64>, from: i32, to: i32, endpoint: u32): Uint8Array | null {
  const oldCount = bucketCount(old);
  let keep = 0;
  for (let i = 0; i < oldCount; i++) {
    if (entryEndpoint(old, i) == endpoint && contains(hashes, from, to, entryHash(old, i))) continue;
    keep++;
  }
  if (keep == oldCount) return null;
  const v = new Uint8Array(BUCKET_HEADER + keep * ENTRY_SIZE);
  store<u32>(v.dataStart, BUCKET_MAGIC);
  store<u16>(v.dataStart, <u16>keep, 4);
  let p = v.dataStart + <usize>BUCKET_HEADER;
  for (let i = 0; i < oldCount; i++) {
    if (entryEndpoint(old, i) == endpoint && contains(hashes, from, to, entryHash(old, i))) continue;
    memory.copy(p, old.dataStart + <usize>(BUCKET_HEADER + i * ENTRY_SIZE), <usize>ENTRY_SIZE);
    p += <usize>ENTRY_SIZE;
  }
  return v;
}

/** True when every (hashes[j], endpoint) for j in [from, to) is in the bucket. */
export function holdsAll(v: Uint8Array, hashes: StaticArray<u64>, from: i32, to: i32, endpoint: u32): bool {
  const n = bucketCount(v);
  for (let j = from; j < to; j++) {
    const h = unchecked(hashes[j]);
    let found = false;
    for (let i = 0; i < n; i++) {
      if (entryHash(v, i) == h && entryEndpoint(v, i) == endpoint) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}
