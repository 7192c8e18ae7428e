// The runtime's allocator (assembly/runtime/block_cache.ts): freed small
// blocks kept on per-size lists and handed out again, bytes held capped, and
// under any sequence of allocations, frees and reallocations no two live
// blocks overlap and none loses its contents.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"request">;
beforeAll(async () => {
  u = await loadUnits("request");
});

/** The cache's limit on the bytes its lists hold (CACHE_LIMIT_BYTES). */
const CACHE_LIMIT = 1 << 20;

/** Frees every block a test still holds. */
function freeAll(ptrs: number[]): void {
  for (const p of ptrs) u.runtimeFree(p);
}

describe("block sizes: what TLSF gives a request, and so which list a block returns to", () => {
  // [requested bytes, block size]: 16k − 4 bytes, at least 12.
  const table: Array<[number, number]> = [
    [0, 12],
    [1, 12],
    [12, 12],
    [13, 28],
    [28, 28],
    [29, 44],
    [100, 108],
    [108, 108],
    [1020, 1020],
    [1021, 1036],
    [5000, 5004],
  ];
  it.each(table)("%i bytes → a block of %i", (size, block) => {
    const p = u.runtimeAlloc(size);
    expect(p % 16).toBe(0);
    expect(u.runtimeBlockSize(p)).toBe(block);
    u.runtimeFree(p);
  });
});

describe("a freed small block is handed out again", () => {
  it("to the next request of its size class, last freed first, and not to another class", () => {
    const a = u.runtimeAlloc(100);
    const b = u.runtimeAlloc(100);
    const before = u.runtimeCachedBytes();
    u.runtimeFree(a);
    u.runtimeFree(b);
    // Two blocks of 108 bytes and their 4-byte headers on the list.
    expect(u.runtimeCachedBytes() - before).toBe(2 * 112);
    const other = u.runtimeAlloc(92); // the 92-byte class: not from this list
    expect([a, b]).not.toContain(other);
    expect(u.runtimeAlloc(105)).toBe(b); // same class (108): last freed first
    expect(u.runtimeAlloc(97)).toBe(a);
    expect(u.runtimeCachedBytes()).toBe(before);
    const fresh = u.runtimeAlloc(100);
    expect([a, b]).not.toContain(fresh);
    freeAll([other, a, b, fresh]);
  });

  it("a block past 1,020 bytes goes back to TLSF, not to a list", () => {
    const before = u.runtimeCachedBytes();
    const big = u.runtimeAlloc(1021);
    u.runtimeFree(big);
    expect(u.runtimeCachedBytes()).toBe(before);
  });

  it("the lists hold at most 1 MiB; frees past it go to TLSF", () => {
    const before = u.runtimeCachedBytes();
    const blocks: number[] = [];
    // 1,020-byte blocks (1,024 with the header): enough to fill the cache twice over.
    for (let i = 0; i < (2 * CACHE_LIMIT) / 1024; i++) blocks.push(u.runtimeAlloc(1020));
    freeAll(blocks);
    const held = u.runtimeCachedBytes();
    expect(held).toBeLessThanOrEqual(CACHE_LIMIT);
    expect(held).toBeGreaterThan(CACHE_LIMIT - 1024);
    // Handed out again, the cache empties back to where it started.
    const again: number[] = [];
    for (let i = 0; i < (held - before) / 1024; i++) again.push(u.runtimeAlloc(1020));
    expect(u.runtimeCachedBytes()).toBe(before);
    freeAll(again);
  });
});

describe("property: live blocks never overlap and keep their bytes", () => {
  type Op = { kind: "alloc"; size: number } | { kind: "free"; pick: number } | { kind: "realloc"; pick: number; size: number };
  const size = fc.oneof(fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 1100 }), fc.integer({ min: 0, max: 20_000 }));
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: size.map((s) => ({ kind: "alloc" as const, size: s })) },
    { weight: 2, arbitrary: fc.nat().map((n) => ({ kind: "free" as const, pick: n })) },
    { weight: 1, arbitrary: fc.tuple(fc.nat(), size).map(([n, s]) => ({ kind: "realloc" as const, pick: n, size: s })) },
  );

  it("under random allocations, frees and reallocations", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const live = new Map<number, { size: number; tag: number }>();
        let tag = 1;
        const bytes = () => new Uint8Array(u.memory.buffer);
        const fill = (p: number, n: number, t: number) => bytes().fill(t & 0xff, p, p + n);
        const intact = (p: number, n: number, t: number) =>
          bytes()
            .subarray(p, p + n)
            .every((b) => b === (t & 0xff));
        const pick = (n: number) => [...live.keys()][n % live.size];
        for (const o of ops) {
          if (o.kind === "alloc") {
            const p = u.runtimeAlloc(o.size);
            expect(live.has(p)).toBe(false);
            expect(u.runtimeBlockSize(p)).toBeGreaterThanOrEqual(o.size);
            live.set(p, { size: o.size, tag: tag });
            fill(p, o.size, tag++);
          } else if (live.size > 0) {
            const p = pick(o.pick);
            const block = live.get(p)!;
            live.delete(p);
            if (o.kind === "free") {
              u.runtimeFree(p);
            } else {
              const q = u.runtimeRealloc(p, o.size);
              // The bytes both sizes cover move with the block.
              expect(intact(q, Math.min(block.size, o.size), block.tag)).toBe(true);
              live.set(q, { size: o.size, tag: tag });
              fill(q, o.size, tag++);
            }
          }
          expect(u.runtimeCachedBytes()).toBeLessThanOrEqual(CACHE_LIMIT);
        }
        // Every live block still holds its own bytes, and no two overlap.
        const spans = [...live.entries()].sort((a, b) => a[0] - b[0]);
        for (let i = 0; i < spans.length; i++) {
          const [p, { size: n, tag: t }] = spans[i];
          expect(intact(p, n, t)).toBe(true);
          if (i + 1 < spans.length) expect(p + Math.max(n, 1)).toBeLessThanOrEqual(spans[i + 1][0]);
        }
        freeAll([...live.keys()]);
      }),
      { numRuns: 200 },
    );
  });
});
