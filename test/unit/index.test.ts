// The prefix index (assembly/index) through build/units-hashing.wasm.
// Expected values are written out: the seed's plugin table
// (docs/reference/seed.md#pinned-prefix-tests), read counts derived from the
// design in docs/hashing.md, and no-lost-update / byte-bound invariants.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits, type Units } from "../support";

let u: Units<"hashing">;
const enc = new TextEncoder();
const P1 = "10.0.0.1:8000";
const P2 = "10.0.0.2:8000";
const POOL = `${P1},${P2}`;

beforeAll(async () => {
  u = await loadUnits("hashing");
});

/** n random u64 hashes as LE bytes, deterministic in `seed`. */
function randomHashes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n * 8);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
const concat = (a: Uint8Array, b: Uint8Array) => {
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
};

function newIndex(opts: Partial<{ bpe: number; eps: number; group: number; entries: number; retries: number }> = {}) {
  const s = u.storeNew();
  const ix = u.indexNew(s, opts.bpe ?? 31250, opts.eps ?? 16, opts.group ?? 16, opts.entries ?? 128, opts.retries ?? 8);
  u.indexInit(ix);
  return { s, ix };
}

describe("seed TestPrefixPluginCompletion (S=4, PR-commit chain)", () => {
  it("scores 0, 0, 0.5, 0 (different model), 2/3", () => {
    const { ix } = newIndex();
    const steps: Array<[string, string, number[], string]> = [
      ["test-model1", "aaaaaa", [0, 0], P1],
      ["test-model2", "bbbbbb", [0, 0], P2],
      ["test-model1", "aaaabbbb", [0.5, 0], P1],
      ["test-model-new", "aaaabbbb", [0, 0], P1],
      ["test-model1", "aaaabbbbcccc", [2 / 3, 0], P1],
    ];
    for (const [model, prompt, expected, pick] of steps) {
      const h = u.chainBytes(model, enc.encode(prompt), 4, 256, false);
      const scores = Array.from(u.indexScoreAndRecord(ix, h, POOL, pick, 1_000) as Float64Array);
      expect(scores.map((x) => x.toFixed(6))).toEqual(expected.map((x) => x.toFixed(6)));
    }
  });

  it("the same table with the trailing block hashed gives the same scores", () => {
    const { ix } = newIndex();
    const expected = [
      [0, 0],
      [0, 0],
      [0.5, 0],
      [0, 0],
      [2 / 3, 0],
    ];
    const steps: Array<[string, string, string]> = [
      ["test-model1", "aaaaaa", P1],
      ["test-model2", "bbbbbb", P2],
      ["test-model1", "aaaabbbb", P1],
      ["test-model-new", "aaaabbbb", P1],
      ["test-model1", "aaaabbbbcccc", P1],
    ];
    steps.forEach(([model, prompt, pick], i) => {
      const h = u.chainBytes(model, enc.encode(prompt), 4, 256, true);
      const scores = Array.from(u.indexScoreAndRecord(ix, h, POOL, pick, 1_000) as Float64Array);
      expect(scores.map((x) => x.toFixed(6))).toEqual(expected[i].map((x) => x.toFixed(6)));
    });
  });
});

