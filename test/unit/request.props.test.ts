// Property tests (fast-check) for the JSON scanner and canonicalJson, against
// V8's JSON.parse / JSON.stringify as the reference.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { referenceValid } from "../fixtures/requests/reference";
import { escapeAll, lcg, loadUnits, PROP_RUNS, scramble, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();
const dec = new TextDecoder();
beforeAll(async () => {
  u = await loadUnits("request");
});

/** Reference canonical form: keys sorted by UTF-8 bytes, JSON.stringify for the rest. */
function sortedStringify(v: unknown): string {
  if (Array.isArray(v)) return "[" + v.map(sortedStringify).join(",") + "]";
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + sortedStringify((v as any)[k])).join(",") + "}";
  }
  return JSON.stringify(v);
}

const jsonText = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: fc.constantFrom(...'{}[],:"\\0123456789.eE+-tfnrulas \n\tu'), maxLength: 30 }),
  // valid JSON with one character deleted, inserted or replaced
  fc.tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.constantFrom("", ",", "]", "}", '"', "\\", "0", " ", "\u0000", "x")).map(([s, i, c]) => {
    const k = s.length ? i % s.length : 0;
    return s.slice(0, k) + c + s.slice(k + (i % 2));
  }),
);

describe("scanner validity agrees with JSON.parse", () => {
  it("on generated and mutated text", () => {
    fc.assert(
      fc.property(jsonText, (s) => {
        const bytes = enc.encode(s);
        expect(u.jsonValidate(bytes) === "").toBe(referenceValid(bytes));
      }),
      { numRuns: PROP_RUNS * 4 },
    );
  });
  it("on chat bodies with long strings, one byte changed anywhere", () => {
    // Message contents long enough for the 64-byte blocks: escapes, every UTF-8 length, raw text.
    const piece = fc.oneof(
      fc.string({ unit: "binary", maxLength: 60 }),
      fc.constantFrom("\n", '"quoted"', "back\\slash", "tab\t", "東京", "😀", "über", "\u0000"),
    );
    const content = fc.array(piece, { maxLength: 30 }).map((parts) => parts.join(""));
    fc.assert(
      fc.property(fc.array(content, { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (contents, at, byte, mutate) => {
        const doc = enc.encode(JSON.stringify({ model: "m", messages: contents.map((c) => ({ role: "user", content: c })) }));
        if (mutate) doc[at % doc.length] = byte;
        expect(u.jsonValidate(doc) === "").toBe(referenceValid(doc));
      }),
      { numRuns: PROP_RUNS * 3 },
    );
  });
  it("on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        expect(u.jsonValidate(b) === "").toBe(referenceValid(b));
      }),
      { numRuns: PROP_RUNS },
    );
  });
});

describe("string runs: the first special byte is found wherever it falls (the 32-byte ASCII loop, 64-byte blocks, 8-byte words, tail)", () => {
  // JsonError codes (assembly/json/scanner.ts)
  const E = { UnexpectedEnd: 1, TrailingData: 6, BadEscape: 9, ControlChar: 10, BadUtf8: 11 };
  const bytesOf = (...parts: Array<string | number[]>) => Uint8Array.from(parts.flatMap((x) => (typeof x === "string" ? [...enc.encode(x)] : x)));
  // [special byte(s), expected result for a string `"` + a × x + special + b × y + `"`, at = 1 + a]
  const specials: Array<[string, number[], (at: number) => string]> = [
    ["a control byte", [0x01], (at) => `${E.ControlChar}@${at}`],
    ["a byte ≥ 0x80 that starts no UTF-8 sequence", [0xff], (at) => `${E.BadUtf8}@${at}`],
    ["a valid two-byte UTF-8 character", [0xc3, 0xa9], () => ""],
    ["a valid escape", [0x5c, 0x6e], () => ""],
    ["an invalid escape", [0x5c, 0x71], (at) => `${E.BadEscape}@${at}`],
    ["a quote (ends the string early)", [0x22], (at) => `${E.TrailingData}@${at + 1}`],
  ];
  for (const [name, special, want] of specials) {
    it(name, () => {
      fc.assert(
        // A leading "é" (2 bytes) starts the 64-byte blocks at byte 1, so the special falls anywhere in one.
        fc.property(fc.nat(200), fc.nat(200), fc.boolean(), (a, b, lead) => {
          const doc = bytesOf('"', lead ? "é" : "", "x".repeat(a), special, "y".repeat(b), '"');
          expect(u.jsonValidate(doc)).toBe(want(1 + (lead ? 2 : 0) + a));
        }),
        { numRuns: PROP_RUNS },
      );
    });
  }
  it("an unterminated run ends at the end of the input", () => {
    for (let a = 0; a <= 80; a++) expect(u.jsonValidate(bytesOf('"', "x".repeat(a)))).toBe(`${E.UnexpectedEnd}@${1 + a}`);
  });
});

