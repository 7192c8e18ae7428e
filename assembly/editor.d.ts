// Declarations for type-checking assembly/ with tsc (npm run
// typecheck:assembly, editors); asc does not read this file.

// AssemblyScript's own declarations make the global `Number` a type alias,
// which TypeScript cannot use as the primitive's apparent type, so
// `(5).toString()` would not type-check. Declared on Object instead.
interface Object {
  toString(radix?: i32): string;
}

// The SDK's allocator pulls the AssemblyScript runtime (rt/itcms) into the
// check; only its signatures matter here.
declare module "@gcoredev/proxy-wasm-sdk-as/assembly/malloc" {
  export function malloc(size: i32): usize;
  export function free(ptr: usize): void;
}

// The runtime's pin (assembly/filter/alloc.ts pins the buffers the host
// copies values into, as the SDK's malloc does); a global builtin for asc.
declare function __pin(ptr: usize): usize;
/** A new managed object of `size` bytes and class `id`, not zeroed (alloc.ts: host values). */
declare function __new(size: usize, id: u32): usize;
declare function __unpin(ptr: usize): void;
/** A full collection (the minimal runtime never collects by itself: assembly/filter/gc.ts). */
declare function __collect(): void;

// TLSF, the allocator behind assembly/runtime/block_cache.ts, and the raw
// allocation globals that asconfig.json "use" points at the block cache.
declare module "~lib/rt/tlsf" {
  export function __alloc(size: usize): usize;
  export function __free(ptr: usize): void;
}
declare function __alloc(size: usize): usize;
/** Bytes the block cache's lists hold (assembly/runtime/block_cache.ts, a library file: its exports are globals). */
declare function cachedBlockBytes(): usize;
declare function __realloc(ptr: usize, size: usize): usize;
declare function __free(ptr: usize): void;
