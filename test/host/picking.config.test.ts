/**
 * Host tier: configuration changes at runtime
 * (refused when invalid, the previous one keeps routing; weights take
 * effect), and the whole filter never traps on garbage /metrics pages and
 * garbage request bodies.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { A, B, C, answerScrapes, newPool, poolConfig, route, scrapeRound, send, stat, totalInFlight, uniquePrompt, vllmPage } from "./fixtures/vllm.js";
import { chatBody, ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const INTERVAL = 50;
const distinct = (host: Parameters<typeof route>[0], n: number) => {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const e = route(host, chatBody([uniquePrompt(i)])) ?? "none";
    out[e] = (out[e] ?? 0) + 1;
  }
  return out;
};

describe("configuration at runtime", () => {
  const invalid: Array<[string, string]> = [
    ["weights.prefix", JSON.stringify({ endpoints: [{ address: A }], weights: { prefix: -1 } })],
    ["endpoints", JSON.stringify({ endpoints: [{ address: "model-server.local:8000" }] })],
    ["metrics.intervalMs", JSON.stringify({ endpoints: [{ address: A }], metrics: { intervalMs: 0 } })],
    ["admission.kvCacheThreshold", JSON.stringify({ endpoints: [{ address: A }], admission: { kvCacheThreshold: 1.5 } })],
    ["prefix.blockSize", JSON.stringify({ endpoints: [{ address: A }], prefix: { blockSize: 0 } })],
    ["weigths", JSON.stringify({ endpoints: [{ address: A }], weigths: { prefix: 1 } })],
    ["(document)", "{not json"],
  ];
  for (const [field, config] of invalid) {
    it(`an invalid configuration (${field}) is refused with a critical log naming the field; the previous one keeps routing`, async () => {
      const host = await newPool({ workers: 2, endpoints: [B], extra: { metrics: { enabled: false } } });
      expect(route(host, chatBody(["before"]))).toBe(B);
      const criticalBefore = host.logs("critical").length;
      expect(host.reconfigure(config)).toBe(false);
      const critical = host
        .logs("critical")
        .slice(criticalBefore)
        .map((l) => l.message);
      expect(critical.length).toBeGreaterThanOrEqual(1);
      expect(critical.some((m) => m.includes("invalid configuration") && m.includes(field))).toBe(true);
      for (const w of [0, 1]) expect(route(host, chatBody([`after ${w}`]), { worker: w })).toBe(B);
      expect(host.traps()).toEqual([]);
      host.close();
    });
  }

  it("changing the weights changes decisions (queue-heavy → kv-cache-heavy)", async () => {
    const host = await newPool({ workers: 2 });
    const pages = { [A]: { waiting: 0, kv: 0.7 }, [B]: { waiting: 3, kv: 0.1 }, [C]: { waiting: 3, kv: 0.5 } };
    scrapeRound(host, INTERVAL, pages);
    // Defaults (queue 2, kv 2): A = 2×1 + 2×0.3 = 2.6; B = 0 + 2×0.9 = 1.8; C = 1.0.
    expect(distinct(host, 6)).toEqual({ [A]: 6 });
    expect(host.reconfigure(poolConfig([A, B, C], { weights: { queue: 0, kvCache: 5 } }))).toBe(true);
    // queue 0, kv 5: A = 1.5, B = 4.5, C = 2.5.
    expect(distinct(host, 6)).toEqual({ [B]: 6 });
    // Scraping carries on under the new root (one scraper).
    for (let i = 0; i < 4; i++) scrapeRound(host, INTERVAL, { [A]: { waiting: 0, kv: 0.1 }, [B]: { waiting: 3, kv: 0.6 }, [C]: { waiting: 3, kv: 0.5 } });
    expect(distinct(host, 6)).toEqual({ [A]: 6 });
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

describe("never trap", () => {
  const realPage = vllmPage({ waiting: 3, running: 5, kv: 0.42, runningLoras: ["a", "b"], waitingLoras: ["c"], maxLora: 4, blockSize: 16, numGpuBlocks: 9000 });

  /** Pages a broken or hostile server could return. */
  const garbagePage = fc.oneof(
    fc.string({ maxLength: 400 }),
    fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b).toString("latin1")),
    fc.nat({ max: realPage.length }).map((n) => realPage.slice(0, n)),
    fc
      .tuple(fc.nat({ max: realPage.length - 1 }), fc.string({ minLength: 1, maxLength: 20 }))
      .map(([i, s]) => realPage.slice(0, i) + s + realPage.slice(i + 1)),
    fc
      .constantFrom("NaN", "+Inf", "-Inf", "-1", "1e308", "1e309", "0x10", "", "--1", "1.0.0", "9".repeat(400))
      .map((v) => `vllm:num_requests_waiting{model_name="m"} ${v}\nvllm:kv_cache_usage_perc ${v}\nvllm:num_requests_running ${v}\n`),
    fc.constantFrom(
      `vllm:lora_requests_info{max_lora="${"9".repeat(30)}",running_lora_adapters="${"x,".repeat(5000)}",waiting_lora_adapters=""} 1\n`,
      `vllm:lora_requests_info{running_lora_adapters="${"y".repeat(100_000)}"} 1\n`,
      `vllm:cache_config_info{block_size="-5",num_gpu_blocks="abc"} 1\n`,
      `vllm:lora_requests_info{running_lora_adapters="a\\"b\\\\c\\n",max_lora="2"} 1\n`,
      `vllm:num_requests_waiting{model_name="unterminated} 3\n`,
      `vllm:num_requests_waiting{${'a="b",'.repeat(2000)}} 3\n`,
      "\n".repeat(10_000),
      "#".repeat(50_000),
    ),
  );

  /** Bodies a client could send: random text, mutated valid bodies, deep nesting, wrong types. */
  const valid = chatBody(["hello there", "hi", "how are you?"]);
  const garbageBody = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.json({ maxDepth: 4 }),
    fc.nat({ max: valid.length }).map((n) => valid.slice(0, n)),
    fc.tuple(fc.nat({ max: valid.length - 1 }), fc.string({ minLength: 1, maxLength: 8 })).map(([i, s]) => valid.slice(0, i) + s + valid.slice(i + 1)),
    fc.constantFrom(
      "[".repeat(5000) + "]".repeat(5000),
      `{"model":"m","messages":${"[".repeat(3000)}}`,
      `{"model":1,"messages":"x"}`,
      `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"${"\\ud800".repeat(50)}"}]}]}`,
      `{"model":"m","prompt":[[1,2,3],[4,"x"]]}`,
      `{"model":"m","input":[{"role":"user","content":null}]}`,
      `{"model":"${"m".repeat(20000)}","messages":[]}`,
      "\u0000\u0001\u0002",
    ),
  );
  const path = fc.constantFrom("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/models", "/v1/chat/completions?x=1", "/");
  const extraHeaders = fc.array(
    fc.tuple(
      fc.constantFrom("x-gateway-inference-priority", "x-gateway-model-name-rewrite", "x-request-id", "x-gateway-destination-endpoint", "content-length"),
      fc.string({ maxLength: 40 }),
    ),
    { maxLength: 3 },
  );

  it("garbage /metrics pages and garbage requests through the whole filter: zero traps, still routing", async () => {
    const host = await newPool({ workers: 2, extra: { debugHeaders: true, inspect: true } });
    const pages = fc.sample(garbagePage, { numRuns: 150, seed: 4 });
    const requests = fc.sample(fc.tuple(garbageBody, path, extraHeaders, fc.constantFrom("complete", "client_reset", "upstream_reset", "timeout")), {
      numRuns: 300,
      seed: 4,
    });
    let r = 0;
    for (let i = 0; i < pages.length; i++) {
      host.advance(INTERVAL);
      const ends = [A, B, C];
      answerScrapes(host, { [ends[i % 3]]: pages[i], [ends[(i + 1) % 3]]: pages[(i + 7) % pages.length], [ends[(i + 2) % 3]]: realPage });
      for (let k = 0; k < 2 && r < requests.length; k++, r++) {
        const [body, p, headers, ending] = requests[r];
        const s = host.newHttpStream({ worker: r % 2 });
        s.sendRequestHeaders([[":method", "POST"], [":path", p], [":authority", "gw"], ...headers], false);
        s.sendRequestBody(body, true);
        if (r % 3 === 0) s.sendResponseHeaders([[":status", r % 2 ? "200" : "502"]], true);
        s.end(ending as "complete");
      }
    }
    expect(host.traps()).toEqual([]);
    expect(host.vmFailed(0) || host.vmFailed(1)).toBe(false);
    expect(totalInFlight(host)).toBe(0);
    // The batch really went through: pages parsed, requests decided both ways.
    expect(host.httpCalls().filter((c) => c.state === "answered").length).toBeGreaterThan(300);
    expect(r).toBe(300);
    expect(stat(host, "llm_picker.requests.rejected_400")).toBeGreaterThan(50);
    expect(stat(host, "llm_picker.requests.routed")! + stat(host, "llm_picker.requests.passed")!).toBeGreaterThan(10);
    // Still routing a normal request afterwards.
    answerScrapes(host, { [A]: realPage, [B]: realPage, [C]: realPage });
    const ok = send(host, chatBody(["after the storm"]));
    expect([A, B, C]).toContain(ok.endpoint);
    ok.stream.end("complete");
    expect(host.traps()).toEqual([]);
    host.close();
  }, 60_000);
});
