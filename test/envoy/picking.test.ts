/**
 * Endpoint picking in a real Envoy: the release
 * filter (build/llm_picker.wasm) with envoy/envoy.yaml, two workers
 * (--concurrency 2, so the scrape lease, the published metrics and the prefix
 * index are shared between worker VMs), and three fake model servers whose
 * /metrics page each test sets.
 *
 * Timing: scrapes every INTERVAL_MS (200 ms). A test that changes a page
 * waits until every server received two more scrapes (`scrapedAgain`): the
 * filter issues an endpoint's next scrape only after handling the previous
 * one, so the new page has then been published to every worker.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  ENVOY_YAML,
  FILTER_WASM,
  postChat,
  scrapeCount,
  scrapedAgain,
  send,
  SKIP_FILTER,
  startEnvoyForTest,
  useEnvoy,
  waitFor,
  type Reply,
} from "./harness.js";
import { startUpstreamOnPort, startUpstreams, type FakeUpstream } from "./upstreams.js";
import { vllmPage, type VllmState } from "../host/fixtures/vllm.js";

const INTERVAL_MS = 200;
const SCRAPE_TIMEOUT_MS = 400;
const SCORES_HEADER = "x-llm-picker-scores";
const PRIORITY = "x-gateway-inference-priority";

/** A vLLM page: `waiting` requests queued, nothing running, KV cache empty. */
const page = (waiting: number, extra: VllmState = {}) => vllmPage({ waiting, running: 0, kv: 0, ...extra });

/** The seed profile: these tests check its weighted scorers (the default profile: routing-default.test.ts). */
function pluginConfig(addresses: string[]): object {
  return {
    profile: "seed",
    endpoints: addresses.map((address) => ({ address })),
    metrics: { cluster: "model_servers_metrics", intervalMs: INTERVAL_MS, timeoutMs: SCRAPE_TIMEOUT_MS },
    debugHeaders: true,
  };
}

/** The upstream that served a reply (the fake server names itself in x-upstream). */
const servedBy = (r: Reply) => r.headers.get("x-upstream");