describe("scoring", () => {
  it("no hashes scores 0 for everyone and reads nothing", () => {
    const { s, ix } = newIndex();
    const before = u.storeReads(s);
    expect(Array.from(u.indexScore(ix, new Uint8Array(0), POOL))).toEqual([0, 0]);
    expect(u.storeReads(s) - before).toBe(0);
  });

  it("a 256-block miss costs 2 reads, a full hit 2 (+1 for the endpoints that miss), a half hit 8 (binary search + one read per boundary group)", () => {
    const { s, ix } = newIndex();
    const h = randomHashes(256, 7);
    let r = u.storeReads(s);
    expect(Array.from(u.indexScore(ix, h, POOL))).toEqual([0, 0]);
    // Group 0 in its inner home (bucket of h[15]), then its tail home (bucket
    // of h[0]) where a shorter earlier prompt would have left it.
    expect(u.storeReads(s) - r).toBe(2);
    expect(u.indexRecord(ix, h, P1, 1_000)).toBe(true);
    r = u.storeReads(s);
    expect(Array.from(u.indexScore(ix, h, POOL))).toEqual([1, 0]);
    // Groups 0 and 15 (P1 holds everything: no boundary), then group 0's tail
    // home for P2, whose boundary is group 0.
    expect(u.storeReads(s) - r).toBe(3);
    r = u.storeReads(s);
    expect(Array.from(u.indexScore(ix, h, P1))).toEqual([1]);
    expect(u.storeReads(s) - r).toBe(2);
    const half = concat(h.subarray(0, 130 * 8), randomHashes(126, 8));
    r = u.storeReads(s);
    // A sibling that diverges inside group 8 (block 130) finds groups 0..7;
    // group 8 of h lives under the bucket of h[143], which `half` does not
    // have (docs/hashing.md "Placement": the price of no hot bucket).
    expect(Array.from(u.indexMatch(ix, half, POOL))).toEqual([128, 0]);
    // Groups 0, 15, 8, 4, 6, 7 (bisection to P1's boundary 8), then the other
    // home of group 8 (P1's boundary) and of group 0 (P2's boundary).
    expect(u.storeReads(s) - r).toBe(8);
  });

  it("per-endpoint matched lengths: each endpoint gets its own prefix length", () => {
    const { ix } = newIndex({ group: 4 });
    const h = randomHashes(40, 11);
    u.indexRecord(ix, h.subarray(0, 10 * 8), P1, 1_000);
    u.indexRecord(ix, h.subarray(0, 27 * 8), P2, 1_000);
    expect(Array.from(u.indexMatch(ix, h, `${P1},${P2},10.0.0.3:8000`))).toEqual([10, 27, 0]);
  });

  it("entries of an endpoint that left the pool never score; its return does not disturb others", () => {
    const { ix } = newIndex();
    const h = randomHashes(20, 3);
    u.indexRecord(ix, h, P2, 1_000);
    expect(Array.from(u.indexScore(ix, h, P1))).toEqual([0]);
    expect(Array.from(u.indexScore(ix, h, `10.0.0.9:8000,${P1}`))).toEqual([0, 0]);
    expect(Array.from(u.indexScore(ix, h, `${P1},${P2}`))).toEqual([0, 1]);
  });

  it("forget removes only the blocks the failed request newly credited", () => {
    const { ix } = newIndex({ group: 4 });
    const h = randomHashes(12, 5);
    u.indexRecord(ix, h.subarray(0, 5 * 8), P1, 1_000);
    const matched = u.indexMatch(ix, h, P1)[0];
    expect(matched).toBe(5);
    u.indexRecord(ix, h, P1, 2_000);
    expect(u.indexMatch(ix, h, P1)[0]).toBe(12);
    expect(u.indexForget(ix, h, matched, P1)).toBe(true);
    expect(u.indexMatch(ix, h, P1)[0]).toBe(5);
  });

  // [blocks, groups]: whole groups, and a chain whose last group is partial
  // (a full hit reads groups 0 and K−1 only; the partial last group counts as held).
  it.each([
    [256, 16],
    [124, 8],
    [17, 2],
    [5, 1],
  ])(
    "record after a fresh full hit of %i blocks writes nothing; a stale one refreshes all %i groups (no horizon: stale after 31250 / 4 blocks written)",
    (blocks, groups) => {
      const { s, ix } = newIndex();
      const h = randomHashes(blocks, 9);
      u.indexScoreAndRecord(ix, h, POOL, P1, 1_000);
      let w = u.storeWrites(s);
      u.indexScoreAndRecord(ix, h, POOL, P1, 5_000);
      expect(u.storeWrites(s) - w).toBe(0);
      w = u.storeWrites(s);
      u.indexScoreAndRecord(ix, h, POOL, P1, 100_000);
      expect(u.storeWrites(s) - w).toBe(groups);
    },
  );
});

