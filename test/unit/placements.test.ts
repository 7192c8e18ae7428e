// The fleet's session placements (assembly/fleet/placements.ts) through
// build/units-hashing.wasm: the header format both ways, and the bounded
// per-bucket memory of where each session last went (docs/fleet.md
// "Placement hints"). Expected values are written out.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"hashing">;

beforeAll(async () => {
  u = await loadUnits("hashing");
});

/** A session key in bucket `bucket` (the key's high 32 bits modulo 1,024), told apart by `low`. */
const sessionIn = (bucket: number, low: number) => bucket.toString(16).padStart(8, "0") + low.toString(16).padStart(8, "0");
const bucketKey = (bucket: number) => `llm-picker/fleet/v1/placed/${bucket}`;

describe("placement header format", () => {
  it.each([
    [0x0a1b2c3d, 42, "0a1b2c3d 42"],
    [0, 0, "00000000 0"],
    [0xffffffff, 7, "ffffffff 7"],
    [0x12, -5, "00000012 0"],
    [1, 2_000_000, "00000001 1048576"],
  ])("endpoint %i with %i blocks is written %s", (id, blocks, text) => {
    expect(u.placementFormat(id, blocks)).toBe(text);
  });

  it.each([
    ["0a1b2c3d 42", "0a1b2c3d 42"],
    ["0a1b2c3d 0", "0a1b2c3d 0"],
    ["0a1b2c3d 042", "0a1b2c3d 42"],
    ["ffffffff 1048576", "ffffffff 1048576"],
    ["0A1B2C3D 42", "invalid"],
    ["0a1b2c3d", "invalid"],
    ["0a1b2c3d ", "invalid"],
    ["0a1b2c3d  42", "invalid"],
    ["0a1b2c3d 4x", "invalid"],
    ["0a1b2c3d -1", "invalid"],
    ["0a1b2c3d 1048577", "invalid"],
    ["0a1b2c3d 99999999", "invalid"],
    ["0a1b2c3g 42", "invalid"],
    ["", "invalid"],
    ["10.0.0.1:8000 42", "invalid"],
  ])("%j parses to %j", (value, expected) => {
    expect(u.placementParse(value)).toBe(expected);
  });

  it.each([
    ["0123456789abcdef", "0123456789abcdef"],
    ["0123456789ABCDEF", "invalid"],
    ["0123456789abcde", "invalid"],
    ["0123456789abcdef0", "invalid"],
    ["0000000000000000", "invalid"],
  ])("session header %j parses to %j", (value, expected) => {
    expect(u.sessionKeyParse(value)).toBe(expected);
  });

  it("round-trips every endpoint id and block count", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 1 << 20 }), (id, blocks) => {
        const text = u.placementFormat(id, blocks);
        expect(text).toBe(`${id.toString(16).padStart(8, "0")} ${blocks}`);
        expect(u.placementParse(text)).toBe(text);
      }),
    );
  });

  it("any other value is refused or read as the canonical form of what it says, never a trap", () => {
    const nearValid = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: 16 }), fc.string({ maxLength: 3 }))
      .map(([id, blocks, at, junk]) => {
        const s = `${id.toString(16).padStart(8, "0")} ${blocks}`;
        return s.slice(0, at) + junk + s.slice(at);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 24 }), nearValid), (value) => {
        const parsed = u.placementParse(value);
        if (parsed === "invalid") return;
        expect(parsed).toMatch(/^[0-9a-f]{8} (0|[1-9][0-9]*)$/);
        expect(value.slice(0, 9)).toBe(parsed.slice(0, 9));
        expect(Number(value.slice(9))).toBe(Number(parsed.slice(9)));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("session placements in shared data", () => {
  const fresh = () => {
    const s = u.storeNew();
    return { s, p: u.placementsNew(s) };
  };

  it("remembers the last placement of a session, and nothing for one it never saw", () => {
    const { p } = fresh();
    const a = sessionIn(3, 1);
    expect(u.placementsLookup(p, a)).toBe("");
    expect(u.placementsRecord(p, a, 0xaa, 10)).toBe(true);
    expect(u.placementsLookup(p, a)).toBe("000000aa 10");
    expect(u.placementsRecord(p, a, 0xbb, 14)).toBe(true);
    expect(u.placementsLookup(p, a)).toBe("000000bb 14");
    expect(u.placementsLookup(p, sessionIn(3, 2))).toBe("");
    expect(u.placementsLookup(p, sessionIn(4, 1))).toBe("");
  });

  it("a bucket keeps its 16 most recent sessions: the 17th drops the oldest, a re-recorded one counts as recent", () => {
    const { s, p } = fresh();
    for (let i = 0; i < 16; i++) u.placementsRecord(p, sessionIn(7, i), i, i);
    expect(u.storeGet(s, bucketKey(7)).length).toBe(256);
    u.placementsRecord(p, sessionIn(7, 0), 100, 5); // session 0 is now the most recent
    u.placementsRecord(p, sessionIn(7, 16), 16, 16); // drops session 1, the oldest
    expect(u.storeGet(s, bucketKey(7)).length).toBe(256);
    expect(u.placementsLookup(p, sessionIn(7, 0))).toBe("00000064 5");
    expect(u.placementsLookup(p, sessionIn(7, 1))).toBe("");
    for (let i = 2; i <= 16; i++) expect(u.placementsLookup(p, sessionIn(7, i))).toBe(`${i.toString(16).padStart(8, "0")} ${i}`);
    // Another bucket is untouched by all of this.
    u.placementsRecord(p, sessionIn(8, 0), 1, 1);
    expect(u.placementsLookup(p, sessionIn(7, 0))).toBe("00000064 5");
    expect(u.storeGet(s, bucketKey(8)).length).toBe(16);
    // Bucket = high 32 bits modulo 1,024: 1,024 + 7 shares bucket 7.
    u.placementsRecord(p, sessionIn(1024 + 7, 0), 2, 2);
    expect(u.placementsLookup(p, sessionIn(7, 2))).toBe("");
  });

  it("an unchanged placement is not written again", () => {
    const { s, p } = fresh();
    const a = sessionIn(9, 9);
    u.placementsRecord(p, a, 5, 20);
    const writes = u.storeWrites(s);
    expect(u.placementsRecord(p, a, 5, 20)).toBe(true);
    expect(u.storeWrites(s)).toBe(writes);
    u.placementsRecord(p, a, 5, 21);
    expect(u.storeWrites(s)).toBe(writes + 1);
  });

  it("a value of another layout reads as empty and is replaced by the next record", () => {
    const { s, p } = fresh();
    const a = sessionIn(11, 1);
    for (const junk of [new Uint8Array(15), new Uint8Array(17).fill(0xff), new Uint8Array(1)]) {
      u.storeSet(s, bucketKey(11), junk);
      expect(u.placementsLookup(p, a)).toBe("");
      expect(u.placementsRecord(p, a, 3, 4)).toBe(true);
      expect(u.storeGet(s, bucketKey(11)).length).toBe(16);
      expect(u.placementsLookup(p, a)).toBe("00000003 4");
    }
  });

  it("the key space is bounded: 20,000 sessions fill at most 1,024 keys of 256 bytes", () => {
    const { s, p } = fresh();
    let x = 12345;
    for (let i = 0; i < 20000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      u.placementsRecord(p, x.toString(16).padStart(8, "0") + i.toString(16).padStart(8, "0"), i, i % 300);
    }
    expect(u.storeKeyCount(s)).toBeLessThanOrEqual(1024);
    expect(u.storeTotalBytes(s)).toBeLessThanOrEqual(1024 * 256);
  });
});
