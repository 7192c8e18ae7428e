// String tokens 64 bytes at a time (wasm SIMD): the scanner's path for long
// strings such as message contents. One pass over a block finds the closing
// quote, the escapes and any raw control byte, and validates UTF-8, with no
// branch per character: text in any script, with escapes every few words,
// costs about the same per byte as plain ASCII. The byte-by-byte loop in
// scanner.ts stays the reference: it scans the last < 64 bytes of the input,
// and every string this path finds a fault in is rescanned there from its
// start, so errors keep their exact code and byte (README.md, "Strings 64
// bytes at a time").
import { hexVal, isSimpleEscape } from "./strings";
import { nextSpecial16 } from "./swar";

/** Whether the string of the last `scanStringBlocks` call had an escape before the position it returned. */
export let blockEscaped = false;

// ---- UTF-8 by table lookup -------------------------------------------------
//
// Each fault a pair of adjacent bytes (previous, current) can show is one bit.
// Three 16-entry tables, indexed by the previous byte's high nibble, its low
// nibble and the current byte's high nibble, hold the faults each nibble value
// allows; the pair has a fault where all three agree (a bitwise AND). Each
// fault below is exactly the set (high × low × current high) it names, so
// the AND is exact. The one check that needs more than two bytes, the third
// and fourth byte of a long sequence, uses TWO_CONTS: two continuation bytes
// in a row are right exactly when the byte two back starts a 3- or 4-byte
// sequence or the byte three back starts a 4-byte one.

// A lead byte (C0..FF) followed by something other than a continuation (80..BF).
// @ts-ignore: decorator
@inline const TOO_SHORT: u8 = 0x01;
// A continuation right after an ASCII byte.
// @ts-ignore: decorator
@inline const TOO_LONG: u8 = 0x02;
// E0 followed by 80..9F (an overlong 3-byte form).
// @ts-ignore: decorator
@inline const OVERLONG_3: u8 = 0x04;
// F4 followed by 90..BF, or F5..FF followed by 90..BF: past U+10FFFF.
// @ts-ignore: decorator
@inline const TOO_LARGE: u8 = 0x08;
// ED followed by A0..BF: an encoded surrogate.
// @ts-ignore: decorator
@inline const SURROGATE: u8 = 0x10;
// C0 or C1 followed by a continuation (an overlong 2-byte form).
// @ts-ignore: decorator
@inline const OVERLONG_2: u8 = 0x20;
// F0 followed by 80..8F (an overlong 4-byte form), or F5..FF followed by 80..8F.
// @ts-ignore: decorator
@inline const OVERLONG_4_OR_TOO_LARGE: u8 = 0x40;
// Two continuations in a row (right only inside a 3- or 4-byte sequence).
// @ts-ignore: decorator
@inline const TWO_CONTS: u8 = 0x80;
// The faults that do not depend on the previous byte's low nibble.
// @ts-ignore: decorator
@inline const ANY_LOW: u8 = TOO_SHORT | TOO_LONG | TWO_CONTS;

// By the previous byte's high nibble.
const PREV_HIGH: v128 = i8x16(
  TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, // 0_ .. 7_: ASCII
  <i8>TWO_CONTS, <i8>TWO_CONTS, <i8>TWO_CONTS, <i8>TWO_CONTS, // 8_ .. B_: continuations
  TOO_SHORT | OVERLONG_2, // C_
  TOO_SHORT, // D_
  TOO_SHORT | OVERLONG_3 | SURROGATE, // E_
  TOO_SHORT | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE, // F_
);

// By the previous byte's low nibble.
const PREV_LOW: v128 = i8x16(
  <i8>(ANY_LOW | OVERLONG_3 | OVERLONG_2 | OVERLONG_4_OR_TOO_LARGE), // _0: C0, E0, F0
  <i8>(ANY_LOW | OVERLONG_2), // _1: C1
  <i8>ANY_LOW,
  <i8>ANY_LOW,
  <i8>(ANY_LOW | TOO_LARGE), // _4: F4
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE), // _5 .. _F: F5 .. FF
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE | SURROGATE), // _D: also ED
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
  <i8>(ANY_LOW | TOO_LARGE | OVERLONG_4_OR_TOO_LARGE),
);

// By the current byte's high nibble.
const CUR_HIGH: v128 = i8x16(
  TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, // 0_ .. 7_
  <i8>(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | OVERLONG_4_OR_TOO_LARGE), // 8_
  <i8>(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE), // 9_
  <i8>(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE), // A_
  <i8>(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE), // B_
  TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, // C_ .. F_
);

