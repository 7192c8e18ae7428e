// Reads the labels of one cluster's endpoints out of Envoy's admin
// `/config_dump?include_eds&mask=static_endpoint_configs,dynamic_endpoint_configs`
// page: each lb_endpoint's `metadata.filter_metadata.<namespace>` string
// fields (docs/fleet.md "Labels"). `/clusters` lists hosts and health but
// not their metadata; this page is the one place a filter can read it.
// Outside input: never traps, bounded in size, depth, hosts and labels;
// anything unexpected is an error value and the caller keeps what it had.
//
// Shape read (other keys are skipped; a cluster defined in the bootstrap,
// EDS-fed or not, is under static_endpoint_configs, one from CDS under
// dynamic_endpoint_configs):
//   {"configs":[{"static_endpoint_configs":[{"endpoint_config":{
//     "cluster_name":"model_servers","endpoints":[{"lb_endpoints":[
//       {"endpoint":{"address":{"socket_address":{"address":"10.0.0.5","port_value":8000}}},
//        "metadata":{"filter_metadata":{"llm-picker":{"model":"llama-3-8b"}}}}]}]}}],
//    "dynamic_endpoint_configs":[...same...]}]}
import { JsonKind } from "../json/kinds";
import { JsonReader } from "../json/reader";
import { isValidAddress } from "../config/address";
import { MAX_MEMBERS, readSocketAddress } from "./cluster_status";
import { Labels } from "./labels";

const MAX_DEPTH: i32 = 24;

export class EndpointLabelsResult {
  /** Endpoints of the cluster with at least one label, and their labels (same order). */
  addresses: Array<string> = [];
  labels: Array<Labels> = [];
  /** "" when the page was read; else why not. A cluster with no endpoints on the page is not an error. */
  error: string = "";

  /** The labels of `address` (empty when it has none). */
  of(address: string): Labels {
    const i = this.addresses.indexOf(address);
    return i >= 0 ? unchecked(this.labels[i]) : new Labels();
  }
}

export function readEndpointLabels(page: Uint8Array, cluster: string, namespace: string, maxBytes: i32): EndpointLabelsResult {
  const out = new EndpointLabelsResult();
  if (page.length > maxBytes) {
    out.error = "admin page of " + page.length.toString() + " bytes exceeds pool.maxResponseBytes (" + maxBytes.toString() + ")";
    return out;
  }
  const r = new JsonReader(page, MAX_DEPTH);
  if (r.object()) {
    let k: string | null;
    while ((k = r.key()) != null) {
      if (k! != "configs" || r.kind() != JsonKind.Array) {
        r.skip();
        continue;
      }
      r.array();
      while (r.item()) {
        readEndpointsDump(r, cluster, namespace, out);
        if (out.error.length > 0) return out;
      }
    }
  }
  r.end();
  if (!r.ok) {
    out.addresses = [];
    out.labels = [];
    out.error = "admin config dump: " + r.error;
  }
  return out;
}

/** One configs[] entry: an EndpointsConfigDump (other dumps are skipped). */
function readEndpointsDump(r: JsonReader, cluster: string, namespace: string, out: EndpointLabelsResult): void {
  if (r.kind() != JsonKind.Object) {
    r.skip();
    return;
  }
  r.object();
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if ((key == "static_endpoint_configs" || key == "dynamic_endpoint_configs") && r.kind() == JsonKind.Array) {
      r.array();
      while (r.item()) {
        readEndpointConfigEntry(r, cluster, namespace, out);
        if (out.error.length > 0) return;
      }
    } else r.skip();
  }
}

/** {"endpoint_config": ClusterLoadAssignment, ...}. */
function readEndpointConfigEntry(r: JsonReader, cluster: string, namespace: string, out: EndpointLabelsResult): void {
  if (r.kind() != JsonKind.Object) {
    r.skip();
    return;
  }
  r.object();
  let k: string | null;
  while ((k = r.key()) != null) {
    if (k! == "endpoint_config" && r.kind() == JsonKind.Object) readAssignment(r, cluster, namespace, out);
    else r.skip();
  }
}

