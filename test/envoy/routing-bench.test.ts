/**
 * The routing benchmark: a small run through the real
 * Envoy (round-robin vs the filter's defaults on the multi-turn trace), a
 * replay of a hand-written trace in the documented format (all three APIs,
 * the `precise` policy, --json output), a built-in trace at two seeds
 * pooled (--seeds), and the pure parts (trace format,
 * generators, the precise picker, SSE output detection).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { isOutputEvent, outputTextOf } from "../../src/bench/routing-client.js";
import { closedLoopBody, planSessions } from "../../src/bench/routing-sessions.js";
import { pickPrecise, type PreciseCandidate } from "../../src/bench/routing-precise.js";
import { main, meanRate, percentile, runRoutingBench, timeScaleFor, warmOutcomes } from "../../src/bench/routing.js";
import { baselineYaml, headerRoutedYaml } from "../../src/bench/routing-policies.js";
import { goalLines } from "../../src/bench/routing-goals.js";
import { goalTable, summaryTable } from "../../src/bench/routing-summary.js";
import type { RoutingResult } from "../../src/bench/routing-types.js";
import { ALL_TRACE_NAMES, generateTrace } from "../../src/bench/traces/generators.js";
import { asResponses } from "../../src/bench/traces/common.js";
import { onOff } from "../../src/bench/traces/workloads.js";
import { pickOracle } from "../../src/bench/routing-oracle.js";
import { formatTrace, parseTrace, type TraceRequest } from "../../src/bench/traces/trace.js";
import { SKIP_FILTER } from "./harness.js";

describe("trace format and generators", () => {
  test("parseTrace reads the documented format, sorts by t and names the bad line", () => {
    const text = [
      '{"t": 20, "session": "b", "path": "/v1/completions", "body": {"prompt": "x"}}',
      "",
      '{"t": 5, "session": "a", "path": "/v1/chat/completions", "body": {"messages": []}}',
    ].join("\n");
    expect(parseTrace(text).map((r) => r.session)).toEqual(["a", "b"]);
    expect(() => parseTrace('{"t": 1, "session": "a", "path": "/v1/embeddings", "body": {}}')).toThrow(/:1: "path"/);
    expect(() => parseTrace('{"t": -1, "session": "a", "path": "/v1/completions", "body": {}}')).toThrow(/"t"/);
    expect(() => parseTrace('ok\n{"t":1}')).toThrow(/trace:1: not JSON/);
    expect(() => parseTrace("\n\n")).toThrow(/no requests/);
  });

  test.each(ALL_TRACE_NAMES)("%s: deterministic per seed, sorted, chat bodies asking for nothing unusual", (name) => {
    const a = generateTrace(name, { seed: 7, requests: 60 });
    const b = generateTrace(name, { seed: 7, requests: 60 });
    const c = generateTrace(name, { seed: 8, requests: 60 });
    expect(formatTrace(a)).toBe(formatTrace(b));
    expect(formatTrace(a)).not.toBe(formatTrace(c));
    // The requests asked for are measured; the warm-up before them is not (routing-warmup.test.ts).
    expect(a.filter((r) => r.warmup !== true)).toHaveLength(60);
    for (let i = 1; i < a.length; i++) expect(a[i].t).toBeGreaterThanOrEqual(a[i - 1].t);
    expect(a[0].t).toBeGreaterThanOrEqual(0);
    expect(parseTrace(formatTrace(a))).toEqual(a);
  });

  test("multi-turn: a session's next request extends its previous one (growing conversation)", () => {
    // At the light rate (the loaded default's 200 requests span under 3 model seconds, a think time or two).
    const trace = generateTrace("multi-turn", { requests: 200, rate: 20 });
    const last = new Map<string, unknown[]>();
    let extended = 0;
    for (const r of trace) {
      const messages = r.body.messages as unknown[];
      const before = last.get(r.session);
      if (before) {
        expect(messages.slice(0, before.length)).toEqual(before);
        expect(messages.length).toBe(before.length + 2);
        extended++;
      }
      last.set(r.session, messages);
    }
    expect(extended).toBeGreaterThan(100);
  });
});

describe("agents over the Responses API", () => {
  test("asResponses: a chat turn as a stateless /v1/responses client sends it", () => {
    const chat: TraceRequest = {
      t: 5,
      session: "s1",
      path: "/v1/chat/completions",
      body: {
        model: "m",
        max_tokens: 24,
        stream: true,
        tools: [{ type: "function", function: { name: "find", description: "Finds.", parameters: { type: "object" } } }],
        messages: [
          { role: "system", content: "You are agent 0." },
          { role: "user", content: "Task: find it." },
          { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "find", arguments: '{"q":"it"}' } }] },
          { role: "tool", tool_call_id: "call_1", content: "found" },
          { role: "assistant", content: "Done." },
          { role: "user", content: "Thanks." },
        ],
      },
    };
    expect(asResponses(chat)).toEqual({
      t: 5,
      session: "s1",
      path: "/v1/responses",
      body: {
        model: "m",
        stream: true,
        instructions: "You are agent 0.",
        tools: [{ type: "function", name: "find", description: "Finds.", parameters: { type: "object" } }],
        input: [
          { role: "user", content: "Task: find it." },
          { type: "function_call", call_id: "call_1", name: "find", arguments: '{"q":"it"}' },
          { type: "function_call_output", call_id: "call_1", output: "found" },
          { role: "assistant", content: "Done." },
          { role: "user", content: "Thanks." },
        ],
        max_output_tokens: 24,
      },
    });
    const completion: TraceRequest = { t: 0, session: "c", path: "/v1/completions", body: { model: "m", prompt: "x" } };
    expect(asResponses(completion)).toBe(completion);
  });

  test("held-out-agents-responses: every request is /v1/responses with instructions and 48 tools; a session's next input extends its previous", () => {
    const trace = generateTrace("held-out-agents-responses", { seed: 3, requests: 120 });
    const last = new Map<string, unknown[]>();
    let extended = 0;
    for (const r of trace) {
      expect(r.path).toBe("/v1/responses");
      expect(typeof r.body.instructions).toBe("string");
      expect(r.body.tools).toHaveLength(48);
      const input = r.body.input as unknown[];
      const before = last.get(r.session);
      if (before) {
        expect(input.slice(0, before.length)).toEqual(before);
        expect(input.length).toBe(before.length + 2); // the function call and its output
        extended++;
      }
      last.set(r.session, input);
    }
    expect(extended).toBeGreaterThan(40);
  });
});

describe("closed-loop replay of sessions", () => {
  const sys = { role: "system", content: "S" };
  const u1 = { role: "user", content: "one" };
  const a1 = { role: "assistant", content: "trace reply one" };
  const u2 = { role: "user", content: "two" };
  const a2 = { role: "assistant", content: "trace reply two" };
  const u3 = { role: "user", content: "three" };
  const chat = (t: number, session: string, messages: unknown[]) => ({
    t,
    session,
    path: "/v1/chat/completions",
    body: { model: "m", messages, max_tokens: 5 },
  });

  test("planSessions: each assistant message maps to the earlier turn whose messages precede it; previous turn per session", () => {
    const trace = [
      chat(0, "a", [sys, u1]),
      chat(5, "b", [sys, u1]), // same messages, other session: never a source for "a"
      chat(10, "a", [sys, u1, a1, u2]),
      chat(20, "a", [sys, u1, a1, u2, a2, u3]),
      chat(30, "b", [sys, u1, { ...a1, content: "edited" }, u2]), // b's turn 0 is its source whatever the text
      chat(40, "c", [sys, u1, a1, u2]), // history from before the trace: no source
    ];
    const plan = planSessions(trace);
    expect(plan.previous).toEqual([-1, -1, 0, 2, 1, -1]);
    expect(plan.substitutions).toEqual([
      [],
      [],
      [{ message: 2, source: 0 }],
      [
        { message: 2, source: 0 },
        { message: 4, source: 2 },
      ],
      [{ message: 2, source: 1 }],
      [],
    ]);
  });

  test("planSessions: a diverging history is not a reply to that turn; tool-call messages are never replaced", () => {
    const call = { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] };
    const trace = [
      chat(0, "a", [sys, u1]),
      chat(10, "a", [sys, { role: "user", content: "other" }, a1, u2]),
      chat(20, "t", [sys, u1]),
      chat(30, "t", [sys, u1, call, { role: "tool", tool_call_id: "c1", content: "r" }]),
    ];
    expect(planSessions(trace).substitutions).toEqual([[], [], [], []]);
  });

  test("closedLoopBody: replaces the planned contents with the replies received, keeps the trace's text otherwise, asks for streaming", () => {
    const request = chat(20, "a", [sys, u1, a1, u2, a2, u3]);
    const subs = [
      { message: 2, source: 0 },
      { message: 4, source: 2 },
    ];
    const body = closedLoopBody(request, subs, ["served one", undefined, undefined]);
    expect(body.stream).toBe(true);
    expect(body.messages).toEqual([sys, u1, { role: "assistant", content: "served one" }, u2, a2, u3]);
    expect(request.body.messages[2]).toEqual(a1); // the trace is not mutated
    const responses = { t: 0, session: "r", path: "/v1/responses", body: { input: [u1, a1, u2] } };
    expect(closedLoopBody(responses, [{ message: 1, source: 0 }], ["x"]).input).toEqual([u1, { role: "assistant", content: "x" }, u2]);
  });

  test("outputTextOf: the text of chat, completions and responses events; nothing from role, usage or [DONE]", () => {
    expect(outputTextOf('data: {"choices":[{"delta":{"role":"assistant","content":""}}]}')).toBe("");
    expect(outputTextOf('data: {"choices":[{"delta":{"content":" the"}}]}')).toBe(" the");
    expect(outputTextOf('data: {"choices":[{"text":"The"}]}')).toBe("The");
    expect(outputTextOf('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":" of"}')).toBe(" of");
    expect(outputTextOf('data: {"choices":[],"usage":{"prompt_tokens":3}}')).toBe("");
    expect(outputTextOf("data: [DONE]")).toBe("");
    expect(outputTextOf("data: {not json")).toBe("");
  });

  test("multi-turn generator: each turn asks for as many tokens as the reply the trace writes for it", () => {
    const trace = generateTrace("multi-turn", { requests: 200, rate: 20 });
    const asked = new Map<string, number>();
    let checked = 0;
    for (const r of trace) {
      const messages = r.body.messages as { role: string; content: string }[];
      const before = asked.get(r.session);
      if (before !== undefined) {
        expect(messages[messages.length - 2].content.split(" ")).toHaveLength(before);
        checked++;
      }
      expect(r.body.max_tokens).toBeGreaterThanOrEqual(100);
      expect(r.body.max_tokens).toBeLessThanOrEqual(250);
      asked.set(r.session, r.body.max_tokens as number);
    }
    expect(checked).toBeGreaterThan(100);
    // An explicit maxTokens (the `npm start` demo) applies to every request.
    for (const r of generateTrace("multi-turn", { requests: 50, maxTokens: 32 })) expect(r.body.max_tokens).toBe(32);
  });
});

describe("workload classes", () => {
  const systemOf = (r: { body: Record<string, unknown> }) => ((r.body.messages as Array<{ role: string; content: string }>)[0] ?? { content: "" }).content;

  test("shared-prompt: every session starts with the one system prompt; about 30% add a tenant suffix", () => {
    const trace = generateTrace("shared-prompt", { requests: 400 });
    const systems = trace.map(systemOf);
    const base = systems.reduce((a, b) => (a.length <= b.length ? a : b));
    expect(systems.every((s) => s.startsWith(base))).toBe(true);
    const firstTurns = new Map<string, string>();
    for (const r of trace) if (!firstTurns.has(r.session)) firstTurns.set(r.session, systemOf(r));
    const suffixed = [...firstTurns.values()].filter((s) => s !== base).length / firstTurns.size;
    expect(suffixed).toBeGreaterThan(0.15);
    expect(suffixed).toBeLessThan(0.45);
  });

  test("pareto-prompts: heavy-tailed popularity, the most popular prompt in most sessions", () => {
    const trace = generateTrace("pareto-prompts", { requests: 400 });
    const counts = new Map<string, number>();
    for (const r of trace) counts.set(systemOf(r), (counts.get(systemOf(r)) ?? 0) + 1);
    const sorted = [...counts.values()].sort((a, b) => b - a);
    expect(sorted.length).toBeGreaterThanOrEqual(4);
    expect(sorted[0]).toBeGreaterThan(2 * sorted[2]);
  });

  test("long-context: document prompts between 8k and 32k tokens (words + punctuation ≈ tokens)", () => {
    const words = generateTrace("long-context", { requests: 60 }).map((r) => JSON.stringify(r.body.messages).split(" ").length);
    expect(Math.max(...words)).toBeGreaterThan(8000);
    expect(Math.max(...words)).toBeLessThan(30000);
  });

  test("bursts: the on/off factor keeps the mean rate and switches at the period", () => {
    const f = onOff({ onMs: 3000, offMs: 3000, onFactor: 1.8 });
    expect([f(0), f(2999), f(3000), f(5999), f(6000)].map((v) => Math.round(v * 100) / 100)).toEqual([1.8, 1.8, 0.2, 0.2, 1.8]);
  });

  test("oracle picks the lowest predicted TTFT, then the fewest running, then rotates", () => {
    expect(
      pickOracle(
        [
          { predictedTtftMs: 50, running: 0 },
          { predictedTtftMs: 20, running: 9 },
        ],
        0,
      ),
    ).toBe(1);
    expect(
      pickOracle(
        [
          { predictedTtftMs: 20, running: 3 },
          { predictedTtftMs: 20, running: 1 },
        ],
        0,
      ),
    ).toBe(1);
    expect(
      new Set(
        [0, 1, 2].map((r) =>
          pickOracle(
            [
              { predictedTtftMs: 5, running: 0 },
              { predictedTtftMs: 5, running: 0 },
            ],
            r,
          ),
        ),
      ),
    ).toEqual(new Set([0, 1]));
  });
});

describe("precise picker and SSE detection", () => {
  const idle = (cachedTokens: number, waiting = 0): PreciseCandidate => ({ cachedTokens, promptTokens: 1000, waiting, running: 0, kvUsage: 0.1, inFlight: 0 });

  test("longest cached prefix wins when load is equal; load wins when the caches are equal", () => {
    expect(pickPrecise([idle(0), idle(900), idle(100)], 0)).toBe(1);
    expect(pickPrecise([idle(500, 3), idle(500, 0), idle(500, 3)], 0)).toBe(1);
    // Prefix weight 3 × 0.9 outweighs queue weight 2 × 1.0 (a short queue behind a warm cache).
    expect(pickPrecise([idle(0, 0), idle(900, 4)], 0)).toBe(1);
  });

  test("the hot-spot guard drops affinity when load is badly imbalanced", () => {
    const busy: PreciseCandidate = { cachedTokens: 1000, promptTokens: 1000, waiting: 70, running: 30, kvUsage: 0.5, inFlight: 0 };
    expect(pickPrecise([busy, idle(0)], 0)).toBe(1);
  });

  test("ties rotate", () => {
    const picks = new Set([0, 1, 2, 3].map((r) => pickPrecise([idle(0), idle(0), idle(0)], r)));
    expect(picks).toEqual(new Set([0, 1, 2]));
  });

  test("isOutputEvent: chat/completions chunks count; responses' created/in_progress and [DONE] do not", () => {
    expect(isOutputEvent('data: {"choices":[{"delta":{"role":"assistant","content":""}}]}')).toBe(true);
    expect(isOutputEvent("data: [DONE]")).toBe(false);
    expect(isOutputEvent('event: response.created\ndata: {"type":"response.created"}')).toBe(false);
    expect(isOutputEvent('event: response.in_progress\ndata: {"type":"response.in_progress"}')).toBe(false);
    expect(isOutputEvent('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}')).toBe(true);
    expect(isOutputEvent(": comment")).toBe(false);
  });

  test("percentile: nearest rank", () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });

  test.each([
    // rate (model req/s), base timeScale, real req/s cap → timeScale
    { rate: 10, base: 0.5, real: 30, want: 0.5 },
    { rate: 15, base: 0.5, real: 30, want: 0.5 },
    { rate: 60, base: 0.5, real: 30, want: 2 },
    { rate: 400, base: 0.5, real: 30, want: 13.333 },
    { rate: 400, base: 20, real: 30, want: 20 },
    { rate: 14, base: 0.5, real: 7, want: 2 },
  ])("timeScaleFor($rate, $base, $real) = $want: the real request rate stays at or below the cap", ({ rate, base, real, want }) => {
    expect(timeScaleFor(rate, base, real)).toBe(want);
  });

  test.each([
    { ts: [0, 1000], want: 1 },
    { ts: [0, 250, 500, 750, 1000], want: 4 },
    { ts: [500, 600], want: 10 },
    { ts: [7], want: 1 },
    { ts: [3, 3, 3], want: 1 },
  ])("meanRate of t = $ts ms is $want requests per model second", ({ ts, want }) => {
    expect(meanRate(ts.map((t) => ({ t })))).toBe(want);
  });

  test("summaryTable: one row per trace × policy, each run's figures side by side, busy first", () => {
    const result = (busy: number, p50: number): RoutingResult => ({
      policy: "default",
      trace: "rag",
      requests: 400,
      errors: 0,
      hitRate: 0.5,
      ttftP50Ms: p50,
      ttftP90Ms: 90,
      ttftP99Ms: 99,
      rps: 50,
      maxMeanLoad: 1.25,
      activations: 7,
      busy,
      serverTtftP50Ms: 40,
      serverTtftP90Ms: 80,
      serverTtftP99Ms: 120,
      warmTtftP90Ms: 70,
      warmTtftP99Ms: 80,
    });
    const lines = summaryTable([[result(0.614, 50)], [result(0.587, 61.5)]])
      .trim()
      .split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\| trace \| policy \| prefill busy \| hit rate \| TTFT p50/);
    expect(lines[2]).toBe(
      "| rag | default | 61% / 59% | 50.0% / 50.0% | 50.0 / 61.5 | 90.0 / 90.0 | 99.0 / 99.0 | 70.0 / 70.0 | 80.0 / 80.0 | 40.0 / 40.0 | 80.0 / 80.0 | 120 / 120 | 1.25 / 1.25 | 7 / 7 | 0 / 0 |",
    );
  });

  test.each([
    { name: "ten requests in order: the first is the cold start", ts: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], want: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    { name: "twenty: the first two", ts: Array.from({ length: 20 }, (_, i) => i * 10), want: Array.from({ length: 18 }, (_, i) => i + 2) },
    { name: "out of order: by due time, not by index", ts: [5, 0, 9, 1, 2, 3, 4, 6, 7, 8], want: [0, 2, 3, 4, 5, 6, 7, 8, 9] },
    { name: "ties at the cut stay in", ts: [0, 3, 3, 3, 3, 3, 3, 3, 3, 3], want: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    { name: "fewer than ten: nothing left out", ts: [0, 1, 2], want: [0, 1, 2] },
    { name: "none", ts: [], want: [] },
  ])("warmOutcomes: $name", ({ ts, want }) => {
    const outcomes = ts.map((_, i) => i);
    expect(warmOutcomes({ requests: ts.map((t) => ({ t })) }, outcomes)).toEqual(want);
  });

  test("goal lines: the tails after the cold start are shown beside the goals when both runs have them", () => {
    const row = (policy: string, p99: number, warm?: [number, number]) => ({
      trace: "shared-prompt",
      policy,
      errors: 0,
      hitRate: 0.8,
      ttftP50Ms: 30,
      ttftP90Ms: 60,
      ttftP99Ms: p99,
      ...(warm ? { warmTtftP90Ms: warm[0], warmTtftP99Ms: warm[1] } : {}),
    });
    expect(goalLines([row("default", 138, [53, 81]), row("round-robin", 127, [77, 122])])).toEqual([
      "shared-prompt: 0 failed requests: 0 ✔",
      "shared-prompt: p90 ≤ round robin: 60.0 vs 60.0 ms ✔",
      "shared-prompt: p99 ≤ round robin: 138 vs 127 ms ✘",
      "shared-prompt: (after the cold start) p90 ≤ round robin: 53.0 vs 77.0 ms ✔",
      "shared-prompt: (after the cold start) p99 ≤ round robin: 81.0 vs 122 ms ✔",
      "shared-prompt: p50 ≤ round robin: 30.0 vs 30.0 ms ✔",
    ]);
    expect(goalLines([row("default", 138), row("round-robin", 127, [77, 122])]).filter((l) => l.includes("cold start"))).toEqual([]);
  });

  test("goalTable: client and server figures per goal; the tails after the cold start have no server side", () => {
    const result = (policy: "default" | "round-robin", p99: number, warmP99: number): RoutingResult => ({
      policy,
      trace: "shared-prompt",
      requests: 100,
      errors: 0,
      hitRate: 0.8,
      ttftP50Ms: 30,
      ttftP90Ms: 60,
      ttftP99Ms: p99,
      rps: 50,
      serverTtftP50Ms: 29,
      serverTtftP90Ms: 59,
      serverTtftP99Ms: p99 - 1,
      warmTtftP90Ms: 55,
      warmTtftP99Ms: warmP99,
    });
    const lines = goalTable([[result("default", 138, 81), result("round-robin", 127, 122)]])
      .trim()
      .split("\n");
    expect(lines).toContain("| shared-prompt | p99 ≤ round robin | 138 vs 127 ms | 0/1 | 137 vs 126 ms | 0/1 |");
    expect(lines).toContain("| shared-prompt | (after the cold start) p99 ≤ round robin | 81.0 vs 122 ms | 1/1 |  |  |");
    expect(lines).toContain("| shared-prompt | 0 failed requests | 0 | 1/1 |  |  |");
  });

  test("policy configs: baseline variants swap the balancing policy; precise drops the filter only", () => {
    expect(baselineYaml("least-request")).toContain("envoy.load_balancing_policies.least_request");
    expect(baselineYaml("random")).toContain("envoy.load_balancing_policies.random");
    expect(baselineYaml("random")).not.toContain("round_robin");
    const precise = headerRoutedYaml();
    expect(precise).not.toContain("llm_picker.wasm");
    expect(precise).toContain("override_host");
    expect(precise).toContain("envoy.filters.http.router");
  });
});

describe.skipIf(SKIP_FILTER)("routing benchmark through the real Envoy", () => {
  test("multi-turn, 4 servers: no errors, and the filter's defaults beat round robin's hit rate", async () => {
    const trace = { name: "multi-turn", requests: generateTrace("multi-turn", { seed: 3, requests: 240, rate: 16 }) };
    const runs = await runRoutingBench({
      traces: [trace],
      policies: ["round-robin", "default"],
      servers: 4,
      // Closed loop: replies of 100–250 tokens stay in KV while they decode, so 2048 blocks (as the bench).
      sim: { numGpuBlocks: 2048, timeScale: 0.25 },
      progress: false,
      log: () => {},
    });
    const [rr, def] = runs.map((r) => r.result);
    expect(rr.policy).toBe("round-robin");
    expect(def.policy).toBe("default");
    for (const r of [rr, def]) {
      expect(r.errors, runs.flatMap((x) => x.detail.errorSamples).join("\n")).toBe(0);
      expect(r.requests).toBe(240);
      // The sessions under way at the trace's start sent their latest turn first, measured apart.
      expect(r.warmupRequests).toBe(trace.requests.length - 240);
      expect(r.warmupRequests).toBeGreaterThan(10);
      expect(r.ttftP50Ms).toBeGreaterThan(0);
      expect(r.rps).toBeGreaterThan(0);
    }
    expect(def.hitRate).toBeGreaterThan(rr.hitRate + 0.15);
    expect(runs[1].detail.filterMatchRatio).toBeGreaterThan(0.3);
    // Closed loop (default): later turns carried the replies streamed for earlier ones.
    for (const r of runs) expect(r.detail.loop).toMatchObject({ closedLoop: true });
    for (const r of runs) expect(r.detail.loop.substituted).toBeGreaterThan(100);
  }, 180_000);

  test("--trace FILE written by hand (chat, completions, responses) replays under `precise` with --json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "routing-bench-"));
    try {
      const system = "You are a terse assistant. ".repeat(40);
      const lines = [
        {
          t: 0,
          session: "a",
          path: "/v1/chat/completions",
          body: {
            model: "m",
            messages: [
              { role: "system", content: system },
              { role: "user", content: "first" },
            ],
            max_tokens: 4,
          },
        },
        { t: 30, session: "b", path: "/v1/completions", body: { model: "m", prompt: system + "complete this", max_tokens: 4 } },
        { t: 60, session: "c", path: "/v1/responses", body: { model: "m", instructions: system, input: "hello", max_output_tokens: 4 } },
        {
          t: 200,
          session: "a",
          path: "/v1/chat/completions",
          body: {
            model: "m",
            messages: [
              { role: "system", content: system },
              { role: "user", content: "second" },
            ],
            max_tokens: 4,
          },
        },
      ];
      const file = join(dir, "mine.jsonl");
      writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
      const json = join(dir, "out.json");
      const served = join(dir, "served");
      const code = await main([
        "--trace",
        file,
        "--policies",
        "precise",
        "--servers",
        "2",
        "--out",
        join(dir, "report"),
        "--json",
        json,
        "--request-log",
        served,
      ]);
      expect(code).toBe(0);
      const results = JSON.parse(readFileSync(json, "utf8"));
      expect(results).toHaveLength(1);
      // The --json contract: these keys always, extra figures only ever added after them.
      const contract = ["policy", "trace", "requests", "errors", "hitRate", "ttftP50Ms", "ttftP90Ms", "ttftP99Ms", "rps"];
      expect(Object.keys(results[0]).slice(0, contract.length)).toEqual(contract);
      expect(Object.keys(results[0]).slice(contract.length)).toEqual([
        "maxMeanLoad",
        "busy",
        "kvUsage",
        "slotUsage",
        "serverTtftP50Ms",
        "serverTtftP90Ms",
        "serverTtftP99Ms",
        "offeredRate",
        "timeScale",
        "sendLateP50Ms",
        "sendLateP99Ms",
        "sendLateMaxMs",
        "loopDelayP99Ms",
        "harnessCpu",
        "warmTtftP90Ms",
        "warmTtftP99Ms",
      ]);
      // 3 arrivals after the first in 200 model ms = 15 per model second: at the base scale, 30 real per second.
      expect(results[0]).toMatchObject({ offeredRate: 15, timeScale: 0.5 });
      expect(results[0]).toMatchObject({ policy: "precise", trace: "mine", requests: 4, errors: 0 });
      // The second chat turn shares the long system prompt with the first: precise finds it.
      expect(results[0].hitRate).toBeGreaterThan(0.2);
      for (const f of ["routing.md", "routing-hit-rate.svg", "routing-ttft-p50.svg"]) expect(existsSync(join(dir, "report", f))).toBe(true);
      // --request-log: one line per request the servers served, in order of first token, model ms from the first arrival.
      const log = readFileSync(join(served, "mine-precise.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(log).toHaveLength(4);
      expect(Math.min(...log.map((r) => r.arrivalMs))).toBe(0);
      for (const r of log) {
        expect(Object.keys(r)).toEqual([
          "server",
          "arrivalMs",
          "admittedMs",
          "prefillStartMs",
          "firstTokenMs",
          "promptTokens",
          "cachedTokens",
          "outputTokens",
          "runningAtArrival",
          "waitingAtArrival",
          "freeBlocksAtArrival",
          "doneMs",
          "freeBlocksBeforeDone",
          "cachedAtArrivalByServer",
          "predictedTtftMsByServer",
          "tag",
        ]);
        // Where else it could have gone: per server of the pool, what it had cached and what the
        // oracle's model predicted there at arrival. Where it went, admitted at once: what it found,
        // and the prediction was its time to first token, but for the moment the prediction took
        // (read just before its arrival, a fraction of a real ms, doubled at the bench's time scale).
        expect(r.cachedAtArrivalByServer).toHaveLength(2);
        expect(r.predictedTtftMsByServer).toHaveLength(2);
        expect(r.cachedAtArrivalByServer[r.server]).toBe(r.cachedTokens);
        expect(Math.abs(r.predictedTtftMsByServer[r.server] - (r.firstTokenMs - r.arrivalMs))).toBeLessThan(2);
        // The batch it found: at most the 3 others running, none left waiting at this load, within the 2,048-block cache of the benchmark's servers.
        expect(r.runningAtArrival).toBeGreaterThanOrEqual(0);
        expect(r.runningAtArrival).toBeLessThanOrEqual(3);
        expect(r.waitingAtArrival).toBe(0);
        expect(r.freeBlocksAtArrival).toBeGreaterThan(0);
        expect(r.freeBlocksAtArrival).toBeLessThanOrEqual(2048);
        // Every request ended before the log was written: after its first token, and its own blocks were still held just before.
        expect(r.doneMs).toBeGreaterThanOrEqual(r.firstTokenMs);
        expect(r.freeBlocksBeforeDone).toBeGreaterThanOrEqual(0);
        expect(r.freeBlocksBeforeDone).toBeLessThanOrEqual(2048 - Math.ceil(r.promptTokens / 16));
        expect([0, 1]).toContain(r.server);
        expect(r.arrivalMs).toBeLessThanOrEqual(r.admittedMs);
        expect(r.admittedMs).toBeLessThanOrEqual(r.prefillStartMs);
        // Every request asked for 4 tokens, and the simulators generate max_tokens when it is given.
        expect(r.outputTokens).toBe(4);
        // The simulators' latency model: 0.1 ms per uncached prompt token, then 10 ms to the first token.
        expect(r.firstTokenMs - r.prefillStartMs).toBeCloseTo(0.1 * (r.promptTokens - r.cachedTokens) + 10, 1);
      }
      expect(log.map((r) => r.firstTokenMs)).toEqual([...log.map((r) => r.firstTokenMs)].sort((a, b) => a - b));
      // The first request a server served found it empty: nothing running, its whole cache free.
      for (const server of new Set(log.map((r) => r.server))) {
        const first = log.filter((r) => r.server === server).sort((a, b) => a.arrivalMs - b.arrivalMs)[0];
        expect(first).toMatchObject({ runningAtArrival: 0, waitingAtArrival: 0, freeBlocksAtArrival: 2048 });
      }
      // Each request's session and index in the trace (the x-sim-tag header the benchmark sends with a log).
      expect(log.map((r) => r.tag).sort()).toEqual(["a#0", "a#3", "b#1", "c#2"]);
      expect(log.some((r) => r.cachedTokens > 0)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test("--seeds: each seed's run named trace@seed, then one pooled row per trace and policy, which the goals read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "routing-bench-seeds-"));
    try {
      const json = join(dir, "out.json");
      const code = await main([
        "--traces",
        "system-prompts",
        "--seeds",
        "3,4",
        "--policies",
        "round-robin",
        "--servers",
        "2",
        "--requests",
        "12",
        "--out",
        join(dir, "report"),
        "--json",
        json,
      ]);
      expect(code).toBe(0);
      const results: RoutingResult[] = JSON.parse(readFileSync(json, "utf8"));
      expect(results.map((r) => [r.trace, r.policy, r.requests, r.errors])).toEqual([
        ["system-prompts@3", "round-robin", 12, 0],
        ["system-prompts@4", "round-robin", 12, 0],
        ["system-prompts", "round-robin", 24, 0],
      ]);
      // Two seeds draw two different traces.
      expect(generateTrace("system-prompts", { seed: 3, requests: 12 })).not.toEqual(generateTrace("system-prompts", { seed: 4, requests: 12 }));
      // Nearest rank over 12 requests and over 24, p99 is the slowest: pooled, the slower seed's.
      const [a, b, pooled] = results;
      expect(pooled.ttftP99Ms).toBe(Math.max(a.ttftP99Ms, b.ttftP99Ms));
      expect(await main(["--traces", "system-prompts", "--seeds", "3,x"])).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
