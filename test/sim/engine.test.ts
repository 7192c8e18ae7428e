import { describe, expect, it } from "vitest";
import { resolveSimConfig, type SimConfig } from "../../src/sim/config.js";
import { decodeStepMs, ManualClock, prefillMs, SimEngine, summarize, type Job, type JobSpec } from "../../src/sim/engine.js";
import { blockHashes } from "../../src/sim/kvcache.js";

// overhead 10 ms, prefill 0.5 ms/token, decode 4 ms/token, parallel prefill, no batch slowdown.
const BASE: Partial<SimConfig> = {
  overheadMs: 10,
  prefillMsPerToken: 0.5,
  decodeMsPerToken: 4,
  decodeBatchFactor: 0,
  serialPrefill: false,
  blockSize: 16,
  numGpuBlocks: 100,
  maxNumSeqs: 4,
};

function engine(overrides: Partial<SimConfig> = {}): { engine: SimEngine; clock: ManualClock } {
  const clock = new ManualClock();
  return { engine: new SimEngine(resolveSimConfig({ ...BASE, ...overrides }), clock), clock };
}

/** A prompt of `len` distinct tokens starting at `start`, producing `out` tokens. */
function spec(len: number, out: number, start = 1, lora: string | null = null): JobSpec {
  const tokens = Array.from({ length: len }, (_, i) => start + i);
  return { promptTokens: len, hashes: blockHashes(tokens, 16), outputTokens: out, lora };
}

