// UTF-8 validation and encoding over raw memory (Unicode Table 3-7: no
// overlongs, no encoded surrogates, nothing past U+10FFFF).
import { nextSpecial16 } from "./swar";

/**
 * Length (2, 3 or 4) of a valid UTF-8 sequence at base+p whose lead byte is
 * `c` (>= 0x80), checked with one 4-byte load when 4 bytes remain; 0 when it
 * is not valid or too close to the end — then utf8SeqLen decides (and names
 * the error). Accepts exactly what utf8SeqLen accepts (Unicode Table 3-7).
 */
// @ts-ignore: decorator
@inline export function utf8Common(base: usize, p: i32, n: i32, c: u32): i32 {
  if (p + 4 > n) return 0;
  const w4 = load<u32>(base + <usize>p);
  const d1 = (w4 >> 8) & 0xff;
  // C2..DF 80..BF
  if ((w4 & 0xc0e0) == 0x80c0) return c >= 0xc2 ? 2 : 0;
  // E0..EF 80..BF 80..BF; E0 needs A0..BF (no overlong), ED 80..9F (no surrogate)
  if ((w4 & 0xc0c0f0) == 0x8080e0) return (c != 0xe0 || d1 >= 0xa0) && (c != 0xed || d1 < 0xa0) ? 3 : 0;
  // F0..F4 + 3 continuation bytes; F0 needs 90..BF, F4 80..8F (nothing past U+10FFFF)
  if ((w4 & 0xc0c0c0f8) == 0x808080f0) return c <= 0xf4 && (c != 0xf0 || d1 >= 0x90) && (c != 0xf4 || d1 < 0x90) ? 4 : 0;
  return 0;
}

/**
 * Length of the valid UTF-8 sequence starting at base+p (first byte >= 0x80),
 * 0 if invalid, -1 if truncated by the end n. Unicode Table 3-7.
 */
export function utf8SeqLen(base: usize, p: i32, n: i32): i32 {
  const c = <u32>load<u8>(base + <usize>p);
  let need: i32;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f; // no UTF-8-encoded surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f; // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (p + need >= n) {
    // Check the bytes that are there: a wrong one is invalid, not truncated.
    for (let i = 1; p + i < n; i++) {
      const d = <u32>load<u8>(base + <usize>(p + i));
      if (i == 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return 0;
    }
    return -1;
  }
  const d1 = <u32>load<u8>(base + <usize>(p + 1));
  if (d1 < lo || d1 > hi) return 0;
  for (let i = 2; i <= need; i++) {
    const d = <u32>load<u8>(base + <usize>(p + i));
    if (d < 0x80 || d > 0xbf) return 0;
  }
  return need + 1;
}

export function putUtf8(out: usize, o: i32, cp: u32): i32 {
  if (cp < 0x80) {
    store<u8>(out + <usize>o, <u8>cp);
    return o + 1;
  }
  if (cp < 0x800) {
    store<u8>(out + <usize>o, <u8>(0xc0 | (cp >> 6)));
    store<u8>(out + <usize>o + 1, <u8>(0x80 | (cp & 0x3f)));
    return o + 2;
  }
  if (cp < 0x10000) {
    store<u8>(out + <usize>o, <u8>(0xe0 | (cp >> 12)));
    store<u8>(out + <usize>o + 1, <u8>(0x80 | ((cp >> 6) & 0x3f)));
    store<u8>(out + <usize>o + 2, <u8>(0x80 | (cp & 0x3f)));
    return o + 3;
  }
  store<u8>(out + <usize>o, <u8>(0xf0 | (cp >> 18)));
  store<u8>(out + <usize>o + 1, <u8>(0x80 | ((cp >> 12) & 0x3f)));
  store<u8>(out + <usize>o + 2, <u8>(0x80 | ((cp >> 6) & 0x3f)));
  store<u8>(out + <usize>o + 3, <u8>(0x80 | (cp & 0x3f)));
  return o + 4;
}

// ---- sixteen bytes at a time -------------------------------------------------
//
// Validation of whole 16-byte blocks with wasm SIMD, so that a string run
// does not stop at every non-ASCII character (accented Latin, CJK, emoji in
// otherwise plain text). Three table lookups per block classify every pair
// of adjacent bytes (the previous byte's high and low nibble, this byte's
// high nibble); the third and fourth bytes of 3- and 4-byte sequences are
// checked from the bytes two and three places back. This is the "lookup"
// algorithm of Keiser and Lemire, "Validating UTF-8 In Less Than One
// Instruction Per Byte" (2021), written here for wasm SIMD. It accepts
// exactly Unicode Table 3-7, as utf8SeqLen does; on any error the scalar
// path walks the block again and names the error and its position.
//
// Bits of the error classes (a pair of bytes is wrong when the three
// lookups share a bit):
//   TOO_SHORT 1: lead then ASCII or another lead;  TOO_LONG 2: ASCII then continuation;
//   OVERLONG_3 4: E0 80..9F;  TOO_LARGE 8: F4 90..BF, F5..FF 90..BF;  SURROGATE 16: ED A0..BF;
//   OVERLONG_2 32: C0..C1 + continuation;  TOO_LARGE_1000 / OVERLONG_4 64: F5..FF 80..8F, F0 80..8F;
//   TWO_CONTS 128: continuation then continuation (only right as a 3rd or 4th byte).

