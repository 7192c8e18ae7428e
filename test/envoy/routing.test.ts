/**
 * envoy/envoy.yaml's routing on its own, with a pass-through module in place
 * of the filter (so the client's x-gateway-destination-endpoint reaches the
 * load balancer untouched): override_host selects a member of model_servers,
 * can never reach a non-member, and falls back to round robin.
 * Also pins how the filter's own callouts (its /metrics scrapes)
 * can target one server: model_servers + the routing header reaches that
 * member only; model_servers_metrics (ORIGINAL_DST) reaches exactly the named
 * ip:port, member or not.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ENVOY_YAML, postChat, SKIP_ENVOY, startEnvoyForTest, useEnvoy } from "./harness.js";
import { buildWat, calloutOnTickWat, PASS_THROUGH_WAT } from "./modules.js";
import { startUpstreams, type FakeUpstream } from "./upstreams.js";

const HEADER = "x-gateway-destination-endpoint";

describe.skipIf(SKIP_ENVOY)("envoy.yaml routing (override_host), pass-through module", () => {
  // a and b are members of model_servers; outsider is a live server that is not.
  let a: FakeUpstream, b: FakeUpstream, outsider: FakeUpstream;
  let passThrough: string;
  beforeAll(async () => {
    [a, b, outsider] = await startUpstreams(3);
    passThrough = await buildWat(PASS_THROUGH_WAT, "pass-through");
  });
  afterAll(async () => {
    await Promise.all([a, b, outsider].map((u) => u?.close()));
  });
  const envoy = useEnvoy(() => ({
    config: ENVOY_YAML,
    substitutions: { wasmPath: passThrough, endpoints: [a.address, b.address] },
  }));
  const clearAll = () => {
    for (const u of [a, b, outsider]) u.clear();
  };

  test("the header selects that member, every time", async () => {
    clearAll();
    for (let i = 0; i < 6; i++) {
      const reply = await postChat(envoy().listenerUrl, `turn ${i}`, { [HEADER]: b.address });
      expect(reply.status).toBe(200);
      expect(reply.headers.get("x-upstream")).toBe(b.address);
    }
    expect(b.traffic()).toHaveLength(6);
    expect(a.traffic()).toHaveLength(0);
  });

  test("a header naming a non-member never reaches it: round-robin fallback over the members", async () => {
    clearAll();
    const served: string[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await postChat(envoy().listenerUrl, `turn ${i}`, { [HEADER]: outsider.address });
      expect(reply.status).toBe(200);
      served.push(reply.headers.get("x-upstream")!);
    }
    expect(outsider.requests).toHaveLength(0);
    expect(new Set(served)).toEqual(new Set([a.address, b.address]));
  });

  test("malformed or list values cannot escape the pool", async () => {
    clearAll();
    for (const value of ["not-an-address", "localhost:80", `${outsider.address},${outsider.address}`, ""]) {
      const reply = await postChat(envoy().listenerUrl, "x", { [HEADER]: value });
      expect(reply.status).toBe(200);
      expect([a.address, b.address]).toContain(reply.headers.get("x-upstream"));
    }
    expect(outsider.requests).toHaveLength(0);
  });

  test("no header: round robin alternates between the two members", async () => {
    clearAll();
    const served: string[] = [];
    for (let i = 0; i < 6; i++) served.push((await postChat(envoy().listenerUrl, `r${i}`)).headers.get("x-upstream")!);
    expect(a.traffic()).toHaveLength(3);
    expect(b.traffic()).toHaveLength(3);
    for (let i = 1; i < served.length; i++) expect(served[i]).not.toBe(served[i - 1]);
  });

  test("a 3 MiB body (above Envoy's default 1 MiB buffer) passes", async () => {
    // The pass-through module streams; filter.test.ts checks the buffered bound (8 MiB).
    const big = await postChat(envoy().listenerUrl, "x".repeat(3 * 1024 * 1024));
    expect(big.status).toBe(200);
  });
});

describe.skipIf(SKIP_ENVOY)("callouts from the root context can target one server (metrics scraping)", () => {
  let a: FakeUpstream, b: FakeUpstream, outsider: FakeUpstream;
  beforeAll(async () => {
    [a, b, outsider] = await startUpstreams(3);
  });
  afterAll(async () => {
    await Promise.all([a, b, outsider].map((u) => u?.close()));
  });

  async function scrapeFor(cluster: string, target: string, ms = 800): Promise<void> {
    for (const u of [a, b, outsider]) u.clear();
    const wasm = await buildWat(
      calloutOnTickWat(
        cluster,
        [
          [":method", "GET"],
          [":path", "/metrics"],
          [":authority", "llm-picker"],
          [HEADER, target],
        ],
        50,
      ),
      "callout",
    );
    const envoy = await startEnvoyForTest({
      config: ENVOY_YAML,
      substitutions: { wasmPath: wasm, endpoints: [a.address, b.address] },
      concurrency: 2,
    });
    await new Promise((r) => setTimeout(r, ms));
    await envoy.stop();
  }

  test("model_servers + routing header on the callout: only that member is scraped", async () => {
    await scrapeFor("model_servers", b.address);
    expect(b.requests.length).toBeGreaterThan(3);
    expect(b.requests.every((r) => r.path === "/metrics" && r.headers[HEADER] === b.address)).toBe(true);
    expect(a.requests).toHaveLength(0);
  });

  test("model_servers + a non-member in the header: falls back to round robin (wrong attribution!)", async () => {
    await scrapeFor("model_servers", outsider.address);
    expect(outsider.requests).toHaveLength(0);
    expect(a.requests.length).toBeGreaterThan(0);
    expect(b.requests.length).toBeGreaterThan(0);
  });

  test("model_servers_metrics (ORIGINAL_DST): exactly the named ip:port, member or not", async () => {
    await scrapeFor("model_servers_metrics", outsider.address);
    expect(outsider.requests.length).toBeGreaterThan(3);
    expect(a.requests).toHaveLength(0);
    expect(b.requests).toHaveLength(0);
  });
});
