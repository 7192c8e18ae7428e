// The prefix index (assembly/index) through build/units-hashing.wasm.
// Expected values are written out: the seed's plugin table
// (../shared/reference/seed-behaviour.md §2.7), read counts derived from the
// design in docs/hashing.md, and no-lost-update / byte-bound invariants.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUnits } from "./units";

let u: any;
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
    const expected = [[0, 0], [0, 0], [0.5, 0], [0, 0], [2 / 3, 0]];
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

  it("a 256-block miss costs 1 read, a full hit 2 reads, a half hit ≤ 6 (binary search)", () => {
    const { s, ix } = newIndex();
    const h = randomHashes(256, 7);
    let r = u.storeReads(s);
    expect(Array.from(u.indexScore(ix, h, POOL))).toEqual([0, 0]);
    expect(u.storeReads(s) - r).toBe(1);
    expect(u.indexRecord(ix, h, P1, 1_000)).toBe(true);
    r = u.storeReads(s);
    expect(Array.from(u.indexScore(ix, h, POOL))).toEqual([1, 0]);
    expect(u.storeReads(s) - r).toBe(2);
    const half = concat(h.subarray(0, 130 * 8), randomHashes(126, 8));
    r = u.storeReads(s);
    expect(Array.from(u.indexMatch(ix, half, POOL))).toEqual([130, 0]);
    expect(u.storeReads(s) - r).toBeLessThanOrEqual(6);
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

  it("record after a fresh full hit writes nothing; a stale one refreshes", () => {
    const { s, ix } = newIndex();
    const h = randomHashes(256, 9);
    u.indexScoreAndRecord(ix, h, POOL, P1, 1_000);
    let w = u.storeWrites(s);
    u.indexScoreAndRecord(ix, h, POOL, P1, 5_000);
    expect(u.storeWrites(s) - w).toBe(0);
    w = u.storeWrites(s);
    u.indexScoreAndRecord(ix, h, POOL, P1, 100_000);
    expect(u.storeWrites(s) - w).toBe(16);
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
    const v1 = u.storeGet(s, key) as Uint8Array;
    expect(Array.from(v1.subarray(0, 4))).toEqual([0x4c, 0x50, 0x58, 1]); // "LPX" v1
    // A future layout v2 with the same entry bytes must not be read by v1.
    const v2 = v1.slice();
    v2[3] = 2;
    u.storeSet(s, key, v2);
    expect(u.indexMatch(ix, h, P1)[0]).toBe(0);
    u.indexRecord(ix, h, P1, 2_000);
    expect(Array.from((u.storeGet(s, key) as Uint8Array).subarray(0, 4))).toEqual([0x4c, 0x50, 0x58, 1]);
    expect(u.indexMatch(ix, h, P1)[0]).toBe(4);
    // Truncated garbage is empty too, never a trap.
    u.storeSet(s, key, new Uint8Array([0x4c, 0x50, 0x58, 1, 200, 0, 0, 0, 1, 2]));
    expect(u.indexMatch(ix, h, P1)[0]).toBe(0);
  });
});

describe("reads per request (issue 7 point 6 goal: ≤ 16 on average for 256 blocks)", () => {
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
