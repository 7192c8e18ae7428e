// Growable byte buffer used to build renderings, JSON output and shared-data
// values without going through UTF-16 strings.

export class ByteWriter {
  private buf: Uint8Array;
  private len: i32 = 0;

  constructor(initialCapacity: i32 = 256) {
    this.buf = new Uint8Array(initialCapacity > 16 ? initialCapacity : 16);
  }

  get length(): i32 {
    return this.len;
  }

  reset(): void {
    this.len = 0;
  }

  /** Keeps the first `n` bytes (n ≤ length). */
  truncate(n: i32): void {
    if (n >= 0 && n < this.len) this.len = n;
  }

  /** Address of byte 0 (valid until the next write that grows the buffer). */
  get dataStart(): usize {
    return this.buf.dataStart;
  }

  private ensure(extra: i32): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length << 1;
    while (cap < need) cap <<= 1;
    const next = new Uint8Array(cap);
    memory.copy(next.dataStart, this.buf.dataStart, <usize>this.len);
    this.buf = next;
  }

  byte(b: u8): void {
    this.ensure(1);
    unchecked((this.buf[this.len++] = b));
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    memory.copy(this.buf.dataStart + <usize>this.len, src.dataStart, <usize>src.length);
    this.len += src.length;
  }

  /** Appends `n` bytes starting at raw address `ptr`. */
  raw(ptr: usize, n: i32): void {
    this.ensure(n);
    memory.copy(this.buf.dataStart + <usize>this.len, ptr, <usize>n);
    this.len += n;
  }

  /** Appends an ASCII/UTF-8 string literal (small, constant strings only). */
  str(s: string): void {
    const b = String.UTF8.encode(s);
    this.raw(changetype<usize>(b), b.byteLength);
  }

  u32le(v: u32): void {
    this.ensure(4);
    store<u32>(this.buf.dataStart + <usize>this.len, v);
    this.len += 4;
  }

  u64le(v: u64): void {
    this.ensure(8);
    store<u64>(this.buf.dataStart + <usize>this.len, v);
    this.len += 8;
  }

  /** A view of the written bytes (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** A copy of the written bytes. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Bytes of a string as UTF-8 (for small strings: names, keys, addresses). */
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/**
 * True when the `n` bytes at `a` and at `b` are equal: 16 bytes per compare
 * (wasm SIMD, unaligned loads), then 8, then one at a time. The runtime's
 * memory.compare takes its fast path only when both addresses have the same
 * alignment, and goes byte by byte otherwise.
 */
export function sameBytes(a: usize, b: usize, n: i32): bool {
  let i = 0;
  while (i + 16 <= n) {
    if (!i8x16.all_true(i8x16.eq(v128.load(a + <usize>i), v128.load(b + <usize>i)))) return false;
    i += 16;
  }
  if (i + 8 <= n) {
    if (load<u64>(a + <usize>i) != load<u64>(b + <usize>i)) return false;
    i += 8;
  }
  while (i < n) {
    if (load<u8>(a + <usize>i) != load<u8>(b + <usize>i)) return false;
    i++;
  }
  return true;
}
