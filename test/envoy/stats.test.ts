/**
 * The filter's stats in a real Envoy and its scrape rate (once per interval
 * for the whole Envoy, not per worker).
 * Two workers, three fake model servers; server c's /metrics answers 500
 * throughout, so it is unhealthy and counts scrape failures.
 *
 * proxy_define_metric names (`llm_picker.requests.routed`) appear in
 * /stats as `wasmcustom.llm_picker.requests.routed` and on /stats/prometheus
 * as `llm_picker_requests_routed` (Envoy drops the custom `wasmcustom`
 * namespace and the `envoy_` prefix for it, and replaces `.` with `_`).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { balancedEnvoyYaml, FILTER_WASM, postChat, scrapeCount, scrapedAgain, send, SKIP_FILTER, useEnvoy, waitFor } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";
import { vllmPage } from "../host/fixtures/vllm.js";
import { render } from "../../src/reference/render.js";

const INTERVAL_MS = 100;
const MAX_BODY_BYTES = 4096;

/** Prometheus text → {"name{labels}": value}, and the # TYPE of each metric. */
function parsePrometheus(text: string): { values: Record<string, number>; types: Record<string, string> } {
  const values: Record<string, number> = {};
  const types: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types[type[1]] = type[2];
    if (line.startsWith("#") || line.trim() === "") continue;
    const at = line.lastIndexOf(" ");
    values[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return { values, types };
}

const statName = (u: FakeUpstream) => u.address.replace(/[.:]/g, "_");

/**
 * A two-turn conversation sized so the rendering (docs/hashing.md §2) is
 * exactly 640 bytes (10 blocks of 64) for turn 1 and 768 (12) for turn 2:
 * turn 2 holds turn 1's 10 blocks. Framing per message (render version 2):
 * 'M', 'r' role 00 00, 's' content 00 00 = 7 + role + content bytes.
 */
function conversation(k: number): { turn1: object; turn2: object } {
  const system = `conversation ${k}: `.padEnd(504, "s"); // 7 + 6 + 504 = 517
  const user1 = `question ${k}`.padEnd(112, "q"); // 7 + 4 + 112 = 123 → 640
  const assistant = "answer".padEnd(48, "a"); // 7 + 9 + 48 = 64
  const user2 = "follow-up".padEnd(53, "f"); // 7 + 4 + 53 = 64 → 768
  const turn1 = [
    { role: "system", content: system },
    { role: "user", content: user1 },
  ];
  return {
    turn1: { model: "llama-3-8b", messages: turn1 },
    turn2: { model: "llama-3-8b", messages: [...turn1, { role: "assistant", content: assistant }, { role: "user", content: user2 }] },
  };
}

describe.skipIf(SKIP_FILTER)("the filter's stats and scrape rate in Envoy (2 workers)", () => {
  let a: FakeUpstream, b: FakeUpstream, c: FakeUpstream;
  beforeAll(async () => {
    [a, b, c] = await startUpstreams(3);
    for (const u of [a, b, c]) u.metrics = vllmPage({ waiting: 0, running: 0, kv: 0 });
    c.metricsStatus = 500;
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((u) => u?.close()));
  });
  const envoy = useEnvoy(() => ({
    // Histograms reach /stats/prometheus at Envoy's stats flush: every 1 s here (default 5 s).
    config: balancedEnvoyYaml({ statsFlushInterval: "1s" }),
    concurrency: 2,
    substitutions: {
      wasmPath: FILTER_WASM,
      endpoints: [a, b, c].map((u) => u.address),
      pluginConfig: {
        endpoints: [a, b, c].map((u) => ({ address: u.address })),
        metrics: { cluster: "model_servers_metrics", intervalMs: INTERVAL_MS },
        maxBodyBytes: MAX_BODY_BYTES,
      },
    },
  }));

  test("/metrics is scraped once per interval for the whole Envoy, not once per worker VM", async () => {
    expect(await scrapedAgain([a, b, c], 2)).toBe(true);
    // Every worker (and the main thread) runs a VM with the filter, each with a tick.
    const vms = await envoy().stats("^wasm\\.wasm_vm_count$");
    expect(vms["wasm.wasm_vm_count"]).toBeGreaterThanOrEqual(3);

    const windowMs = 2000;
    const before = [a, b, c].map(scrapeCount);
    await new Promise((r) => setTimeout(r, windowMs));
    const counts = [a, b, c].map((u, i) => scrapeCount(u) - before[i]);
    // One scraper: windowMs / INTERVAL_MS = 20 scrapes per server (fewer if
    // ticks run late on a busy machine). One per VM would be ≥ 2 × 20.
    for (const n of counts) {
      expect(n).toBeGreaterThanOrEqual(10);
      expect(n).toBeLessThanOrEqual(26);
    }
    console.log(`[stats] scrapes per server in ${windowMs} ms at ${INTERVAL_MS} ms with ${vms["wasm.wasm_vm_count"]} VMs: ${counts.join(", ")}`);
  });

  test("after traffic, /stats/prometheus shows every stat of the filter with the expected values", async () => {
    const url = envoy().listenerUrl;
    const chat = (body: object, headers: Record<string, string> = {}) =>
      send(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

    // The fixture's sizes, by the reference rendering.
    const c0 = conversation(0);
    expect(render("chat", c0.turn1).length).toBe(640);
    expect(render("chat", c0.turn2).length).toBe(768);

    // 6 routed: two conversations of two turns (10 + 12 blocks; turn 2
    // matches 11 on the server of turn 1: turn 1's 10 blocks, recorded, and
    // the reply that server generated, block 11, counted as cached there:
    // prefix.creditReplies) and two one-block prompts.
    for (const k of [0, 1]) {
      const { turn1, turn2 } = conversation(k);
      const first = await chat(turn1);
      expect(first.status).toBe(200);
      const second = await chat(turn2);
      expect(second.status).toBe(200);
      expect(second.headers.get("x-upstream")).toBe(first.headers.get("x-upstream"));
    }
    for (const prompt of ["ping one", "ping two"]) expect((await postChat(url, prompt)).status).toBe(200);
    // 1 passed (not an inference call), 1 × 400, 1 × 413.
    expect((await send(`${url}/v1/models`)).status).toBe(200);
    expect((await send(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" })).status).toBe(400);
    expect((await postChat(url, "x".repeat(MAX_BODY_BYTES + 1000))).status).toBe(413);
    // 1 × 429: the healthy servers saturated, a sheddable request.
    for (const u of [a, b]) u.metrics = vllmPage({ waiting: 6, running: 0, kv: 0 });
    expect(await scrapedAgain([a, b], 2)).toBe(true);
    expect((await postChat(url, "shed", { "x-gateway-inference-priority": "-1" })).status).toBe(429);

    // Histograms show after the next stats flush (1 s): wait for all 8 decisions
    // (6 routed, the 400 and the 429; a 413 is refused before parsing, untimed).
    let prom = parsePrometheus(await envoy().statsPrometheus());
    expect(
      await waitFor(async () => {
        prom = parsePrometheus(await envoy().statsPrometheus());
        return prom.values["llm_picker_decision_time_us_count{}"] === 8;
      }, 5000),
    ).toBe(true);
    const v = prom.values;

    expect({
      routed: v["llm_picker_requests_routed{}"],
      passed: v["llm_picker_requests_passed{}"],
      rejected400: v["llm_picker_requests_rejected_400{}"],
      rejected413: v["llm_picker_requests_rejected_413{}"],
      rejected429: v["llm_picker_requests_rejected_429{}"],
      rejected503: v["llm_picker_requests_rejected_503{}"],
      matchedBlocks: v["llm_picker_prefix_matched_blocks{}"],
      totalBlocks: v["llm_picker_prefix_total_blocks{}"],
      evictedLookups: v["llm_picker_prefix_evicted_lookups{}"],
      hotSpotGuard: v["llm_picker_hot_spot_guard{}"],
      loadOverrodeAffinity: v["llm_picker_route_load_overrode_affinity{}"],
    }).toEqual({
      routed: 6,
      passed: 1,
      rejected400: 1,
      rejected413: 1,
      rejected429: 1,
      rejected503: 0,
      matchedBlocks: 2 * 11,
      totalBlocks: 2 * (10 + 12) + 2 * 1,
      // The fake servers do not report their cache size: no horizon, nothing left out.
      evictedLookups: 0,
      hotSpotGuard: 0,
      // One request at a time: nothing queued anywhere, so affinity always had its way.
      loadOverrodeAffinity: 0,
    });

    // Picks per endpoint: the 6 routed and the 1 passed, none on unhealthy c.
    const picks = (u: FakeUpstream) => v[`llm_picker_endpoint_picks_${statName(u)}{}`];
    expect(picks(c)).toBe(0);
    expect(picks(a) + picks(b)).toBe(7);
    expect(picks(a)).toBe(a.traffic().length);
    expect(picks(b)).toBe(b.traffic().length);

    // debugHeaders is off by default: no scores travel upstream.
    for (const u of [a, b]) for (const r of u.traffic()) expect(r.headers["x-llm-picker-scores"]).toBeUndefined();

    // Scrape failures and health per endpoint.
    expect(v[`llm_picker_endpoint_scrape_failures_${statName(a)}{}`]).toBe(0);
    expect(v[`llm_picker_endpoint_scrape_failures_${statName(b)}{}`]).toBe(0);
    expect(v[`llm_picker_endpoint_scrape_failures_${statName(c)}{}`]).toBeGreaterThanOrEqual(2);
    expect(v[`llm_picker_endpoint_scrape_failures_${statName(c)}{}`]).toBeLessThanOrEqual(scrapeCount(c));
    expect(v[`llm_picker_endpoint_healthy_${statName(a)}{}`]).toBe(1);
    expect(v[`llm_picker_endpoint_healthy_${statName(b)}{}`]).toBe(1);
    expect(v[`llm_picker_endpoint_healthy_${statName(c)}{}`]).toBe(0);

    // Decision time: a histogram in microseconds (Envoy's default buckets,
    // 0.5 … 3600000), every decision under 10 ms.
    expect(v['llm_picker_decision_time_us_bucket{le="+Inf"}']).toBe(8);
    expect(v['llm_picker_decision_time_us_bucket{le="10000"}']).toBe(8);
    expect(v["llm_picker_decision_time_us_sum{}"]).toBeGreaterThan(0);

    // The filter's own time per scrape answer (page read, parsed, published): one value per answer.
    const answered = v["llm_picker_scrape_time_us_count{}"];
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThanOrEqual(scrapeCount(a) + scrapeCount(b) + scrapeCount(c)); // c answers 500: every answer is a scrape its server counted
    expect(v['llm_picker_scrape_time_us_bucket{le="+Inf"}']).toBe(answered);

    // The Prometheus types.
    expect(prom.types).toMatchObject({
      llm_picker_requests_routed: "counter",
      llm_picker_requests_passed: "counter",
      llm_picker_requests_rejected_429: "counter",
      llm_picker_prefix_matched_blocks: "counter",
      llm_picker_prefix_total_blocks: "counter",
      llm_picker_prefix_evicted_lookups: "counter",
      llm_picker_hot_spot_guard: "counter",
      llm_picker_route_load_overrode_affinity: "counter",
      [`llm_picker_endpoint_picks_${statName(a)}`]: "counter",
      [`llm_picker_endpoint_scrape_failures_${statName(c)}`]: "counter",
      [`llm_picker_endpoint_healthy_${statName(a)}`]: "gauge",
      llm_picker_decision_time_us: "histogram",
      llm_picker_scrape_time_us: "histogram",
    });
  });

  test("the filter logged no trap and no critical line meanwhile", () => {
    expect(envoy().logs()).not.toMatch(/\[critical\]|Wasm VM failed|Uncaught|\[error\]\[wasm\]/);
  });
});
