import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSimConfigFile, resolveSimConfig, SimConfigError } from "../../src/sim/config.js";
import { formatValue } from "../../src/sim/metrics.js";
import { PortInUseError, SIM_WARMUP_HEADER, startSimPool, startSimServer, type SimServer } from "../../src/sim/server.js";

// Fast: 1 model ms = 0.01 real ms for most tests.
const FAST = { timeScale: 0.01, overheadMs: 50, prefillMsPerToken: 1, decodeMsPerToken: 10 };

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

async function postJson(url: string, body: unknown): Promise<any> {
  const res = await post(url, body);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Minimal Prometheus text parser for the test: name{labels} value. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`bad metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return samples;
}

async function scrape(server: SimServer): Promise<Sample[]> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  return parseMetrics(await res.text());
}

function value(samples: Sample[], name: string): number {
  const found = samples.filter((s) => s.name === name);
  expect(found, name).toHaveLength(1);
  return found[0].value;
}

/** Parses an SSE body into its `data:` payloads (and event names). */
function sseEvents(text: string): { event?: string; data: string }[] {
  expect(text.endsWith("\n\n")).toBe(true);
  return text
    .split("\n\n")
    .filter((block) => block !== "")
    .map((block) => {
      const lines = block.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7);
      const data = lines.find((l) => l.startsWith("data: "));
      expect(data, block).toBeDefined();
      return { event, data: data!.slice(6) };
    });
}

const CHAT = {
  model: "meta-llama/Llama-3.1-8B-Instruct",
  messages: [
    { role: "system", content: "You are a concise assistant. ".repeat(10) },
    { role: "user", content: "Tell me about foxes." },
  ],
};

describe("simulated server over HTTP", () => {
  let server: SimServer;
  beforeAll(async () => {
    server = await startSimServer({ ...FAST, loraAdapters: ["sql-lora"], numGpuBlocks: 512, seed: 7 });
  });
  afterAll(async () => {
    await server.close();
  });

  it("health, models, unknown route", async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const models = await (await fetch(`${server.url}/v1/models`)).json();
    expect(models.data.map((m: { id: string }) => m.id)).toEqual(["meta-llama/Llama-3.1-8B-Instruct", "sql-lora"]);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("chat completion: usage counts the rendered prompt and the cached prefix", async () => {
    server.reset();
    const first = await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 7 });
    expect(first.object).toBe("chat.completion");
    expect(first.choices[0].finish_reason).toBe("length");
    expect(first.usage.completion_tokens).toBe(7);
    expect(first.usage.prompt_tokens_details.cached_tokens).toBe(0);
    const promptTokens = first.usage.prompt_tokens;
    const second = await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 7 });
    expect(second.usage.prompt_tokens_details.cached_tokens).toBe(Math.floor((promptTokens - 1) / 16) * 16);
    const stats = server.stats();
    expect(stats).toMatchObject({ requests: 2, completed: 2, promptTokens: 2 * promptTokens, running: 0, waiting: 0, kvUsage: 0 });
    expect(stats.hitRate).toBeCloseTo(second.usage.prompt_tokens_details.cached_tokens / (2 * promptTokens));
    // TTFT (model ms): 50 + promptTokens * 1 for the cold one.
    expect(stats.ttftMs.max).toBeGreaterThanOrEqual(50 + promptTokens - 1);
  });

  it("/sim/prefix reports the cached prefix without serving, in both body forms", async () => {
    server.reset();
    const bare = await postJson(`${server.url}/sim/prefix`, CHAT);
    expect(bare.cachedTokens).toBe(0);
    await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 1 });
    const wrapped = await postJson(`${server.url}/sim/prefix`, { path: "/v1/chat/completions", body: { ...CHAT, stream: true } });
    expect(wrapped.promptTokens).toBe(bare.promptTokens);
    expect(wrapped.cachedTokens).toBe(Math.floor((bare.promptTokens - 1) / 16) * 16);
    const raw = await fetch(`${server.url}/sim/prefix?path=/v1/chat/completions`, { method: "POST", body: JSON.stringify(CHAT) });
    expect(await raw.json()).toEqual(wrapped);
    expect(server.stats().requests).toBe(1); // prefix queries are not requests
    // A different LoRA adapter shares nothing.
    const lora = await postJson(`${server.url}/sim/prefix`, { ...CHAT, model: "sql-lora" });
    expect(lora.cachedTokens).toBe(0);
  });

  it("a warm-up request (x-sim-warmup: 1) is served and cached like any other, its share of the counters kept apart", async () => {
    server.reset();
    const warmup = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", [SIM_WARMUP_HEADER]: "1" },
      body: JSON.stringify({ ...CHAT, max_tokens: 2 }),
    });
    expect(warmup.status).toBe(200);
    const first = await warmup.json();
    const promptTokens = first.usage.prompt_tokens;
    const cachedAfter = Math.floor((promptTokens - 1) / 16) * 16;
    const measured = await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 2 });
    // The warm-up filled the cache the measured request hits.
    expect(measured.usage.prompt_tokens_details.cached_tokens).toBe(cachedAfter);
    const stats = server.stats();
    expect(stats).toMatchObject({ requests: 2, promptTokens: 2 * promptTokens, cachedTokens: cachedAfter });
    // 1 model ms per prompt token, all of it prefilled: FAST's prefill cost.
    expect(stats.warmup).toEqual({ requests: 1, promptTokens, cachedTokens: 0, prefillMs: promptTokens });
    expect(stats.ttftMs.count).toBe(1); // only the measured request's
    // Any other value of the header is not a warm-up.
    await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", [SIM_WARMUP_HEADER]: "yes" },
      body: JSON.stringify({ ...CHAT, max_tokens: 2 }),
    }).then((r) => r.text());
    expect(server.stats().warmup.requests).toBe(1);
    // /metrics is what a server exposes: every request counts there.
    const m = await scrape(server);
    expect(value(m, "vllm:prefix_cache_queries_total")).toBe(3 * promptTokens);
    expect(value(m, "vllm:time_to_first_token_seconds_count")).toBe(3);
  });

  it("/sim/reset empties the cache and counters", async () => {
    await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 1 });
    expect((await post(`${server.url}/sim/reset`, {})).status).toBe(200);
    expect(server.stats()).toMatchObject({ requests: 0, promptTokens: 0, cachedTokens: 0, cachedBlocks: 0 });
    expect((await postJson(`${server.url}/sim/prefix`, CHAT)).cachedTokens).toBe(0);
  });

  it("/metrics parses back with vLLM names and the expected values", async () => {
    server.reset();
    const a = await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 3 });
    const b = await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 3 });
    const m = await scrape(server);
    expect(value(m, "vllm:num_requests_running")).toBe(0);
    expect(value(m, "vllm:num_requests_waiting")).toBe(0);
    expect(value(m, "vllm:kv_cache_usage_perc")).toBe(0);
    expect(value(m, "vllm:gpu_cache_usage_perc")).toBe(0);
    expect(value(m, "vllm:prefix_cache_queries_total")).toBe(a.usage.prompt_tokens + b.usage.prompt_tokens);
    expect(value(m, "vllm:prefix_cache_hits_total")).toBe(b.usage.prompt_tokens_details.cached_tokens);
    expect(value(m, "vllm:generation_tokens_total")).toBe(6);
    expect(value(m, "vllm:time_to_first_token_seconds_count")).toBe(2);
    const success = m.filter((s) => s.name === "vllm:request_success_total" && s.labels.finished_reason === "length");
    expect(success[0].value).toBe(2);
    const cacheInfo = m.find((s) => s.name === "vllm:cache_config_info")!;
    expect(cacheInfo.labels).toMatchObject({ block_size: "16", num_gpu_blocks: "512" });
    expect(cacheInfo.value).toBe(1);
    const lora = m.find((s) => s.name === "vllm:lora_requests_info")!;
    expect(lora.labels).toEqual({ max_lora: "1", running_lora_adapters: "", waiting_lora_adapters: "" });
    expect(Math.abs(lora.value - Date.now() / 1000)).toBeLessThan(60); // a timestamp, as vLLM
    for (const s of m) expect(s.labels.model_name ?? "meta-llama/Llama-3.1-8B-Instruct").toBe("meta-llama/Llama-3.1-8B-Instruct");
  });

  it("streams chat as SSE with the role first, one token per chunk, usage in the last chunk before [DONE]", async () => {
    const res = await post(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 5, stream: true, stream_options: { include_usage: true } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = sseEvents(await res.text());
    expect(events.at(-1)!.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const tokens = chunks.slice(1, 6).map((c) => c.choices[0].delta.content);
    expect(tokens).toHaveLength(5);
    expect(chunks[6].choices[0].finish_reason).toBe("length");
    const last = chunks.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 5 });
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined)).toBe(true);
    // Same text as the non-streamed reply to the same conversation.
    const full = await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 5 });
    expect(tokens.join("")).toBe(full.choices[0].message.content);
  });

  it("streams without usage unless asked", async () => {
    const res = await post(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 2, stream: true });
    const events = sseEvents(await res.text());
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    expect(chunks.some((c) => "usage" in c)).toBe(false);
  });

  it("completions and responses APIs, streamed and not", async () => {
    const c = await postJson(`${server.url}/v1/completions`, { prompt: "Once upon a time", max_tokens: 4 });
    expect(c.object).toBe("text_completion");
    expect(c.usage.prompt_tokens).toBe(5); // BOS + Once upon a time
    const cs = sseEvents(
      await (
        await post(`${server.url}/v1/completions`, { prompt: "Once upon a time", max_tokens: 4, stream: true, stream_options: { include_usage: true } })
      ).text(),
    );
    const streamedText = cs
      .slice(0, -1)
      .map((e) => JSON.parse(e.data))
      .map((x) => x.choices[0]?.text ?? "")
      .join("");
    expect(streamedText).toBe(c.choices[0].text);

    const r = await postJson(`${server.url}/v1/responses`, { input: "Tell me about foxes.", max_output_tokens: 6 });
    expect(r.object).toBe("response");
    expect(r.status).toBe("completed");
    expect(r.usage.output_tokens).toBe(6);
    const rs = sseEvents(await (await post(`${server.url}/v1/responses`, { input: "Tell me about foxes.", max_output_tokens: 6, stream: true })).text());
    expect(rs[0].event).toBe("response.created");
    const done = rs.at(-1)!;
    expect(done.event).toBe("response.completed");
    const final = JSON.parse(done.data);
    // Same prompt and output; the second time its prefix is cached.
    expect(final.response.usage).toMatchObject({ input_tokens: r.usage.input_tokens, output_tokens: 6, total_tokens: r.usage.total_tokens });
    expect(final.response.usage.input_tokens_details.cached_tokens).toBe(Math.floor((r.usage.input_tokens - 1) / 16) * 16);
    expect(final.response.output[0].content[0].text).toBe(r.output[0].content[0].text);
    const deltas = rs.filter((e) => e.event === "response.output_text.delta").map((e) => JSON.parse(e.data).delta);
    expect(deltas.join("")).toBe(r.output[0].content[0].text);
    const seqs = rs.map((e) => JSON.parse(e.data).sequence_number);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });

  it("answers client errors like vLLM (400 with an error object)", async () => {
    const bad = await post(`${server.url}/v1/chat/completions`, { messages: "nope" });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/messages/);
    const tooLong = await post(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 10_000_000 });
    expect(tooLong.status).toBe(400);
    expect((await tooLong.json()).error.message).toMatch(/maximum context length/);
    const notJson = await fetch(`${server.url}/v1/completions`, { method: "POST", body: "{" });
    expect(notJson.status).toBe(400);
  });

  it("failure injection: metrics 500 / timeout, requests 503, then ok again", async () => {
    await postJson(`${server.url}/sim/fail`, { metrics: "500", requests: "503" });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(500);
    expect((await post(`${server.url}/v1/chat/completions`, CHAT)).status).toBe(503);
    await postJson(`${server.url}/sim/fail`, { metrics: "timeout" });
    await expect(fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect((await post(`${server.url}/sim/fail`, { metrics: "later" })).status).toBe(400);
    await postJson(`${server.url}/sim/fail`, { metrics: "ok", requests: "ok" });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    expect((await post(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 1 })).status).toBe(200);
  });
});

describe("load is visible in /metrics while requests run", () => {
  it("running, waiting, KV usage and LoRA adapters", async () => {
    // Real time: overhead 400 ms, one running request at a time.
    const server = await startSimServer({
      timeScale: 1,
      overheadMs: 400,
      prefillMsPerToken: 0,
      decodeMsPerToken: 1,
      maxNumSeqs: 1,
      loraAdapters: ["sql-lora"],
    });
    try {
      const a = postJson(`${server.url}/v1/chat/completions`, { ...CHAT, model: "sql-lora", max_tokens: 2 });
      const b = postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 2 });
      await new Promise((r) => setTimeout(r, 150));
      const m = await scrape(server);
      expect(value(m, "vllm:num_requests_running")).toBe(1);
      expect(value(m, "vllm:num_requests_waiting")).toBe(1);
      expect(value(m, "vllm:kv_cache_usage_perc")).toBeGreaterThan(0);
      expect(m.find((s) => s.name === "vllm:lora_requests_info")!.labels.running_lora_adapters).toBe("sql-lora");
      await Promise.all([a, b]);
      const after = server.stats();
      // b waited for a: ~400 ms of queueing + its own 400 ms.
      expect(after.ttftMs.max).toBeGreaterThanOrEqual(780);
    } finally {
      await server.close();
    }
  });
});

describe("client disconnects", () => {
  it("an aborted stream is cancelled: slot and KV blocks freed, the next request runs", async () => {
    const server = await startSimServer({ timeScale: 1, overheadMs: 0, prefillMsPerToken: 0, decodeMsPerToken: 20, maxNumSeqs: 1 });
    try {
      const res = await post(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 1000, stream: true });
      const reader = res.body!.getReader();
      await reader.read(); // first chunk arrived: the request is running
      expect(server.stats().running).toBe(1);
      await reader.cancel(); // closes the connection
      for (let i = 0; i < 50 && server.stats().running > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(server.stats()).toMatchObject({ running: 0, cancelled: 1, kvUsage: 0 });
      const next = await postJson(`${server.url}/v1/chat/completions`, { ...CHAT, max_tokens: 2 });
      expect(next.usage.completion_tokens).toBe(2);
    } finally {
      await server.close();
    }
  });
});

describe("determinism under a seed", () => {
  it("same seed → same replies on every server; another seed → other replies", async () => {
    const pool = await startSimPool(2, { ...FAST, seed: 1, outputTokensMode: "uniform", outputTokensMin: 5, outputTokensMax: 40 });
    const other = await startSimServer({ ...FAST, seed: 2, outputTokensMode: "uniform", outputTokensMin: 5, outputTokensMax: 40 });
    try {
      const replies = async (url: string) => {
        const out: string[] = [];
        for (const q of ["foxes", "owls", "cats", "rivers"]) {
          const r = await postJson(`${url}/v1/chat/completions`, { messages: [{ role: "user", content: `Tell me about ${q}.` }] });
          expect(r.usage.completion_tokens).toBeGreaterThanOrEqual(5);
          expect(r.usage.completion_tokens).toBeLessThanOrEqual(40);
          expect(r.choices[0].finish_reason).toBe("stop");
          out.push(`${r.usage.completion_tokens}:${r.choices[0].message.content}`);
        }
        return out;
      };
      const [a, b, c] = [await replies(pool.urls[0]), await replies(pool.urls[1]), await replies(other.url)];
      expect(b).toEqual(a);
      expect(c).not.toEqual(a);
      expect(new Set(a).size).toBe(4); // different requests, different replies
    } finally {
      await pool.close();
      await other.close();
    }
  });
});

describe("config and startup", () => {
  it("validates fields and names the bad one", () => {
    expect(() => resolveSimConfig({ numGpuBlocks: 0 })).toThrow(/"numGpuBlocks".*>= 1/);
    expect(() => resolveSimConfig({ blockSize: 1.5 })).toThrow(/"blockSize".*integer/);
    expect(() => resolveSimConfig({ timeScale: 0 })).toThrow(/"timeScale"/);
    expect(() => resolveSimConfig({ outputTokensMode: "max" })).toThrow(/"outputTokensMode"/);
    expect(() => resolveSimConfig({ numGPUBlocks: 4 })).toThrow(SimConfigError);
    expect(() => resolveSimConfig({ outputTokensMin: 10, outputTokensMax: 5 })).toThrow(/"outputTokensMax"/);
    expect(resolveSimConfig({}).blockSize).toBe(16);
    const dir = mkdtempSync(join(tmpdir(), "sim-config-"));
    writeFileSync(join(dir, "ok.json"), JSON.stringify({ numGpuBlocks: 64, seed: 3 }));
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ maxNumSeqs: "8" }));
    expect(loadSimConfigFile(join(dir, "ok.json"))).toMatchObject({ numGpuBlocks: 64, seed: 3, blockSize: 16 });
    expect(() => loadSimConfigFile(join(dir, "bad.json"))).toThrow(/bad\.json.*"maxNumSeqs"/);
  });

  it("reports a port in use clearly", async () => {
    const first = await startSimServer(FAST);
    try {
      await expect(startSimServer(FAST, { port: first.port })).rejects.toThrow(PortInUseError);
      await expect(startSimPool(2, FAST, first.port - 1)).rejects.toThrow(/already in use/);
    } finally {
      await first.close();
    }
  });

  it("formats values like Python's prometheus_client", () => {
    expect(formatValue(0)).toBe("0.0");
    expect(formatValue(3)).toBe("3.0");
    expect(formatValue(0.25)).toBe("0.25");
    expect(formatValue(1712345678.5)).toBe("1.7123456785e+09");
    expect(formatValue(Infinity)).toBe("+Inf");
  });
});
