// Numbers in a /metrics page: sample values (Go's float syntax) and the
// integers some info metrics carry in labels. docs/design.md "Metrics
// parser" explains why values are read without building strings.

/** Longest value token we accept (Go's float syntax never needs more). */
const MAX_NUMBER_BYTES: i32 = 64;
/** Significant digits an f64 holds exactly (below 2^53), so x × 10^k rounds once. */
const EXACT_DIGITS: i32 = 15;
/** 10^k is an exact f64 for k <= 22. */
const EXACT_POW10: i32 = 22;
const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/** A value token's result: `ok` false for anything that is not Go float syntax. */
export class ParsedNumber {
  ok: bool = false;
  value: f64 = 0;
}

/**
 * Go's strconv.ParseFloat syntax as Prometheus writes it: decimal with
 * optional fraction and exponent, or (case-insensitively) Inf, +Inf, -Inf,
 * Infinity, NaN. Hex floats and underscores are refused. Writes into `out`
 * (no allocation) and returns out.ok.
 *
 * The value is the one AssemblyScript's parseFloat gives for the same text,
 * bit for bit: a token of at most 15 significant digits and a decimal
 * exponent within ±22 is d × 10^e or d / 10^-e with d and 10^e exact, one
 * correctly rounded operation, which is also parseFloat's own fast path for
 * those digits; any other token (rare on a vLLM page) goes through
 * parseFloat itself.
 */
export function parseGoFloat(b: Uint8Array, start: i32, end: i32, out: ParsedNumber): bool {
  out.ok = false;
  out.value = 0;
  if (start < 0 || end > b.length || start >= end || end - start > MAX_NUMBER_BYTES) return false;
  const base = b.dataStart;
  let i = start;
  let negative = false;
  const s0 = load<u8>(base + <usize>i);
  if (s0 == 0x2b || s0 == 0x2d) {
    negative = s0 == 0x2d;
    i++;
  }
  if (i >= end) return false;
  const first = load<u8>(base + <usize>i) | 0x20; // lower-case letters
  if (first == 0x69 /* i */ || first == 0x6e /* n */) return parseWord(base, i, end, negative, out);
  let mantissa: u64 = 0;
  let digits = 0; // every digit, for the syntax check
  let significant = 0; // digits from the first non-zero one
  let fraction = 0; // digits after the point
  let seenPoint = false;
  for (; i < end; i++) {
    const c = load<u8>(base + <usize>i);
    if (c == 0x2e /* . */ && !seenPoint) {
      seenPoint = true;
      continue;
    }
    if (!isDigit(c)) break;
    digits++;
    if (seenPoint) fraction++;
    if (significant == 0 && c == 0x30) continue;
    significant++;
    if (significant <= EXACT_DIGITS) mantissa = mantissa * 10 + <u64>(c - 0x30);
  }
  if (digits == 0) return false;
  let exponent: i32 = 0;
  let exponentNegative = false;
  if (i < end && (load<u8>(base + <usize>i) | 0x20) == 0x65 /* e */) {
    i++;
    if (i < end) {
      const sign = load<u8>(base + <usize>i);
      if (sign == 0x2b || sign == 0x2d) {
        exponentNegative = sign == 0x2d;
        i++;
      }
    }
    let exponentDigits = 0;
    for (; i < end && isDigit(load<u8>(base + <usize>i)); i++) {
      exponentDigits++;
      // Past 9999 the fast path is out of reach anyway; stop before overflow.
      if (exponent < 10000) exponent = exponent * 10 + <i32>(load<u8>(base + <usize>i) - 0x30);
    }
    if (exponentDigits == 0) return false;
  }
  if (i != end) return false;
  out.ok = true;
  if (significant == 0) {
    out.value = negative ? -0.0 : 0.0;
    return true;
  }
  const scale = (exponentNegative ? -exponent : exponent) - fraction;
  if (significant <= EXACT_DIGITS && scale >= -EXACT_POW10 && scale <= EXACT_POW10) {
    const d = <f64>mantissa;
    const v = scale >= 0 ? d * unchecked(POW10[scale]) : d / unchecked(POW10[-scale]);
    out.value = negative ? -v : v;
    return true;
  }
  out.value = parseFloat(String.UTF8.decodeUnsafe(base + <usize>start, <usize>(end - start)));
  return true;
}

/** inf, infinity or nan, any case, after an optional sign. */
function parseWord(base: usize, start: i32, end: i32, negative: bool, out: ParsedNumber): bool {
  const len = end - start;
  if (wordIs(base, start, len, "inf") || wordIs(base, start, len, "infinity")) {
    out.ok = true;
    out.value = negative ? -Infinity : Infinity;
  } else if (wordIs(base, start, len, "nan")) {
    out.ok = true;
    out.value = NaN;
  }
  return out.ok;
}

/** The bytes, lower-cased, are exactly `word` (ASCII). */
function wordIs(base: usize, start: i32, len: i32, word: string): bool {
  if (len != word.length) return false;
  for (let k = 0; k < len; k++) if (<i32>(load<u8>(base + <usize>(start + k)) | 0x20) != word.charCodeAt(k)) return false;
  return true;
}

function isDigit(c: u8): bool {
  return c >= 0x30 && c <= 0x39;
}

/** ASCII whitespace: space, tab, LF, VT, FF, CR. */
function isAsciiSpace(c: i32): bool {
  return c == 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * `s` without leading and trailing ASCII whitespace. Not String.trim: its
 * set of Unicode spaces is the runtime's, and label values (adapter names,
 * block counts) are compared byte for byte with what clients send, so only
 * the padding a page writer adds by hand is taken off.
 */
export function trimAscii(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isAsciiSpace(s.charCodeAt(a))) a++;
  while (b > a && isAsciiSpace(s.charCodeAt(b - 1))) b--;
  return a == 0 && b == s.length ? s : s.substring(a, b);
}

/** Decimal digits only, at most i32 max; -1 for anything else (e.g. "None"). */
export function parseNonNegativeInt(text: string): i32 {
  const s = trimAscii(text);
  const n = s.length;
  if (n == 0 || n > 10) return -1;
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + <i64>(c - 0x30);
  }
  return v > <i64>i32.MAX_VALUE ? -1 : <i32>v;
}