describe('placement: inner groups by their last block, a chain\'s last group by its first (docs/hashing.md "Placement")', () => {
  /** `count` chains of `shared` common blocks then 64 blocks of their own, recorded alternately on P1 and P2. */
  function siblings(ix: number, shared: number, count: number): Uint8Array[] {
    const common = randomHashes(shared, 4242);
    const chains: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const c = concat(common, randomHashes(64, 7000 + i));
      u.indexRecord(ix, c, i % 2 === 0 ? P1 : P2, 1_000 + i * 1_000);
      chains.push(c);
    }
    return chains;
  }

  // The doc-qa hot bucket: every prompt starts with the same short system
  // prompt and continues with its own document, so version 1 (group k in
  // the bucket of h[16k]) put every chain's divergence group into ONE bucket
  // of 128 entries and evicted a chain's group after ~8 others; matching
  // stopped there. Capacity is ample here (3,907 buckets, 48 × ≤ 164 blocks).
  it.each([
    // [shared blocks, what the other endpoint matches: the shared blocks down to a group boundary]
    [1, 0],
    [5, 0],
    [21, 16],
    [100, 96],
  ])("48 chains sharing %i first block(s), diverging inside a group: the first still scores its full prefix after 47 others", (shared, onOther) => {
    const { ix } = newIndex();
    const chains = siblings(ix, shared, 48);
    chains.forEach((c, i) => {
      const [mine, other] = Array.from(u.indexMatch(ix, c, i % 2 === 0 ? `${P1},${P2}` : `${P2},${P1}`) as Int32Array);
      expect(mine, `chain ${i}`).toBe(shared + 64);
      // Every entry is still where the chain keeps it (a full hit reads only
      // groups 0 and the last, so this also covers groups in between).
      expect(u.indexHolds(ix, c, 0, shared + 64, i % 2 === 0 ? P1 : P2), `chain ${i} entries`).toBe(true);
      // The other endpoint really holds the shared blocks; the index finds at
      // least those before the divergence group, and more only when a bucket
      // collision happens to put its entries where this chain looks.
      expect(other, `chain ${i} on the other endpoint`).toBeGreaterThanOrEqual(onOther);
      expect(other, `chain ${i} on the other endpoint`).toBeLessThanOrEqual(shared);
    });
  });

  it("the same workload in version 1's placement would lose the early chains (the hot bucket the test guards against)", () => {
    // All 48 divergence groups share one first block: 48 × 16 entries into one
    // 128-entry bucket. Version 2 spreads them: no bucket holds more than the
    // shared group's copies (one per endpoint) plus chance collisions.
    const { s, ix } = newIndex();
    siblings(ix, 5, 48);
    const counts: number[] = [];
    for (let b = 0; b < u.indexNumBuckets(ix); b++) {
      const v = u.storeGet(s, `llm-picker/prefix/b${b}`) as Uint8Array;
      counts.push(v.length >= 8 ? v[4] | (v[5] << 8) : 0);
    }
    expect(Math.max(...counts)).toBeLessThanOrEqual(64);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(48 * 69); // every entry kept: nothing evicted
  });

  it.each([
    // [blocks of turn 1, blocks of turn 2 extending it]: turn 2 matches all of turn 1, partial last group included
    [38, 60],
    [5, 40],
    [16, 40],
    [17, 18],
    [47, 48],
    [250, 256],
  ])("a next turn matches the previous turn's %i blocks exactly (turn 2: %i blocks)", (n1, n2) => {
    const { s, ix } = newIndex();
    const turn2 = randomHashes(n2, 77);
    const turn1 = turn2.subarray(0, n1 * 8);
    u.indexRecord(ix, turn1, P1, 1_000);
    const r = u.storeReads(s);
    expect(Array.from(u.indexMatch(ix, turn2, POOL))).toEqual([n1, 0]);
    expect(u.storeReads(s) - r).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(Math.ceil(n2 / 16))) + 2);
  });

  it("with the trailing block hashed, a turn of exactly 48 blocks still gives its 47 full blocks to the next turn", () => {
    // Block size 4: 47 full blocks + a 2-byte trailing block. The next turn
    // completes block 47, so its hash differs; group 2 is found through
    // its first block (version 1 did the same; keying it by block 47 would lose 32..46).
    const { ix } = newIndex();
    const text = "abcdefghijklmnopqrstuvwxyz".repeat(10).slice(0, 47 * 4 + 2);
    const t1 = u.chainBytes("m", enc.encode(text), 4, 256, true);
    const t2 = u.chainBytes("m", enc.encode(text + "ZZ and the next user message"), 4, 256, true);
    expect([t1.length / 8, t2.length / 8]).toEqual([48, 55]);
    u.indexRecord(ix, t1, P1, 1_000);
    expect(u.indexMatch(ix, t2, P1)[0]).toBe(47);
  });

  it("property: a next turn matches the previous turn exactly, with up to 6 sibling conversations sharing its start on another endpoint", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 250 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 20 })), { maxLength: 6 }),
        fc.integer({ min: 1, max: 1 << 30 }),
        (n1, extra, others, seed) => {
          const { ix } = newIndex();
          const turn2 = randomHashes(Math.min(256, n1 + extra), seed);
          const turn1 = turn2.subarray(0, n1 * 8);
          u.indexRecord(ix, turn1, P1, 1_000);
          others.forEach(([at, tail], i) => {
            const keep = 1 + (at % n1);
            u.indexRecord(ix, concat(turn1.subarray(0, keep * 8), randomHashes(tail, seed + 1 + i)), P2, 2_000 + i);
          });
          expect(u.indexMatch(ix, turn2, P1)[0]).toBe(n1);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("known cost: a prompt that stops (or diverges) inside a group another prompt wrote whole matches down to the group boundary", () => {
    const { ix } = newIndex();
    const a = randomHashes(60, 55); // groups 0..2 in their inner homes, group 3 (48..59) in its tail home
    u.indexRecord(ix, a, P1, 1_000);
    expect(u.indexMatch(ix, a.subarray(0, 48 * 8), P1)[0]).toBe(48); // ends on a boundary: its last group's inner home is read
    expect(u.indexMatch(ix, a.subarray(0, 40 * 8), P1)[0]).toBe(32); // ends inside group 2: 32..39 are under h[47], which it lacks
    expect(u.indexMatch(ix, concat(a.subarray(0, 40 * 8), randomHashes(20, 56)), P1)[0]).toBe(32); // a sibling diverging inside group 2
    expect(u.indexMatch(ix, concat(a.subarray(0, 52 * 8), randomHashes(20, 57)), P1)[0]).toBe(52); // diverging inside the tail group: exact
  });
});

