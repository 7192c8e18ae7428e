// Reads one cluster's membership out of Envoy's admin `/clusters?format=json`
// page (envoy.admin.v3.Clusters as JSON). Outside input: never traps, bounded
// in size, depth and host count; anything unexpected is an error value and
// the caller keeps the membership it had (docs/fleet.md "Pool").
//
// Shape read (other keys are skipped):
//   {"cluster_statuses":[{"name":"model_servers","host_statuses":[
//     {"address":{"socket_address":{"address":"10.0.0.5","port_value":8000}},
//      "health_status":{"eds_health_status":"HEALTHY","failed_active_health_check":true,...}}]}]}
import { JsonKind } from "../json/kinds";
import { JsonReader } from "../json/reader";
import { isValidAddress } from "../config/address";
import { Member } from "./members";

/** Hosts read at most; more is an error (the filter is sized for pools of tens). */
export const MAX_MEMBERS: i32 = 1024;
const MAX_DEPTH: i32 = 16;

export class ClusterStatusResult {
  members: Array<Member> = [];
  /** "" when the page was read; else why not (the cluster missing, bad JSON, too big). */
  error: string = "";
  /** Hosts skipped because their address is not ip:port (pipes, unresolved names). */
  skipped: i32 = 0;
}

/**
 * The members of `cluster` on an admin `/clusters?format=json` page. A host
 * is `usable` when Envoy's own load balancer would use it: EDS health
 * HEALTHY, DEGRADED or UNKNOWN, and no active health check, outlier
 * ejection or pending removal against it.
 */
export function readClusterMembers(page: Uint8Array, cluster: string, maxBytes: i32): ClusterStatusResult {
  const out = new ClusterStatusResult();
  if (page.length > maxBytes) {
    out.error = "admin page of " + page.length.toString() + " bytes exceeds pool.maxResponseBytes (" + maxBytes.toString() + ")";
    return out;
  }
  const r = new JsonReader(page, MAX_DEPTH);
  let found = false;
  if (r.object()) {
    let k: string | null;
    while ((k = r.key()) != null) {
      if (k! != "cluster_statuses") {
        r.skip();
        continue;
      }
      if (!r.array()) break;
      while (r.item()) {
        if (readCluster(r, cluster, out)) found = true;
        if (out.error.length > 0) return out;
      }
    }
  }
  r.end();
  if (!r.ok) {
    out.members = [];
    out.error = "admin page: " + r.error;
    return out;
  }
  if (!found) out.error = "cluster \"" + cluster + "\" is not on the admin page";
  return out;
}

/** One cluster_statuses[] entry; true when it is `cluster` (its hosts appended to out). */
function readCluster(r: JsonReader, cluster: string, out: ClusterStatusResult): bool {
  if (!r.object()) return false;
  let name: string | null = null;
  let hosts: Array<Member> = [];
  let skipped = 0;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "name" && r.kind() == JsonKind.String) {
      name = r.string();
    } else if (key == "host_statuses" && r.kind() == JsonKind.Array) {
      // Read before the name may be known (key order is not guaranteed); kept only for `cluster`.
      r.array();
      while (r.item()) {
        if (hosts.length >= MAX_MEMBERS) {
          out.error = "more than " + MAX_MEMBERS.toString() + " hosts in a cluster";
          return false;
        }
        const m = readHost(r);
        if (m == null) skipped++;
        else hosts.push(m);
      }
    } else r.skip();
  }
  if (!r.ok || name == null || name! != cluster) return false;
  for (let i = 0; i < hosts.length; i++) out.members.push(unchecked(hosts[i]));
  out.skipped += skipped;
  return true;
}

/** One host_statuses[] entry; null when its address is not ip:port. */
function readHost(r: JsonReader): Member | null {
  if (!r.object()) return null;
  let address = "";
  let usable: bool = true;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "address" && r.kind() == JsonKind.Object) address = readSocketAddress(r);
    else if (key == "health_status" && r.kind() == JsonKind.Object) usable = readHealth(r);
    else r.skip();
  }
  if (!r.ok || address.length == 0 || !isValidAddress(address)) return null;
  return new Member(address, usable);
}

/** {"socket_address":{"address":"10.0.0.5","port_value":8000}} → "10.0.0.5:8000" ("[::1]:8000" for IPv6); "" otherwise. */
export function readSocketAddress(r: JsonReader): string {
  if (!r.object()) return "";
  let out = "";
  let k: string | null;
  while ((k = r.key()) != null) {
    if (k! != "socket_address" || r.kind() != JsonKind.Object) {
      r.skip();
      continue;
    }
    r.object();
    let ip = "";
    let port: i64 = -1;
    let s: string | null;
    while ((s = r.key()) != null) {
      if (s! == "address" && r.kind() == JsonKind.String) {
        const v = r.string();
        if (v != null) ip = v!;
      } else if (s! == "port_value" && r.kind() == JsonKind.Number) {
        const v = r.number();
        port = isFinite(v) && Math.floor(v) == v && v >= 1 && v <= 65535 ? <i64>v : -1;
      } else r.skip();
    }
    if (ip.length > 0 && port > 0) out = (ip.includes(":") ? "[" + ip + "]" : ip) + ":" + port.toString();
  }
  return out;
}

function readHealth(r: JsonReader): bool {
  if (!r.object()) return false;
  let usable: bool = true;
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    const kind = r.kind();
    if (key == "eds_health_status" && kind == JsonKind.String) {
      const v = r.string();
      if (v != null && v! != "HEALTHY" && v! != "DEGRADED" && v! != "UNKNOWN") usable = false;
    } else if ((kind == JsonKind.True || kind == JsonKind.False) && isExclusionFlag(key)) {
      if (r.bool()) usable = false;
    } else r.skip();
  }
  return usable;
}

/**
 * HostHealthStatus booleans under which Envoy's load balancer leaves a host
 * out (failed_active_degraded_check only makes it DEGRADED: still used).
 */
function isExclusionFlag(key: string): bool {
  return key == "failed_active_health_check" || key == "failed_outlier_check" || key == "pending_dynamic_removal"
    || key == "excluded_via_immediate_hc_fail" || key == "active_hc_timeout";
}
