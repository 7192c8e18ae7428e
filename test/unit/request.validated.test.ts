// A body whose first bytes begin a body that parsed is not checked again
// there (assembly/request/validated_prefixes.ts, JsonScanner.trustedEnd):
// the checkpoints trust exactly the 4 KiB pieces a body shares with one that
// parsed, and trusting any such prefix never changes a parse's outcome.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, PROP_RUNS, type Units } from "../support";

let u: Units<"request">;
beforeAll(async () => {
  u = await loadUnits("request");
});

const CHAT = 1;
const enc = new TextEncoder();

/** A chat body whose messages are `texts`, as a client serialises it. */
function chat(texts: string[]): Uint8Array {
  const messages = texts.map((content, i) => ({ role: i === 0 ? "system" : i % 2 ? "user" : "assistant", content }));
  return enc.encode(JSON.stringify({ model: "m", messages, max_tokens: 16 }));
}

/** Text in several scripts, with what JSON escapes: quotes, backslashes, newlines, tabs, control bytes. */
const WORDS = ["prefix", "cache", "données", "über", "東京", "🚀", 'say "hi"', "a\\b", "line\nbreak", "tab\there", "\u0001", "naïve", "x"];
const text = fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 600 }).map((w) => w.join(" "));

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe("trusting bytes that equal the start of a body that parsed", () => {
  it("a long string's fault is reported unless it lies in trusted bytes", () => {
    const body = chat(["s".repeat(3000)]);
    const at = body.indexOf(0x73) + 2000; // inside the long string
    const broken = body.slice();
    broken[at] = 0xff;
    const fault = u.parseOutcome(broken, CHAT, 0);
    expect(fault).toMatch(/^400 invalid_json /);
    // Trust up to before the fault's block: the same error.
    expect(u.parseOutcome(broken, CHAT, at - 10)).toBe(fault);
    expect(u.parseOutcome(broken, CHAT, at + 64)).toBe(fault); // its block is still checked (the one after the last trusted)
    // Trusted well past it: the byte is taken as checked (what trust means; the filter
    // only trusts bytes equal to a body that parsed, which cannot hold this byte).
    expect(u.parseOutcome(broken, CHAT, at + 200)).toBe("");
    expect(u.parseOutcome(body, CHAT, at + 200)).toBe("");
  });

  it("property: for any body and any body that parsed, trusting what they share gives the outcome of a full check", () => {
    const mutation = fc.record({
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      kind: fc.constantFrom("replace", "insert", "cut", "append"),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
    });
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 4 }), mutation, fc.double({ min: 0, max: 1, noNaN: true }), (texts, m, share) => {
        const parsed = chat(texts);
        expect(u.parseOutcome(parsed, CHAT, 0)).toBe("");
        const i = Math.floor(m.at * parsed.length);
        let other: Uint8Array;
        if (m.kind === "replace") {
          other = parsed.slice();
          other.set(m.bytes.subarray(0, Math.min(m.bytes.length, parsed.length - i)), i);
        } else if (m.kind === "insert") {
          other = new Uint8Array([...parsed.subarray(0, i), ...m.bytes, ...parsed.subarray(i)]);
        } else if (m.kind === "cut") {
          other = parsed.slice(0, i);
        } else {
          other = new Uint8Array([...parsed.subarray(0, i), ...chat([...texts, "more"]).subarray(i)]);
        }
        const trusted = Math.floor(share * commonPrefix(parsed, other));
        expect(u.parseOutcome(other, CHAT, trusted)).toBe(u.parseOutcome(other, CHAT, 0));
        expect(u.parseOutcome(parsed, CHAT, Math.floor(share * parsed.length))).toBe("");
      }),
      { numRuns: PROP_RUNS * 2 },
    );
  });
});

