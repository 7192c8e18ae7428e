// A cache of freed small blocks in front of AssemblyScript's TLSF allocator,
// wired in place of the runtime's `__alloc` and `__free` through
// asconfig.json: "lib" compiles this folder into every module, its exports
// as globals (no entry imports it), and "use" points the runtime's names at
// them (the collector and the standard library call those
// names; TLSF's own definitions stay and serve everything this cache does
// not). `__realloc` stays TLSF's: a live block is an allocated TLSF block,
// wherever it came from, so TLSF resizes it as any other.
//
// Why: with the minimal runtime, a collection frees 64 requests' garbage at
// once; TLSF merges those blocks into large free ones, and every allocation
// of the next 64 requests splits one again. So each short-lived object paid
// a search, two list removals and two insertions: about 500 instructions
// per object, a third of the filter's own per-request instructions inside
// Envoy (docs/benchmarks.md "Overhead", seventh pass). The request path
// allocates the same shapes request after request, so a freed block of a
// size is kept on a list of its size and handed out again as is.
//
// The blocks on a list stay allocated as far as TLSF knows (its free bit is
// never set), so TLSF never merges them; the bytes held are capped at
// CACHE_LIMIT_BYTES, past which frees go to TLSF as before. A block's size
// is exact: TLSF sizes every block 16k − 4 bytes (a 4-byte header keeps the
// payload 16-byte aligned) and splits off any remainder, so a list's blocks
// all have the size a request of that class is given.

import { __alloc as tlsfAlloc, __free as tlsfFree } from "~lib/rt/tlsf";

/** TLSF's block header (its size and two flag bits) just before the payload. */
const HEADER_BYTES: usize = 4;
/** Size classes kept: blocks of 12, 28, …, 1,020 bytes. */
const CLASSES: usize = 64;
/** Largest block kept, and the largest request served from the lists. */
const SMALL_MAX: usize = CLASSES * 16 - HEADER_BYTES;
/** Most bytes the lists may hold, so TLSF can still merge what is freed past it. */
const CACHE_LIMIT_BYTES: usize = 1 << 20;
/** The flag bits in TLSF's header. */
const TAG_BITS: u32 = 3;

/** Head of each size class's list (0: empty); a cached block's first word links to the next. */
const heads: usize = memory.data(<i32>(CLASSES << 2), 16);
let cachedBytes: usize = 0;

/** TLSF's block size for a request of `size` bytes (its `computeSize`). */
// @ts-ignore: decorator
@inline function blockSizeFor(size: usize): usize {
  return size <= 12 ? 12 : ((size + HEADER_BYTES + 15) & ~15) - HEADER_BYTES;
}

/** The list of blocks of `blockSize` bytes (a multiple of 16 less the header). */
// @ts-ignore: decorator
@inline function listOf(blockSize: usize): usize {
  return heads + (((blockSize + HEADER_BYTES) >> 4) << 2) - 4;
}

/** `__alloc`: a cached block of the request's size when there is one, else TLSF. */
// @ts-ignore: decorator
@global export function blockCacheAlloc(size: usize): usize {
  if (size <= SMALL_MAX) {
    let blockSize = blockSizeFor(size);
    let list = listOf(blockSize);
    let ptr = <usize>load<u32>(list);
    if (ptr != 0) {
      store<u32>(list, load<u32>(ptr));
      cachedBytes -= blockSize + HEADER_BYTES;
      return ptr;
    }
  }
  return tlsfAlloc(size);
}

/** `__free`: a small block goes on its list while the cache has room; the rest to TLSF. */
// @ts-ignore: decorator
@global export function blockCacheFree(ptr: usize): void {
  if (ptr < __heap_base) return; // static data is never freed (as in TLSF)
  let blockSize = <usize>(load<u32>(ptr - HEADER_BYTES) & ~TAG_BITS);
  if (blockSize <= SMALL_MAX && cachedBytes + blockSize + HEADER_BYTES <= CACHE_LIMIT_BYTES) {
    let list = listOf(blockSize);
    store<u32>(ptr, load<u32>(list));
    store<u32>(list, <u32>ptr);
    cachedBytes += blockSize + HEADER_BYTES;
    return;
  }
  tlsfFree(ptr);
}

/** Bytes the lists hold now (tests). */
export function cachedBlockBytes(): usize {
  return cachedBytes;
}
