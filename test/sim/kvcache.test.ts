import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blockHashes, chainHashes, maxHitBlocks, PrefixCache, rootDigest } from "../../src/sim/kvcache.js";

const BS = 16;

/** Token ids start, start+1, ... (n of them). */
function seq(n: number, start = 1): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

describe("block hashes", () => {
  it("one hash per full block, partial tail ignored", () => {
    expect(blockHashes(seq(15), BS)).toHaveLength(0);
    expect(blockHashes(seq(16), BS)).toHaveLength(1);
    expect(blockHashes(seq(47), BS)).toHaveLength(2);
    expect(blockHashes(seq(48), BS)).toHaveLength(3);
  });

  it("chained: a block's hash depends on everything before it", () => {
    const a = blockHashes(seq(64), BS);
    const b = blockHashes([999, ...seq(63, 2)], BS); // only token 0 differs
    expect(a.every((h, i) => h !== b[i])).toBe(true);
    const c = blockHashes([...seq(48), ...seq(16, 500)], BS); // only the last block differs
    expect(c.slice(0, 3)).toEqual(a.slice(0, 3));
    expect(c[3]).not.toBe(a[3]);
  });

  it("the root (LoRA / cache_salt) separates otherwise equal prompts", () => {
    expect(blockHashes(seq(32), BS, "lora:a")[0]).not.toBe(blockHashes(seq(32), BS, "")[0]);
  });

  it("continuing a chain equals hashing the whole sequence at once", () => {
    const tokens = seq(100);
    const head = chainHashes(tokens, 0, 48, BS, rootDigest(""));
    const tail = chainHashes(tokens, 48, 100, BS, head.last);
    expect([...head.hashes, ...tail.hashes]).toEqual(blockHashes(tokens, BS));
  });

  it("the whole prompt can never be a hit: at least the last token is recomputed", () => {
    expect(maxHitBlocks(0, BS)).toBe(0);
    expect(maxHitBlocks(1, BS)).toBe(0);
    expect(maxHitBlocks(16, BS)).toBe(0);
    expect(maxHitBlocks(17, BS)).toBe(1);
    expect(maxHitBlocks(32, BS)).toBe(1);
    expect(maxHitBlocks(33, BS)).toBe(2);
  });
});

