/**
 * Smoke tests of the real filter (build/llm_picker.wasm) in Envoy 1.40 with
 * envoy/envoy.yaml: the request reaches the upstream the
 * filter chose, a client-sent routing header is not honoured, a GET without a
 * body passes, distinct conversations spread over both upstreams, and a
 * buffered body is bounded by the filter's maxBodyBytes, below Envoy's limit.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ENVOY_YAML, FILTER_WASM, postChat, send, SKIP_FILTER, useEnvoy, waitFor } from "./harness.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const HEADER = "x-gateway-destination-endpoint";

describe.skipIf(SKIP_FILTER)("llm_picker.wasm in Envoy", () => {
  // a and b are the pool; outsider is a live server outside it.
  let a: FakeUpstream, b: FakeUpstream, outsider: FakeUpstream;
  beforeAll(async () => {
    [a, b, outsider] = await startUpstreams(3);
  });
  afterAll(async () => {
    await Promise.all([a, b, outsider].map((u) => u?.close()));
  });
  const envoy = useEnvoy(() => ({
    config: ENVOY_YAML,
    substitutions: { wasmPath: FILTER_WASM, endpoints: [a.address, b.address] },
    componentLogLevel: "wasm:debug",
  }));
  const clearAll = () => {
    for (const u of [a, b, outsider]) u.clear();
  };
  const pool = () => [a, b];

  test("POST /v1/chat/completions reaches the upstream the filter chose", async () => {
    clearAll();
    const reply = await postChat(envoy().listenerUrl, "hello");
    expect(reply.status).toBe(200);
    const receivers = pool().filter((u) => u.traffic().length > 0);
    expect(receivers).toHaveLength(1);
    const [received] = receivers[0].traffic();
    // The filter's decision travelled with the request and names the server that got it.
    expect(received.headers[HEADER]).toBe(receivers[0].address);
    expect(reply.headers.get("x-upstream")).toBe(receivers[0].address);
    expect(JSON.parse(received.body)).toEqual({ model: "llama-3-8b", messages: [{ role: "user", content: "hello" }] });
  });

  test("a client-sent x-gateway-destination-endpoint is not honoured", async () => {
    clearAll();
    for (let i = 0; i < 6; i++) {
      // Pointing at a member: if honoured, all six would land on b.
      expect((await postChat(envoy().listenerUrl, `m${i}`, { [HEADER]: b.address })).status).toBe(200);
      // Pointing outside the pool.
      expect((await postChat(envoy().listenerUrl, `o${i}`, { [HEADER]: outsider.address })).status).toBe(200);
    }
    expect(outsider.requests).toHaveLength(0);
    expect(a.traffic().length).toBeGreaterThan(0);
    for (const u of pool()) {
      // Exactly one routing header, the filter's, naming the server that received it.
      for (const r of u.traffic()) expect(r.headers[HEADER]).toBe(u.address);
    }
  });

  test("a GET without a body passes (does not hang)", async () => {
    clearAll();
    const reply = await send(`${envoy().listenerUrl}/v1/models`, { signal: AbortSignal.timeout(5000) });
    expect(reply.status).toBe(200);
    expect(pool().reduce((n, u) => n + u.traffic().length, 0)).toBe(1);
  });

  test("distinct conversations are spread across both upstreams", async () => {
    // Before endpoint picking, routing was round robin; the filter now
    // picks by score with a random tie-break, so with no load and no shared
    // prefix, 24 distinct first turns land on both servers (a one-sided split
    // has probability 2^-23).
    clearAll();
    for (let i = 0; i < 24; i++) {
      expect((await postChat(envoy().listenerUrl, `conversation ${i}: ${"q".repeat(i * 37)}`)).status).toBe(200);
    }
    expect(a.traffic().length).toBeGreaterThan(0);
    expect(b.traffic().length).toBeGreaterThan(0);
    expect(a.traffic().length + b.traffic().length).toBe(24);
  });

  test("a 5 MiB body is buffered and routed; past maxBodyBytes (8 MiB) the answer is a JSON 413", async () => {
    clearAll();
    const big = await postChat(envoy().listenerUrl, "x".repeat(5 * 1024 * 1024));
    expect(big.status).toBe(200);
    const tooBig = await postChat(envoy().listenerUrl, "x".repeat(9 * 1024 * 1024));
    expect(tooBig.status).toBe(413);
    // The filter's own reply, or Envoy's past its 9 MiB buffer limit rewritten
    // by local_reply_config: the same OpenAI error (test/envoy/client-contract.test.ts).
    expect(JSON.parse(tooBig.body).error).toMatchObject({ type: "invalid_request_error", code: "body_too_large" });
  });

  test("the filter scrapes each pool server's /metrics through envoy.yaml's scrape cluster, each server only for itself", async () => {
    clearAll();
    const scraped = (u: FakeUpstream) => u.requests.filter((r) => r.path.startsWith("/metrics"));
    expect(await waitFor(() => scraped(a).length > 0 && scraped(b).length > 0, 5000)).toBe(true);
    for (const u of pool()) for (const r of scraped(u)) expect(r.headers[HEADER]).toBe(u.address);
    expect(outsider.requests).toHaveLength(0);
    const stats = await envoy().stats("cluster\\.model_servers_metrics\\.upstream_rq_total");
    expect(stats["cluster.model_servers_metrics.upstream_rq_total"]).toBeGreaterThan(0);
  });
});
