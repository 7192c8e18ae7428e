// The strict JSON scanner (assembly/json/), JsonReader and
// canonicalJson (assembly/json/canonical.ts): tables with written-out
// expectations. Property tests are in request.props.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();
const dec = new TextDecoder();
beforeAll(async () => {
  u = await loadUnits("request");
});

// JsonError codes (json.ts)
const E = {
  UnexpectedEnd: 1,
  ExpectedValue: 2,
  ExpectedColon: 3,
  ExpectedCommaOrEnd: 4,
  ExpectedKey: 5,
  TrailingData: 6,
  TooDeep: 7,
  BadNumber: 8,
  BadEscape: 9,
  ControlChar: 10,
  BadUtf8: 11,
  BadLiteral: 12,
};

describe("JsonScanner accepts valid JSON (RFC 8259)", () => {
  const valid = [
    "0",
    "-0",
    "1",
    "-12",
    "1.5",
    "1e5",
    "1E+5",
    "1e-5",
    "-0.0e0",
    "1e999",
    "-1e-999",
    "123456789012345678901234567890",
    "true",
    "false",
    "null",
    '""',
    '"a"',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    '"\\u0000"',
    '"\\uD83D\\uDE00"',
    '"\\ud800"',
    '"\\udc00x"',
    "[]",
    "{}",
    " [ 1 , 2 ] ",
    '{"a":1,"a":2}',
    '{"":{}}',
    "\t\n\r 1 \t\n\r",
    '"日本語 é 😀"',
    '"\u2028\u2029"',
    '"\x7f"',
    "[".repeat(128) + "]".repeat(128),
  ];
  for (const s of valid) it(JSON.stringify(s.slice(0, 40)), () => expect(u.jsonValidate(enc.encode(s))).toBe(""));
});

describe("JsonScanner rejects invalid JSON with a code and position", () => {
  const invalid: [string, number, number][] = [
    ["", E.UnexpectedEnd, 0],
    [" ", E.UnexpectedEnd, 1],
    ["[1,]", E.ExpectedValue, 3],
    ['{"a":1,}', E.ExpectedKey, 7],
    ["[1 2]", E.ExpectedCommaOrEnd, 3],
    ['{"a" 1}', E.ExpectedColon, 5],
    ["{1:2}", E.ExpectedKey, 1],
    ["{'a':1}", E.ExpectedKey, 1],
    ["01", E.BadNumber, 0],
    ["-", E.BadNumber, 0],
    ["-01", E.BadNumber, 0],
    ["1.", E.BadNumber, 0],
    [".5", E.ExpectedValue, 0],
    ["+1", E.ExpectedValue, 0],
    ["1e", E.BadNumber, 0],
    ["1e+", E.BadNumber, 0],
    ["0x10", E.TrailingData, 1],
    ["NaN", E.ExpectedValue, 0],
    ["Infinity", E.ExpectedValue, 0],
    ["tru", E.UnexpectedEnd, 0],
    ["trUe", E.BadLiteral, 0],
    ["nul", E.UnexpectedEnd, 0],
    ["fals", E.BadLiteral, 0],
    ["True", E.ExpectedValue, 0],
    ['"abc', E.UnexpectedEnd, 4],
    ['"\\x"', E.BadEscape, 1],
    ['"\\u12"', E.BadEscape, 1],
    ['"\\u12G4"', E.BadEscape, 1],
    ['"\\', E.UnexpectedEnd, 1],
    ['"a\tb"', E.ControlChar, 2],
    ['"a\nb"', E.ControlChar, 2],
    ['"\u0000"', E.ControlChar, 1],
    // Long strings: found by the 64-byte block path, named by the byte loop.
    [`"${"a".repeat(100)}\u001f${"b".repeat(80)}"`, E.ControlChar, 101],
    [`"${"a".repeat(70)}\\x${"b".repeat(80)}"`, E.BadEscape, 71],
    [`"${"a".repeat(70)}\\u12G4${"b".repeat(80)}"`, E.BadEscape, 71],
    [`"${"a".repeat(63)}\\${"b".repeat(80)}`, E.UnexpectedEnd, 145],
    [`"${"a".repeat(200)}`, E.UnexpectedEnd, 201],
    ["[1]]", E.TrailingData, 3],
    ["{} {}", E.TrailingData, 3],
    ["\ufeff{}", E.ExpectedValue, 0],
    ["[", E.UnexpectedEnd, 1],
    ['{"a":', E.UnexpectedEnd, 5],
    ["[".repeat(129) + "]".repeat(129), E.TooDeep, 128],
    ["[".repeat(100000), E.TooDeep, 128],
    ['{"a":'.repeat(100000), E.TooDeep, 640],
  ];
  for (const [s, code, pos] of invalid) {
    it(`${JSON.stringify(s.slice(0, 30))} → ${code}@${pos}`, () => expect(u.jsonValidate(enc.encode(s))).toBe(`${code}@${pos}`));
  }
  it("honours a configured depth", () => {
    expect(u.jsonValidate(enc.encode("[[[]]]"), 3)).toBe("");
    expect(u.jsonValidate(enc.encode("[[[[]]]]"), 3)).toBe(`${E.TooDeep}@3`);
  });
});

