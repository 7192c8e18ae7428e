// Numbers and literals: the scanner validates them in place; numbers are
// converted only where a caller needs the value (parseU32, JsonReader).

// @ts-ignore: decorator
@inline export function isWs(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

// @ts-ignore: decorator
@inline export function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): u32 {
  return <u32>load<u8>(base + <usize>i);
}

/**
 * End of the literal `true`, `false` or `null` starting at base+p (p < n),
 * -1 when the bytes are not that literal, -2 when the input ends first.
 */
export function literalEnd(base: usize, p: i32, n: i32): i32 {
  const c = at(base, p);
  // "true" = 74 72 75 65, "false" = 66 61 6c 73 65, "null" = 6e 75 6c 6c
  if (c == 0x66) {
    if (p + 5 <= n && at(base, p + 1) == 0x61 && at(base, p + 2) == 0x6c && at(base, p + 3) == 0x73 && at(base, p + 4) == 0x65) return p + 5;
  } else if (p + 4 <= n) {
    const w = load<u32>(base + <usize>p);
    if ((c == 0x74 && w == 0x65757274) || (c == 0x6e && w == 0x6c6c756e)) return p + 4;
  }
  return p + 4 > n && c != 0x66 ? -2 : -1;
}

/**
 * End of the number starting at base+p (p < n), -1 when it is not one:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, validated, not converted.
 */
export function numberEnd(base: usize, p: i32, n: i32): i32 {
  if (at(base, p) == 0x2d) p++;
  if (p >= n) return -1;
  const c = at(base, p);
  if (c == 0x30) {
    p++;
  } else if (c - 0x31 < 9) {
    p++;
    while (p < n && isDigit(at(base, p))) p++;
  } else {
    return -1;
  }
  if (p < n && at(base, p) == 0x2e) {
    p++;
    if (p >= n || !isDigit(at(base, p))) return -1;
    while (p < n && isDigit(at(base, p))) p++;
  }
  if (p < n && (at(base, p) | 0x20) == 0x65) {
    p++;
    if (p < n && (at(base, p) == 0x2b || at(base, p) == 0x2d)) p++;
    if (p >= n || !isDigit(at(base, p))) return -1;
    while (p < n && isDigit(at(base, p))) p++;
  }
  // A digit right after "0" (leading zero) is caught here: "01" stops at 1.
  if (p < n && isDigit(at(base, p))) return -1;
  return p;
}

/**
 * Parses a JSON number's text as an unsigned 32-bit integer (token ids).
 * Returns -1 if it is not a plain non-negative integer that fits in u32
 * (fractions, exponents, signs and overflow are refused, not rounded).
 */
export function parseU32(text: Uint8Array): i64 {
  const n = text.length;
  if (n == 0 || n > 10) return -1;
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = <u32>unchecked(text[i]);
    if (!isDigit(c)) return -1;
    v = v * 10 + <i64>(c - 0x30);
  }
  if (n > 1 && unchecked(text[0]) == 0x30) return -1;
  return v <= 0xffffffff ? v : -1;
}