describe.skipIf(SKIP_FILTER)("endpoint picking in Envoy: 3 fake model servers, 2 workers", () => {
  let a: FakeUpstream, b: FakeUpstream, c: FakeUpstream;
  const all = () => [a, b, c];
  beforeAll(async () => {
    [a, b, c] = await startUpstreams(3);
    for (const u of all()) u.metrics = page(0);
  });
  afterAll(async () => {
    await Promise.all(all().map((u) => u?.close()));
  });
  const envoy = useEnvoy(() => ({
    config: ENVOY_YAML,
    concurrency: 2,
    substitutions: { wasmPath: FILTER_WASM, endpoints: all().map((u) => u.address), pluginConfig: pluginConfig(all().map((u) => u.address)) },
  }));

  /** Serves these pages and waits until the filter has them. */
  async function setPages(pages: [string, string, string]): Promise<void> {
    all().forEach((u, i) => {
      u.metrics = pages[i];
    });
    expect(await scrapedAgain(all(), 2)).toBe(true);
  }

  /** Sends `n` distinct short prompts one after the other; returns who served each. */
  async function sendDistinct(tag: string, n: number, headers: Record<string, string> = {}): Promise<string[]> {
    const served: string[] = [];
    for (let i = 0; i < n; i++) {
      // Distinct first bytes: no two prompts share a prefix block.
      const reply = await postChat(envoy().listenerUrl, `${i} ${tag} ${"z".repeat(i)}`, headers);
      expect(reply.status).toBe(200);
      served.push(servedBy(reply)!);
    }
    return served;
  }

  const scrapeFailures = async (u: FakeUpstream) =>
    (await envoy().stats(`llm_picker\\.endpoint\\.scrape_failures\\.`))[`wasmcustom.llm_picker.endpoint.scrape_failures.${u.address.replace(/[.:]/g, "_")}`];
  const healthGauge = async (u: FakeUpstream) =>
    (await envoy().stats(`llm_picker\\.endpoint\\.healthy\\.`))[`wasmcustom.llm_picker.endpoint.healthy.${u.address.replace(/[.:]/g, "_")}`];

  test("no shared prefix: every request goes to the shortest queue, and follows the queues when they change", async () => {
    await setPages([page(0), page(5), page(10)]);
    for (const u of all()) u.clear();
    expect(await sendDistinct("shortest queue", 12)).toEqual(Array(12).fill(a.address));
    // The decision the filter made, as it made it (debugHeaders): queue scores (max − q)/(max − min).
    const scores = JSON.parse(String(a.traffic()[0].headers[SCORES_HEADER]));
    expect(scores.scores.queue).toEqual({ [a.address]: 1, [b.address]: 0.5, [c.address]: 0 });
    expect(scores.endpoint).toBe(a.address);

    await setPages([page(10), page(0), page(5)]);
    expect(await sendDistinct("queues changed", 12)).toEqual(Array(12).fill(b.address));
  });

  test("a conversation's next turns return to the server that served its first turn", async () => {
    await setPages([page(0), page(0), page(0)]);
    const system = (k: number) => `conversation ${k}: you are a careful assistant. ${"Answer briefly and cite sources. ".repeat(12)}`;
    const firstServer: string[] = [];
    for (let k = 0; k < 6; k++) {
      const messages: Array<{ role: string; content: string }> = [
        { role: "system", content: system(k) },
        { role: "user", content: `question ${k}: what is a KV cache?` },
      ];
      const post = () =>
        send(`${envoy().listenerUrl}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "llama-3-8b", messages }),
        });
      const first = await post();
      expect(first.status).toBe(200);
      firstServer.push(servedBy(first)!);
      for (let turn = 2; turn <= 3; turn++) {
        messages.push({ role: "assistant", content: `answer ${turn - 1}: it stores attention keys and values.` });
        messages.push({ role: "user", content: `follow-up ${turn} of conversation ${k}` });
        const next = await post();
        expect(next.status).toBe(200);
        expect(servedBy(next), `conversation ${k} turn ${turn}`).toBe(firstServer[k]);
      }
    }
    // The prompt prefix (> 400 bytes: at least 7 of 64-byte blocks) is what
    // decided: the last turn's server held the full blocks of turn 2 (prefix score > 0.5),
    // the others none of it.
    const last = all().find((u) => u.address === firstServer[5])!;
    const scores = JSON.parse(String(last.traffic().at(-1)!.headers[SCORES_HEADER]));
    for (const u of all()) {
      if (u === last) expect(scores.scores.prefix[u.address]).toBeGreaterThan(0.5);
      else expect(scores.scores.prefix[u.address]).toBe(0);
    }
  });

  test("a server whose /metrics fails (500, then connection refused) gets no new requests after two failed scrapes, and gets them again once it recovers", async () => {
    // c has the shortest queue, so it gets everything while healthy.
    await setPages([page(3), page(3), page(0)]);
    expect(await sendDistinct("healthy c", 4)).toEqual(Array(4).fill(c.address));

    // 1. /metrics answers 500.
    const failedBefore = await scrapeFailures(c);
    const seenBefore = scrapeCount(c);
    const failingSince = Date.now();
    c.metricsStatus = 500;
    expect(await waitFor(async () => (await scrapeFailures(c)) >= failedBefore + 2, 10 * INTERVAL_MS)).toBe(true);
    const excludedAfterMs = Date.now() - failingSince;
    expect(scrapeCount(c) - seenBefore).toBeGreaterThanOrEqual(2);
    let served = await sendDistinct("c answers 500", 8);
    expect(served.filter((s) => s === c.address)).toEqual([]);
    expect(new Set(served)).toEqual(new Set([a.address, b.address]));
    expect(await healthGauge(c)).toBe(0);
    console.log(`[picking] /metrics 500: excluded after ${excludedAfterMs} ms (interval ${INTERVAL_MS} ms)`);

    c.metricsStatus = null;
    expect(await scrapedAgain([c], 2)).toBe(true);
    expect(await sendDistinct("c recovered", 4)).toEqual(Array(4).fill(c.address));
    expect(await healthGauge(c)).toBe(1);

    // 2. The server goes away: the scrape's connection is refused.
    const port = c.port;
    const refusedBefore = await scrapeFailures(c);
    await c.close();
    expect(await waitFor(async () => (await scrapeFailures(c)) >= refusedBefore + 2, 10 * INTERVAL_MS)).toBe(true);
    served = await sendDistinct("c is down", 8); // every one answered: none was sent to c
    expect(new Set(served)).toEqual(new Set([a.address, b.address]));

    // It comes back on the same address.
    c = await startUpstreamOnPort(port);
    c.metrics = page(0);
    expect(await scrapedAgain([c], 2)).toBe(true);
    expect(await sendDistinct("c is back", 4)).toEqual(Array(4).fill(c.address));
  });

  test("a server whose /metrics hangs is unhealthy after two timed-out scrapes, and healthy again once it answers", async () => {
    await setPages([page(3), page(3), page(0)]);
    expect(await sendDistinct("before the hang", 3)).toEqual(Array(3).fill(c.address));
    const failedBefore = await scrapeFailures(c);
    c.metricsDelayMs = 5_000; // far past metrics.timeoutMs
    // Each hung scrape fails at metrics.timeoutMs; the next one starts on a later tick.
    expect(await waitFor(async () => (await scrapeFailures(c)) >= failedBefore + 2, 4 * (SCRAPE_TIMEOUT_MS + INTERVAL_MS))).toBe(true);
    const served = await sendDistinct("c hangs", 8);
    expect(new Set(served)).toEqual(new Set([a.address, b.address]));
    expect(await healthGauge(c)).toBe(0);

    c.metricsDelayMs = 0;
    expect(await scrapedAgain([c], 2)).toBe(true);
    expect(await sendDistinct("c answers again", 3)).toEqual(Array(3).fill(c.address));
  });

  test("every server's /metrics failing: traffic is still served, picked on load alone", async () => {
    await setPages([page(1), page(2), page(3)]);
    const failedBefore = await Promise.all(all().map(scrapeFailures));
    for (const u of all()) u.metricsStatus = 500;
    try {
      expect(await waitFor(async () => (await Promise.all(all().map(scrapeFailures))).every((n, i) => n >= failedBefore[i] + 2), 10 * INTERVAL_MS)).toBe(true);
      for (const u of all()) u.clear();
      const served = await sendDistinct("all unhealthy", 6);
      // Load-only on the last known queues (1, 2, 3): all to a.
      expect(served).toEqual(Array(6).fill(a.address));
      const decision = JSON.parse(String(a.traffic()[0].headers[SCORES_HEADER]));
      expect(decision.allUnhealthy).toBe(true);
      expect(decision.weights.prefix).toBe(0);
    } finally {
      for (const u of all()) u.metricsStatus = null;
    }
    expect(await scrapedAgain(all(), 2)).toBe(true);
  });

  test("a saturated pool: sheddable requests get 429 with an OpenAI-style error, the others go to the least-loaded server", async () => {
    // Every server waiting > 5 (admission.queueThreshold).
    await setPages([page(6), page(7), page(8)]);
    for (const u of all()) u.clear();
    for (const priority of ["-1", "-5"]) {
      const reply = await postChat(envoy().listenerUrl, `shed me ${priority}`, { [PRIORITY]: priority });
      expect(reply.status).toBe(429);
      expect(reply.headers.get("content-type")).toBe("application/json");
      expect(JSON.parse(reply.body)).toEqual({
        error: {
          message: "all endpoints saturated and the request is sheddable",
          type: "rate_limit_error",
          param: null,
          code: "system_saturated",
        },
      });
    }
    expect(all().map((u) => u.traffic().length)).toEqual([0, 0, 0]);

    // Not sheddable: no header, priority 0, a positive priority, "-0".
    expect(await sendDistinct("no priority", 3)).toEqual(Array(3).fill(a.address));
    for (const priority of ["0", "2", "-0"]) {
      expect(await sendDistinct(`priority ${priority}`, 2, { [PRIORITY]: priority })).toEqual(Array(2).fill(a.address));
    }
  });

  test("the filter logged no trap and no critical line meanwhile", () => {
    expect(envoy().logs()).not.toMatch(/\[critical\]|Wasm VM failed|Uncaught|\[error\]\[wasm\]/);
  });
});

describe.skipIf(SKIP_FILTER)("an empty pool in Envoy", () => {
  test("endpoints: [] answers 503 with an OpenAI-style error, for inference calls and pass-through requests", async () => {
    const envoy = await startEnvoyForTest({
      config: ENVOY_YAML,
      substitutions: { wasmPath: FILTER_WASM, endpoints: [], pluginConfig: pluginConfig([]) },
    });
    const expected = {
      error: { message: "no endpoints in the pool", type: "server_error", param: null, code: "no_endpoints" },
    };
    const chat = await postChat(envoy.listenerUrl, "anyone there?");
    expect(chat.status).toBe(503);
    expect(chat.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(chat.body)).toEqual(expected);
    const models = await send(`${envoy.listenerUrl}/v1/models`);
    expect(models.status).toBe(503);
    expect(JSON.parse(models.body)).toEqual(expected);
    // requests.routed is flushed on the filter's next tick (here its 1 s flush tick: the pool has no scrapes): a routed request would show by then.
    await new Promise((r) => setTimeout(r, 1500));
    const stats = await envoy.stats("llm_picker\\.requests\\.");
    expect(stats["wasmcustom.llm_picker.requests.rejected_503"]).toBe(2);
    expect(stats["wasmcustom.llm_picker.requests.routed"]).toBe(0);
  });
});

describe.skipIf(SKIP_FILTER)("an invalid filter configuration at startup", () => {
  // A broken filter degrading to Envoy's own balancing is
  // failure.test.ts for a module that traps. A configuration the filter
  // refuses at startup is different: proxy_on_configure returns false, Envoy
  // 1.40 cannot create the plugin and exits (code 1) whatever the
  // failure_policy, with the filter's critical line naming the field. So a
  // bad configuration never serves traffic unnoticed.
  for (const [config, reason] of [
    ['{"endpoints":"nope"}', "endpoints: expected an array, got a string"],
    ['{"endpoints":[],"weights":{"queue":-3}}', "weights.queue: must be a number between 0 and 1000, got -3.0"],
  ] as const) {
    test(`${config}: Envoy refuses to start and logs "${reason}"`, async () => {
      const started = startEnvoyForTest({
        config: ENVOY_YAML,
        substitutions: { wasmPath: FILTER_WASM, endpoints: ["127.0.0.1:9"], pluginConfig: config },
        readyTimeoutMs: 30_000,
      });
      const error = await started.then(
        () => null,
        (e: Error) => e,
      );
      expect(error).not.toBeNull();
      const message = String(error!.message);
      expect(message).toMatch(/exited with code 1/);
      expect(message).toContain(`[critical][wasm]`);
      expect(message).toContain(`llm_picker: invalid configuration: ${reason}`);
      expect(message).toContain("Unable to create Wasm plugin llm-picker");
    });
  }
});
