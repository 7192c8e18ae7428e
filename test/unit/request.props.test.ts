// Property tests (fast-check) for the JSON scanner and canonicalJson, against
// V8's JSON.parse / JSON.stringify as the reference.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { referenceValid } from "../fixtures/requests/reference";
import { loadUnits } from "./units";

let u: any;
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

/** Serialises `v` with keys in a random order, random whitespace and random \u escapes. */
function scramble(v: unknown, rnd: () => number): string {
  const ws = () => [" ", "\n", "\t", "\r", "", ""][Math.floor(rnd() * 6)];
  const str = (s: string) => {
    if (rnd() < 0.5) return JSON.stringify(s);
    return escapeAll(s);
  };
  if (Array.isArray(v)) return "[" + ws() + v.map((x) => scramble(x, rnd)).join(ws() + "," + ws()) + ws() + "]";
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [keys[i], keys[j]] = [keys[j], keys[i]];
    }
    return "{" + ws() + keys.map((k) => str(k) + ws() + ":" + ws() + scramble((v as any)[k], rnd)).join("," + ws()) + ws() + "}";
  }
  if (typeof v === "string") return str(v);
  return JSON.stringify(v);
}

/** A JSON string token with every UTF-16 unit written as a \\uXXXX escape. */
function escapeAll(s: string): string {
  return (
    '"' +
    s
      .split("")
      .map((c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"))
      .join("") +
    '"'
  );
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
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
        expect(dec.decode(u.jsonDecodeString(enc.encode(token)))).toBe(s);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("canonicalJson", () => {
  it("equals JSON.parse → key-sorted JSON.stringify, whatever the key order, whitespace and escapes", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer(), (v, seed) => {
        const text = scramble(v, rng(seed));
        const out = u.jsonCanonical(enc.encode(text));
        expect(out).not.toBeNull();
        expect(dec.decode(out)).toBe(sortedStringify(JSON.parse(text)));
      }),
      { numRuns: RUNS },
    );
  });
  it("is invariant under key reordering and whitespace", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer(), fc.integer(), (v, s1, s2) => {
        const a = u.jsonCanonical(enc.encode(scramble(v, rng(s1))));
        const b = u.jsonCanonical(enc.encode(scramble(v, rng(s2))));
        expect(dec.decode(a)).toBe(dec.decode(b));
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
        expect(dec.decode(u.jsonCanonical(enc.encode(withDup)))).toBe(dec.decode(u.jsonCanonical(enc.encode(body))));
      }),
      { numRuns: RUNS },
    );
  });
  it("is idempotent and its output is valid JSON", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (s) => {
        const once = u.jsonCanonical(enc.encode(s));
        expect(u.jsonValidate(once)).toBe("");
        expect(dec.decode(u.jsonCanonical(once))).toBe(dec.decode(once));
      }),
      { numRuns: RUNS },
    );
  });
});
