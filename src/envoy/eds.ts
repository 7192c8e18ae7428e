/**
 * EDS from a watched file, for the cluster-following pool (envoy/envoy-cluster.yaml):
 * tests, `npm start -- --servers N` and `npm run bench:fleet` change the
 * model servers (or the Envoy replicas of a fleet) by writing a new
 * ClusterLoadAssignment and renaming it over the watched file, which is how
 * Envoy's file subscription expects updates (it watches moves, not writes).
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { splitAddress } from "./config.js";

export type EdsHealth = "HEALTHY" | "DRAINING" | "UNHEALTHY" | "DEGRADED";

export interface EdsEndpoint {
  address: string;
  health?: EdsHealth;
  /** Endpoint metadata under filter_metadata["llm-picker"] (e.g. {model: "…"}). */
  labels?: Record<string, string>;
}

let version = 0;

/** The DiscoveryResponse text for one cluster. */
export function edsDocument(cluster: string, endpoints: Array<string | EdsEndpoint>): string {
  const lb = endpoints.map((e) => {
    const ep = typeof e === "string" ? { address: e } : e;
    const [ip, port] = splitAddress(ep.address);
    return {
      endpoint: { address: { socket_address: { address: ip, port_value: port } } },
      ...(ep.health ? { health_status: ep.health } : {}),
      ...(ep.labels ? { metadata: { filter_metadata: { "llm-picker": ep.labels } } } : {}),
    };
  });
  version++;
  return stringify({
    version_info: `${Date.now()}-${version}`,
    resources: [
      {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        cluster_name: cluster,
        endpoints: lb.length > 0 ? [{ lb_endpoints: lb }] : [],
      },
    ],
  });
}

/** Atomically replaces `<dir>/<cluster>.yaml` (the file envoy-cluster.yaml watches for model_servers). */
export function writeEds(dir: string, cluster: string, endpoints: Array<string | EdsEndpoint>): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${cluster}.yaml`);
  const tmp = join(dir, `.${cluster}.yaml.${process.pid}.tmp`);
  writeFileSync(tmp, edsDocument(cluster, endpoints));
  renameSync(tmp, path);
  return path;
}
