// Canonical JSON: one byte form per JSON value, so that key order, whitespace
// and escape spelling never change a prefix hash (assembly/hashing uses it).
//
// Rules:
// - no whitespace anywhere;
// - object members sorted by key, comparing the *decoded UTF-8 bytes*
//   (memcmp order, i.e. code point order; note JavaScript's default sort
//   compares UTF-16 units, which differs only between U+E000..U+FFFF and
//   astral characters);
// - duplicate keys: the last occurrence wins (as Go, JSON.parse, Python);
// - strings re-encoded minimally: `"` → \", `\` → \\, U+0008/0009/000A/000C/000D
//   → \b \t \n \f \r, other bytes < 0x20 → \u00xx (lower-case hex), everything
//   else (including '/', DEL, U+2028/2029 and all non-ASCII) as raw UTF-8;
//   lone surrogate escapes have become U+FFFD (see json.ts);
// - numbers exactly as written (no conversion: `1.0`, `1e999`, `-0` stay);
// - true/false/null as is.
// Equivalent to JSON.stringify(sortKeys(JSON.parse(x))) for inputs whose
// numbers JavaScript prints back as written and whose keys sort the same in
// UTF-16 (the property test in test/unit/request.props.test.ts checks this).
import { ByteWriter } from "../util/bytes";
import { DEFAULT_MAX_DEPTH, JsonKind, JsonScanner } from "./json";

class Member {
  constructor(public key: Uint8Array, public valuePos: i32, public order: i32) {}
}

function compareMembers(a: Member, b: Member): i32 {
  const n = min(a.key.length, b.key.length);
  const c = memory.compare(a.key.dataStart, b.key.dataStart, <usize>n);
  if (c != 0) return c;
  if (a.key.length != b.key.length) return a.key.length - b.key.length;
  return a.order - b.order;
}

const HEX = "0123456789abcdef";

/** Writes `s` (decoded UTF-8) as a canonical JSON string token. */
export function writeJsonString(s: Uint8Array, out: ByteWriter): void {
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
      out.byte(<u8>HEX.charCodeAt(c >> 4));
      out.byte(<u8>HEX.charCodeAt(c & 15));
    }
  }
  if (n > run) out.raw(base + <usize>run, n - run);
  out.byte(0x22);
}

/**
 * Writes the canonical form of the JSON document `raw` to `out`.
 * Returns false (and writes nothing) if `raw` is not valid JSON or nests
 * deeper than `maxDepth`.
 */
export function canonicalJson(raw: Uint8Array, out: ByteWriter, maxDepth: i32 = DEFAULT_MAX_DEPTH): bool {
  // Validate first (iteratively, bounded); the recursive writer below then
  // never recurses deeper than maxDepth and never meets a syntax error.
  const sc = new JsonScanner(raw, maxDepth);
  if (!sc.skipValue() || !sc.finish()) return false;
  sc.seek(0);
  writeValue(sc, out);
  return !sc.failed;
}

// Writes the value at the cursor. Recursion depth = JSON nesting (≤ maxDepth, validated).
function writeValue(sc: JsonScanner, out: ByteWriter): void {
  const k = sc.peek();
  if (k == JsonKind.Object) {
    writeObject(sc, out);
  } else if (k == JsonKind.Array) {
    sc.beginArray();
    out.byte(0x5b);
    let first = true;
    while (sc.nextItem()) {
      if (!first) out.byte(0x2c);
      first = false;
      writeValue(sc, out);
    }
    out.byte(0x5d);
  } else if (k == JsonKind.String) {
    const s = sc.readString();
    if (s != null) writeJsonString(s, out);
  } else {
    // numbers and literals: as written
    if (sc.skipValue()) out.raw(raw0(sc) + <usize>sc.valueStart, sc.valueEnd - sc.valueStart);
  }
}

// @ts-ignore: decorator
@inline function raw0(sc: JsonScanner): usize {
  return sc.bytes.dataStart;
}

function writeObject(sc: JsonScanner, out: ByteWriter): void {
  sc.beginObject();
  const members = new Array<Member>();
  let order = 0;
  while (sc.nextKey()) {
    members.push(new Member(sc.key, sc.pos, order++));
    sc.skipValue();
  }
  const end = sc.pos;
  const depth = sc.depth;
  members.sort(compareMembers);
  out.byte(0x7b);
  let first = true;
  const n = members.length;
  for (let i = 0; i < n; i++) {
    const m = unchecked(members[i]);
    // Last wins: skip a member followed by one with the same key.
    if (i + 1 < n && compareKeys(m.key, unchecked(members[i + 1]).key)) continue;
    if (!first) out.byte(0x2c);
    first = false;
    writeJsonString(m.key, out);
    out.byte(0x3a);
    sc.seek(m.valuePos, depth + 1);
    writeValue(sc, out);
  }
  out.byte(0x7d);
  sc.seek(end, depth);
}

function compareKeys(a: Uint8Array, b: Uint8Array): bool {
  return a.length == b.length && memory.compare(a.dataStart, b.dataStart, <usize>a.length) == 0;
}
