// Property tests (fast-check) for the JSON scanner and canonicalJson, against
// V8's JSON.parse / JSON.stringify as the reference.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { referenceValid } from "../fixtures/requests/reference";
import { escapeAll, lcg, loadUnits, scramble, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();
const dec = new TextDecoder();
const RUNS = Number(process.env.PROP_RUNS ?? 300);
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
      { numRuns: RUNS * 4 },
    );
  });
  it("on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        expect(u.jsonValidate(b) === "").toBe(referenceValid(b));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("string decoding agrees with JSON.parse", () => {
  it("for any well-formed text, plain or fully \\u-escaped", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.boolean(), (s, escaped) => {
        const token = escaped ? escapeAll(s) : JSON.stringify(s);
        expect(dec.decode(u.jsonDecodeString(enc.encode(token))!)).toBe(s);
      }),
      { numRuns: RUNS },
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
      { numRuns: RUNS },
    );
  });
  it("is invariant under key reordering and whitespace", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer(), fc.integer(), (v, s1, s2) => {
        const a = u.jsonCanonical(enc.encode(scramble(v, lcg(s1))));
        const b = u.jsonCanonical(enc.encode(scramble(v, lcg(s2))));
        expect(dec.decode(a!)).toBe(dec.decode(b!));
      }),
      { numRuns: RUNS },
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
      { numRuns: RUNS },
    );
  });
  it("is idempotent and its output is valid JSON", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (s) => {
        const once = u.jsonCanonical(enc.encode(s))!;
        expect(u.jsonValidate(once)).toBe("");
        expect(dec.decode(u.jsonCanonical(once)!)).toBe(dec.decode(once));
      }),
      { numRuns: RUNS },
    );
  });
});
