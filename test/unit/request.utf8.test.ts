// UTF-8 inside JSON strings (escapes between the characters): the scanner
// must accept and refuse exactly what Unicode Table 3-7 does (reference: the
// WHATWG decoder in fatal mode), and name the same error at the same byte as
// a byte-by-byte walk (reference: firstBadUtf8 below), wherever a sequence
// falls relative to the 64-byte blocks of its fast path.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, PROP_RUNS, type Units } from "../support";

let u: Units<"request">;
const enc = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });
beforeAll(async () => {
  u = await loadUnits("request");
});

// JsonError codes (assembly/json/kinds.ts)
const E = { UnexpectedEnd: 1, BadUtf8: 11 };

/**
 * Where the first invalid sequence of `b` starts (Table 3-7), whether the
 * input ends inside it (`cut`: every byte present was right), or null when
 * `b` is valid.
 */
function firstBadUtf8(b: Uint8Array): { at: number; cut: boolean } | null {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return { at: i, cut: false };
    for (let k = 1; k <= need; k++) {
      if (i + k >= b.length) return { at: i, cut: true };
      const d = b[i + k];
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return { at: i, cut: false };
    }
    i += need + 1;
  }
  return null;
}

/** The scanner's verdict on a string token holding `content` (closed by a quote, or running to the end of the input). */
function expected(content: Uint8Array, closed: boolean): string {
  const bad = firstBadUtf8(content);
  if (bad === null) return closed ? "" : `${E.UnexpectedEnd}@${1 + content.length}`;
  // Closed: the quote is no continuation byte, so a cut sequence is invalid there.
  return `${bad.cut && !closed ? E.UnexpectedEnd : E.BadUtf8}@${1 + bad.at}`;
}

function token(content: Uint8Array, closed: boolean): Uint8Array {
  const out = new Uint8Array(content.length + (closed ? 2 : 1));
  out[0] = 0x22;
  out.set(content, 1);
  if (closed) out[out.length - 1] = 0x22;
  return out;
}

const concat = (parts: ReadonlyArray<readonly number[]>) => Uint8Array.from(parts.flat());
/** Printable ASCII without '"' and '\\' (those end or escape the run). */
const asciiByte = fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x22 && c !== 0x5c);
const scalar = fc.integer({ min: 0x80, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff);
/** Escapes: the run stops at each, in the middle of a block (the bytes before it are validated there). */
const escapeSeq = fc.constantFrom([0x5c, 0x6e], [0x5c, 0x5c], [0x5c, 0x22], [0x5c, 0x2f], [...enc.encode("\\u00e9")]);
const validPiece = fc.oneof(
  fc.array(asciiByte, { minLength: 1, maxLength: 40 }),
  scalar.map((c) => [...enc.encode(String.fromCodePoint(c))]),
  escapeSeq,
);
/** Sequences Table 3-7 refuses: overlongs, surrogates, past U+10FFFF, stray continuations, bad leads, cut sequences. */
const INVALID: number[][] = [
  [0x80],
  [0xbf],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xe0, 0x9f, 0xbf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf0, 0x80, 0x80, 0x80],
  [0xf0, 0x8f, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe],
  [0xff],
  [0xc3],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xc3, 0xc3, 0xa9],
  [0xe2, 0x28, 0xa1],
];
const invalidPiece = fc.oneof(
  fc.constantFrom(...INVALID),
  fc.integer({ min: 0x80, max: 0xff }).map((c) => [c]),
);

describe("UTF-8 in strings: the scanner agrees with Table 3-7 and with the byte-by-byte error position", () => {
  it("valid text of any mix (ASCII, 2-, 3-, 4-byte characters) at any alignment is accepted", () => {
    fc.assert(
      fc.property(fc.nat(63), fc.array(validPiece, { maxLength: 40 }), (pad, parts) => {
        const content = concat([Array(pad).fill(0x61), ...parts]);
        expect(() => strict.decode(content)).not.toThrow();
        expect(u.jsonValidate(token(content, true))).toBe("");
      }),
      { numRuns: PROP_RUNS * 2 },
    );
  });

  it("text with invalid sequences among valid ones: same verdict as the fatal decoder, same error and byte as the reference walk", () => {
    fc.assert(
      fc.property(
        fc.nat(63),
        fc.array(fc.oneof({ arbitrary: validPiece, weight: 6 }, { arbitrary: invalidPiece, weight: 1 }), { maxLength: 40 }),
        fc.boolean(),
        (pad, parts, closed) => {
          const content = concat([Array(pad).fill(0x61), ...parts]);
          let valid = true;
          try {
            strict.decode(content);
          } catch {
            valid = false;
          }
          expect(firstBadUtf8(content) === null).toBe(valid);
          expect(u.jsonValidate(token(content, closed))).toBe(expected(content, closed));
        },
      ),
      { numRuns: PROP_RUNS * 3 },
    );
  });

  it("random high bytes", () => {
    fc.assert(
      fc.property(fc.nat(63), fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.boolean(), (pad, raw, closed) => {
        // Keep the bytes the run stops at anyway ('"', '\\', controls) out: this is about UTF-8.
        const content = concat([Array(pad).fill(0x61), [...raw].map((c) => (c < 0x20 || c === 0x22 || c === 0x5c ? c | 0x80 : c))]);
        expect(u.jsonValidate(token(content, closed))).toBe(expected(content, closed));
      }),
      { numRuns: PROP_RUNS * 2 },
    );
  });

  it("every position of a mixed text, at every alignment: cut there, or one byte replaced", () => {
    const text = [...enc.encode('café 東京 😀 données\\n über ✓ 𝄞 \\"ñ 中文字\\t🎉 ok ')];
    const replacements = [0x41, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff];
    for (let pad = 0; pad < 16; pad++) {
      const base = [...Array(pad).fill(0x61), ...text, ...text];
      for (let i = 0; i <= base.length; i++) {
        // Escapes stay whole (this is about UTF-8; escapes have their own tests).
        if (base[i - 1] === 0x5c) continue;
        const cut = Uint8Array.from(base.slice(0, i));
        for (const closed of [true, false]) expect(u.jsonValidate(token(cut, closed)), `pad ${pad} cut ${i}`).toBe(expected(cut, closed));
        if (i === base.length || base[i] === 0x5c) continue;
        for (const r of replacements) {
          const changed = Uint8Array.from(base);
          changed[i] = r;
          expect(u.jsonValidate(token(changed, true)), `pad ${pad} byte ${i} = ${r.toString(16)}`).toBe(expected(changed, true));
        }
      }
    }
  });
});