describe("eviction keeps the prefix property", () => {
  it("in a full bucket the deepest blocks of the oldest write go first", () => {
    // One bucket of 8 entries, groups of 4.
    const { ix } = newIndex({ bpe: 8, eps: 1, group: 4, entries: 8 });
    expect(u.indexNumBuckets(ix)).toBe(1);
    const a = randomHashes(8, 21);
    const b = randomHashes(4, 22);
    u.indexRecord(ix, a, P1, 1_000);
    expect(u.indexMatch(ix, a, P1)[0]).toBe(8);
    u.indexRecord(ix, b, P2, 2_000);
    expect(u.indexMatch(ix, a, P1)[0]).toBe(4); // a[0..4) survives, a[4..8) evicted
    expect(u.indexMatch(ix, b, P2)[0]).toBe(4);
  });
});

describe("multiple writers (worker VMs) over one store", () => {
  it("4 writers interleaving with CAS conflicts lose no update (property over schedules)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 8 }), (schedule, group) => {
        const [failed, conflicts, lost, , , injected] = Array.from(u.interleave(4, 6, 9, group, schedule, 64, false, 42n) as Int32Array);
        if (schedule.some((b) => b !== 0)) expect(injected).toBeGreaterThan(0);
        expect(failed).toBe(0);
        expect(lost).toBe(0);
        expect(conflicts).toBe(injected); // every injected foreign write was caught by CAS
      }),
      { numRuns: 60 },
    );
  });

  it("the same schedule against a store that ignores CAS does lose updates (the test can fail)", () => {
    const schedule = new Uint8Array(200).fill(1);
    const [, , lost] = Array.from(u.interleave(4, 6, 9, 4, schedule, 64, true, 42n) as Int32Array);
    expect(lost).toBeGreaterThan(0);
  });

  it("retries are bounded: a conflict on every write gives up and reports it", () => {
    const schedule = new Uint8Array(10_000).fill(1);
    const [failed, , lost] = Array.from(u.interleave(4, 6, 9, 16, schedule, 2, false, 7n) as Int32Array);
    expect(failed).toBeGreaterThan(0);
    expect(lost).toBeLessThanOrEqual(failed);
  });
});