describe("latency model", () => {
  it("helpers", () => {
    const config = resolveSimConfig({ ...BASE, decodeBatchFactor: 0.25 });
    expect(prefillMs(config, 100)).toBe(50);
    expect(decodeStepMs(config, 1)).toBe(4);
    expect(decodeStepMs(config, 3)).toBe(6); // 4 * (1 + 0.25 * 2)
  });

  it("TTFT = overhead + prefill of the whole prompt when nothing is cached; then one decode step per token", () => {
    const { engine: e, clock } = engine();
    const times: number[] = [];
    const job = e.submit(spec(100, 5), { onTokens: () => times.push(clock.now()) });
    clock.runAll();
    // 10 + 100 * 0.5 = 60, then 4 more tokens 4 ms apart.
    expect(job.ttftMs).toBe(60);
    expect(times).toEqual([60, 64, 68, 72, 76]);
    expect(job.doneMs).toBe(76);
    expect(job.cachedTokens).toBe(0);
  });

  it("a repeated prompt prefills only what is not cached", () => {
    const { engine: e, clock } = engine();
    e.submit(spec(100, 5));
    clock.runAll();
    const again = e.submit(spec(100, 5));
    clock.runAll();
    // 96 tokens (6 blocks, floor(99/16)) cached: 10 + 4 * 0.5 = 12.
    expect(again.cachedTokens).toBe(96);
    expect(again.ttftMs).toBe(12);
    expect(e.counters).toMatchObject({ requests: 2, completed: 2, promptTokens: 200, cachedTokens: 96, generationTokens: 10 });
  });

  it("queues FIFO beyond max_num_seqs: waiting time adds to TTFT", () => {
    const { engine: e, clock } = engine({ maxNumSeqs: 2 });
    const jobs: Job[] = [0, 1, 2].map((i) => e.submit(spec(100, 5, 1000 * (i + 1))));
    expect(e.running).toBe(2);
    expect(e.waiting).toBe(1);
    expect(jobs[2].state).toBe("waiting");
    clock.advance(75);
    expect(e.waiting).toBe(1);
    clock.advance(1); // t = 76: the first two finish, the third starts
    expect(e.waiting).toBe(0);
    expect(jobs[2].admittedMs).toBe(76);
    clock.runAll();
    expect(jobs.map((j) => j.ttftMs)).toEqual([60, 60, 76 + 60]);
  });

  it.each([
    // max_num_seqs, jobs (100 prompt tokens, 5 output: 76 ms each), expected mean running / max_num_seqs
    // 2 slots, 3 jobs: 2 running for [0, 76), 1 for [76, 152) → (2·76 + 1·76) / (152 · 2)
    { slots: 2, jobs: 3, want: 0.75 },
    // 4 slots, 2 jobs: 2 running for the whole [0, 76) → 2 / 4
    { slots: 4, jobs: 2, want: 0.5 },
    // 1 slot, 2 jobs: always full
    { slots: 1, jobs: 2, want: 1 },
  ])("meanSlotUsage with $slots slots and $jobs jobs is $want", ({ slots, jobs, want }) => {
    const { engine: e, clock } = engine({ maxNumSeqs: slots });
    for (let i = 0; i < jobs; i++) e.submit(spec(100, 5, 1000 * (i + 1)));
    clock.runAll();
    expect(e.meanSlotUsage).toBe(want);
  });

  it("serial prefill: the second prefill starts when the first ends", () => {
    const { engine: e, clock } = engine({ serialPrefill: true });
    const a = e.submit(spec(100, 2, 1));
    const b = e.submit(spec(100, 2, 5000));
    clock.runAll();
    expect(a.ttftMs).toBe(60); // prefill 0..50, +10
    expect(b.ttftMs).toBe(110); // prefill 50..100, +10
  });

  it("decode slows with the batch size when decodeBatchFactor > 0", () => {
    const { engine: e, clock } = engine({ decodeBatchFactor: 0.5 });
    const a = e.submit(spec(100, 3, 1));
    const b = e.submit(spec(100, 3, 5000));
    clock.runAll();
    // both first tokens at 60; 2 running → step 4 * 1.5 = 6: tokens at 66, 72.
    expect(a.doneMs).toBe(72);
    expect(b.doneMs).toBe(72);
  });

  it("waits for KV blocks when the cache is full of running requests", () => {
    // 10 blocks; each request needs ceil(105/16) = 7.
    const { engine: e, clock } = engine({ numGpuBlocks: 10 });
    const a = e.submit(spec(100, 5, 1));
    const b = e.submit(spec(100, 5, 5000));
    expect(e.running).toBe(1);
    expect(e.waiting).toBe(1);
    clock.runAll();
    expect(b.admittedMs).toBe(76);
    expect(b.ttftMs).toBe(76 + 60);
    expect(a.state).toBe("done");
  });

  it("LoRA: at most maxLoras adapters in the batch; others wait while base requests pass", () => {
    const { engine: e, clock } = engine({ maxLoras: 1, loraAdapters: ["a", "b"] });
    const ja = e.submit(spec(100, 5, 1, "a"));
    const jb = e.submit(spec(100, 5, 2000, "b"));
    const jbase = e.submit(spec(100, 5, 4000, null));
    expect(ja.state).toBe("running");
    expect(jb.state).toBe("waiting");
    expect(jbase.state).toBe("running");
    expect(e.loraAdapters()).toEqual({ running: ["a"], waiting: ["b"] });
    clock.runAll();
    expect(jb.ttftMs).toBe(76 + 60);
  });

  it("cancel frees the slot and the blocks", () => {
    const { engine: e, clock } = engine({ maxNumSeqs: 1 });
    const a = e.submit(spec(100, 50, 1));
    const b = e.submit(spec(100, 5, 5000));
    clock.advance(20);
    e.cancel(a);
    expect(a.state).toBe("cancelled");
    expect(b.admittedMs).toBe(20);
    clock.runAll();
    expect(b.ttftMs).toBe(20 + 60);
    expect(e.cache.usage).toBe(0);
    expect(e.counters.cancelled).toBe(1);
  });

  it("several tokens per tick keep the same per-token time", () => {
    const { engine: e, clock } = engine();
    const emitted: [number, number][] = [];
    const job = e.submit({ ...spec(100, 9), minTickMs: 10 }, { onTokens: (_j, n) => emitted.push([clock.now(), n]) });
    clock.runAll();
    // first token at 60; then ticks of floor(10/4) = 2 tokens (8 ms).
    expect(emitted).toEqual([
      [60, 1],
      [68, 3],
      [76, 5],
      [84, 7],
      [92, 9],
    ]);
    expect(job.doneMs).toBe(60 + 8 * 4);
  });

  it("reset empties the cache and zeroes counters", () => {
    const { engine: e, clock } = engine();
    e.submit(spec(100, 2));
    clock.runAll();
    e.reset();
    expect(e.counters.requests).toBe(0);
    expect(e.ttftSamples).toEqual([]);
    const again = e.submit(spec(100, 2));
    clock.runAll();
    expect(again.cachedTokens).toBe(0);
  });

  it("summary percentiles (nearest rank)", () => {
    const s = summarize(Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(s).toMatchObject({ count: 100, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
  });
});

describe("predicted TTFT (the oracle's model)", () => {
  // Serial prefill, 0.5 ms/token, overhead 10; the prediction must equal what the engine then does.
  const serial = { serialPrefill: true };

  it("idle server: overhead + prefill of the uncached tokens; the prediction comes true", () => {
    const { engine: e, clock } = engine(serial);
    expect(e.predictTtftMs({ promptTokens: 100, cachedTokens: 0, outputTokens: 5 })).toBe(60);
    expect(e.predictTtftMs({ promptTokens: 100, cachedTokens: 64, outputTokens: 5 })).toBe(28); // 10 + 36 × 0.5
    const job = e.submit(spec(100, 5));
    clock.runAll();
    expect(job.ttftMs).toBe(60);
  });

  it("serial prefill: the prefill in progress and the extra queued work are waited for", () => {
    const { engine: e, clock } = engine(serial);
    e.submit(spec(100, 50)); // prefill 0..50 ms
    clock.advance(20);
    // 30 ms of prefill left, + 10 + 20 × 0.5; with 7 ms in transit: + 7.
    expect(e.predictTtftMs({ promptTokens: 20, cachedTokens: 0, outputTokens: 5 })).toBe(50);
    expect(e.predictTtftMs({ promptTokens: 20, cachedTokens: 0, outputTokens: 5 }, 7)).toBe(57);
    const next = e.submit(spec(20, 5, 1000));
    clock.runAll();
    expect(next.ttftMs).toBe(50);
  });

  it("full batch: waits for the first running request to end", () => {
    const { engine: e, clock } = engine({ ...serial, maxNumSeqs: 1 });
    e.submit(spec(16, 11)); // TTFT 18, then 10 decode steps of 4 ms: ends at 58
    clock.advance(18);
    // admitted at 58 (40 ms from now); its prefill 10 ms + overhead 10 → 60
    expect(e.predictTtftMs({ promptTokens: 20, cachedTokens: 0, outputTokens: 5 })).toBe(60);
    const next = e.submit(spec(20, 5, 500));
    clock.runAll();
    expect(next.ttftMs).toBe(60);
  });

  it("KV blocks short: waits until enough running requests have ended", () => {
    // 100 blocks; a running request holds 90 (1,400 prompt + 40 output tokens).
    const { engine: e, clock } = engine({ ...serial, maxNumSeqs: 8, prefillMsPerToken: 0.01 });
    e.submit(spec(1400, 40)); // TTFT 10 + 14 = 24; ends at 24 + 39 × 4 = 180
    clock.advance(24);
    expect(e.cache.freeBlocks).toBe(10);
    // 320 tokens need 20 blocks: only after the first ends (156 ms from now); prefill 3 + overhead 10.
    expect(e.predictTtftMs({ promptTokens: 300, cachedTokens: 0, outputTokens: 20 })).toBeCloseTo(169, 6);
    const next = e.submit(spec(300, 20, 5000));
    clock.runAll();
    expect(next.ttftMs).toBeCloseTo(169, 6);
  });
});