describe("PrefixCache", () => {
  it("counts hits on a shared prefix, block-aligned", () => {
    const cache = new PrefixCache(64, BS);
    const system = seq(40); // 2 full blocks + 8 tokens shared
    const a = [...system, ...seq(30, 1000)];
    const b = [...system, ...seq(30, 2000)];
    const first = cache.allocate(blockHashes(a, BS), a.length, a.length + 10)!;
    expect(first.hitBlocks).toBe(0);
    cache.release(first);
    expect(cache.cachedTokens(blockHashes(b, BS), b.length)).toBe(32);
    const again = cache.allocate(blockHashes(a, BS), a.length, a.length + 10)!;
    expect(again.hitBlocks).toBe(4); // floor((70 - 1) / 16)
  });

  it("a repeated prompt of exactly 2 blocks hits 1 block (last token recomputed)", () => {
    const cache = new PrefixCache(8, BS);
    const p = seq(32);
    cache.release(cache.allocate(blockHashes(p, BS), 32, 33)!);
    expect(cache.cachedTokens(blockHashes(p, BS), 32)).toBe(16);
  });

  it("evicts least recently freed first and, within a request, its tail first", () => {
    // 6 blocks. A: 65 prompt tokens + 1 output = 66 tokens = 5 blocks, 4 full prompt blocks cached.
    const cache = new PrefixCache(6, BS);
    const a = seq(65);
    const ha = blockHashes(a, BS);
    const alloc = cache.allocate(ha, 65, 66)!;
    expect(PrefixCache.blockIds(alloc)).toEqual([0, 1, 2, 3, 4]);
    cache.release(alloc);
    // Block 5 was never used (head); A's blocks come back last-first.
    expect(cache.freeQueueIds()).toEqual([5, 4, 3, 2, 1, 0]);
    // An unrelated request needs 3 blocks: takes 5, 4 (A's partial tail) and 3 (A's 4th block).
    const b = seq(40, 5000);
    cache.release(cache.allocate(blockHashes(b, BS), 40, 41)!);
    expect(cache.evictions).toBe(1);
    expect(cache.cachedTokens(ha, 65)).toBe(48); // blocks 1..3 survive: the tail went first
    // Free queue is now [2, 1, 0, 3, 4, 5]: another unrelated 3-block request takes A's
    // remaining blocks (freed before B's), tail first.
    const c = seq(40, 9000);
    cache.release(cache.allocate(blockHashes(c, BS), 40, 41)!);
    expect(cache.cachedTokens(ha, 65)).toBe(0); // A's first block (id 0) was evicted before B's blocks
    expect(cache.cachedTokens(blockHashes(b, BS), 40)).toBe(32);
  });

  it("a hit moves the prefix to the most-recently-used end", () => {
    const a = seq(33);
    const b = seq(33, 100);
    const fresh = new PrefixCache(6, BS);
    fresh.release(fresh.allocate(blockHashes(a, BS), 33, 48)!); // A: 3 blocks (ids 0,1,2)
    fresh.release(fresh.allocate(blockHashes(b, BS), 33, 48)!); // B: ids 3,4,5
    fresh.release(fresh.allocate(blockHashes(a, BS), 33, 48)!); // A hits 2 blocks → they move behind B's
    const c = seq(33, 200);
    fresh.release(fresh.allocate(blockHashes(c, BS), 33, 48)!); // needs 3 blocks: evicts B's, not A's
    expect(fresh.cachedTokens(blockHashes(a, BS), 33)).toBe(32);
    expect(fresh.cachedTokens(blockHashes(b, BS), 33)).toBe(0);
  });

  it("blocks held by a running request are never evicted; allocation fails instead", () => {
    const cache = new PrefixCache(4, BS);
    const a = seq(48);
    const held = cache.allocate(blockHashes(a, BS), 48, 49)!; // 4 blocks: all of them
    expect(cache.usage).toBe(1);
    expect(cache.allocate(blockHashes(seq(20, 700), BS), 20, 21)).toBeNull();
    // A second request with the same prefix shares the held blocks (refcount) but needs 2 new ones.
    expect(cache.allocate(blockHashes(a, BS), 48, 49)).toBeNull();
    cache.release(held);
    expect(cache.usage).toBe(0);
    expect(cache.cachedTokens(blockHashes(a, BS), 48)).toBe(32);
  });

  it("shared blocks are reference counted", () => {
    const cache = new PrefixCache(16, BS);
    const a = seq(64);
    cache.release(cache.allocate(blockHashes(a, BS), 64, 65)!);
    const x = cache.allocate(blockHashes(a, BS), 64, 65)!;
    const y = cache.allocate(blockHashes(a, BS), 64, 65)!;
    expect(PrefixCache.blockIds(x).slice(0, 3)).toEqual(PrefixCache.blockIds(y).slice(0, 3));
    expect(cache.usedBlocks).toBe(3 + 2 + 2); // 3 shared + 2 own each
    cache.release(x);
    expect(cache.usedBlocks).toBe(5);
    cache.release(y);
    expect(cache.usedBlocks).toBe(0);
  });

  it("output blocks get cached at release", () => {
    const cache = new PrefixCache(16, BS);
    const prompt = seq(20);
    const output = seq(30, 4000);
    const ha = blockHashes(prompt, BS);
    const alloc = cache.allocate(ha, 20, 50)!;
    const chain = chainHashes(prompt, 0, 20, BS, rootDigest(""));
    const tail = [...prompt.slice(16), ...output];
    cache.release(alloc, chainHashes(tail, 0, tail.length, BS, chain.last).hashes);
    const next = [...prompt, ...output, ...seq(10, 8000)]; // the next turn contains the reply
    expect(cache.cachedTokens(blockHashes(next, BS), next.length)).toBe(48);
  });

  it("reset forgets every hash", () => {
    const cache = new PrefixCache(8, BS);
    const a = seq(40);
    cache.release(cache.allocate(blockHashes(a, BS), 40, 41)!);
    expect(cache.cachedBlockCount).toBe(2);
    cache.reset();
    expect(cache.cachedBlockCount).toBe(0);
    expect(cache.cachedTokens(blockHashes(a, BS), 40)).toBe(0);
    expect(cache.freeBlocks).toBe(8);
  });

  it("property: never more cached blocks than capacity, usage within [0,1], hits below the prompt", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ prefix: fc.integer({ min: 0, max: 3 }), len: fc.integer({ min: 1, max: 90 }), out: fc.integer({ min: 1, max: 20 }) }), {
          maxLength: 40,
        }),
        fc.integer({ min: 2, max: 12 }),
        (requests, capacity) => {
          const cache = new PrefixCache(capacity, BS);
          const live: ReturnType<PrefixCache["allocate"]>[] = [];
          for (const r of requests) {
            const tokens = seq(r.len, r.prefix * 1000);
            const hashes = blockHashes(tokens, BS);
            const hit = cache.cachedTokens(hashes, r.len);
            if (hit >= r.len || hit % BS !== 0) return false;
            const alloc = cache.allocate(hashes, r.len, r.len + r.out);
            if (alloc !== null) live.push(alloc);
            if (live.length > 2) cache.release(live.shift()!);
            if (cache.cachedBlockCount > capacity || cache.usage < 0 || cache.usage > 1) return false;
          }
          for (const a of live) cache.release(a!);
          return cache.usage === 0 && cache.freeBlocks === capacity;
        },
      ),
      { numRuns: 200 },
    );
  });
});
