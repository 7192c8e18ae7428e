// Eight bytes at a time ("SIMD within a register") over raw memory: the
// string fast paths of the scanner and the unescaper. In each flag word
// only the lowest flagged byte is exact (borrows only propagate upwards),
// which is all a "find the first" loop needs.

// @ts-ignore: decorator
@inline export const ONES: u64 = 0x0101010101010101;
// @ts-ignore: decorator
@inline export const HIGHS: u64 = 0x8080808080808080;

/** Flags (0x80 in its byte) every byte of `v` that is '"', '\\', < 0x20 or >= 0x80; the lowest flag is exact. */
// @ts-ignore: decorator
@inline export function specialBytes(v: u64): u64 {
  const q = v ^ (ONES * 0x22);
  const b = v ^ (ONES * 0x5c);
  return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (v - ONES * 0x20) | v) & HIGHS;
}

/**
 * Index of the first '\\' in [p, e), or e. Eight bytes at a time; loads stay
 * inside [p, e) (the tail is read byte by byte).
 */
export function nextBackslash(base: usize, p: i32, e: i32): i32 {
  while (p + 8 <= e) {
    const b = load<u64>(base + <usize>p) ^ (ONES * 0x5c);
    // The lowest flagged byte is exact (borrows only propagate upwards).
    const t = (b - ONES) & ~b & HIGHS;
    if (t != 0) return p + <i32>(ctz(t) >> 3);
    p += 8;
  }
  while (p < e && load<u8>(base + <usize>p) != 0x5c) p++;
  return p;
}