/** A ClusterLoadAssignment; its endpoints are kept only when it is `cluster`. */
function readAssignment(r: JsonReader, cluster: string, namespace: string, out: EndpointLabelsResult): void {
  r.object();
  let name: string | null = null;
  const addresses = new Array<string>();
  const labels = new Array<Labels>();
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "cluster_name" && r.kind() == JsonKind.String) name = r.string();
    else if (key == "endpoints" && r.kind() == JsonKind.Array) {
      // Read before the name may be known (key order is not guaranteed); kept only for `cluster`.
      r.array();
      while (r.item()) {
        if (!readLocality(r, namespace, addresses, labels)) {
          out.error = "more than " + MAX_MEMBERS.toString() + " endpoints in a cluster";
          return;
        }
      }
    } else r.skip();
  }
  if (!r.ok || name == null || name! != cluster) return;
  for (let i = 0; i < addresses.length; i++) {
    out.addresses.push(unchecked(addresses[i]));
    out.labels.push(unchecked(labels[i]));
  }
}

/** One LocalityLbEndpoints: {"lb_endpoints":[...]}. False past MAX_MEMBERS endpoints. */
function readLocality(r: JsonReader, namespace: string, addresses: Array<string>, labels: Array<Labels>): bool {
  if (r.kind() != JsonKind.Object) {
    r.skip();
    return true;
  }
  r.object();
  let k: string | null;
  while ((k = r.key()) != null) {
    if (k! != "lb_endpoints" || r.kind() != JsonKind.Array) {
      r.skip();
      continue;
    }
    r.array();
    while (r.item()) {
      if (addresses.length >= MAX_MEMBERS) return false;
      readLbEndpoint(r, namespace, addresses, labels);
    }
  }
  return true;
}

/** {"endpoint":{"address":...},"metadata":{"filter_metadata":{ns:{...}}}}: kept when ip:port with labels. */
function readLbEndpoint(r: JsonReader, namespace: string, addresses: Array<string>, labels: Array<Labels>): void {
  if (r.kind() != JsonKind.Object) {
    r.skip();
    return;
  }
  r.object();
  let address = "";
  let found = new Labels();
  let k: string | null;
  while ((k = r.key()) != null) {
    const key = k!;
    if (key == "endpoint" && r.kind() == JsonKind.Object) address = readEndpointAddress(r);
    else if (key == "metadata" && r.kind() == JsonKind.Object) found = readMetadata(r, namespace);
    else r.skip();
  }
  if (!r.ok || address.length == 0 || !isValidAddress(address) || found.length == 0) return;
  addresses.push(address);
  labels.push(found);
}

/** {"address":{"socket_address":{...}}} → "10.0.0.5:8000"; "" otherwise. */
function readEndpointAddress(r: JsonReader): string {
  r.object();
  let out = "";
  let k: string | null;
  while ((k = r.key()) != null) {
    if (k! == "address" && r.kind() == JsonKind.Object) out = readSocketAddress(r);
    else r.skip();
  }
  return out;
}

/** metadata.filter_metadata[namespace]: its string fields (others skipped). */
function readMetadata(r: JsonReader, namespace: string): Labels {
  const out = new Labels();
  r.object();
  let k: string | null;
  while ((k = r.key()) != null) {
    if (k! != "filter_metadata" || r.kind() != JsonKind.Object) {
      r.skip();
      continue;
    }
    r.object();
    let ns: string | null;
    while ((ns = r.key()) != null) {
      if (ns! != namespace || r.kind() != JsonKind.Object) {
        r.skip();
        continue;
      }
      r.object();
      let field: string | null;
      while ((field = r.key()) != null) {
        if (r.kind() != JsonKind.String) {
          r.skip();
          continue;
        }
        const v = r.string();
        if (v != null) out.add(field!, v!);
      }
    }
  }
  return out;
}
