// Lower-case hex digits: hashes in tests, `llm-picker inspect` and logs,
// \u00xx escapes in JSON output, request ids.

export const HEX_DIGITS = "0123456789abcdef";

/** The ASCII code of the lower-case hex digit for `v` (0..15). */
// @ts-ignore: decorator
@inline export function hexDigit(v: u32): u8 {
  return <u8>(v < 10 ? 0x30 + v : 0x61 + v - 10);
}

/** 16 lower-case hex digits, most significant first (as Go's %016x). */
export function hex64(v: u64): string {
  let s = "";
  for (let shift: i32 = 60; shift >= 0; shift -= 4) {
    s += HEX_DIGITS.charAt(<i32>((v >> (<u64>shift)) & 0xf));
  }
  return s;
}

/** Hashes as hex, separated by single spaces. */
export function hexList(hashes: StaticArray<u64>): string {
  let s = "";
  for (let i = 0; i < hashes.length; i++) {
    if (i > 0) s += " ";
    s += hex64(unchecked(hashes[i]));
  }
  return s;
}