describe("memory bound", () => {
  it("filling with 10× capacity keeps shared-data bytes within the configured bound", () => {
    const bpe = 2000;
    const eps = 4;
    const { s, ix } = newIndex({ bpe, eps, group: 16, entries: 64 });
    const maxBytes = u.indexMaxBytes(ix);
    const buckets = u.indexNumBuckets(ix);
    expect(buckets).toBe(Math.ceil((bpe * eps) / 64));
    expect(maxBytes).toBe(buckets * (8 + 16 * 64) + 16);
    const endpoints = ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"];
    let last: Uint8Array = new Uint8Array(0);
    let lastEp = 0;
    let blocks = 0;
    for (let r = 0; blocks < 10 * bpe * eps; r++) {
      last = randomHashes(256, 1000 + r);
      lastEp = r % 4;
      u.indexRecord(ix, last, endpoints[lastEp], 1_000 + r);
      blocks += 256;
    }
    expect(u.storeTotalBytes(s)).toBeLessThanOrEqual(maxBytes);
    expect(u.storeTotalBytes(s)).toBeGreaterThan(maxBytes * 0.9); // it really is full
    expect(u.storeKeyCount(s)).toBe(buckets + 1);
    // The most recent request still matches from its start.
    expect(u.indexMatch(ix, last, endpoints.join(","))[lastEp]).toBeGreaterThan(0);
  });

  it("init after a smaller geometry blanks the keys the larger one left", () => {
    const s = u.storeNew();
    const big = u.indexNew(s, 1000, 1, 16, 10, 8);
    u.indexInit(big);
    for (let r = 0; r < 50; r++) u.indexRecord(big, randomHashes(64, r + 1), P1, 1_000);
    const small = u.indexNew(s, 100, 1, 16, 10, 8);
    u.indexInit(small);
    expect(u.storeTotalBytes(s)).toBeLessThanOrEqual(u.indexMaxBytes(small));
  });
});

