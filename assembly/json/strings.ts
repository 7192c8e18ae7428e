// JSON string tokens: decoding escapes into UTF-8, and comparing a token's
// bytes with an ASCII literal without allocating.
import { nextBackslash } from "./swar";
import { putUtf8 } from "./utf8";

/** Value of one hex digit, -1 if `c` is not one. */
export function hexVal(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = c | 0x20;
  if (l - 0x61 < 6) return <i32>(l - 0x61 + 10);
  return -1;
}

/** Whether `c` may follow a backslash as a one-character escape: " \\ / b f n r t (RFC 8259; u takes four hex digits more). */
export function isSimpleEscape(c: u32): bool {
  return c == 0x22 || c == 0x5c || c == 0x2f || c == 0x62 || c == 0x66 || c == 0x6e || c == 0x72 || c == 0x74;
}

function hex4(base: usize, p: i32): u32 {
  let v: u32 = 0;
  for (let i = 0; i < 4; i++) v = (v << 4) | <u32>hexVal(<u32>load<u8>(base + <usize>(p + i)));
  return v;
}

/**
 * Decodes the raw content of a JSON string token (quotes excluded) that the
 * scanner has validated, e.g. JsonScanner.lastStringContent(). Returns
 * `content` itself when it has no backslash. Never reads outside `content`,
 * whatever the bytes (a malformed escape, impossible after validation, is
 * dropped rather than read past the end).
 */
export function decodeJsonString(content: Uint8Array): Uint8Array {
  return unescapeJson(content.dataStart, 0, content.length, content);
}

/**
 * Decodes the content [s, e) of a string token. The output is never longer
 * than the input (every escape shrinks), so it is written straight into one
 * buffer of the input's length and viewed at its decoded length: no scratch
 * copy. `whole`, when given, is returned as is if there is no escape.
 */
export function unescapeJson(base: usize, s: i32, e: i32, whole: Uint8Array | null = null): Uint8Array {
  const p = nextBackslash(base, s, e);
  if (p >= e && whole !== null) return whole;
  const buf = new ArrayBuffer(e - s);
  return Uint8Array.wrap(buf, 0, unescapeTo(base, s, e, p, changetype<usize>(buf)));
}

/**
 * A reusable buffer for decoded string content that is consumed at once
 * (the hash renderer streams it into the block chain): decoding there
 * allocates nothing once the buffer has grown to the longest text.
 */
export class DecodeScratch {
  private buf: ArrayBuffer = new ArrayBuffer(256);

  /** Decodes raw string content (as decodeJsonString); the view is valid until the next decode. */
  decode(content: Uint8Array): Uint8Array {
    const n = content.length;
    const p = nextBackslash(content.dataStart, 0, n);
    if (p >= n) return content;
    if (this.buf.byteLength < n) this.buf = new ArrayBuffer(max(n, this.buf.byteLength * 2));
    return Uint8Array.wrap(this.buf, 0, unescapeTo(content.dataStart, 0, n, p, changetype<usize>(this.buf)));
  }

  /** Drops a buffer that one large text grew past `keep` bytes. */
  trim(keep: i32): void {
    if (this.buf.byteLength > keep) this.buf = new ArrayBuffer(256);
  }
}

/**
 * The decode itself: [s, e) into `o0` (room for e − s bytes, enough since
 * every escape shrinks), `p` the first backslash. Returns the decoded length.
 */
function unescapeTo(base: usize, s: i32, e: i32, p: i32, o0: usize): i32 {
  let o = p - s;
  memory.copy(o0, base + <usize>s, <usize>o);
  while (p < e) {
    // Here bytes[p] is a backslash.
    if (p + 1 >= e) {
      store<u8>(o0 + <usize>o, 0x5c);
      o++;
      break;
    }
    const x = <u32>load<u8>(base + <usize>(p + 1));
    p += 2;
    let b: u32 = x; // \" \\ \/
    if (x == 0x62) b = 0x08;
    else if (x == 0x66) b = 0x0c;
    else if (x == 0x6e) b = 0x0a;
    else if (x == 0x72) b = 0x0d;
    else if (x == 0x74) b = 0x09;
    else if (x == 0x75 && p + 4 <= e) {
      let cp = hex4(base, p);
      p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        // High surrogate: combine with a following \uDC00-\uDFFF, else U+FFFD.
        if (p + 6 <= e && load<u8>(base + <usize>p) == 0x5c && load<u8>(base + <usize>(p + 1)) == 0x75) {
          const lo = hex4(base, p + 2);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          } else cp = 0xfffd;
        } else cp = 0xfffd;
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        cp = 0xfffd; // lone low surrogate
      }
      o = putUtf8(o0, o, cp);
    }
    if (x != 0x75) {
      store<u8>(o0 + <usize>o, <u8>b);
      o++;
    }
    // Copy the run up to the next backslash, 16 bytes per step: each step
    // stores a whole vector, then moves on only as far as the first
    // backslash in it (a memory.copy per run is a call into the engine,
    // which cost more than the bytes when escapes come every few words).
    // The store stays inside the output: o ≤ p − s, since every escape
    // shrinks, and p + 16 ≤ e.
    const slash = i8x16.splat(0x5c);
    while (p + 16 <= e) {
      const v = v128.load(base + <usize>p);
      v128.store(o0 + <usize>o, v);
      const m = i8x16.bitmask(i8x16.eq(v, slash));
      if (m != 0) {
        const k = <i32>ctz(m);
        p += k;
        o += k;
        break;
      }
      p += 16;
      o += 16;
    }
    if (p + 16 > e) {
      const q = nextBackslash(base, p, e);
      memory.copy(o0 + <usize>o, base + <usize>p, <usize>(q - p));
      o += q - p;
      p = q;
    }
  }
  return o;
}

/** True when the `n` bytes at `p` equal the ASCII literal `lit` (lit.length == n checked by the caller). */
// @ts-ignore: decorator
@inline export function rawEqualsLiteral(p: usize, n: i32, lit: string): bool {
  // UTF-16 code units read directly: no bounds-checked charCodeAt per byte.
  const l = changetype<usize>(lit);
  for (let i = 0; i < n; i++) {
    if (<u32>load<u8>(p + <usize>i) != <u32>load<u16>(l + (<usize>i << 1))) return false;
  }
  return true;
}

/** True when `b` equals the ASCII literal `lit`. */
export function asciiEquals(b: Uint8Array, lit: string): bool {
  const n = b.length;
  if (n != lit.length) return false;
  for (let i = 0; i < n; i++) {
    if (<i32>unchecked(b[i]) != <i32>lit.charCodeAt(i)) return false;
  }
  return true;
}
