/**
 * Endpoint labels, host tier: with `pool.cluster` the members' labels come
 * from their EDS metadata (`filter_metadata["llm-picker"]`, read from the
 * admin `/config_dump`), with a static list from `endpoints[].labels`; the
 * `model` label keeps a request on the members that serve its model. A bad
 * or hostile config dump keeps the last labels and never traps.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ProxyWasmHost } from "../../src/host/index.js";
import { chatBody, DEBUG_WASM, ensureBuilt } from "../support";
import { configDumpPage, type DumpEndpoint } from "./fixtures/envoy-admin.js";
import { clusterPool, D, members, poll, spread, pathOf } from "./fixtures/admin-poll.js";
import { A, B, C, answerScrapes, route, stat, uniquePrompt } from "./fixtures/vllm.js";

beforeAll(() => ensureBuilt("debug"));

const NS = "llm-picker";
const labeled = (address: string, fields?: Record<string, unknown>, ns = NS): DumpEndpoint => ({
  address,
  ...(fields ? { metadata: { [ns]: fields, "envoy.lb": { canary: "true" } } } : {}),
});
const dump = (...endpoints: DumpEndpoint[]) => configDumpPage({ static: { other: [labeled("10.9.9.9:1", { model: "llama" })], model_servers: endpoints } });
const models = (host: ProxyWasmHost, model: string, n = 24) => Object.keys(spread(host, n, { model })).sort();

describe("labels from EDS metadata (pool.cluster)", () => {
  it("a request goes only to the members that name its model; members without the label serve any model", async () => {
    const host = await clusterPool(2);
    poll(host, members(A, B, C, D), dump(labeled(A, { model: "llama, llama-sql" }), labeled(B, { model: "mistral" }), labeled(C, { gpu: "h100" }), labeled(D)));
    const table: Array<[string, string[]]> = [
      ["llama", [A, C, D]],
      ["llama-sql", [A, C, D]],
      ["mistral", [B, C, D]],
      ["qwen", [C, D]],
    ];
    for (const [model, want] of table) expect(models(host, model), model).toEqual(want);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  it("when every member names its models and none names the request's, the request goes where it would without labels", async () => {
    const host = await clusterPool();
    poll(host, members(A, B), dump(labeled(A, { model: "llama" }), labeled(B, { model: "mistral" })));
    expect(models(host, "mistral")).toEqual([B]);
    expect(models(host, "qwen", 40)).toEqual([A, B]);
    host.close();
  });

  it("a relabel without a membership change is published at the next poll; a dynamic (CDS) cluster is read too", async () => {
    const host = await clusterPool();
    poll(host, members(A, B), dump(labeled(A, { model: "llama" }), labeled(B, { model: "mistral" })));
    expect(models(host, "llama")).toEqual([A]);
    poll(host, members(A, B), configDumpPage({ dynamic: { model_servers: [labeled(A, { model: "mistral" }), labeled(B, { model: "llama" })] } }));
    expect(models(host, "llama")).toEqual([B]);
    expect(models(host, "mistral")).toEqual([A]);
    host.close();
  });

  it("labels of another namespace, non-string fields and other clusters are ignored", async () => {
    const host = await clusterPool();
    poll(host, members(A, B), dump(labeled(A, { model: "llama" }, "other.ns"), labeled(B, { model: 7, lora: ["x"] })));
    expect(models(host, "mistral", 40)).toEqual([A, B]);
    host.close();
  });

  it('pool.metadataNamespace picks the namespace; "" reads no labels and makes no /config_dump call', async () => {
    const istio = await clusterPool(1, { metadataNamespace: "istio" });
    poll(istio, members(A, B), dump(labeled(A, { model: "llama" }), labeled(B, { model: "mistral" }, "istio")));
    // A's label is in the other namespace: A names no model and serves any.
    expect(models(istio, "llama")).toEqual([A]);
    expect(models(istio, "mistral")).toEqual([A, B]);
    istio.close();
    const off = await clusterPool(1, { metadataNamespace: "" });
    const calls = poll(off, members(A, B), dump(labeled(A, { model: "llama" })));
    expect(calls.map(pathOf)).toEqual(["/clusters?format=json&filter=%5E%28model_servers%29%24"]);
    expect(models(off, "mistral", 40)).toEqual([A, B]);
    off.close();
  });

  it("a failed or unreadable config dump keeps the last labels, is counted, and the membership still refreshes", async () => {
    const host = await clusterPool();
    poll(host, members(A, B), dump(labeled(A, { model: "llama" }), labeled(B, { model: "mistral" })));
    const failures = ["fail", { status: 503, body: "no" }, "not json", '{"configs":[{"static_endpoint_configs":[{"endpoint_config":'] as const;
    for (const page of failures) {
      poll(host, members(A, B, C), page);
      expect(models(host, "llama")).toEqual([A, C]);
      poll(host, members(A, B), page);
    }
    expect(stat(host, "llm_picker.pool.refresh_failures")).toBe(failures.length * 2);
    expect(host.traps()).toEqual([]);
    host.close();
  });

  const valid = dump(labeled(A, { model: "llama, mistral" }), labeled(B, { model: "mistral", gpu: "h100" }), labeled("[::1]:8000", { model: "x" }));
  const mutate = fc
    .tuple(fc.nat(valid.length), fc.nat(40), fc.string({ maxLength: 12 }))
    .map(([at, cut, insert]) => valid.slice(0, at) + insert + valid.slice(Math.min(valid.length, at + cut)));
  const json = fc
    .jsonValue({ maxDepth: 6 })
    .map((v) => JSON.stringify({ configs: [{ static_endpoint_configs: [{ endpoint_config: { cluster_name: "model_servers", endpoints: v } }] }] }));
  const metadata = fc
    .dictionary(fc.string({ maxLength: 80 }), fc.oneof(fc.string({ maxLength: 1200 }), fc.jsonValue({ maxDepth: 2 })), { maxKeys: 20 })
    .map((fields) => dump(labeled(A, fields), labeled(B, { model: "mistral" })));
  const deep = fc.nat(5000).map((n) => `{"configs":${"[".repeat(n)}${"]".repeat(n)}}`);
  it("mutated, random, oversized and deeply nested config dumps: no trap, every request routed to a member", async () => {
    const host = await clusterPool();
    poll(host, members(A, B), valid);
    const runs = Number(process.env.FUZZ_RUNS ?? 150);
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutate, json, metadata, deep), fc.constantFrom("llama", "mistral", "x"), async (page, model) => {
        poll(host, members(A, B), page);
        const e = route(host, chatBody([uniquePrompt(1)], { model }));
        expect(host.traps()).toEqual([]);
        expect([A, B]).toContain(e);
      }),
      { numRuns: runs, seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined },
    );
    host.close();
  });
});

describe("labels from the configuration (static endpoints)", () => {
  it("endpoints[].labels.model keeps requests on the endpoints that serve the model", async () => {
    const host = await ProxyWasmHost.create({
      wasm: DEBUG_WASM,
      pluginConfig: JSON.stringify({
        endpoints: [
          { address: A, labels: { model: "llama" } },
          { address: B, labels: { model: "mistral,llama" } },
          { address: C, labels: { model: "mistral" } },
        ],
        metrics: { intervalMs: 50 },
        seed: 7,
      }),
      clusters: ["model_servers"],
    });
    host.advance(50);
    answerScrapes(host, { [A]: {}, [B]: {}, [C]: {} });
    expect(models(host, "llama")).toEqual([A, B]);
    expect(models(host, "mistral")).toEqual([B, C]);
    expect(models(host, "qwen", 40)).toEqual([A, B, C]);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});
