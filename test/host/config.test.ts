/**
 * Plugin configuration through the built filter: strict at load, errors naming the field path and the value,
 * and never an abort. Each invalid row must make on_configure return false
 * with exactly one critical log line; each valid row must configure.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { ProxyWasmHost, ProxyWasmHostError } from "../../src/host/index.js";
import { DEBUG_WASM as WASM, ensureBuilt } from "../support";

beforeAll(() => ensureBuilt("debug"));

async function configure(config: string): Promise<{ ok: boolean; critical: string[]; traps: number }> {
  try {
    const host = await ProxyWasmHost.create({ wasm: WASM, pluginConfig: config });
    const result = { ok: true, critical: host.logMessages("critical"), traps: host.traps().length };
    host.close();
    return result;
  } catch (error) {
    if (!(error instanceof ProxyWasmHostError)) throw error;
    const critical = error.logs.filter((l) => l.level === 5).map((l) => l.message);
    return { ok: false, critical, traps: 0 };
  }
}

const INVALID: Array<[string, string, string]> = [
  // [config, field named, what the message says]
  ["[]", "(document)", "expected an object, got an array"],
  ["{", "(document)", "invalid JSON"],
  ['{"endpoints":{}}', "endpoints", "expected an array, got an object"],
  ['{"endpoints":[{"address":"model-a:8000"}]}', "endpoints[0].address", '"model-a:8000" is not an ip:port address'],
  ['{"endpoints":[{"address":"10.0.0.1"}]}', "endpoints[0].address", '"10.0.0.1" is not an ip:port address'],
  ['{"endpoints":[{"address":"10.0.0.1:0"}]}', "endpoints[0].address", "is not an ip:port address"],
  ['{"endpoints":[{"address":"10.0.0.1:8000"},{"address":"10.0.0.1:8000"}]}', "endpoints[1].address", "listed twice"],
  ['{"endpoints":[{}]}', "endpoints[0]", 'an endpoint needs "address"'],
  ['{"endpoints":[{"address":"10.0.0.1:8000","weight":2}]}', "endpoints[0]", 'unknown key "weight"'],
  ['{"prefix":{"blockSize":0}}', "prefix.blockSize", "must be between 1 and"],
  ['{"prefix":{"blockSize":-64}}', "prefix.blockSize", "must be between 1 and"],
  ['{"prefix":{"blockSize":"64"}}', "prefix.blockSize", "expected a number, got a string"],
  ['{"prefix":{"maxBlocks":1.5}}', "prefix.maxBlocks", "expected an integer"],
  ['{"prefix":{"hashTrailingBlock":1}}', "prefix.hashTrailingBlock", "expected a boolean, got a number"],
  ['{"prefix":{"creditReplies":"yes"}}', "prefix.creditReplies", "expected a boolean, got a string"],
  ['{"prefix":{"spreadFirstPrefills":1}}', "prefix.spreadFirstPrefills", "expected a boolean, got a number"],
  ['{"prefix":{"followEvictions":0}}', "prefix.followEvictions", "expected a boolean, got a number"],
  ['{"prefix":{"enabled":"no"}}', "prefix.enabled", "expected a boolean, got a string"],
  ['{"weights":{"prefix":-1}}', "weights.prefix", "must be a number between 0 and 1000, got -1"],
  ['{"weights":{"queue":1e999}}', "weights.queue", "must be a number between 0 and 1000"],
  ['{"weights":{"latency":1}}', "weights", 'unknown key "latency"'],
  ['{"metrics":{"path":"metrics"}}', "metrics.path", '"metrics" must start with /'],
  ['{"metrics":{"intervalMs":5}}', "metrics.intervalMs", "must be between 10 and 60000"],
  ['{"metrics":{"intervalMs":1000,"staleAfterMs":500}}', "metrics.staleAfterMs", "must be greater than metrics.intervalMs (1000), got 500"],
  ['{"metrics":{"intervalMs":100,"idleIntervalMs":50}}', "metrics.idleIntervalMs", "must be at least metrics.intervalMs (100), got 50"],
  ['{"metrics":{"staleAfterMs":1000,"idleIntervalMs":501}}', "metrics.idleIntervalMs", "must be at most half of metrics.staleAfterMs (1000), got 501"],
  ['{"metrics":{"idleIntervalMs":5}}', "metrics.idleIntervalMs", "must be between 10 and 300000"],
  ['{"metrics":{"idleIntervalMs":"500"}}', "metrics.idleIntervalMs", "expected"],
  ['{"admission":{"kvCacheThreshold":1.5}}', "admission.kvCacheThreshold", "must be in (0, 1], got 1.5"],
  ['{"hotSpot":{"relativeThreshold":0.5}}', "hotSpot.relativeThreshold", "must be a finite number >= 1"],
  ['{"weights":{"prefix":1}}', "weights.prefix", 'the "default" profile has no such scorer (set "profile" to use it)'],
  ['{"weights":{"queue":1},"profile":"default"}', "weights.queue", 'the "default" profile has no such scorer'],
  ['{"profile":"fast"}', "profile", '"fast" is not a profile (expected "default" or "seed")'],
  ['{"profile":1}', "profile", "expected a string"],
  ['{"bound":{"loadFactor":0.9}}', "bound.loadFactor", "must be a number between 1 and 1000, got 0.9"],
  ['{"bound":{"loadFactor":"2"}}', "bound.loadFactor", "expected a number"],
  ['{"bound":{"waitRatio":0.99}}', "bound.waitRatio", "must be a number between 1 and 1000, got 0.99"],
  ['{"bound":{"waitRatio":null}}', "bound.waitRatio", "expected a number"],
  ['{"bound":{"loadYieldRatio":0.5}}', "bound.loadYieldRatio", "must be 0 or a number between 1 and 1000, got 0.5"],
  ['{"bound":{"loadYieldRatio":-1}}', "bound.loadYieldRatio", "must be 0 or a number between 1 and 1000, got -1"],
  ['{"bound":{"factor":2}}', "bound", 'unknown key "factor"'],
  ['{"maxBodyBytes":10}', "maxBodyBytes", "must be between 1024 and"],
  ['{"snapshot":[]}', "snapshot", "expected an object"],
  ['{"blocksize":64}', "(document)", 'unknown key "blocksize"'],
  [
    '{"pool":{"cluster":"model_servers"},"endpoints":[{"address":"10.0.0.1:8000"}]}',
    "pool.cluster",
    '"model_servers" cannot be combined with a static endpoints list',
  ],
  ['{"pool":{"cluster":"model_servers"},"snapshot":{"10.0.0.1:8000":{}}}', "pool.cluster", "cannot be combined with snapshot"],
  ['{"pool":{"cluster":""}}', "pool.cluster", "must not be empty"],
  ['{"pool":{"cluster":5}}', "pool.cluster", "expected a string, got a number"],
  ['{"pool":{"adminCluster":""}}', "pool.adminCluster", "must not be empty"],
  ['{"pool":{"intervalMs":0}}', "pool.intervalMs", "must be between 10 and 3600000"],
  ['{"pool":{"timeoutMs":-1}}', "pool.timeoutMs", "must be between 1 and 60000"],
  ['{"pool":{"maxResponseBytes":10}}', "pool.maxResponseBytes", "must be between 1024 and"],
  ['{"pool":{"metadataNamespace":"llm picker"}}', "pool.metadataNamespace", '"llm picker" is not a metadata namespace'],
  [`{"pool":{"metadataNamespace":"${"n".repeat(129)}"}}`, "pool.metadataNamespace", "is not a metadata namespace (1-128 characters"],
  ['{"endpoints":[{"address":"127.0.0.1:8001","labels":{"model":"a","model":"b"}}]}', "endpoints[0].labels", 'label "model": empty, repeated'],
  [`{"endpoints":[{"address":"127.0.0.1:8001","labels":{"model":"${"m".repeat(1025)}"}}]}`, "endpoints[0].labels", "values of 1024 bytes"],
  ['{"pool":{"members":[]}}', "pool", 'unknown key "members"'],
  [
    '{"prefix":{"maxEndpoints":2},"endpoints":[{"address":"10.0.0.1:8000"},{"address":"10.0.0.2:8000"},{"address":"10.0.0.3:8000"}]}',
    "prefix.maxEndpoints",
    "must be at least the number of endpoints (3), got 2",
  ],
  ['{"prefix":{"maxEndpoints":4097}}', "prefix.maxEndpoints", "must be between 1 and 4096"],
];

describe("invalid plugin configuration is refused, naming the field", () => {
  it.each(INVALID)("%s → %s: %s", async (config, field, what) => {
    const r = await configure(config);
    expect(r.ok).toBe(false);
    expect(r.critical).toHaveLength(1);
    const line = r.critical[0];
    const named =
      field === "(document)"
        ? line.includes("invalid configuration: (document): ") || line.includes("invalid configuration: ")
        : line.includes(`invalid configuration: ${field}`);
    expect(named, line).toBe(true);
    expect(line).toContain(what);
  });
});

const VALID: string[] = [
  "",
  "   ",
  "{}",
  '{"endpoints":[{"address":"127.0.0.1:8001","labels":{"gpu":"a100"}},{"address":"[::1]:8002"}]}',
  '{"endpoints":[{"address":"127.0.0.1:8001","labels":{"model":"llama-3-8b, llama-3-8b-sql"}}]}',
  '{"pool":{"cluster":"model_servers","metadataNamespace":""}}',
  '{"pool":{"cluster":"model_servers","metadataNamespace":"istio.io_v1-x"}}',
  '{"prefix":{"blockSize":4,"maxBlocks":3,"hashTrailingBlock":false,"creditReplies":false,"followEvictions":false,"spreadFirstPrefills":false,"capacityPerEndpoint":100,"maxEndpoints":4}}',
  '{"weights":{"prefix":1,"queue":1,"kvCache":1,"loraAffinity":0,"inFlight":0},"profile":"seed","seed":7}',
  '{"weights":{"predictedPrefill":2,"loraAffinity":0.5}}',
  '{"metrics":{"enabled":false,"intervalMs":50,"staleAfterMs":20}}',
  '{"metrics":{"intervalMs":50,"idleIntervalMs":500,"staleAfterMs":1000}}',
  '{"metrics":{"intervalMs":50,"idleIntervalMs":50,"staleAfterMs":100}}',
  '{"metrics":{"intervalMs":200,"staleAfterMs":300}}',
  '{"prefix":{"enabled":false}}',
  '{"profile":"seed","hotSpot":{"absoluteThreshold":4}}',
  '{"profile":"default","bound":{"loadFactor":1}}',
  '{"bound":{"waitRatio":1,"loadFactor":2}}',
  '{"bound":{"loadYieldRatio":0}}',
  '{"bound":{"loadYieldRatio":4,"waitRatio":1.5}}',
  '{"pool":{"cluster":"outbound|8000||vllm.default.svc.cluster.local","adminCluster":"prometheus_stats","intervalMs":500,"timeoutMs":200,"maxResponseBytes":65536}}',
  '{"snapshot":{"127.0.0.1:8001":{"waiting":1}},"endpoints":[{"address":"127.0.0.1:8001"}]}',
];

describe("valid plugin configuration configures", () => {
  it.each(VALID)("%j", async (config) => {
    const r = await configure(config);
    expect(r.ok).toBe(true);
    expect(r.critical).toEqual([]);
    expect(r.traps).toBe(0);
  });
});

describe("prefix.maxEndpoints and a static pool's size", () => {
  // The index meta value: magic, buckets, entries per bucket, ... (u32 little-endian each).
  async function entriesPerBucket(config: object): Promise<number> {
    const host = await ProxyWasmHost.create({ wasm: WASM, pluginConfig: JSON.stringify({ metrics: { enabled: false }, ...config }) });
    const meta = host.sharedData.get("llm-picker/prefix/meta");
    host.close();
    expect(meta).toBeDefined();
    return new DataView(meta!.value.buffer, meta!.value.byteOffset).getUint32(8, true);
  }
  const listed = (n: number) => Array.from({ length: n }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}:8000` }));

  it.each([
    // [endpoints listed, maxEndpoints given, entries per bucket (16-block groups × endpoints, at least 128)]
    [3, undefined, 256],
    [16, undefined, 256],
    [20, undefined, 320],
    [40, undefined, 640],
    [20, 32, 512],
    [3, 4, 128],
  ])("%i endpoints, maxEndpoints %s → %i entries per bucket", async (n, max, entries) => {
    const prefix = max === undefined ? {} : { maxEndpoints: max };
    expect(await entriesPerBucket({ endpoints: listed(n), prefix })).toBe(entries);
  });
});

describe("prefix.enabled: false", () => {
  it("routes on load only: no prefix scorer, no hashes, no index writes", async () => {
    const config = {
      endpoints: [{ address: "127.0.0.1:8001" }, { address: "127.0.0.1:8002" }],
      prefix: { enabled: false },
      metrics: { enabled: false },
      inspect: true,
      seed: 3,
    };
    const host = await ProxyWasmHost.create({ wasm: WASM, pluginConfig: JSON.stringify(config) });
    const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "a message long enough for a few 64-byte blocks ".repeat(8) }] });
    const before = host.sharedData
      .keys()
      .filter((k) => k.startsWith("llm-picker/prefix/"))
      .map((k) => host.sharedData.get(k)!.cas);
    const s = host.newHttpStream();
    s.sendRequestHeaders(
      [
        [":method", "POST"],
        [":path", "/v1/chat/completions"],
        [":authority", "x"],
      ],
      false,
    );
    s.sendRequestBody(body, true);
    const line = JSON.parse(Buffer.from(s.filterState("llm_picker.decision")!).toString());
    expect(line.decision).toBe("route");
    expect(line.prefix.hashes).toEqual([]);
    // Default profile without prefix knowledge: every endpoint has the whole prompt
    // (P blocks, counted twice) to prefill and nothing queued, so every score is P / (P + 2P).
    expect(Object.keys(line.scores)).toEqual(["predicted-prefill"]);
    expect(line.scores["predicted-prefill"]).toEqual({ "127.0.0.1:8001": 0.333333, "127.0.0.1:8002": 0.333333 });
    expect(s.forwardedRequest()!.headers.find(([k]) => k === "x-gateway-destination-endpoint")?.[1]).toMatch(/^127\.0\.0\.1:800[12]$/);
    s.end("complete");
    // The index keys were created at configure time and never written by the request.
    const after = host.sharedData
      .keys()
      .filter((k) => k.startsWith("llm-picker/prefix/"))
      .map((k) => host.sharedData.get(k)!.cas);
    expect(after).toEqual(before);
    expect(host.traps()).toEqual([]);
    host.close();
  });
});

/** The plugin configuration each Kubernetes example in envoy/k8s/ passes to the filter. */
function manifestConfigs(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const file of ["envoy-gateway.yaml", "istio-wasmplugin.yaml"]) {
    const text = readFileSync(resolve(import.meta.dirname, "..", "..", "envoy", "k8s", file), "utf8");
    for (const doc of parseAllDocuments(text)) {
      const spec = (doc.toJS() as { spec?: { pluginConfig?: unknown; wasm?: Array<{ config?: unknown }> } }).spec;
      if (spec?.pluginConfig) out.push([file, JSON.stringify(spec.pluginConfig)]);
      for (const w of spec?.wasm ?? []) if (w.config) out.push([file, JSON.stringify(w.config)]);
    }
  }
  return out;
}

describe("the Kubernetes examples configure the filter (pool.cluster, no static list)", () => {
  const configs = manifestConfigs();
  it("finds one configuration per example", () => {
    expect(configs.map(([file]) => file)).toEqual(["envoy-gateway.yaml", "istio-wasmplugin.yaml"]);
  });
  it.each(configs)("%s", async (_file, config) => {
    expect(JSON.parse(config).pool.cluster).toBeTruthy();
    const r = await configure(config);
    expect(r.critical).toEqual([]);
    expect(r.ok).toBe(true);
  });
});
