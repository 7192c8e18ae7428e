// The allocator Envoy calls (the `malloc` export) to copy a host value
// into the VM: a request body, a header value, a shared-data value, a
// scrape's page.
//
// By default each value gets a new pinned ArrayBuffer (as the SDK's
// malloc does); the glue unpins it and the GC owns it. For the values that
// are read once and dropped (the request body at end of stream, a scrape's
// /metrics page, and the header maps a stream reads), the glue asks for the next allocation to
// land in one reused buffer instead: a new zero-filled 8 KB–8 MB buffer per
// request was most of the garbage the VM made, and what brought the
// incremental GC's marking steps round that often.
//
// Lifetime rule (host.ts getBufferBytesScratch): a scratch value is valid
// until the next scratch read. Nothing that outlives the callback may keep
// a view of it; request and scrape callbacks never nest, so one buffer
// serves both.

/** Past this size a value gets its own buffer (the scratch would keep it for the VM's life). */
const SCRATCH_MAX: i32 = 8 << 20;

let scratch: ArrayBuffer = new ArrayBuffer(0);
let wantScratch: bool = false;

/** Called by the host (proxy-wasm `malloc`) for every value it copies into the VM. */
export function malloc(size: i32): usize {
  if (wantScratch) {
    wantScratch = false;
    if (size <= scratch.byteLength) return changetype<usize>(scratch);
    if (size <= SCRATCH_MAX) {
      // Grow by at least half, so a slowly growing body size does not reallocate each time.
      let cap = scratch.byteLength + (scratch.byteLength >> 1);
      if (cap < size) cap = size;
      if (cap > SCRATCH_MAX) cap = SCRATCH_MAX;
      scratch = new ArrayBuffer(cap);
      return changetype<usize>(scratch);
    }
  }
  // The host writes all `size` bytes: no zero fill (new ArrayBuffer would
  // clear them first). Past HOST_VALUE_MAX the allocation fails (0), which
  // the host reports as an error status instead of the VM trapping.
  if (<u32>size > <u32>HOST_VALUE_MAX) return 0;
  return __pin(__new(<usize>size, idof<ArrayBuffer>()));
}

/** Largest value the host may copy in (the runtime's own object limit is just under 1 GiB). */
const HOST_VALUE_MAX: i32 = 1 << 29;

/** The next host allocation goes to the scratch buffer (cleared by that allocation or by `endScratch`). */
export function beginScratch(): void {
  wantScratch = true;
}

/** The host call did not allocate (empty value, error): the request lapses. */
export function endScratch(): void {
  wantScratch = false;
}

/** True when `ptr` is the scratch buffer (not pinned: never freed). */
export function isScratch(ptr: usize): bool {
  return ptr == changetype<usize>(scratch);
}