describe("JsonScanner validates UTF-8 inside strings (Unicode Table 3-7)", () => {
  const str = (...b: number[]) => new Uint8Array([0x22, ...b, 0x22]);
  const cases: [string, Uint8Array, string][] = [
    ["2-byte é", str(0xc3, 0xa9), ""],
    ["3-byte €", str(0xe2, 0x82, 0xac), ""],
    ["4-byte 😀", str(0xf0, 0x9f, 0x98, 0x80), ""],
    ["max U+10FFFF", str(0xf4, 0x8f, 0xbf, 0xbf), ""],
    ["lone continuation", str(0x80), `${E.BadUtf8}@1`],
    ["overlong C0", str(0xc0, 0x80), `${E.BadUtf8}@1`],
    ["overlong C1", str(0xc1, 0xbf), `${E.BadUtf8}@1`],
    ["overlong E0", str(0xe0, 0x80, 0x80), `${E.BadUtf8}@1`],
    ["encoded surrogate ED A0 80", str(0xed, 0xa0, 0x80), `${E.BadUtf8}@1`],
    ["past U+10FFFF F4 90", str(0xf4, 0x90, 0x80, 0x80), `${E.BadUtf8}@1`],
    ["F5", str(0xf5, 0x80, 0x80, 0x80), `${E.BadUtf8}@1`],
    ["FF", str(0xff), `${E.BadUtf8}@1`],
    ["truncated sequence before the quote", str(0xe2, 0x82), `${E.BadUtf8}@1`],
    ["bad second byte", str(0xc3, 0x28), `${E.BadUtf8}@1`],
    ["invalid after 8 ASCII bytes (SWAR path)", str(...enc.encode("abcdefghij"), 0xff), `${E.BadUtf8}@11`],
    ["quote after 8 ASCII bytes", str(...enc.encode("abcdefghijklmnop")), ""],
  ];
  for (const [name, bytes, want] of cases) it(name, () => expect(u.jsonValidate(bytes)).toBe(want));
  it("truncated at the end of input", () => expect(u.jsonValidate(new Uint8Array([0x22, 0xe2, 0x82]))).toBe(`${E.UnexpectedEnd}@1`));
  it("invalid UTF-8 outside strings is not a value", () => expect(u.jsonValidate(new Uint8Array([0xc3, 0xa9]))).toBe(`${E.ExpectedValue}@0`));
});

describe("readString decodes escapes", () => {
  const cases: [string, string][] = [
    ['"plain"', "plain"],
    ['"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\/\b\f\n\r\t'],
    ['"\\u00e9\\u20AC"', "é€"],
    ['"\\ud83d\\ude00"', "😀"],
    ['"\\ud800"', "\ufffd"],
    ['"\\ud800\\u0041"', "\ufffdA"],
    ['"\\udc00\\ud800"', "\ufffd\ufffd"],
    ['"\\ud83d\\ud83d\\ude00"', "\ufffd😀"],
    ['"a\\u0000b"', "a\u0000b"],
    ['"日本\\n語"', "日本\n語"],
  ];
  for (const [s, want] of cases) it(s, () => expect(dec.decode(u.jsonDecodeString(enc.encode(s))!)).toBe(want));
  it("returns the bytes of a long unescaped string", () => {
    const s = "x".repeat(1000) + "é";
    expect(dec.decode(u.jsonDecodeString(enc.encode(JSON.stringify(s)))!)).toBe(s);
  });
});

