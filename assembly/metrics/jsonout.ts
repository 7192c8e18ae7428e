// Small JSON output helpers shared by the snapshot writer and the decision
// renderer (assembly/scoring/decide.ts).
import { ByteWriter } from "../util/bytes";

/** A number rounded to 6 decimals; integers without a fraction. */
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

/** A JSON string (addresses, names): quotes, backslashes and control bytes escaped. */
export function writeJsonString(w: ByteWriter, s: string): void {
  const b = Uint8Array.wrap(String.UTF8.encode(s));
  w.byte(0x22);
  for (let i = 0; i < b.length; i++) {
    const c = unchecked(b[i]);
    if (c == 0x22 || c == 0x5c) {
      w.byte(0x5c);
      w.byte(c);
    } else if (c < 0x20) {
      w.str("\\u00");
      w.byte(hexDigit(c >> 4));
      w.byte(hexDigit(c & 15));
    } else {
      w.byte(c);
    }
  }
  w.byte(0x22);
}

function hexDigit(v: u8): u8 {
  return v < 10 ? 0x30 + v : 0x61 + v - 10;
}