describe("checkpoints: the 4 KiB pieces a body shares with one that parsed", () => {
  const base = chat(["a".repeat(10_000)]); // 10,0xx bytes: two whole pieces
  const changedAt = (at: number) => {
    const b = base.slice();
    b[at] ^= 1;
    return b;
  };

  it("trusts whole pieces in a row from the start, only after a body was remembered, under the same seed", () => {
    u.prefixesReset(1n);
    expect(u.prefixesTrusted(base)).toBe(0);
    u.prefixesRemember(base);
    // A first piece never seen before: only it is remembered (a one-off prompt hashes nothing more).
    expect(u.prefixesTrusted(base)).toBe(4096);
    u.prefixesRemember(base);
    // [body, trusted bytes]
    const table: Array<[Uint8Array, number]> = [
      [base, 8192],
      [changedAt(9000), 8192], // past the second piece
      [changedAt(5000), 4096], // in the second piece
      [changedAt(100), 0], // in the first: nothing after it counts either
      [base.slice(0, 8191), 4096], // the second piece not whole
      [base.slice(0, 4000), 0], // shorter than a piece
    ];
    for (const [body, want] of table) expect(u.prefixesTrusted(body)).toBe(want);
    u.prefixesReset(2n);
    expect(u.prefixesTrusted(base)).toBe(0);
  });

  it("a longer body that parsed adds the pieces past those it matched", () => {
    u.prefixesReset(7n);
    for (let i = 0; i < 2; i++) {
      u.prefixesTrusted(base); // remember() goes on from where this stopped, as in the filter
      u.prefixesRemember(base);
    }
    const longer = new Uint8Array([...base.subarray(0, base.length - 2), ...enc.encode(`,"x":"${"b".repeat(5000)}"}`)]);
    expect(u.prefixesTrusted(longer)).toBe(8192);
    u.prefixesRemember(longer);
    expect(u.prefixesTrusted(longer)).toBe(12288);
    expect(u.prefixesTrusted(base)).toBe(8192);
  });
});

describe("bytes a full check refuses, trusted (only a forged hash could bring them here): nothing traps", () => {
  // What a body could hold in trusted bytes that a check would refuse.
  const BAD = [
    [0xff],
    [0xc0, 0x80],
    [0xed, 0xa0, 0x80],
    [0x80],
    [0xe6, 0x9d],
    [0x01],
    [0x5c, 0x78],
    [0x5c, 0x75, 0x31, 0x32, 0x7a],
    [0x5c, 0x75, 0x64, 0x38, 0x30, 0x30],
    [0x5c],
  ];

  it("property: a long chat with such bytes in its strings, trusted whole, parses, renders, hashes and writes its decision line", async () => {
    const h = await loadUnits("hashing");
    fc.assert(
      fc.property(
        fc.array(text, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...BAD)), { maxLength: 8 }),
        (texts, faults) => {
          const base = chat(texts.map((t) => t + " " + "z".repeat(200)));
          // Faults inside message text only: the bytes between the first content's quote and the end.
          const start = Buffer.from(base).indexOf('"content":"') + 11;
          let body = base;
          for (const [where, bytes] of faults) {
            const at = start + Math.floor(where * (body.length - start - 40));
            if (body[at - 1] === 0x5c) continue; // not right after a backslash: the string must still end where it did
            body = new Uint8Array([...body.subarray(0, at), ...bytes, ...body.subarray(at)]);
          }
          const line = u.decide("POST", "/v1/chat/completions", "", body, 0, body.length);
          expect(line.startsWith('{"decision":')).toBe(true);
          const hashes = h.hashBodyHex(body, CHAT, "", 64, 256, false, body.length);
          expect(hashes.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: PROP_RUNS },
    );
  });
});

describe("many conversations at once", () => {
  it("interleaved turns of 200 conversations of ~60 KB keep nearly all their shared pieces trusted", () => {
    // Each conversation: its own ~60 KB of earlier turns, then a last message that changes every turn.
    const sessions = Array.from({ length: 200 }, (_, s) =>
      enc.encode(JSON.stringify({ model: "m", messages: [{ role: "user", content: `conversation ${s} ` + "w".repeat(60_000) }] })),
    );
    const turn = (s: number, t: number) =>
      new Uint8Array([...sessions[s].subarray(0, sessions[s].length - 2), ...enc.encode(`,{"role":"user","content":"turn ${t}"}]}`)]);
    u.prefixesReset(11n);
    let shared = 0;
    let trusted = 0;
    for (let t = 0; t < 4; t++)
      for (let s = 0; s < sessions.length; s++) {
        const body = turn(s, t);
        const got = u.prefixesTrusted(body);
        u.prefixesRemember(body);
        if (t >= 2) {
          shared += Math.floor((sessions[s].length - 2) / 4096) * 4096;
          trusted += got;
        }
      }
    // 200 × 14 checkpoints in 32,768 slots: all but a few stay.
    expect(trusted / shared).toBeGreaterThan(0.99);
  });
});
