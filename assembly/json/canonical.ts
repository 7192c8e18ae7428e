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
// - strings re-encoded minimally (writer.ts writeJsonString); lone
//   surrogate escapes have become U+FFFD when the scanner decoded them;
// - numbers exactly as written (no conversion: `1.0`, `1e999`, `-0` stay);
// - true/false/null as is.
// Equivalent to JSON.stringify(sortKeys(JSON.parse(x))) for inputs whose
// numbers JavaScript prints back as written and whose keys sort the same in
// UTF-16 (the property test in test/unit/request.props.test.ts checks this).
import { ByteWriter } from "../util/bytes";
import { DEFAULT_MAX_DEPTH, JsonKind } from "./kinds";
import { JsonScanner } from "./scanner";
import { writeJsonString } from "./writer";

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
    if (s != null) writeJsonString(out, s);
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
    writeJsonString(out, m.key);
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