/** Non-zero lanes where the byte of `cur` (preceded by the 16 bytes of `prev`) breaks UTF-8. */
// @ts-ignore: decorator
@inline function utf8Faults(prev: v128, cur: v128): v128 {
  const prev1 = i8x16.shuffle(prev, cur, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
  const nibble = i8x16.splat(0x0f);
  const pairs = v128.and(
    v128.and(i8x16.swizzle(PREV_HIGH, v128.and(i16x8.shr_u(prev1, 4), nibble)), i8x16.swizzle(PREV_LOW, v128.and(prev1, nibble))),
    i8x16.swizzle(CUR_HIGH, v128.and(i16x8.shr_u(cur, 4), nibble)),
  );
  const prev2 = i8x16.shuffle(prev, cur, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29);
  const prev3 = i8x16.shuffle(prev, cur, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28);
  // Saturating subtraction leaves the top bit set exactly for bytes ≥ E0 (prev2) and ≥ F0 (prev3).
  const inLong = v128.or(i8x16.sub_sat_u(prev2, i8x16.splat(<i8>(0xe0 - 0x80))), i8x16.sub_sat_u(prev3, i8x16.splat(<i8>(0xf0 - 0x80))));
  return v128.xor(pairs, v128.and(inLong, i8x16.splat(<i8>TWO_CONTS)));
}

// ---- escapes ---------------------------------------------------------------
//
// A block's escapes are found all at once from its backslash bits (the
// odd-run method): in a run of backslashes, the first escapes the second,
// the third the fourth, and so on, so the byte after a run is escaped
// exactly when the run has odd length, counted from the run's start, or
// from the block's second byte when its first is escaped by the block
// before. Adding each run's start bit to the backslash bits carries a one
// past the run's end; which side of the run it lands on (even or odd
// position) against where the run started tells its parity. The escaped
// bytes must then be one of " / \ b f n r t u (a nibble-table lookup) and
// the four bytes after a u hex digits.

// @ts-ignore: decorator
@inline const EVEN_BITS: u64 = 0x5555555555555555;

// Escape characters by high and low nibble: one bit per high nibble (2, 5, 6, 7);
// a byte is one where both of its nibbles agree.
const ESCAPE_BY_HIGH: v128 = i8x16(0, 0, 1, 0, 0, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0);
const ESCAPE_BY_LOW: v128 = i8x16(
  0, 0,
  1 | 4 | 8, // _2: " b r
  0,
  8, // _4: t
  8, // _5: u
  4, // _6: f
  0, 0, 0, 0, 0,
  2, // _C: backslash
  0,
  4, // _E: n
  1, // _F: /
);

/** Zero lanes where the byte of `v` is not one that may follow a backslash. */
// @ts-ignore: decorator
@inline function escapeChars(v: v128, nibble: v128): v128 {
  return v128.and(i8x16.swizzle(ESCAPE_BY_HIGH, v128.and(i16x8.shr_u(v, 4), nibble)), i8x16.swizzle(ESCAPE_BY_LOW, v128.and(v, nibble)));
}

/** All-ones lanes where the byte of `v` is a hex digit (0-9, a-f, A-F). */
// @ts-ignore: decorator
@inline function hexDigits(v: v128): v128 {
  const digit = i8x16.lt_u(i8x16.sub(v, i8x16.splat(0x30)), i8x16.splat(10));
  const letter = i8x16.lt_u(i8x16.sub(v128.or(v, i8x16.splat(0x20)), i8x16.splat(0x61)), i8x16.splat(6));
  return v128.or(digit, letter);
}

// For the last < 64 bytes: one escape at a time (a cold path: at most one per string).

/** Bytes after the backslash at `q` that belong to its escape (1, or 5 for \uXXXX); 0 when it is not a valid escape or the input ends inside it. */
function escapeLength(base: usize, q: i32, n: i32): i32 {
  if (q + 1 >= n) return 0;
  const e = <u32>load<u8>(base + <usize>q, 1);
  if (e != 0x75) return isSimpleEscape(e) ? 1 : 0;
  if (q + 5 >= n) return 0;
  for (let i = 2; i < 6; i++) if (hexVal(<u32>load<u8>(base + <usize>(q + i))) < 0) return 0;
  return 5;
}

// ---- the block loop ----------------------------------------------------------

/** One bit per byte of a 64-byte block, from the four 16-lane compare results. */
// @ts-ignore: decorator
@inline function mask64(a: v128, b: v128, c: v128, d: v128): u64 {
  return (
    <u64>(<u32>i8x16.bitmask(a)) |
    (<u64>(<u32>i8x16.bitmask(b)) << 16) |
    (<u64>(<u32>i8x16.bitmask(c)) << 32) |
    (<u64>(<u32>i8x16.bitmask(d)) << 48)
  );
}

/** Bits 0..i of a u64 (all 64 when i ≥ 63). */
// @ts-ignore: decorator
@inline function bitsThrough(i: i32): u64 {
  return select<u64>(<u64>-1, (<u64>2 << <u64>(i & 63)) - 1, i >= 63);
}

/** The byte-by-byte loop rescans the string from its start. */
// @ts-ignore: decorator
@inline function rescan(start: i32): i32 {
  blockEscaped = false;
  return ~start;
}

/**
 * Scans the content of a string token that starts at `start` (the byte after
 * the opening quote) in 64-byte blocks. Returns the index of the closing
 * quote when every byte before it is valid (escapes, UTF-8, no raw control
 * byte): `blockEscaped` then says whether it had an escape. Otherwise returns
 * ~q: the byte-by-byte loop must go on from q, which is `start` when a block
 * held a fault (or anything this path leaves to it) and a character boundary
 * in the last 64 bytes of the input when the string runs into them
 * (`blockEscaped` then covers the bytes before q).
 *
 * Bytes before `trustedEnd` are known valid (they hash as the start of a
 * body that parsed: request/validated_prefixes.ts): a block that ends at
 * least 64 bytes before it is only searched for the closing quote and the
 * escapes' parity, not checked. The block after it is checked in full, with
 * the real bytes before it as context, so a UTF-8 sequence or an escape
 * that runs from trusted bytes into the rest is still checked where it
 * leaves them (a \u escape's digits that stay in trusted bytes are valid).
 */
export function scanStringBlocks(base: usize, start: i32, n: i32, trustedEnd: i32 = 0): i32 {
  blockEscaped = false;
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  let p = start;
  // Plain ASCII first (keys, roles, model names, prose up to its first
  // escape), 32 bytes per compare: a string that is nothing else ends at the
  // first stop. The blocks start at the first byte that needs them; what
  // precedes it is ASCII, so no sequence or escape runs into them.
  p = nextSpecial16(base, p, n);
  if (p + 16 > n) return ~p;
  if (load<u8>(base + <usize>p) == 0x22) return p;
  let prev = i8x16.splat(0); // what precedes the content: the opening quote, ASCII
  let prevHigh = false; // whether the block before may end inside a UTF-8 sequence
  let firstEscaped: u64 = 0; // 1 when the block before ends in an odd run of backslashes
  let carriedHex: u64 = 0; // bytes of this block that must be hex digits of a \u begun before it
  let escaped = false;
  const nibble = i8x16.splat(0x0f);
  const zero = i8x16.splat(0);
  while (p + 64 <= n) {
    const a = base + <usize>p;
    const v0 = v128.load(a);
    const v1 = v128.load(a, 16);
    const v2 = v128.load(a, 32);
    const v3 = v128.load(a, 48);
    const quotes = mask64(i8x16.eq(v0, quote), i8x16.eq(v1, quote), i8x16.eq(v2, quote), i8x16.eq(v3, quote));
    const b0 = i8x16.eq(v0, backslash);
    const b1 = i8x16.eq(v1, backslash);
    const b2 = i8x16.eq(v2, backslash);
    const b3 = i8x16.eq(v3, backslash);
    let slashes: u64 = 0;
    let escapedBytes: u64 = 0; // the bytes right after an escaping backslash
    let nextFirstEscaped: u64 = 0;
    if (v128.any_true(v128.or(v128.or(b0, b1), v128.or(b2, b3))) || firstEscaped != 0) {
      slashes = mask64(b0, b1, b2, b3);
      const runStarts = slashes & ~(slashes << 1);
      const evenStart = EVEN_BITS ^ firstEscaped; // a run at byte 0 after an escape starts "odd"
      const fromEven = slashes + (runStarts & evenStart);
      const fromOdd = slashes + (runStarts & ~evenStart);
      nextFirstEscaped = select<u64>(1, 0, fromOdd < slashes); // an odd run reached byte 63
      escapedBytes = (fromEven & ~slashes & ~EVEN_BITS) | ((fromOdd | firstEscaped) & ~slashes & EVEN_BITS);
    }
    const ends = quotes & ~escapedBytes;
    // The bytes up to the closing quote (all 64 when it is not in this block).
    const live = bitsThrough(<i32>ctz(ends));
    const escapes = escapedBytes & live;
    let nextHex: u64 = 0;
    if ((slashes & live) != 0) escaped = true;
    const high = i8x16.bitmask(v128.or(v128.or(v0, v1), v128.or(v2, v3))) != 0;
    if (p + 128 <= trustedEnd) {
      // Known valid: nothing to check (see above).
      if (ends != 0) {
        blockEscaped = escaped;
        return p + <i32>ctz(ends);
      }
      prev = v3;
      prevHigh = high;
      firstEscaped = nextFirstEscaped;
      carriedHex = 0;
      p += 64;
      continue;
    }
    if ((escapes | carriedHex) != 0) {
      const invalid = mask64(
        i8x16.eq(escapeChars(v0, nibble), zero),
        i8x16.eq(escapeChars(v1, nibble), zero),
        i8x16.eq(escapeChars(v2, nibble), zero),
        i8x16.eq(escapeChars(v3, nibble), zero),
      );
      if ((invalid & escapes) != 0) return rescan(start);
      const u = i8x16.splat(0x75);
      const us = mask64(i8x16.eq(v0, u), i8x16.eq(v1, u), i8x16.eq(v2, u), i8x16.eq(v3, u)) & escapes;
      const hex = carriedHex | (us << 1) | (us << 2) | (us << 3) | (us << 4);
      if (hex != 0) {
        const digits = mask64(hexDigits(v0), hexDigits(v1), hexDigits(v2), hexDigits(v3));
        if ((hex & ~digits & live) != 0) return rescan(start);
      }
      // The digits of a \u in the last four bytes run into the next block.
      nextHex = (us >> 60) | (us >> 61) | (us >> 62) | (us >> 63);
    }
    // Non-zero lanes are faults: first the raw control bytes (0x20 - byte,
    // saturating, is non-zero exactly below 0x20).
    let f0 = i8x16.sub_sat_u(space, v0);
    let f1 = i8x16.sub_sat_u(space, v1);
    let f2 = i8x16.sub_sat_u(space, v2);
    let f3 = i8x16.sub_sat_u(space, v3);
    if (high || prevHigh) {
      f0 = v128.or(f0, utf8Faults(prev, v0));
      f1 = v128.or(f1, utf8Faults(v0, v1));
      f2 = v128.or(f2, utf8Faults(v1, v2));
      f3 = v128.or(f3, utf8Faults(v2, v3));
    }
    const faulty = v128.any_true(v128.or(v128.or(f0, f1), v128.or(f2, f3)));
    if (ends == 0) {
      if (faulty) return rescan(start);
      prev = v3;
      prevHigh = high;
      firstEscaped = nextFirstEscaped;
      carriedHex = nextHex;
      p += 64;
      continue;
    }
    // Faults after the closing quote belong to what follows the string.
    if (faulty) {
      const at = mask64(i8x16.ne(f0, zero), i8x16.ne(f1, zero), i8x16.ne(f2, zero), i8x16.ne(f3, zero));
      if ((at & live) != 0) return rescan(start);
    }
    blockEscaped = escaped;
    return p + <i32>ctz(ends);
  }
  if (carriedHex != 0) {
    // The rest of a \u escape begun in the last block.
    const digits = <i32>popcnt(carriedHex);
    if (p + digits > n) return rescan(start);
    for (let i = 0; i < digits; i++) if (hexVal(<u32>load<u8>(base + <usize>(p + i))) < 0) return rescan(start);
    p += digits;
  } else if (firstEscaped != 0) {
    // The last block ended in an odd run of backslashes: its last one escapes what follows.
    const len = escapeLength(base, p - 1, n);
    if (len == 0) return rescan(start);
    escaped = true;
    p += len;
  } else if (p > start) {
    // Go back to the lead byte of a sequence the last block cut.
    if (load<u8>(base + <usize>(p - 1)) >= 0xc0) p -= 1;
    else if (load<u8>(base + <usize>(p - 2)) >= 0xe0) p -= 2;
    else if (load<u8>(base + <usize>(p - 3)) >= 0xf0) p -= 3;
  }
  blockEscaped = escaped;
  return ~p;
}
