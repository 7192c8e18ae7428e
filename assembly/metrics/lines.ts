// Line-level scanning of a /metrics page: where lines end, and which lines
// can be left unread from their first bytes (docs/design.md "Metrics parser").

/**
 * Bit k set where byte k of the 64 bytes at `p` is "\n" (four 16-byte
 * compares). The page is walked 64 bytes at a time and its lines are found
 * from these masks: the newline scan is most of what a page costs (a vLLM
 * page is ~100-byte lines of which a handful are read), and this looks at
 * every byte once, with no per-line restart.
 */
// @ts-ignore: decorator
@inline
export function newlineMask64(p: usize): u64 {
  const nl = i8x16.splat(0x0a);
  const m0 = <u64>(<u32>i8x16.bitmask(i8x16.eq(v128.load(p), nl)));
  const m1 = <u64>(<u32>i8x16.bitmask(i8x16.eq(v128.load(p, 16), nl)));
  const m2 = <u64>(<u32>i8x16.bitmask(i8x16.eq(v128.load(p, 32), nl)));
  const m3 = <u64>(<u32>i8x16.bitmask(i8x16.eq(v128.load(p, 48), nl)));
  return m0 | (m1 << 16) | (m2 << 32) | (m3 << 48);
}

/** A byte of a metric name ([a-zA-Z_:], digits after the first). */
// @ts-ignore: decorator
@inline
export function isNameByte(c: u8, first: bool): bool {
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c == 0x5f || c == 0x3a) return true;
  return !first && c >= 0x30 && c <= 0x39;
}

/** A byte of a label name: a metric name byte other than ":". */
// @ts-ignore: decorator
@inline
export function isLabelNameByte(c: u8, first: bool): bool {
  if (c == 0x3a) return false;
  return isNameByte(c, first);
}

// Every metric name the parser reads starts with "vllm:" ("vllm" as a
// little-endian u32, then ":") followed by one of these letters.
export const VLLM_PREFIX_LEN: i32 = 5;
const VLLM_PREFIX_WORD: u32 = 0x6d6c6c76;

/** The line at `start` (before `end`) starts with "vllm:". */
// @ts-ignore: decorator
@inline
export function startsWithVllm(base: usize, start: i32, end: i32): bool {
  return end - start > VLLM_PREFIX_LEN && load<u32>(base + <usize>start) == VLLM_PREFIX_WORD && load<u8>(base + <usize>start, 4) == 0x3a;
}

/** After "vllm:": the first letter of a name the parser reads (n k g l c p). */
// @ts-ignore: decorator
@inline
export function isWantedInitial(k: u8): bool {
  return k == 0x6e || k == 0x6b || k == 0x67 || k == 0x6c || k == 0x63 || k == 0x70;
}

/**
 * True for a line [start, end) the full line parse would leave without
 * effect, decided from its first bytes: a comment (HELP, TYPE) or a sample
 * of a family we do not read (its name starts with a name byte and not with
 * "vllm:" plus the first letter of a wanted name). Anything else (empty,
 * blank-led, malformed, short or wanted lines) goes to the full parse, so
 * the result is exactly the same. Most lines of a vLLM page are histogram
 * buckets: this keeps them to a few loads each.
 */
// @ts-ignore: decorator
@inline
export function skippable(base: usize, start: i32, end: i32): bool {
  if (start >= end) return false;
  const c = load<u8>(base + <usize>start);
  if (c == 0x23 /* # */) return true;
  if (!isNameByte(c, true)) return false;
  if (!startsWithVllm(base, start, end)) return true;
  return !isWantedInitial(load<u8>(base + <usize>(start + VLLM_PREFIX_LEN)));
}

/** The first position at or after `from` that is not a space or a tab (or `end`). */
// @ts-ignore: decorator
@inline
export function skipBlanksFrom(base: usize, from: i32, end: i32): i32 {
  let p = from;
  while (p < end) {
    const c = load<u8>(base + <usize>p);
    if (c != 0x20 && c != 0x09) break;
    p++;
  }
  return p;
}

/**
 * The first quote or backslash at or after `from` (or `end`): 16 bytes per
 * step (label values, model names among them, are tens of bytes).
 */
export function nextQuoteOrEscape(base: usize, from: i32, end: i32): i32 {
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  let p = from;
  for (; p + 16 <= end; p += 16) {
    const v = v128.load(base + <usize>p);
    const mask = i8x16.bitmask(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)));
    if (mask != 0) return p + ctz<i32>(mask);
  }
  while (p < end) {
    const c = load<u8>(base + <usize>p);
    if (c == 0x22 || c == 0x5c) break;
    p++;
  }
  return p;
}

/**
 * A quoted label value not kept, from after its opening quote: the position
 * after the closing quote, over escapes (a backslash and the byte after it),
 * or -1 when the line ends first.
 */
export function skipQuoted(base: usize, from: i32, end: i32): i32 {
  let p = from;
  while (true) {
    p = nextQuoteOrEscape(base, p, end);
    if (p >= end) return -1; // no closing quote on this line
    if (load<u8>(base + <usize>p) == 0x22) return p + 1;
    p += 2; // a backslash and the escaped byte
    if (p > end) return -1;
  }
  return -1; // unreachable; keeps the compiler's flow analysis happy
}

/** `len` bytes at `a` and `b` are equal. */
export function sameBytes(a: usize, b: usize, len: i32): bool {
  let i = 0;
  for (; i + 8 <= len; i += 8) if (load<u64>(a + <usize>i) != load<u64>(b + <usize>i)) return false;
  for (; i < len; i++) if (load<u8>(a + <usize>i) != load<u8>(b + <usize>i)) return false;
  return true;
}
