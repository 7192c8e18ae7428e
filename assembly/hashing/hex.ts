// Hex text of hashes, for tests, `llm-picker inspect` and logs.

const DIGITS = "0123456789abcdef";

/** 16 lower-case hex digits, most significant first (as Go's %016x). */
export function hex64(v: u64): string {
  let s = "";
  for (let shift: i32 = 60; shift >= 0; shift -= 4) {
    s += DIGITS.charAt(<i32>((v >> (<u64>shift)) & 0xf));
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
