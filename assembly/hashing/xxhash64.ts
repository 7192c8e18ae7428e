// XXH64 (xxHash, 64-bit), written from the published algorithm description
// (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
//
// The upstream picker's prefix scorer hashes with cespare/xxhash/v2, which is
// XXH64 with seed 0 (docs/hashing.md). Two forms:
//  - `xxh64(ptr, len, seed)`: one shot over raw memory (no allocation);
//  - `Xxh64`: streaming state, reusable through `reset` (one 32-byte buffer
//    allocated at construction, nothing after), for model ‖ cache_salt and
//    for blocks that arrive in pieces while a request is rendered.
// Checked against the npm package xxhash-wasm in test/unit/hashing.test.ts.

// @ts-ignore: decorator
@inline const P1: u64 = 0x9E3779B185EBCA87;
// @ts-ignore: decorator
@inline const P2: u64 = 0xC2B2AE3D27D4EB4F;
// @ts-ignore: decorator
@inline const P3: u64 = 0x165667B19E3779F9;
// @ts-ignore: decorator
@inline const P4: u64 = 0x85EBCA77C2B2AE63;
// @ts-ignore: decorator
@inline const P5: u64 = 0x27D4EB2F165667C5;

// @ts-ignore: decorator
@inline function round(acc: u64, input: u64): u64 {
  acc += input * P2;
  acc = rotl<u64>(acc, 31);
  return acc * P1;
}

// @ts-ignore: decorator
@inline function mergeRound(acc: u64, val: u64): u64 {
  acc ^= round(0, val);
  return acc * P1 + P4;
}

function avalanche(h: u64): u64 {
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/** Consumes the last (< 32) bytes at `p` into `h` and avalanches. */
function finalize(h: u64, p: usize, len: usize): u64 {
  while (len >= 8) {
    h ^= round(0, load<u64>(p));
    h = rotl<u64>(h, 27) * P1 + P4;
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    h ^= (<u64>load<u32>(p)) * P1;
    h = rotl<u64>(h, 23) * P2 + P3;
    p += 4;
    len -= 4;
  }
  while (len > 0) {
    h ^= (<u64>load<u8>(p)) * P5;
    h = rotl<u64>(h, 11) * P1;
    p++;
    len--;
  }
  return avalanche(h);
}

// @ts-ignore: decorator
@inline function convergeLanes(v1: u64, v2: u64, v3: u64, v4: u64): u64 {
  let h = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
  h = mergeRound(h, v1);
  h = mergeRound(h, v2);
  h = mergeRound(h, v3);
  h = mergeRound(h, v4);
  return h;
}

/** XXH64 of `len` bytes at raw address `ptr`. Allocates nothing. */
export function xxh64(ptr: usize, len: usize, seed: u64 = 0): u64 {
  let p = ptr;
  const end = ptr + len;
  let h: u64;
  if (len >= 32) {
    let v1 = seed + P1 + P2;
    let v2 = seed + P2;
    let v3 = seed;
    let v4 = seed - P1;
    const limit = end - 32;
    while (p <= limit) {
      v1 = round(v1, load<u64>(p));
      v2 = round(v2, load<u64>(p, 8));
      v3 = round(v3, load<u64>(p, 16));
      v4 = round(v4, load<u64>(p, 24));
      p += 32;
    }
    h = convergeLanes(v1, v2, v3, v4);
  } else {
    h = seed + P5;
  }
  h += <u64>len;
  return finalize(h, p, end - p);
}

/** XXH64 of a byte view. */
export function xxh64Bytes(b: Uint8Array, seed: u64 = 0): u64 {
  return xxh64(b.dataStart, <usize>b.length, seed);
}

/** Streaming XXH64. Reuse one instance: `reset`, `update`…, `digest`. */
export class Xxh64 {
  private v1: u64 = 0;
  private v2: u64 = 0;
  private v3: u64 = 0;
  private v4: u64 = 0;
  private seed: u64 = 0;
  private total: u64 = 0;
  /** Bytes of an incomplete 32-byte stripe. */
  private buf: StaticArray<u8> = new StaticArray<u8>(32);
  private bufLen: usize = 0;

  constructor(seed: u64 = 0) {
    this.reset(seed);
  }

  reset(seed: u64 = 0): void {
    this.seed = seed;
    this.v1 = seed + P1 + P2;
    this.v2 = seed + P2;
    this.v3 = seed;
    this.v4 = seed - P1;
    this.total = 0;
    this.bufLen = 0;
  }

  /** Feeds `len` bytes at raw address `ptr`. */
  update(ptr: usize, len: usize): void {
    this.total += <u64>len;
    const buf = changetype<usize>(this.buf);
    if (this.bufLen + len < 32) {
      memory.copy(buf + this.bufLen, ptr, len);
      this.bufLen += len;
      return;
    }
    let p = ptr;
    const end = ptr + len;
    if (this.bufLen > 0) {
      const fill: usize = 32 - this.bufLen;
      memory.copy(buf + this.bufLen, p, fill);
      this.stripe(buf);
      p += fill;
      this.bufLen = 0;
    }
    while (p + 32 <= end) {
      this.stripe(p);
      p += 32;
    }
    const rest = end - p;
    if (rest > 0) memory.copy(buf, p, rest);
    this.bufLen = rest;
  }

  updateBytes(b: Uint8Array): void {
    this.update(b.dataStart, <usize>b.length);
  }

  /** Feeds the 8 little-endian bytes of `v` (the chain link: docs/hashing.md). */
  updateU64(v: u64): void {
    // Fast path: room in the stripe buffer, so no temporary is needed.
    if (this.bufLen + 8 < 32) {
      store<u64>(changetype<usize>(this.buf) + this.bufLen, v);
      this.bufLen += 8;
      this.total += 8;
      return;
    }
    const tmp = memory.data(8);
    store<u64>(tmp, v);
    this.update(tmp, 8);
  }

  digest(): u64 {
    let h: u64;
    if (this.total >= 32) {
      h = convergeLanes(this.v1, this.v2, this.v3, this.v4);
    } else {
      h = this.seed + P5;
    }
    h += this.total;
    return finalize(h, changetype<usize>(this.buf), this.bufLen);
  }

  // @ts-ignore: decorator
  @inline private stripe(p: usize): void {
    this.v1 = round(this.v1, load<u64>(p));
    this.v2 = round(this.v2, load<u64>(p, 8));
    this.v3 = round(this.v3, load<u64>(p, 16));
    this.v4 = round(this.v4, load<u64>(p, 24));
  }
}