describe("JsonReader (configuration documents)", () => {
  it("walks keys and items with JSON paths", () => {
    const doc = '{"scorers":[{"type":"queue","weight":2},{"type":"prefix","enabled":true,"w":1.5e0}],"n":null,"s":"a\\"b"}';
    expect(u.jsonReaderWalk(enc.encode(doc))).toBe(
      "scorers[0].type=string:queue\nscorers[0].weight=number:2.0\nscorers[1].type=string:prefix\n" +
        'scorers[1].enabled=bool:true\nscorers[1].w=number:1.5\nn=null\ns=string:a"b\n',
    );
  });
  it("nested arrays get [i][j]", () =>
    expect(u.jsonReaderWalk(enc.encode('{"a":[[1],[2,3]]}'))).toBe("a[0][0]=number:1.0\na[1][0]=number:2.0\na[1][1]=number:3.0\n"));
  it("reports a syntax error with the path", () =>
    expect(u.jsonReaderWalk(enc.encode('{"a":{"b":[1,]}}'))).toBe("ERR a.b[1]: invalid JSON: expected a JSON value at byte 13"));
  it("reports trailing data", () => expect(u.jsonReaderWalk(enc.encode('{"a":1} x'))).toBe("ERR invalid JSON: unexpected data after the JSON value at byte 8"));
  const typed: [string, string, string, string][] = [
    ['{"w":"x"}', "w", "number", "w|w: expected a number, got a string"],
    ['{"w":1}', "w", "string", "w|w: expected a string, got a number"],
    ['{"w":null}', "w", "bool", "w|w: expected a boolean, got null"],
    ['{"w":1.5}', "w", "int", "w|w: expected an integer"],
    ['{"w":101}', "w", "int", "w|w: must be between 0 and 100"],
    ['{"w":1e999}', "w", "int", "w|w: expected an integer"],
    ['{"w":100}', "w", "int", "ok"],
    ['{"w":true}', "w", "bool", "ok"],
    ["[]", "w", "bool", "|expected an object, got an array"],
  ];
  for (const [doc, field, want, result] of typed) {
    it(`${doc} as ${want}`, () => expect(u.jsonReaderExpect(enc.encode(doc), field, want)).toBe(result));
  }
});

describe("canonicalJson", () => {
  const cases: [string, string | null][] = [
    ['{"b":1,"a":2}', '{"a":2,"b":1}'],
    [' { "b" : [ 1 , { "d" : null , "c" : true } ] , "a" : "x" } ', '{"a":"x","b":[1,{"c":true,"d":null}]}'],
    ['{"a":1,"a":2}', '{"a":2}'],
    ['{"a":1,"b":0,"a":3}', '{"a":3,"b":0}'],
    ['{"a":{"x":1},"a":{"y":2}}', '{"a":{"y":2}}'],
    ['"\\u0041\\/\\u00e9\\ud83d\\ude00"', '"A/é😀"'],
    ['"\\u0001\\u001f\\b\\t\\n\\f\\r\\"\\\\\\u007f"', '"\\u0001\\u001f\\b\\t\\n\\f\\r\\"\\\\\x7f"'],
    ['"\\ud800"', '"\ufffd"'],
    ["[1.0, -0, 1e999, 1E5]", "[1.0,-0,1e999,1E5]"],
    ['{"é":1,"z":2,"Z":3,"":4}', '{"":4,"Z":3,"z":2,"é":1}'],
    ['{"\\u0062":1,"a":2}', '{"a":2,"b":1}'],
    ['{"ab":1,"a":2,"b":3}', '{"a":2,"ab":1,"b":3}'],
    ["[1,]", null],
    ["[".repeat(129) + "]".repeat(129), null],
  ];
  for (const [s, want] of cases) {
    it(`${JSON.stringify(s.slice(0, 40))}`, () => {
      const out = u.jsonCanonical(enc.encode(s));
      expect(out === null ? null : dec.decode(out)).toBe(want);
    });
  }
});
