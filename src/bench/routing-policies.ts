/**
 * The routing policies compared by `npm run bench:routing`
 * and the Envoy configuration each one runs. Every policy uses the same
 * topology (listener → router → cluster `model_servers` with the same
 * members); only the balancing differs:
 *
 * | policy          | Envoy config                                    | who picks                                  |
 * |-----------------|-------------------------------------------------|--------------------------------------------|
 * | `round-robin`   | envoy/baseline.yaml                             | Envoy round robin                          |
 * | `least-request` | baseline, LEAST_REQUEST policy                  | Envoy least request (power of two choices) |
 * | `random`        | baseline, RANDOM policy                         | Envoy random                               |
 * | `seed-like`     | envoy/envoy.yaml, filter configured like the seed | the filter (hashTrailingBlock false, weights prefix/queue/kvCache 1:1:1) |
 * | `default`       | envoy/envoy.yaml, filter defaults               | the filter                                 |
 * | `precise`       | envoy/envoy.yaml without the filter (override_host kept) | the benchmark client: longest prefix actually cached (each simulator's /sim/prefix) + the filter's load scorers, sent as x-gateway-destination-endpoint |
 *
 * The configs are derived from the committed files through the YAML document
 * model, so they follow any change made there.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isMap, isSeq, parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { MODEL_SERVERS_CLUSTER } from "../envoy/config.js";
import { PROJECT_ROOT } from "../envoy/locate.js";
import type { EnvoySubstitutions } from "../envoy/config.js";

export const POLICY_NAMES = ["round-robin", "least-request", "random", "seed-like", "default", "precise"] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

export const ENVOY_YAML = resolve(PROJECT_ROOT, "envoy/envoy.yaml");
export const BASELINE_YAML = resolve(PROJECT_ROOT, "envoy/baseline.yaml");

const LB_POLICIES: Record<string, { name: string; type: string }> = {
  "round-robin": {
    name: "envoy.load_balancing_policies.round_robin",
    type: "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
  },
  "least-request": {
    name: "envoy.load_balancing_policies.least_request",
    type: "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
  },
  random: { name: "envoy.load_balancing_policies.random", type: "type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random" },
};

function modelServersCluster(doc: ReturnType<typeof parseDocument>): YAMLMap {
  const clusters = doc.getIn(["static_resources", "clusters"]);
  if (!isSeq(clusters)) throw new Error("no static_resources.clusters");
  for (const c of (clusters as YAMLSeq).items) if (isMap(c) && c.get("name") === MODEL_SERVERS_CLUSTER) return c;
  throw new Error(`no cluster ${MODEL_SERVERS_CLUSTER}`);
}

/** envoy/baseline.yaml with the model_servers balancing replaced by `lb`. */
export function baselineYaml(lb: "round-robin" | "least-request" | "random"): string {
  const doc = parseDocument(readFileSync(BASELINE_YAML, "utf8"));
  const policy = LB_POLICIES[lb];
  const cluster = modelServersCluster(doc);
  cluster.delete("lb_policy");
  cluster.set(
    "load_balancing_policy",
    doc.createNode({ policies: [{ typed_extension_config: { name: policy.name, typed_config: { "@type": policy.type } } }] }),
  );
  return doc.toString({ lineWidth: 0 });
}

/** envoy/envoy.yaml without the llm-picker HTTP filter: override_host routes on the client's header. */
export function headerRoutedYaml(): string {
  const doc = parseDocument(readFileSync(ENVOY_YAML, "utf8"));
  let removed = 0;
  const listeners = doc.getIn(["static_resources", "listeners"]) as YAMLSeq;
  for (const listener of listeners.items as YAMLMap[]) {
    for (const chain of (listener.get("filter_chains") as YAMLSeq).items as YAMLMap[]) {
      for (const filter of (chain.get("filters") as YAMLSeq).items as YAMLMap[]) {
        const httpFilters = filter.getIn(["typed_config", "http_filters"]);
        if (!isSeq(httpFilters)) continue;
        const before = httpFilters.items.length;
        httpFilters.items = httpFilters.items.filter((f) => !(isMap(f) && String(f.get("name")).includes("llm-picker")));
        removed += before - httpFilters.items.length;
      }
    }
  }
  if (removed !== 1) throw new Error(`expected one llm-picker filter in ${ENVOY_YAML}, removed ${removed}`);
  return doc.toString({ lineWidth: 0 });
}

/** The filter's plugin configuration for a filter policy. */
export function filterPluginConfig(policy: "seed-like" | "default", endpoints: string[]): object {
  const base = { endpoints: endpoints.map((address) => ({ address })) };
  if (policy === "default") return base;
  // The seed's scheduler: prefix, queue and KV-cache scorers weighted 1:1:1,
  // only full blocks hashed (docs/reference/seed.md#prefix-hashing).
  return {
    ...base,
    prefix: { hashTrailingBlock: false },
    weights: { prefix: 1, queue: 1, kvCache: 1, loraAffinity: 0, inFlight: 0 },
  };
}

export interface PolicyEnvoy {
  /** YAML text or a path for startEnvoy. */
  config: string;
  substitutions: EnvoySubstitutions;
  /** The filter runs (wait for its scrapes before replaying). */
  filter: boolean;
  /** The client picks the endpoint and sends x-gateway-destination-endpoint. */
  clientPicks: boolean;
}

/** Deep merge of plain objects (arrays and scalars in `b` replace). */
export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    const bothObjects = typeof v === "object" && v !== null && !Array.isArray(v) && typeof prev === "object" && prev !== null && !Array.isArray(prev);
    out[k] = bothObjects ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/**
 * @param filterOverride merged into the plugin configuration of the filter
 *   policies (seed-like, default): to try other settings, e.g.
 *   `{"prefix":{"capacityPerEndpoint":2048}}`.
 */
export function policyEnvoy(policy: PolicyName, endpoints: string[], wasmPath?: string, filterOverride?: Record<string, unknown>): PolicyEnvoy {
  switch (policy) {
    case "round-robin":
    case "least-request":
    case "random":
      return { config: baselineYaml(policy), substitutions: { endpoints }, filter: false, clientPicks: false };
    case "seed-like":
    case "default":
      return {
        config: ENVOY_YAML,
        substitutions: {
          endpoints,
          pluginConfig: deepMerge(filterPluginConfig(policy, endpoints) as Record<string, unknown>, filterOverride ?? {}),
          ...(wasmPath ? { wasmPath } : {}),
        },
        filter: true,
        clientPicks: false,
      };
    case "precise":
      return { config: headerRoutedYaml(), substitutions: { endpoints }, filter: false, clientPicks: true };
  }
}
