/**
 * Host tier: the real filter (build/debug.wasm)
 * scrapes each endpoint's /metrics once per interval for the whole Envoy
 * (lease in shared data), and the scraped vLLM metrics drive the decision:
 * shortest queue, KV-cache, LoRA affinity, health (failed and stale scrapes),
 * and load-only picking when every endpoint is unhealthy.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProxyWasmHost } from "../../src/host/index.js";
import { A, B, C, answerScrapes, uniquePrompt, newPool, poolConfig, scrapeRound, scrapeTarget, send, stat, tally, type ScrapeAnswer } from "./fixtures/vllm.js";
import { chatBody, ensureBuilt } from "../support";

const INTERVAL = 50;
const EQUAL = { waiting: 1, running: 2, kv: 0.3 };

beforeAll(() => ensureBuilt("debug"));

/** n requests whose prompts differ from their first byte (no prefix block in common). */
const distinct = (host: ProxyWasmHost, n: number, o: { headers?: Array<[string, string]>; model?: string } = {}) =>
  tally(host, n, (i) => chatBody([uniquePrompt(i)], o.model === undefined ? {} : { model: o.model }), { headers: o.headers });

describe("scraping is proportional: every intervalMs while the pool is busy, every idleIntervalMs while it is idle", () => {
  const IDLE = { waiting: 0, running: 0, kv: 0.1 };
  const idlePool = { [A]: IDLE, [B]: IDLE, [C]: IDLE };
  /** Callouts issued on each of `ticks` ticks (answered with `answers`). */
  const perTick = (host: ProxyWasmHost, ticks: number, answers: Record<string, ScrapeAnswer>) =>
    Array.from({ length: ticks }, () => scrapeRound(host, INTERVAL, answers).length);

  it("an idle pool is scraped every idleIntervalMs (200 ms: every 4th tick), all endpoints together", async () => {
    const host = await newPool({ extra: { metrics: { intervalMs: INTERVAL, idleIntervalMs: 200 } } });
    expect(perTick(host, 9, idlePool)).toEqual([3, 0, 0, 0, 3, 0, 0, 0, 3]);
    host.close();
  });

  it("the default idle interval is min(500 ms, staleAfterMs / 2): every 10th tick, and idle endpoints stay healthy", async () => {
    const host = await newPool({});
    expect(perTick(host, 21, idlePool)).toEqual([3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
    for (const ep of ["10_0_0_1_8000", "10_0_0_2_8000", "10_0_0_3_8000"]) expect(stat(host, `llm_picker.endpoint.healthy.${ep}`)).toBe(1);
    const short = await newPool({ extra: { metrics: { intervalMs: INTERVAL, staleAfterMs: 300 } } });
    // staleAfterMs 300: idle interval 150 ms, every 3rd tick.
    expect(perTick(short, 7, idlePool)).toEqual([3, 0, 0, 3, 0, 0, 3]);
    host.close();
    short.close();
  });

  it("idle VMs sleep between rounds: the scraper until its next round, the others until its lease would end; a request wakes its VM", async () => {
    const host = await newPool({ workers: 3, extra: { metrics: { intervalMs: INTERVAL, idleIntervalMs: 200 } } });
    expect(perTick(host, 9, idlePool)).toEqual([3, 0, 0, 0, 3, 0, 0, 0, 3]);
    // One scraper throughout: its lease outlasts its sleeps.
    expect(new Set(host.httpCalls().map((c) => c.worker))).toEqual(new Set([0]));
    // At 450 ms: the scraper's next round is at 650 ms; its lease then runs to 800 ms, so the others wake at 600 ms at the earliest.
    expect([0, 1, 2].map((w) => host.tickPeriod(w))).toEqual([200, 200, 200]);
    const open = send(host, chatBody(["wake up"]), { worker: 0 });
    expect([0, 1, 2].map((w) => host.tickPeriod(w))).toEqual([INTERVAL, 200, 200]);
    // Busy from the next tick on: a round every tick while the request is in flight.
    expect(perTick(host, 3, idlePool)).toEqual([3, 3, 3]);
    open.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("a request routed since the last round, one still in flight, or a server reporting queued work makes the pool busy", async () => {
    const host = await newPool({ extra: { metrics: { intervalMs: INTERVAL, idleIntervalMs: 200 } } });
    expect(perTick(host, 2, idlePool)).toEqual([3, 0]);
    // A request that completed between two ticks: the next tick scrapes.
    distinct(host, 1);
    expect(perTick(host, 4, idlePool)).toEqual([3, 0, 0, 0]);
    // A request in flight: every tick until it ends, then idle again.
    const open = send(host, chatBody(["still streaming"]));
    expect(perTick(host, 3, idlePool)).toEqual([3, 3, 3]);
    // Ended, nothing new routed: the next round comes 200 ms after the last one.
    open.stream.end("complete");
    expect(perTick(host, 5, idlePool)).toEqual([0, 0, 0, 3, 0]);
    // One server reports a queue at the next (idle) round: from then on the
    // whole pool at the fast interval.
    const queued = { ...idlePool, [B]: { waiting: 2, running: 1, kv: 0.1 } };
    expect(perTick(host, 3, queued)).toEqual([0, 0, 3]);
    expect(perTick(host, 3, queued)).toEqual([3, 3, 3]);
    host.close();
  });
});

describe("scraping: one scraper per Envoy, one callout per endpoint per interval", () => {
  it("with 4 worker VMs exactly one VM issues the callouts, to the configured cluster with the routing headers", async () => {
    const host = await newPool({ workers: 4, extra: { metrics: { cluster: "llm_metrics", intervalMs: INTERVAL } }, host: { clusters: ["llm_metrics"] } });
    // Every worker VM set the tick period (they all tick; the lease picks one).
    expect([0, 1, 2, 3].map((w) => host.tickPeriod(w))).toEqual([50, 50, 50, 50]);
    expect(host.pendingHttpCalls()).toEqual([]);
    const seen: Array<{ worker: string | number; cluster: string; headers: Array<[string, string]>; timeoutMs: number }> = [];
    for (let round = 0; round < 5; round++) {
      host.advance(INTERVAL);
      const calls = host.pendingHttpCalls();
      expect(calls.length).toBe(3);
      for (const c of calls) seen.push({ worker: c.worker, cluster: c.cluster, headers: c.headers as Array<[string, string]>, timeoutMs: c.timeoutMs });
      answerScrapes(host, { [A]: EQUAL, [B]: EQUAL, [C]: EQUAL });
    }
    expect(host.httpCalls().length).toBe(15);
    expect(new Set(seen.map((s) => s.worker))).toEqual(new Set([0]));
    expect(new Set(seen.map((s) => s.cluster))).toEqual(new Set(["llm_metrics"]));
    expect(new Set(seen.map((s) => s.timeoutMs))).toEqual(new Set([1000]));
    for (const address of [A, B, C]) {
      const forIt = seen.filter((s) => s.headers.some(([k, v]) => k === ":authority" && v === address));
      expect(forIt.length).toBe(5);
      expect(forIt[0].headers).toEqual([
        [":method", "GET"],
        [":path", "/metrics"],
        [":authority", address],
        ["x-gateway-destination-endpoint", address],
      ]);
    }
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("does not pile up callouts for an endpoint whose scrape is still pending", async () => {
    const host = await newPool({ workers: 2 });
    host.advance(INTERVAL);
    answerScrapes(host, { [A]: EQUAL, [B]: EQUAL }); // C left pending
    for (let i = 0; i < 4; i++) scrapeRound(host, INTERVAL, { [A]: EQUAL, [B]: EQUAL });
    const toC = host.httpCalls().filter((c) => scrapeTarget(c) === C);
    expect(toC.length).toBe(1);
    expect(host.httpCalls().filter((c) => scrapeTarget(c) === A).length).toBe(5);
    host.close();
  });

  it("another VM takes the lease over when the scraping VM stops ticking (its lease expires after 3 intervals)", async () => {
    const host = await newPool({ workers: 3 });
    scrapeRound(host, INTERVAL, { [A]: EQUAL, [B]: EQUAL, [C]: EQUAL });
    expect(new Set(host.httpCalls().map((c) => c.worker))).toEqual(new Set([0]));
    // Worker 0's root stops ticking (as if its VM were gone).
    host.vms()[0].activeRoot!.tickPeriodMs = 0;
    for (let i = 0; i < 5; i++) scrapeRound(host, INTERVAL, { [A]: EQUAL, [B]: EQUAL, [C]: EQUAL });
    const later = host.httpCalls().slice(3);
    // 150 ms lease: rounds at 100 and 150 ms have no scraper; 200, 250, 300 do.
    expect(later.length).toBe(9);
    expect(new Set(later.map((c) => c.worker))).toEqual(new Set([1]));
    host.close();
  });
});

describe("scraping across configuration updates", () => {
  it("after host.reconfigure the new root scrapes on the very next interval (the retired root hands the lease on), still once per Envoy", async () => {
    const host = await newPool({ workers: 3 });
    for (let i = 0; i < 3; i++) scrapeRound(host, INTERVAL, { [A]: EQUAL, [B]: EQUAL, [C]: EQUAL });
    host.advance(20);
    expect(host.reconfigure(poolConfig([A, B, C], { weights: { queue: 1 } }))).toBe(true);
    const perInterval: number[] = [];
    const workers = new Set<string | number>();
    for (let i = 0; i < 4; i++) {
      const before = host.httpCalls().length;
      scrapeRound(host, INTERVAL, { [A]: EQUAL, [B]: EQUAL, [C]: EQUAL });
      const fresh = host.httpCalls().slice(before);
      perInterval.push(fresh.length);
      for (const c of fresh) workers.add(c.worker);
    }
    expect(perInterval).toEqual([3, 3, 3, 3]);
    expect(workers.size).toBe(1);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

describe("scraped metrics change decisions", () => {
  it("shortest queue wins when there is no prefix in common", async () => {
    const host = await newPool({ workers: 2 });
    scrapeRound(host, INTERVAL, {
      [A]: { waiting: 3, running: 1, kv: 0.2 },
      [B]: { waiting: 0, running: 1, kv: 0.2 },
      [C]: { waiting: 5, running: 1, kv: 0.2 },
    });
    expect(distinct(host, 12)).toEqual({ [B]: 12 });
    scrapeRound(host, INTERVAL, {
      [A]: { waiting: 0, running: 1, kv: 0.2 },
      [B]: { waiting: 4, running: 1, kv: 0.2 },
      [C]: { waiting: 5, running: 1, kv: 0.2 },
    });
    expect(distinct(host, 12)).toEqual({ [A]: 12 });
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("KV-cache usage decides when queues are equal (also under vLLM's older gpu_cache_usage_perc name)", async () => {
    const host = await newPool();
    scrapeRound(host, INTERVAL, { [A]: { waiting: 2, kv: 0.7 }, [B]: { waiting: 2, kv: 0.1 }, [C]: { waiting: 2, kv: 0.4 } });
    expect(distinct(host, 10)).toEqual({ [B]: 10 });
    scrapeRound(host, INTERVAL, {
      [A]: { waiting: 2, kv: 0.7, legacyKvName: true },
      [B]: { waiting: 2, kv: 0.5, legacyKvName: true },
      [C]: { waiting: 2, kv: 0.05, legacyKvName: true },
    });
    expect(distinct(host, 10)).toEqual({ [C]: 10 });
    host.close();
  });

  it("LoRA affinity: the server running the adapter wins, then one with a free slot, then one where it waits", async () => {
    const host = await newPool();
    const base = { waiting: 1, running: 1, kv: 0.3 };
    scrapeRound(host, INTERVAL, {
      [A]: { ...base, maxLora: 2, runningLoras: ["other-a", "other-b"], waitingLoras: [] }, // 0 (full, not there)
      [B]: { ...base, maxLora: 4, runningLoras: ["other-a"] }, // 0.8 (free slot)
      [C]: { ...base, maxLora: 2, runningLoras: ["sql-lora"] }, // 1.0 (running)
    });
    expect(distinct(host, 8, { model: "sql-lora" })).toEqual({ [C]: 8 });
    scrapeRound(host, INTERVAL, {
      [A]: { ...base, maxLora: 1, runningLoras: ["other-a"], waitingLoras: ["sql-lora"] }, // 0.6 (waiting)
      [B]: { ...base, maxLora: 4, runningLoras: ["other-a"] }, // 0.8
      [C]: { ...base, maxLora: 1, runningLoras: ["other-b"] }, // 0
    });
    expect(distinct(host, 8, { model: "sql-lora" })).toEqual({ [B]: 8 });
    scrapeRound(host, INTERVAL, {
      [A]: { ...base, maxLora: 1, runningLoras: ["other-a"], waitingLoras: ["sql-lora"] }, // 0.6
      [B]: { ...base, maxLora: 1, runningLoras: ["other-a"] }, // 0
      [C]: { ...base, maxLora: 1, runningLoras: ["other-b"] }, // 0
    });
    expect(distinct(host, 8, { model: "sql-lora" })).toEqual({ [A]: 8 });
    host.close();
  });
});

describe("health", () => {
  const good: Record<string, ScrapeAnswer> = { [A]: { waiting: 0, kv: 0.1 }, [B]: { waiting: 3, kv: 0.1 }, [C]: { waiting: 3, kv: 0.1 } };
  const only = (tallied: Record<string, number>) => Object.keys(tallied).sort();

  for (const failure of ["fail", { status: 500, body: "oops" }] as const) {
    const name = failure === "fail" ? "callout reset" : "status 500";
    it(`a server whose scrapes fail (${name}) is unhealthy after two intervals, gets no new requests, and gets them again after it recovers`, async () => {
      const host = await newPool({ workers: 2 });
      scrapeRound(host, INTERVAL, good);
      expect(distinct(host, 6)).toEqual({ [A]: 6 });
      expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_1_8000")).toBe(1);
      scrapeRound(host, INTERVAL, { ...good, [A]: failure });
      // One failure: still healthy (last good metrics kept).
      expect(distinct(host, 6)).toEqual({ [A]: 6 });
      scrapeRound(host, INTERVAL, { ...good, [A]: failure });
      const after = distinct(host, 12);
      expect(after[A]).toBeUndefined();
      expect(only(after)).toEqual([B, C]);
      expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_1_8000")).toBe(0);
      expect(stat(host, "llm_picker.endpoint.scrape_failures.10_0_0_1_8000")).toBe(2);
      scrapeRound(host, INTERVAL, good);
      expect(distinct(host, 6)).toEqual({ [A]: 6 });
      expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_1_8000")).toBe(1);
      expect(host.traps()).toEqual([]);
      host.close();
    });
  }

  it("a server whose scrape goes unanswered for more than staleAfterMs is unhealthy, and healthy again once answered", async () => {
    const host = await newPool({ extra: { metrics: { intervalMs: INTERVAL, staleAfterMs: 500 } } });
    scrapeRound(host, INTERVAL, good); // A scraped at t0+50
    const stuck = { [B]: good[B], [C]: good[C] };
    for (let t = 100; t <= 550; t += INTERVAL) scrapeRound(host, INTERVAL, stuck);
    // now t0+550: A's last scrape is exactly 500 ms old: still fresh.
    expect(distinct(host, 4)).toEqual({ [A]: 4 });
    scrapeRound(host, INTERVAL, stuck); // t0+600: 550 ms old
    const after = distinct(host, 10);
    expect(after[A]).toBeUndefined();
    expect(only(after)).toEqual([B, C]);
    // The hung scrape finally answers.
    answerScrapes(host, good);
    expect(distinct(host, 4)).toEqual({ [A]: 4 });
    host.close();
  });

  it("when every endpoint is unhealthy, load-only picking still routes (no 503), on the last known load, prefix ignored", async () => {
    const host = await newPool({ extra: { debugHeaders: true } });
    // Never scraped at all: health unknown, which is not unhealthy, so prefix
    // affinity keeps its weight from the first request (cold start).
    const first = send(host, chatBody(["before any scrape"]));
    expect(first.status).toBeUndefined();
    expect([A, B, C]).toContain(first.endpoint);
    const coldScores = JSON.parse(headerOf(first.headers, "x-llm-picker-scores")!);
    expect(coldScores.allUnhealthy).toBe(false);
    expect(coldScores.weights.prefix).toBe(3);
    first.stream.end("complete");

    scrapeRound(host, INTERVAL, { [A]: { waiting: 4, kv: 0.1 }, [B]: { waiting: 0, kv: 0.1 }, [C]: { waiting: 2, kv: 0.1 } });
    scrapeRound(host, INTERVAL, { [A]: "fail", [B]: "fail", [C]: { status: 503 } });
    scrapeRound(host, INTERVAL, { [A]: "fail", [B]: "fail", [C]: { status: 503 } });
    for (const ep of ["10_0_0_1_8000", "10_0_0_2_8000", "10_0_0_3_8000"]) expect(stat(host, `llm_picker.endpoint.healthy.${ep}`)).toBe(0);
    const s = send(host, chatBody(["all down"]));
    expect(s.status).toBeUndefined();
    expect(s.endpoint).toBe(B); // shortest last-known queue
    const scores = JSON.parse(headerOf(s.headers, "x-llm-picker-scores")!);
    expect(scores.allUnhealthy).toBe(true);
    expect(scores.weights.prefix).toBe(0);
    s.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

describe("the filter's own time per scrape", () => {
  it("scrape_time_us has one value per answered scrape, good or failed, and none for a scrape still out", async () => {
    const host = await newPool({});
    scrapeRound(host, INTERVAL, { [A]: EQUAL, [B]: "fail", [C]: { status: 503 } });
    const hist = () => host.metric("llm_picker.scrape_time_us");
    expect(hist()).toMatchObject({ type: "histogram" });
    expect(hist()!.values.length).toBe(3);
    // A busy pool (a failure) is scraped again on the next tick; C's answer is left out.
    expect(scrapeRound(host, INTERVAL, { [A]: EQUAL, [B]: EQUAL }).length).toBe(3);
    expect(hist()!.values.length).toBe(5);
    for (const v of hist()!.values) expect(v).toBeGreaterThanOrEqual(0n);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

function headerOf(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([k]) => k === name)?.[1];
}
