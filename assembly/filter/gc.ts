// Garbage collection points. The filter is built with AssemblyScript's
// `minimal` runtime (asconfig.json): the same TLSF allocator as the default
// `incremental` runtime (behind runtime/block_cache.ts, which keeps freed
// small blocks for reuse), with a stop-the-world mark-and-sweep collector that
// never runs by itself and no shadow stack. The incremental runtime paid for every
// function that holds a managed reference (a shadow-stack push and pop) and
// for a marking step inside every allocation and write barrier; in the
// request path that was about a tenth of the instructions the filter adds
// (docs/benchmarks.md "Overhead", third pass).
//
// The price is that collections happen only where the glue asks for them,
// and only where no managed object is referenced from the wasm stack alone
// (the collector cannot see the stack): at the end of an ABI callback that
// the host did not call from inside another of our callbacks. `enter` and
// `leave` track that depth; every export in abi.ts calls them.
//
// Bounded memory: a collection runs once COLLECT_EVERY units of work (a
// finished request, a scrape's answer, a tick) have ended since the last,
// or as soon as the linear memory grew since the last collection (a burst
// of large bodies). Garbage between collections is therefore at most
// COLLECT_EVERY callbacks' worth, each bounded by maxBodyBytes and the
// configuration, and the memory a VM reaches stops growing under a steady
// load (test/host/gc.test.ts, the gauge llm_picker.vm.heap_bytes).

/** Units of work between two collections (a full collection marks every live object, so not per request). */
export const COLLECT_EVERY: i32 = 64;

let depth: i32 = 0;
let sinceCollect: i32 = 0;
let pagesAtCollect: i32 = 0;
let collections: i64 = 0;

/** An ABI callback starts. */
// @ts-ignore: decorator
@inline export function enter(): void {
  depth++;
}

/** An ABI callback ends; `work` units of work ended with it (0: none). */
export function leave(work: i32): void {
  depth--;
  if (depth != 0) return;
  sinceCollect += work;
  if (sinceCollect < COLLECT_EVERY && memory.size() == pagesAtCollect) return;
  collectNow();
}

/** A collection now (only at depth 0: nothing on the wasm stack may be the sole holder of an object). */
function collectNow(): void {
  __collect();
  sinceCollect = 0;
  pagesAtCollect = memory.size();
  collections++;
}

/** Collections this VM ran (tests). */
export function collectionCount(): i64 {
  return collections;
}
