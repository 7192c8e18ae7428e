// XXH64 and the block chain through build/units-hashing.wasm
// (assembly/hashing/testing.ts). Expected values: the seed's golden vectors
// (docs/reference/seed.md#golden-vectors) and the independent XXH64 of
// the npm package xxhash-wasm.
import fc from "fast-check";
import xxhash from "xxhash-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"hashing">;
let ref: Awaited<ReturnType<typeof xxhash>>;
const enc = new TextEncoder();
const hex = (v: bigint) => v.toString(16).padStart(16, "0");

beforeAll(async () => {
  u = await loadUnits("hashing");
  ref = await xxhash();
});

describe("sameBytes (util/bytes: the memos' byte comparison)", () => {
  it("equals a plain comparison for any lengths, offsets (alignments) and a difference anywhere", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 15 }),
        fc.option(fc.nat(), { nil: undefined }),
        (bytes, aAt, bAt, flip) => {
          const a = new Uint8Array(aAt + bytes.length);
          const b = new Uint8Array(bAt + bytes.length);
          a.set(bytes, aAt);
          b.set(bytes, bAt);
          if (flip !== undefined && bytes.length > 0) b[bAt + (flip % bytes.length)] ^= 1 << (flip % 8);
          const equal = Buffer.compare(a.subarray(aAt), b.subarray(bAt)) === 0;
          expect(u.sameBytesAt(a, aAt, b, bAt, bytes.length)).toBe(equal);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("xxh64", () => {
  it.each([
    ["", "ef46db3751d8e999"],
    ["test-model1", "55b9ce9184dd8509"],
  ])("XXH64(%j) = %s (seed golden vector)", (input, expected) => {
    expect(u.xxh64Hex(enc.encode(input), 0n)).toBe(expected);
  });

  it("matches xxhash-wasm on random inputs and seeds (one shot)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (bytes, seed) => {
        expect(u.xxh64Hex(bytes, seed)).toBe(hex(ref.h64Raw(bytes, seed)));
      }),
      { numRuns: 300 },
    );
  });

  it("streaming in arbitrary chunks equals one shot and xxhash-wasm", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.array(fc.integer({ min: 0, max: 70 }), { maxLength: 12 }),
        (bytes, seed, chunks) => {
          expect(u.xxh64StreamHex(bytes, seed, Int32Array.from(chunks))).toBe(hex(ref.h64Raw(bytes, seed)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("block chain: seed golden vectors", () => {
  // [model, salt | null, prompt, blockSize, hashTrailingBlock, expected]
  const cases: Array<[string, string | null, string, number, boolean, string]> = [
    ["test-model1", null, "aaaaaa", 4, false, "cc8952e70e1c4504"],
    ["test-model1", null, "aaaabbbb", 4, false, "cc8952e70e1c4504 251707ac8b048154"],
    ["test-model1", null, "aaaabbbbcccc", 4, false, "cc8952e70e1c4504 251707ac8b048154 a39267888ad6734a"],
    ["test-model2", null, "bbbbbb", 4, false, "0e0b3b65f6e5c15d"],
    ["test-model-new", null, "aaaabbbb", 4, false, "290aa1412c11a41e 069d47acc90dc82e"],
    ["test-model1", "abc", "aaaabbbbcccc", 4, false, "c67050368526a7c4 60a683dc91e6e3d3 8652b5026acf9ffb"],
    ["test-model1", null, "aaaabbbbcc", 4, true, "cc8952e70e1c4504 251707ac8b048154 58c20ecce59ab5af"],
    [
      "meta-llama/Llama-3.1-8B-Instruct",
      null,
      Array.from({ length: 200 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(""),
      64,
      false,
      "66089c0326be8b90 1b8af9f84f6f5c31 20e0a0ae56889bca",
    ],
  ];
  it.each(cases)("%s salt=%s %j S=%i trailing=%s", (model, salt, prompt, S, trailing, expected) => {
    expect(u.chainHex(model, salt ?? "", salt !== null, enc.encode(prompt), S, 256, trailing)).toBe(expected);
  });

  it("drops a short prompt without trailing hashing, keeps it with", () => {
    expect(u.chainHex("m", "", false, enc.encode("abc"), 4, 256, false)).toBe("");
    expect(u.chainHex("m", "", false, enc.encode("abc"), 4, 256, true)).not.toBe("");
    expect(u.chainHex("m", "", false, new Uint8Array(0), 4, 256, true)).toBe("");
  });

  it("truncates to maxBlocks (the partial tail past the cap is not hashed)", () => {
    const long = enc.encode("aaaabbbbccccdd");
    expect(u.chainHex("test-model1", "", false, long, 4, 2, true)).toBe("cc8952e70e1c4504 251707ac8b048154");
  });

  it("an empty salt differs from no salt only through the bytes (both = XXH64(model))", () => {
    const p = enc.encode("aaaabbbb");
    expect(u.chainHex("test-model1", "", true, p, 4, 256, false)).toBe(u.chainHex("test-model1", "", false, p, 4, 256, false));
  });

  it("chunked writes give the same chain as one write (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 12 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 90 }), { maxLength: 10 }),
        (bytes, S, N, trailing, chunks) => {
          expect(u.chainChunkedHex("m", bytes, S, N, trailing, Int32Array.from(chunks))).toBe(u.chainHex("m", "", false, bytes, S, N, trailing));
        },
      ),
      { numRuns: 200 },
    );
  });

  // Blocks up to 4 KiB are hashed in one call over (block ‖ prev); larger ones
  // stream (assembly/hashing/blocks.ts): both paths against the definition.
  it.each([
    ["small blocks", 300, 1, 40],
    ["blocks around the 4 KiB one-call limit", 20000, 4090, 4100],
    ["blocks past it (streaming path)", 40000, 4097, 9000],
  ])("chain equals the definition computed with xxhash-wasm (%s, property)", (_name, maxLength, minS, maxS) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength }), fc.integer({ min: minS, max: maxS }), fc.boolean(), (bytes, S, trailing) => {
        let prev = ref.h64Raw(enc.encode("model-x"), 0n);
        const out: string[] = [];
        const full = Math.floor(bytes.length / S);
        const n = Math.min(8, trailing ? Math.ceil(bytes.length / S) : full);
        for (let i = 0; i < n; i++) {
          const block = bytes.subarray(i * S, Math.min(bytes.length, (i + 1) * S));
          const buf = new Uint8Array(block.length + 8);
          buf.set(block);
          new DataView(buf.buffer).setBigUint64(block.length, prev, true);
          prev = ref.h64Raw(buf, 0n);
          out.push(hex(prev));
        }
        expect(u.chainHex("model-x", "", false, bytes, S, 8, trailing)).toBe(out.join(" "));
      }),
      { numRuns: maxLength > 1000 ? 40 : 200 },
    );
  });
});