describe("layout version", () => {
  it("a value of another layout version reads as empty and is replaced by the first write", () => {
    const { s, ix } = newIndex({ bpe: 8, eps: 1, group: 4, entries: 8 });
    const h = randomHashes(4, 31);
    u.indexRecord(ix, h, P1, 1_000);
    const key = "llm-picker/prefix/b0";
    const v3 = u.storeGet(s, key) as Uint8Array;
    // "LPX" v3: version 3 stamps entries with the endpoint's written-blocks clock (docs/hashing.md "Evictions").
    expect(Array.from(v3.subarray(0, 4))).toEqual([0x4c, 0x50, 0x58, 3]);
    // The same entry bytes under earlier layouts (v1: other buckets, v2: stamps in seconds) or a future one (v4) must not be read by v3.
    for (const other of [1, 2, 4]) {
      const foreign = v3.slice();
      foreign[3] = other;
      u.storeSet(s, key, foreign);
      expect(u.indexMatch(ix, h, P1)[0]).toBe(0);
      u.indexRecord(ix, h, P1, 2_000);
      expect(Array.from((u.storeGet(s, key) as Uint8Array).subarray(0, 4))).toEqual([0x4c, 0x50, 0x58, 3]);
      expect(u.indexMatch(ix, h, P1)[0]).toBe(4);
    }
    // Truncated garbage is empty too, never a trap.
    u.storeSet(s, key, new Uint8Array([0x4c, 0x50, 0x58, 3, 200, 0, 0, 0, 1, 2]));
    expect(u.indexMatch(ix, h, P1)[0]).toBe(0);
  });

  it.each([1, 2])("init over a version-%i index (same geometry) rewrites every bucket and the meta key", (old) => {
    const { s, ix } = newIndex({ bpe: 64, eps: 1, group: 4, entries: 16 }); // 4 buckets
    const meta = u.storeGet(s, "llm-picker/prefix/meta") as Uint8Array;
    expect(Array.from(meta.subarray(0, 4))).toEqual([0x4c, 0x50, 0x4d, 3]); // "LPM" v3
    u.indexRecord(ix, randomHashes(16, 3), P1, 1_000);
    // Make the store look like an older module wrote it.
    const oldMeta = meta.slice();
    oldMeta[3] = old;
    u.storeSet(s, "llm-picker/prefix/meta", oldMeta);
    for (let b = 0; b < 4; b++) {
      const v = (u.storeGet(s, `llm-picker/prefix/b${b}`) as Uint8Array).slice();
      v[3] = old;
      u.storeSet(s, `llm-picker/prefix/b${b}`, v);
    }
    const again = u.indexNew(s, 64, 1, 4, 16, 8);
    expect(u.indexInit(again)).toBe(5); // 4 buckets blanked + meta
    for (let b = 0; b < 4; b++) expect(Array.from(u.storeGet(s, `llm-picker/prefix/b${b}`))).toEqual([0x4c, 0x50, 0x58, 3, 0, 0, 0, 0]);
    expect(u.indexInit(again)).toBe(0); // one read when nothing changed
  });
});

describe('reads per request (goal: ≤ 16 on average for 256 blocks, docs/benchmarks.md "Prefix")', () => {
  it("a mixed workload of shared system prompts and growing conversations", () => {
    const { s, ix } = newIndex();
    const endpoints = ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000", "10.0.0.4:8000"];
    const pool = endpoints.join(",");
    const systems = [0, 1, 2, 3].map((i) => randomHashes(96, 500 + i));
    const convs: Uint8Array[] = [];
    let requests = 0;
    const r0 = u.storeReads(s);
    for (let r = 0; r < 300; r++) {
      let h: Uint8Array;
      if (r % 3 === 0 || convs.length === 0) {
        h = concat(systems[r % 4], randomHashes(160, 9000 + r)); // new conversation on a shared system prompt
        convs.push(h);
      } else {
        const c = r % convs.length;
        const grown = concat(convs[c], randomHashes(16, 20000 + r));
        convs[c] = grown;
        h = grown.subarray(0, Math.min(grown.length, 256 * 8)); // the chain is capped at 256 blocks
      }
      const scores: number[] = Array.from(u.indexScore(ix, h, pool));
      const best = scores.indexOf(Math.max(...scores));
      u.indexRecord(ix, h, endpoints[Math.max(...scores) > 0 ? best : r % 4], 1_000 + r * 100);
      requests++;
    }
    const avg = (u.storeReads(s) - r0) / requests;
    console.log(`prefix index: ${avg.toFixed(2)} store reads per request (mixed 256-block workload)`);
    expect(avg).toBeLessThanOrEqual(16);
  });
});

