// Many bytes at a time over raw memory: the string fast paths of the scanner
// and the unescaper. Eight bytes in a u64 ("SIMD within a register"): in each
// flag word only the lowest flagged byte is exact (borrows only propagate
// upwards), which is all a "find the first" loop needs. Sixteen with wasm
// SIMD (v128), for the scanner's byte loop (the last < 64 bytes of the
// input, and strings rescanned to name a fault; long strings go through
// string_blocks.ts).

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
 * Index of the first byte in [p, e) that is '"', '\\', < 0x20 or >= 0x80, or
 * the first p' ≥ p with fewer than 16 bytes left before e when none is
 * found before it: the caller finishes the tail. Sixteen bytes per compare
 * with wasm SIMD (Envoy's V8 and Node both run it): one signed "less than
 * 0x20" catches control bytes and every byte ≥ 0x80 at once.
 */
export function nextSpecial16(base: usize, p: i32, e: i32): i32 {
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  while (p + 32 <= e) {
    const a = v128.load(base + <usize>p);
    const b = v128.load(base + <usize>p, 16);
    const fa = v128.or(v128.or(i8x16.eq(a, quote), i8x16.eq(a, backslash)), i8x16.lt_s(a, space));
    const fb = v128.or(v128.or(i8x16.eq(b, quote), i8x16.eq(b, backslash)), i8x16.lt_s(b, space));
    if (!v128.any_true(v128.or(fa, fb))) {
      p += 32;
      continue;
    }
    const ma = i8x16.bitmask(fa);
    return ma != 0 ? p + <i32>ctz(ma) : p + 16 + <i32>ctz(i8x16.bitmask(fb));
  }
  while (p + 16 <= e) {
    const a = v128.load(base + <usize>p);
    const fa = v128.or(v128.or(i8x16.eq(a, quote), i8x16.eq(a, backslash)), i8x16.lt_s(a, space));
    const ma = i8x16.bitmask(fa);
    if (ma != 0) return p + <i32>ctz(ma);
    p += 16;
  }
  return p;
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
