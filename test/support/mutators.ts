/**
 * Mutators the fuzz and property tests share: byte-level mutations of a body
 * (with fragments that stress a scanner) and a re-serialiser that changes only
 * the form of a JSON value (key order, whitespace, string escapes).
 */
import fc from "fast-check";

const enc = new TextEncoder();

/** Runs per fast-check property (`PROP_RUNS=N npm test` for a longer search); properties scale it. */
export const PROP_RUNS = Number(process.env.PROP_RUNS ?? 300);

/** Byte sequences that stress a scanner: bad UTF-8, NUL, huge numbers, stray structure, duplicate keys, BOM. */
const HOSTILE_FRAGMENTS: Uint8Array[] = [
  ',"model":"dup"',
  ',"model":5',
  ',"messages":null',
  '"a":1e999',
  "1e999",
  "-1e-999",
  "-0",
  "1E+400",
  "\u0000",
  "\\u0000",
  '"\\ud800"',
  '"\\uZZZZ"',
  "[",
  "]",
  "{",
  "}",
  '"',
  "\\",
  ",",
  ":",
  "null",
  "tru",
  "[".repeat(200),
  '{"a":'.repeat(200),
  "\ufeff",
  " \t\r\n",
]
  .map((s) => enc.encode(s))
  .concat([
    Uint8Array.of(0xff),
    Uint8Array.of(0xc3, 0x28),
    Uint8Array.of(0xc0, 0x80),
    Uint8Array.of(0xed, 0xa0, 0x80),
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
    Uint8Array.of(0x80),
    Uint8Array.of(0xe2, 0x82),
    Uint8Array.of(0xf0, 0x9f, 0x98),
    Uint8Array.of(0x00),
  ]);

export interface Mutation {
  kind: number;
  at: number;
  byte: number;
  len: number;
}
export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.integer({ min: 0, max: 7 }),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  len: fc.integer({ min: 1, max: 32 }),
});

/** Applies byte-level mutations in order (truncate, delete, insert, replace, duplicate, hostile fragment, swap, flip a bit). */
export function mutate(src: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Array.from(src);
  for (const m of muts) {
    const i = b.length ? m.at % (b.length + 1) : 0;
    switch (m.kind) {
      case 0:
        b = b.slice(0, i);
        break;
      case 1:
        b.splice(i, m.len);
        break;
      case 2:
        b.splice(i, 0, m.byte);
        break;
      case 3:
        if (i < b.length) b[i] = m.byte;
        break;
      case 4:
        b.splice(i, 0, ...b.slice(i, i + m.len));
        break; // duplicate a run: duplicate keys, doubled brackets
      case 5:
        b.splice(i, 0, ...HOSTILE_FRAGMENTS[(m.byte + m.len) % HOSTILE_FRAGMENTS.length]);
        break;
      case 6: {
        // swap two runs
        const j = b.length ? (m.at * 31 + m.byte) % (b.length + 1) : 0;
        const [lo, hi] = i < j ? [i, j] : [j, i];
        const a = b.slice(lo, lo + m.len);
        const c = b.slice(hi, hi + m.len);
        if (lo + m.len <= hi) b = [...b.slice(0, lo), ...c, ...b.slice(lo + a.length, hi), ...a, ...b.slice(hi + c.length)];
        break;
      }
      case 7:
        if (i < b.length) b[i] ^= 1 << (m.byte & 7);
        break;
    }
  }
  return Uint8Array.from(b);
}

/**
 * JSON text of `v` that parses to the same value: object keys in a random
 * order, random whitespace between tokens, and each string (keys included)
 * either as JSON.stringify writes it or with every UTF-16 unit as a \uXXXX
 * escape. `rnd` is a seeded source of floats in [0, 1) (e.g. `lcg(seed)`).
 */
export function scramble(v: unknown, rnd: () => number): string {
  const ws = () => [" ", "", "\n", "\t", "\r", "  "][Math.floor(rnd() * 6)];
  const str = (s: string) => (rnd() < 0.5 ? JSON.stringify(s) : escapeAll(s));
  if (Array.isArray(v)) return "[" + ws() + v.map((x) => scramble(x, rnd)).join(ws() + "," + ws()) + ws() + "]";
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [keys[i], keys[j]] = [keys[j], keys[i]];
    }
    return "{" + ws() + keys.map((k) => str(k) + ws() + ":" + ws() + scramble((v as Record<string, unknown>)[k], rnd)).join("," + ws()) + ws() + "}";
  }
  if (typeof v === "string") return str(v);
  return JSON.stringify(v);
}

/** A JSON string token with every UTF-16 unit written as a \uXXXX escape. */
export function escapeAll(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) out += "\\u" + s.charCodeAt(i).toString(16).padStart(4, "0");
  return out + '"';
}