describe("string decoding agrees with JSON.parse", () => {
  it("for text with escapes between runs of any length (the 16-byte copy, and escapes at every offset in it)", () => {
    const run = fc.string({ unit: fc.constantFrom("a", "é", "東", "😀", " ", "z"), maxLength: 70 });
    const escapeChar = fc.constantFrom("\n", '"', "\\", "\t", "\u0001", "\u00e9", "\ud83d\ude00", "/");
    fc.assert(
      fc.property(fc.array(fc.tuple(run, escapeChar), { maxLength: 12 }), run, (parts, last) => {
        const s = parts.map(([r, c]) => r + c).join("") + last;
        expect(dec.decode(u.jsonDecodeString(enc.encode(JSON.stringify(s)))!)).toBe(s);
      }),
      { numRuns: PROP_RUNS },
    );
  });

  it("for any well-formed text, plain or fully \\u-escaped", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), fc.boolean(), (s, escaped) => {
        const token = escaped ? escapeAll(s) : JSON.stringify(s);
        expect(dec.decode(u.jsonDecodeString(enc.encode(token))!)).toBe(s);
      }),
      { numRuns: PROP_RUNS },
    );
  });
});

describe("canonicalJson", () => {
  it("equals JSON.parse → key-sorted JSON.stringify, whatever the key order, whitespace and escapes", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer(), (v, seed) => {
        const text = scramble(v, lcg(seed));
        const out = u.jsonCanonical(enc.encode(text));
        expect(out).not.toBeNull();
        expect(dec.decode(out!)).toBe(sortedStringify(JSON.parse(text)));
      }),
      { numRuns: PROP_RUNS },
    );
  });
  it("is invariant under key reordering and whitespace", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer(), fc.integer(), (v, s1, s2) => {
        const a = u.jsonCanonical(enc.encode(scramble(v, lcg(s1))));
        const b = u.jsonCanonical(enc.encode(scramble(v, lcg(s2))));
        expect(dec.decode(a!)).toBe(dec.decode(b!));
      }),
      { numRuns: PROP_RUNS },
    );
  });
  it("applies last-wins to duplicate keys", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1 }), fc.jsonValue({ maxDepth: 2 }), (obj, junk) => {
        const k = Object.keys(obj)[0];
        const body = JSON.stringify(obj);
        const withDup = "{" + JSON.stringify(k) + ":" + JSON.stringify(junk) + "," + body.slice(1);
        expect(dec.decode(u.jsonCanonical(enc.encode(withDup))!)).toBe(dec.decode(u.jsonCanonical(enc.encode(body))!));
      }),
      { numRuns: PROP_RUNS },
    );
  });
  it("is idempotent and its output is valid JSON", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (s) => {
        const once = u.jsonCanonical(enc.encode(s))!;
        expect(u.jsonValidate(once)).toBe("");
        expect(dec.decode(u.jsonCanonical(once)!)).toBe(dec.decode(once));
      }),
      { numRuns: PROP_RUNS },
    );
  });
});