// Indexed by the high nibble of the previous byte.
const BYTE_1_HIGH: v128 = i8x16(2, 2, 2, 2, 2, 2, 2, 2, -128, -128, -128, -128, 33, 1, 21, 73);
// Indexed by the low nibble of the previous byte.
const BYTE_1_LOW: v128 = i8x16(-25, -93, -125, -125, -117, -53, -53, -53, -53, -53, -53, -53, -53, -37, -53, -53);
// Indexed by the high nibble of this byte.
const BYTE_2_HIGH: v128 = i8x16(1, 1, 1, 1, 1, 1, 1, 1, -26, -82, -70, -70, 1, 1, 1, 1);
// A block whose last three bytes exceed these ends inside a sequence.
const INCOMPLETE_ABOVE: v128 = i8x16(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -17, -33, -65);

/** Non-zero lanes where the block `cur`, following `prev`, is not valid UTF-8 (sequences cut by its end excepted). */
// @ts-ignore: decorator
@inline function utf8Errors16(cur: v128, prev: v128): v128 {
  const prev1 = i8x16.shuffle(prev, cur, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
  const prev2 = i8x16.shuffle(prev, cur, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29);
  const prev3 = i8x16.shuffle(prev, cur, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28);
  const nibble = i8x16.splat(0x0f);
  const b1h = i8x16.swizzle(BYTE_1_HIGH, i8x16.shr_u(prev1, 4));
  const b1l = i8x16.swizzle(BYTE_1_LOW, v128.and(prev1, nibble));
  const b2h = i8x16.swizzle(BYTE_2_HIGH, i8x16.shr_u(cur, 4));
  const special = v128.and(v128.and(b1h, b1l), b2h);
  // 0x80 where this byte must be a 3rd (E0..FF two back: minus 0x60 leaves ≥ 0x80) or 4th (F0..FF three back: minus 0x70) byte.
  const third = i8x16.sub_sat_u(prev2, i8x16.splat(0x60));
  const fourth = i8x16.sub_sat_u(prev3, i8x16.splat(0x70));
  const must23 = v128.and(v128.or(third, fourth), i8x16.splat(<i8>0x80));
  return v128.xor(must23, special);
}

/** Lane numbers, to keep the lanes up to a given one. */
const LANES: v128 = i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

/**
 * Index of the first byte in [p, e) that a string scan must look at one by
 * one: '"', '\\' or a control byte (< 0x20) with only valid UTF-8 before
 * it; a byte ≥ 0x80 starting a stretch the blocks below could not show
 * valid (the caller's byte-by-byte walk then names the error); or a p' ≥ p
 * with fewer than 16 bytes left before e (the caller finishes the tail).
 * `p` must be at a character boundary. Blocks of plain ASCII and valid
 * UTF-8 are skipped 16 (ASCII: 32) bytes at a time; in the block that holds
 * the stop byte, the bytes before it are validated the same way (those
 * after it are masked to zero), so a run of text with accented or CJK
 * characters and escapes stops once per escape, not once per character.
 * Everything before the returned index is valid UTF-8 with no special byte.
 */
export function nextStringSpecial(base: usize, p: i32, e: i32): i32 {
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  let prev = i8x16.splat(0);
  let incomplete: bool = false;
  while (p + 16 <= e) {
    const a = v128.load(base + <usize>p);
    if (!incomplete && p + 32 <= e) {
      // Plain ASCII (the signed compare also flags every byte ≥ 0x80): 32 bytes a step.
      const b = v128.load(base + <usize>p, 16);
      const fa = v128.or(v128.or(i8x16.eq(a, quote), i8x16.eq(a, backslash)), i8x16.lt_s(a, space));
      const fb = v128.or(v128.or(i8x16.eq(b, quote), i8x16.eq(b, backslash)), i8x16.lt_s(b, space));
      if (!v128.any_true(v128.or(fa, fb))) {
        prev = b;
        p += 32;
        continue;
      }
    }
    const stops = i8x16.bitmask(v128.or(v128.or(i8x16.eq(a, quote), i8x16.eq(a, backslash)), i8x16.lt_u(a, space)));
    const first = <i32>ctz(stops);
    // The bytes up to the stop byte (itself ASCII, so a sequence it cuts short is an error here).
    const block = stops != 0 ? v128.and(a, i8x16.le_u(LANES, i8x16.splat(<i8>first))) : a;
    // Validated when it has non-ASCII bytes or a sequence from the block before continues into it.
    if ((incomplete || i8x16.bitmask(block) != 0) && v128.any_true(utf8Errors16(block, prev))) break;
    if (stops != 0) return p + first;
    incomplete = v128.any_true(i8x16.gt_u(a, INCOMPLETE_ABOVE));
    prev = a;
    p += 16;
  }
  if (incomplete) {
    // The last block skipped ends inside a sequence: hand it back from its lead byte.
    if (<u32>load<u8>(base + <usize>(p - 1)) >= 0xc0) return p - 1;
    if (<u32>load<u8>(base + <usize>(p - 2)) >= 0xe0) return p - 2;
    return p - 3;
  }
  return nextSpecial16(base, p, e);
}