describe('bucket size: a group every endpoint holds fits in its bucket (docs/hashing.md "Bucket size")', () => {
  it.each([
    // groupBlocks, maxEndpoints, entries per bucket
    [16, 16, 256],
    [16, 8, 128],
    [16, 1, 128],
    [4, 16, 128],
    [16, 64, 1024],
    [64, 16, 1024],
    [16, 4096, 4096],
    [0, 0, 128],
  ])("groups of %i blocks, %i endpoints: %i entries", (group, endpoints, entries) => {
    expect(u.indexBucketEntriesFor(group, endpoints)).toBe(entries);
  });

  // One 16-block prompt (one group) sent to each of 16 endpoints in turn:
  // 16 entries each in one bucket. Sized for 8, the bucket keeps the last 8
  // writers and the index believes the first 8 do not hold the prompt.
  const SIXTEEN = Array.from({ length: 16 }, (_, i) => `10.0.1.${i + 1}:8000`);
  it.each([
    ["128 entries (the old fixed size)", 128, [...Array(8).fill(0), ...Array(8).fill(16)]],
    ["bucketEntriesFor(16, 16) = 256", 256, Array(16).fill(16)],
  ])("%s: matched blocks per endpoint", (_name, entries, matched) => {
    const { ix } = newIndex({ eps: 16, group: 16, entries: entries as number });
    const prompt = randomHashes(16, 77);
    for (const [i, ep] of SIXTEEN.entries()) u.indexRecord(ix, prompt, ep, 1_000 + i);
    expect(Array.from(u.indexMatch(ix, prompt, SIXTEEN.join(",")))).toEqual(matched);
  });
});

describe('evictions: an entry counts until its endpoint has had its horizon written since (docs/hashing.md "Evictions")', () => {
  const clocks = (...v: number[]) => Uint32Array.from(v);

  // [case, stamp written, clock at the match, horizon, blocks matched of 8]
  it.each([
    ["no horizon: never evicted", 100, 1_000_000, 0, 8],
    ["age equal to the horizon: still held", 100, 1_100, 1_000, 8],
    ["one block past the horizon: evicted", 100, 1_101, 1_000, 0],
    ["written after the clock was read (another worker): fresh", 100, 50, 1_000, 8],
    ["the clock wrapped past 2^32: age 32", 0xfffffff0, 0x10, 100, 8],
    ["the clock wrapped, one past the horizon", 0xfffffff0, 0x10, 31, 0],
  ])("%s", (_name, stamp, clock, horizon, matched) => {
    const { ix } = newIndex({ group: 4 });
    const h = randomHashes(8, 77);
    u.indexRecord(ix, h, P1, stamp);
    expect(Array.from(u.indexMatchAt(ix, h, P1, clocks(clock), clocks(horizon)))).toEqual([matched]);
  });

  it("each endpoint against its own clock: the one written over loses the prefix, the other keeps it", () => {
    const { ix } = newIndex({ group: 4 });
    const h = randomHashes(12, 78);
    u.indexRecord(ix, h, P1, 500);
    u.indexRecord(ix, h, P2, 40);
    expect(Array.from(u.indexMatchAt(ix, h, POOL, clocks(900, 90), clocks(300, 300)))).toEqual([0, 12]);
    expect(Array.from(u.indexMatchAt(ix, h, POOL, clocks(800, 90), clocks(300, 300)))).toEqual([12, 12]);
  });

  it("a prefix rewritten later than its continuation was evicted keeps matching up to the rewrite", () => {
    // 8 blocks at stamp 100, then the first 4 again at 1,000: at clock 1,200
    // with horizon 500 the first group is held, the second evicted.
    const { ix } = newIndex({ group: 4 });
    const h = randomHashes(8, 79);
    u.indexRecord(ix, h, P1, 100);
    u.indexRecord(ix, h.subarray(0, 4 * 8), P1, 1_000);
    expect(Array.from(u.indexMatchAt(ix, h, P1, clocks(1_200), clocks(500)))).toEqual([4]);
  });

  // With a horizon, a group is rewritten once its stamp is a quarter of the horizon old.
  it.each([
    ["fresh (age 99 of a 400-block horizon): nothing written", 1_099, 0],
    ["stale (age 100): both groups rewritten", 1_100, 2],
  ])("record after a full hit, %s", (_name, clock, writes) => {
    const { s, ix } = newIndex({ group: 4 });
    const h = randomHashes(8, 80);
    u.indexRecord(ix, h, P1, 1_000);
    expect(Array.from(u.indexMatchAt(ix, h, P1, clocks(clock), clocks(400)))).toEqual([8]);
    const before = u.storeWrites(s);
    u.indexRecord(ix, h, P1, clock);
    expect(u.storeWrites(s) - before).toBe(writes);
  });
});
