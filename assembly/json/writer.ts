// The one JSON writer: request echoes (inspect), error bodies, the
// rewritten body, canonical JSON, endpoint snapshots and the decision line
// all write strings and numbers through here.
import { ByteWriter } from "../util/bytes";
import { hexDigit } from "../util/hex";

/**
 * Writes `s` (UTF-8 bytes) as a JSON string token, escaped minimally:
 * `"` → \", `\` → \\, U+0008/0009/000A/000C/000D → \b \t \n \f \r, other
 * bytes < 0x20 → \u00xx (lower-case hex), everything else (including '/',
 * DEL, U+2028/2029 and all non-ASCII) as is. This is JSON.stringify's
 * escaping, and canonical JSON's (canonical.ts), so prefix hashes depend on it.
 */
export function writeJsonString(out: ByteWriter, s: Uint8Array): void {
  out.byte(0x22);
  const base = s.dataStart;
  const n = s.length;
  let run = 0; // start of the pending run of bytes copied as is
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(base + <usize>i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    if (i > run) out.raw(base + <usize>run, i - run);
    run = i + 1;
    out.byte(0x5c);
    if (c == 0x22 || c == 0x5c) out.byte(<u8>c);
    else if (c == 0x08) out.byte(0x62);
    else if (c == 0x09) out.byte(0x74);
    else if (c == 0x0a) out.byte(0x6e);
    else if (c == 0x0c) out.byte(0x66);
    else if (c == 0x0d) out.byte(0x72);
    else {
      out.byte(0x75);
      out.byte(0x30);
      out.byte(0x30);
      out.byte(hexDigit(c >> 4));
      out.byte(hexDigit(c & 15));
    }
  }
  if (n > run) out.raw(base + <usize>run, n - run);
  out.byte(0x22);
}

/** writeJsonString for a (small) string: names, addresses, messages. */
export function writeJsonText(out: ByteWriter, s: string): void {
  writeJsonString(out, Uint8Array.wrap(String.UTF8.encode(s)));
}

/** A number rounded to 6 decimals; integers without a fraction; null when not finite. */
export function writeNumber(w: ByteWriter, x: f64): void {
  if (!isFinite(x)) {
    w.str("null");
    return;
  }
  if (x == Math.floor(x) && Math.abs(x) < 9007199254740992) {
    w.str((<i64>x).toString()); // integers exactly (timestamps, counts)
    return;
  }
  if (Math.abs(x) >= 1e9) {
    w.str(x.toString()); // x * 1e6 below would lose precision
    return;
  }
  const r = Math.round(x * 1e6) / 1e6;
  if (r == Math.floor(r)) {
    w.str((<i64>r).toString());
    return;
  }
  w.str(r.toString());
}
