// The scanner's 64-byte block path for string tokens (assembly/json/string_blocks.ts)
// on its own: where it finds the closing quote, when it hands a string back to
// the byte loop (a fault anywhere before the quote: from the start; the last
// < 64 bytes of the input: from a character boundary), and that escapes and
// UTF-8 sequences across block edges are read as one. References: JSON.parse
// for escapes and control bytes, the fatal TextDecoder for UTF-8.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, PROP_RUNS, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });
beforeAll(async () => {
  u = await loadUnits("request");
});

const QUOTE = 0x22;
const a = (n: number) => "a".repeat(n);
/** 64 bytes after the closing quote: enough for the block holding it to be read whole. */
const TAIL = enc.encode(',"next":"\\x\u00ff",'.padEnd(64, " "));

function bytes(...parts: Array<string | Uint8Array | number[]>): Uint8Array {
  const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Whether `content` is the valid content of a JSON string: UTF-8 (Table 3-7), escapes and no raw control byte (RFC 8259). */
function validContent(content: Uint8Array): boolean {
  try {
    JSON.parse(`"${strict.decode(content)}"`);
    return true;
  } catch {
    return false;
  }
}

describe("the block path: closing quote, or where the byte loop goes on", () => {
  // Blocks start at the first byte that is not plain ASCII: "é" (2 bytes) first puts
  // them at byte 1, so the offsets below are block offsets + 1.
  const cases: Array<[string, Uint8Array, string]> = [
    ["a short plain string: the ASCII look ends it", bytes('"abc"', TAIL), "4"],
    ["70 plain ASCII bytes", bytes('"', a(70), '"', TAIL), "71"],
    ["an escaped quote does not close the string", bytes('"', a(5), '\\"', a(70), '"', TAIL), "78 escaped"],
    ["a backslash on a block's last byte escapes the next block's first", bytes('"é', a(61), '\\"', a(5), '"', TAIL), "71 escaped"],
    ["an escaped backslash on a block's last byte leaves the next quote closing", bytes('"é', a(61), "\\\\", '"', TAIL), "66 escaped"],
    ["two escaped backslashes across the edge", bytes('"é', a(60), "\\\\\\\\", '"', TAIL), "67 escaped"],
    ["\\u escape across the edge", bytes('"é', a(58), "\\u00e9", a(5), '"', TAIL), "72 escaped"],
    ["a 3-byte character across the edge", bytes('"é', a(61), "東", a(3), '"', TAIL), "70"],
    ["a 4-byte character across the edge", bytes('"é', a(60), "😀", a(3), '"', TAIL), "70"],
    ["faults after the closing quote belong to what follows", bytes('"é', a(18), '"', [0xff, 0x5c, 0x78, 0x01], TAIL), "21"],
    ["an invalid escape: the byte loop names it", bytes('"', a(20), "\\x", a(60), '"', TAIL), "~1"],
    ["a \\u escape with a non-hex digit", bytes('"', a(20), "\\u12g4", a(60), '"', TAIL), "~1"],
    ["forty escapes in a row", bytes('"', "\\n".repeat(40), '"', TAIL), "81 escaped"],
    ["an odd run of five backslashes on the edge escapes the next block's first byte", bytes('"é', a(57), "\\\\\\\\\\n", a(3), '"', TAIL), "69 escaped"],
    ["an even run of four backslashes on the edge leaves the next quote closing", bytes('"é', a(58), "\\\\\\\\", '"', TAIL), "65 escaped"],
    ["a \\u escape whose digits in the next block are not hex", bytes('"é', a(60), "\\u12g4", a(70), '"', TAIL), "~1"],
    ["a quote among a \\u escape's digits", bytes('"é', a(20), '\\u1"', a(70), '"', TAIL), "~1"],
    ["an invalid escape after valid ones in the same block", bytes('"é', "\\n\\t\\\\", a(10), "\\a", a(60), '"', TAIL), "~1"],
    ["an invalid escape after the closing quote in the same block", bytes('"é', "\\n", a(10), '"', "\\a", TAIL), "15 escaped"],
    ["a raw control byte", bytes('"', a(70), [0x01], '"', TAIL), "~1"],
    ["a raw control byte in the second block", bytes('"é', a(98), [0x1f], '"', TAIL), "~1"],
    ["an overlong 2-byte form", bytes('"', a(30), [0xc0, 0x80], '"', TAIL), "~1"],
    ["an encoded surrogate", bytes('"', a(30), [0xed, 0xa0, 0x80], '"', TAIL), "~1"],
    ["a stray continuation byte", bytes('"', a(30), [0x80], '"', TAIL), "~1"],
    ["a sequence cut by the closing quote", bytes('"', a(30), [0xe6, 0x9d], '"', TAIL), "~1"],
    ["a sequence cut at the block's edge by ASCII", bytes('"é', a(61), [0xe6], a(10), '"', TAIL), "~1"],
    ["past U+10FFFF", bytes('"', a(30), [0xf4, 0x90, 0x80, 0x80], '"', TAIL), "~1"],
    ["plain ASCII into the last 16 bytes: the byte loop goes on there", bytes('"', a(40), '"'), "~33"],
    ["plain ASCII to the end", bytes('"', a(100)), "~97"],
    ["fewer than 64 bytes from the first non-ASCII byte: all to the byte loop", bytes('"é', a(38), '"'), "~1"],
    ["into the last 64 bytes: from the block edge", bytes('"é', a(98)), "~65"],
    ["into the last 64 bytes: back to the lead byte of a cut character", bytes('"é', a(61), "é", a(40)), "~64"],
    ["into the last 64 bytes: back over a 2-byte prefix of a 4-byte one", bytes('"é', a(60), "😀", a(40)), "~63"],
    ["into the last 64 bytes: past an escape's carried bytes", bytes('"é', a(61), "\\n", a(30)), "~66 escaped"],
    ["into the last 64 bytes: past a \\u escape's carried bytes", bytes('"é', a(60), "\\u00e9", a(30)), "~69 escaped"],
    ["into the last 64 bytes: a \\u escape's carried bytes that are not hex", bytes('"é', a(60), "\\u12g4", a(10)), "~1"],
    ["into the last 64 bytes: past an odd run's escape", bytes('"é', a(59), "\\\\\\n", a(30)), "~66 escaped"],
  ];
  for (const [name, input, want] of cases) it(`${name} → ${want}`, () => expect(u.jsonStringBlocks(input)).toBe(want));
});

// Pieces of string content: valid ones, and faults the byte loop must name.
const asciiByte = fc.integer({ min: 0x20, max: 0x7f }).filter((c) => c !== QUOTE && c !== 0x5c);
const scalar = fc.integer({ min: 0x80, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff);
const hexDigit = fc.constantFrom(..."0123456789abcdefABCDEF");
const validPiece = fc.oneof(
  { arbitrary: fc.array(asciiByte, { minLength: 1, maxLength: 70 }), weight: 4 },
  { arbitrary: scalar.map((c) => [...enc.encode(String.fromCodePoint(c))]), weight: 3 },
  { arbitrary: fc.constantFrom(...'nt"\\/bfr').map((c) => [0x5c, c.charCodeAt(0)]), weight: 2 },
  { arbitrary: fc.array(hexDigit, { minLength: 4, maxLength: 4 }).map((h) => [...enc.encode(`\\u${h.join("")}`)]), weight: 1 },
);
const faultPiece = fc.oneof(
  fc.integer({ min: 0x80, max: 0xff }).map((c) => [c]),
  fc.constantFrom([0xc0, 0x80], [0xe0, 0x9f, 0xbf], [0xed, 0xa0, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98]),
  fc.integer({ min: 0, max: 0x1f }).map((c) => [c]),
  fc.constantFrom([0x5c, 0x78], [0x5c, 0x55], [0x5c, 0x01], [0x5c, 0xc3, 0xa9], [...enc.encode("\\u12g4")], [...enc.encode("\\u00")]),
);
const content = (faults: boolean) =>
  fc
    .tuple(fc.nat(63), fc.array(faults ? fc.oneof({ arbitrary: validPiece, weight: 8 }, { arbitrary: faultPiece, weight: 1 }) : validPiece, { maxLength: 40 }))
    .map(([pad, parts]) => bytes(a(pad), ...parts.map((p) => Uint8Array.from(p))));

describe("the block path agrees with JSON.parse and the fatal decoder", () => {
  it("valid content at any alignment, any bytes after it: the closing quote, and whether it had an escape", () => {
    fc.assert(
      fc.property(content(false), fc.uint8Array({ minLength: 64, maxLength: 100 }), (c, after) => {
        expect(validContent(c)).toBe(true);
        const want = `${1 + c.length}${c.includes(0x5c) ? " escaped" : ""}`;
        expect(u.jsonStringBlocks(bytes([QUOTE], c, [QUOTE], after))).toBe(want);
      }),
      { numRuns: PROP_RUNS * 2 },
    );
  });

  it("content with faults among valid pieces: the closing quote exactly when valid, else back to the byte loop from the start", () => {
    fc.assert(
      fc.property(content(true), fc.uint8Array({ minLength: 64, maxLength: 100 }), (c, after) => {
        const want = validContent(c) ? `${1 + c.length}${c.includes(0x5c) ? " escaped" : ""}` : "~1";
        expect(u.jsonStringBlocks(bytes([QUOTE], c, [QUOTE], after))).toBe(want);
      }),
      { numRuns: PROP_RUNS * 3 },
    );
  });

  it("a string that runs into the last 64 bytes: the byte loop goes on from a character boundary, after which nothing is checked", () => {
    fc.assert(
      fc.property(content(false), (c) => {
        const input = bytes([QUOTE], c);
        const got = /^~(\d+)( escaped)?$/.exec(u.jsonStringBlocks(input));
        expect(got).not.toBeNull();
        const q = Number(got![1]);
        expect(q).toBeGreaterThanOrEqual(Math.max(1, input.length - 64 - 3));
        expect(q).toBeLessThanOrEqual(input.length);
        const before = input.subarray(1, q);
        expect(validContent(before)).toBe(true);
        expect(got![2] !== undefined).toBe(before.includes(0x5c));
      }),
      { numRuns: PROP_RUNS * 2 },
    );
  });
});
