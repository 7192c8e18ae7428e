/**
 * Host tier: admission (503 empty pool, 429 for
 * sheddable requests on a saturated pool), the routing decision headers
 * (client routing header ignored, x-request-id, model rewrite, debug scores
 * header) and the Envoy stats the filter defines.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { A, B, C, getModels, newPool, route, scrapeRound, send, stat, uniquePrompt } from "./fixtures/vllm.js";
import { chatBody, ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

const INTERVAL = 50;
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const header = (headers: Array<[string, string]>, name: string) => headers.filter(([k]) => k === name).map(([, v]) => v);

describe("admission", () => {
  it("an empty pool answers 503 with the OpenAI JSON error and content-type application/json", async () => {
    const host = await newPool({ endpoints: [] });
    const s = send(host, chatBody(["hello"]));
    expect(s.status).toBe(503);
    const local = s.stream.localResponse()!;
    expect(header(local.headers as Array<[string, string]>, "content-type")).toEqual(["application/json"]);
    const err = JSON.parse(local.bodyText);
    expect(Object.keys(err)).toEqual(["error"]);
    expect(err.error.code).toBe("no_endpoints");
    expect(typeof err.error.message).toBe("string");
    expect(err.error.message.length).toBeGreaterThan(0);
    expect(err.error.type).toBeDefined();
    expect(s.stream.forwardedRequest()).toBeNull();
    s.stream.end("complete");
    // Not-inference requests too: nowhere to send them.
    const g = getModels(host);
    expect(g.localResponse()?.status).toBe(503);
    g.end("complete");
    expect(stat(host, "llm_picker.requests.rejected_503")).toBe(2);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  for (const [name, page] of [
    ["waiting > 5 everywhere", { waiting: 6, kv: 0.1 }],
    ["KV-cache > 0.8 everywhere", { waiting: 0, kv: 0.85 }],
  ] as const) {
    it(`saturated pool (${name}): sheddable requests get 429, others go to the least-loaded endpoint`, async () => {
      const host = await newPool();
      scrapeRound(host, INTERVAL, { [A]: page, [B]: page, [C]: page });
      const shed = send(host, chatBody([uniquePrompt(1)]), { headers: [["x-gateway-inference-priority", "-1"]] });
      expect(shed.status).toBe(429);
      const local = shed.stream.localResponse()!;
      expect(header(local.headers as Array<[string, string]>, "content-type")).toEqual(["application/json"]);
      expect(JSON.parse(local.bodyText).error.code).toBe("system_saturated");
      shed.stream.end("complete");
      // Priority 0 / absent / not a negative integer: not sheddable.
      for (const h of [
        [],
        [["x-gateway-inference-priority", "0"]],
        [["x-gateway-inference-priority", "2"]],
        [["x-gateway-inference-priority", "-x"]],
        [["x-gateway-inference-priority", "-0"]],
        [["x-gateway-inference-priority", "-"]],
      ] as Array<Array<[string, string]>>) {
        const s = send(host, chatBody([uniquePrompt(2)]), { headers: h });
        expect(s.status).toBeUndefined();
        expect(s.endpoint).toBeDefined();
        s.stream.end("complete");
      }
      // Any negative integer is sheddable.
      for (const v of ["-2", " -100 ", "-007"]) {
        const s = send(host, chatBody([uniquePrompt(5)]), { headers: [["x-gateway-inference-priority", v]] });
        expect(s.status).toBe(429);
        s.stream.end("complete");
      }
      expect(stat(host, "llm_picker.requests.rejected_429")).toBe(4);
      host.close();
    });
  }

  it("saturated pool: a non-sheddable request goes to the least-loaded endpoint, prefix ignored", async () => {
    const host = await newPool({ extra: { debugHeaders: true } });
    scrapeRound(host, INTERVAL, { [A]: { waiting: 6, kv: 0.2 }, [B]: { waiting: 9, kv: 0.2 }, [C]: { waiting: 7, kv: 0.9 } });
    const s = send(host, chatBody([uniquePrompt(3)]));
    expect(s.endpoint).toBe(A);
    const scores = JSON.parse(header(s.headers, "x-llm-picker-scores")[0]);
    expect(scores.saturated).toBe(true);
    expect(scores.weights.prefix).toBe(0);
    s.stream.end("complete");
    // One endpoint with room: not saturated, sheddable requests are routed there.
    scrapeRound(host, INTERVAL, { [A]: { waiting: 6, kv: 0.2 }, [B]: { waiting: 9, kv: 0.2 }, [C]: { waiting: 2, kv: 0.5 } });
    const ok = send(host, chatBody([uniquePrompt(4)]), { headers: [["x-gateway-inference-priority", "-3"]] });
    expect(ok.status).toBeUndefined();
    expect(ok.endpoint).toBe(C);
    ok.stream.end("complete");
    host.close();
  });
});

describe("the decision on the forwarded request", () => {
  it("the client-sent x-gateway-destination-endpoint is never honoured (inference and pass-through)", async () => {
    const host = await newPool({ endpoints: [A], extra: { metrics: { enabled: false } } });
    const s = send(host, chatBody(["hi"]), {
      headers: [
        ["x-gateway-destination-endpoint", "10.9.9.9:1"],
        ["x-gateway-destination-endpoint", B],
      ],
    });
    expect(header(s.headers, "x-gateway-destination-endpoint")).toEqual([A]);
    s.stream.end("complete");
    const g = getModels(host, [["x-gateway-destination-endpoint", "10.9.9.9:1"]]);
    expect(header(g.forwardedRequest()!.headers as Array<[string, string]>, "x-gateway-destination-endpoint")).toEqual([A]);
    g.end("complete");
    // Refused request: the client's value does not survive either (nothing forwarded).
    const bad = send(host, "{", { headers: [["x-gateway-destination-endpoint", "10.9.9.9:1"]] });
    expect(bad.status).toBe(400);
    expect(bad.stream.forwardedRequest()).toBeNull();
    bad.stream.end("complete");
    host.close();
  });

  it("x-request-id is kept when sent and generated (UUID v4) when not", async () => {
    const host = await newPool({ extra: { metrics: { enabled: false } } });
    const kept = send(host, chatBody(["a"]), { headers: [["x-request-id", "client-id-123"]] });
    expect(header(kept.headers, "x-request-id")).toEqual(["client-id-123"]);
    kept.stream.end("complete");
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const s = send(host, chatBody([`b${i}`]));
      const id = header(s.headers, "x-request-id");
      expect(id.length).toBe(1);
      expect(id[0]).toMatch(UUID4);
      ids.add(id[0]);
      s.stream.end("complete");
    }
    expect(ids.size).toBe(20);
    // An empty x-request-id counts as none.
    const empty = send(host, chatBody(["c"]), { headers: [["x-request-id", ""]] });
    expect(header(empty.headers, "x-request-id").length).toBe(1);
    expect(header(empty.headers, "x-request-id")[0]).toMatch(UUID4);
    empty.stream.end("complete");
    host.close();
  });

  it("x-gateway-model-name-rewrite changes only the forwarded body's model (every other byte identical) and content-length", async () => {
    const host = await newPool({ extra: { metrics: { enabled: false } } });
    const body = '{ "stream":false,\n  "model" : "base-model", "messages":[{"role":"user","content":"h\\u00e9llo \\"model\\": x"}],"n":1}';
    const s = send(host, body, {
      headers: [
        ["x-gateway-model-name-rewrite", "meta-llama/Llama-3.1-70B-Instruct"],
        ["content-length", String(body.length)],
      ],
    });
    const expected = body.replace('"base-model"', '"meta-llama/Llama-3.1-70B-Instruct"');
    expect(s.body).toBe(expected);
    expect(header(s.headers, "content-length")).toEqual([String(Buffer.byteLength(expected))]);
    s.stream.end("complete");
    // Without the header the body passes byte for byte (and content-length is untouched).
    const plain = send(host, body, { headers: [["content-length", String(body.length)]] });
    expect(plain.body).toBe(body);
    expect(header(plain.headers, "content-length")).toEqual([String(body.length)]);
    plain.stream.end("complete");
    host.close();
  });

  it("debugHeaders: true adds x-llm-picker-scores naming the chosen endpoint; off by default", async () => {
    const off = await newPool({ extra: { metrics: { enabled: false } } });
    const s0 = send(off, chatBody(["x"]));
    expect(header(s0.headers, "x-llm-picker-scores")).toEqual([]);
    s0.stream.end("complete");
    off.close();
    const on = await newPool({ extra: { metrics: { enabled: false }, debugHeaders: true } });
    const s1 = send(on, chatBody(["x"]));
    const scores = JSON.parse(header(s1.headers, "x-llm-picker-scores")[0]);
    expect(scores.endpoint).toBe(s1.endpoint);
    expect(scores.status).toBe(200);
    expect(Object.keys(scores.scores).sort()).toEqual(["in-flight", "kv-cache", "prefix", "queue"]);
    expect(Object.keys(scores.total).sort()).toEqual([A, B, C]);
    expect(scores.weights).toEqual({ prefix: 3, queue: 2, "kv-cache": 2, "in-flight": 1 });
    s1.stream.end("complete");
    // A client cannot inject it either when debug headers are off.
    const off2 = await newPool({ extra: { metrics: { enabled: false } } });
    const s2 = send(off2, chatBody(["y"]), { headers: [["x-llm-picker-scores", '{"fake":1}']] });
    expect(header(s2.headers, "x-llm-picker-scores")).toEqual([]);
    s2.stream.end("complete");
    on.close();
    off2.close();
  });
});

describe("stats", () => {
  it("requests by decision, picks per endpoint, prefix blocks, scrape failures, health, decision time", async () => {
    const host = await newPool({ workers: 2, extra: { maxBodyBytes: 2048 } });
    scrapeRound(host, INTERVAL, { [A]: { waiting: 0, kv: 0.1 }, [B]: { waiting: 2, kv: 0.1 }, [C]: { waiting: 2, kv: 0.1 } });
    // 5 routed (all to A: shortest queue; the same prompt twice matches its blocks).
    const repeated = chatBody([`${uniquePrompt(1)} ${"some shared context. ".repeat(20)}`]);
    for (let i = 0; i < 3; i++) expect(route(host, chatBody([uniquePrompt(10 + i)]), { worker: i % 2 })).toBe(A);
    expect(route(host, repeated)).toBe(A);
    const again = send(host, repeated, { worker: 1 });
    expect(again.endpoint).toBe(A);
    again.stream.end("complete");
    // 1 passed (not inference).
    getModels(host).end("complete");
    // Rejections: 400 (bad JSON), 413 (over maxBodyBytes).
    send(host, "{oops").stream.end("complete");
    send(host, chatBody(["x".repeat(5000)])).stream.end("complete");
    // C's scrapes fail twice: unhealthy, 2 failures.
    scrapeRound(host, INTERVAL, { [A]: { waiting: 0, kv: 0.1 }, [B]: { waiting: 2, kv: 0.1 }, [C]: "fail" });
    scrapeRound(host, INTERVAL, { [A]: { waiting: 0, kv: 0.1 }, [B]: { waiting: 2, kv: 0.1 }, [C]: { status: 500 } });

    expect(stat(host, "llm_picker.requests.routed")).toBe(5);
    expect(stat(host, "llm_picker.requests.passed")).toBe(1);
    expect(stat(host, "llm_picker.requests.rejected_400")).toBe(1);
    expect(stat(host, "llm_picker.requests.rejected_413")).toBe(1);
    expect(stat(host, "llm_picker.requests.rejected_429")).toBe(0);
    expect(stat(host, "llm_picker.requests.rejected_503")).toBe(0);
    const picksA = stat(host, "llm_picker.endpoint.picks.10_0_0_1_8000")!;
    expect(picksA + stat(host, "llm_picker.endpoint.picks.10_0_0_2_8000")! + stat(host, "llm_picker.endpoint.picks.10_0_0_3_8000")!).toBe(6);
    expect(picksA).toBeGreaterThanOrEqual(5);
    const total = stat(host, "llm_picker.prefix.total_blocks")!;
    const matched = stat(host, "llm_picker.prefix.matched_blocks")!;
    expect(matched).toBeGreaterThanOrEqual(7); // the repeat matched its ~8 full blocks
    expect(total).toBeGreaterThan(matched);
    expect(stat(host, "llm_picker.endpoint.scrape_failures.10_0_0_3_8000")).toBe(2);
    expect(stat(host, "llm_picker.endpoint.scrape_failures.10_0_0_1_8000")).toBe(0);
    expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_1_8000")).toBe(1);
    expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_3_8000")).toBe(0);
    const hist = host.metric("llm_picker.decision_time_us")!;
    expect(hist.type).toBe("histogram");
    // One value per body decision (5 routed + 400 + 413 is decided before buffering ends).
    expect(hist.values.length).toBeGreaterThanOrEqual(6);
    for (const v of hist.values) expect(v).toBeGreaterThanOrEqual(0n);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("the health gauge of an endpoint whose scrape goes stale drops to 0", async () => {
    const host = await newPool({ extra: { metrics: { intervalMs: INTERVAL, staleAfterMs: 200 } } });
    const page = { waiting: 0, kv: 0.1 };
    scrapeRound(host, INTERVAL, { [A]: page, [B]: page, [C]: page });
    expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_1_8000")).toBe(1);
    for (let i = 0; i < 6; i++) scrapeRound(host, INTERVAL, { [B]: page, [C]: page }); // A hangs
    expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_1_8000")).toBe(0);
    expect(stat(host, "llm_picker.endpoint.healthy.10_0_0_2_8000")).toBe(1);
    host.close();
  });
});
