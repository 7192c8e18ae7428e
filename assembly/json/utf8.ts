// UTF-8 validation and encoding over raw memory (Unicode Table 3-7: no
// overlongs, no encoded surrogates, nothing past U+10FFFF).

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
