/**
 * Envoy config templates: the files in envoy/ are complete, valid configs with
 * defaults (ports 10000/9901, build/llm_picker.wasm, two endpoints on
 * 127.0.0.1:8001/8002). `renderEnvoyConfig` rewrites the fields a run needs
 * through the YAML document model (comments and layout survive), so there is
 * no placeholder syntax that could make a committed file invalid.
 *
 * Fields it knows:
 * - `admin.address.socket_address.port_value`            ← adminPort
 * - every listener's `address.socket_address`            ← listenerAddress / listenerPort
 * - every wasm PluginConfig (a map holding `vm_config`)  ← wasmPath, pluginConfig, failurePolicy
 *   (found anywhere, so it also works on ECDS resource files)
 * - the `load_assignment` of the cluster `model_servers` ← endpoints
 * - ECDS `path_config_source` paths                       ← ecdsDir
 * Relative wasm paths are resolved against the repository root, so the
 * rendered config works from any working directory.
 */
import { isAbsolute, join, resolve } from "node:path";
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from "yaml";
import { PROJECT_ROOT } from "./locate.js";

export const MODEL_SERVERS_CLUSTER = "model_servers";
export const ROUTING_HEADER = "x-gateway-destination-endpoint";
export const DEFAULT_WASM = "build/llm_picker.wasm";

export type FailurePolicy = "FAIL_OPEN" | "FAIL_RELOAD" | "FAIL_CLOSED";

export interface EnvoySubstitutions {
  /** Port of every listener; 0 = any free port (read back with /listeners). */
  listenerPort?: number;
  /** Bind address of every listener (tests use 127.0.0.1). */
  listenerAddress?: string;
  /** Admin port; 0 = any free port (read back with --admin-address-path). */
  adminPort?: number;
  /** The filter module, absolute or relative to the repository root. */
  wasmPath?: string;
  /** Model servers as "ip:port": the members of `model_servers`, and (unless
   *  pluginConfig is given) the `endpoints` of the filter's configuration
   *  (the template's other settings are kept). */
  endpoints?: string[];
  /** The filter's plugin configuration: a JSON string passed verbatim, or an
   *  object serialised with JSON.stringify. */
  pluginConfig?: string | object;
  /** Override the filter's failure_policy (tests of the degraded path). */
  failurePolicy?: FailurePolicy;
  /** ECDS variant: the directory watched for the filter's resource file. */
  ecdsDir?: string;
}

/** "ip:port" → [ip, port]; throws on anything else (a test or CLI bug, not request data). */
export function splitAddress(address: string): [string, number] {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(address);
  if (!m) throw new Error(`endpoint "${address}" is not ip:port (IPv4)`);
  return [m[1], Number(m[2])];
}

export function defaultPluginConfig(endpoints: string[]): string {
  return JSON.stringify({ endpoints: endpoints.map((address) => ({ address })) });
}

/** The template's plugin configuration with only `endpoints` replaced (other settings kept). */
function withEndpoints(current: unknown, endpoints: string[]): string {
  if (typeof current === "string") {
    try {
      const parsed: unknown = JSON.parse(current);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        return JSON.stringify({ ...parsed, endpoints: endpoints.map((address) => ({ address })) });
      }
    } catch {
      // not JSON: replaced by the default below
    }
  }
  return defaultPluginConfig(endpoints);
}

type Visit = (node: YAMLMap, path: string[]) => void;

/** Depth-first walk over every map of the document. */
function walkMaps(node: unknown, path: string[], visit: Visit): void {
  if (isMap(node)) {
    visit(node, path);
    for (const pair of node.items) {
      const key = String((pair.key as { value?: unknown })?.value ?? pair.key);
      walkMaps(pair.value, [...path, key], visit);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      walkMaps(item, [...path, String(i)], visit);
    });
  }
}

/** Relative paths in envoy/ files are relative to the repository root. */
function resolveWasm(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}

function setPluginConfig(plugin: YAMLMap, doc: Document, subs: EnvoySubstitutions): void {
  const code = plugin.getIn(["vm_config", "code", "local", "filename"]);
  if (typeof code === "string") {
    plugin.setIn(["vm_config", "code", "local", "filename"], resolveWasm(subs.wasmPath ?? code));
  }
  let config: string | undefined;
  if (subs.pluginConfig !== undefined) {
    config = typeof subs.pluginConfig === "string" ? subs.pluginConfig : JSON.stringify(subs.pluginConfig);
  } else if (subs.endpoints) {
    config = withEndpoints(plugin.getIn(["configuration", "value"]), subs.endpoints);
  }
  if (config !== undefined) {
    plugin.set("configuration", doc.createNode({ "@type": "type.googleapis.com/google.protobuf.StringValue", value: config }));
  }
  if (subs.failurePolicy) plugin.set("failure_policy", subs.failurePolicy);
}

function lbEndpoints(endpoints: string[]): object[] {
  return endpoints.map((address) => {
    const [ip, port] = splitAddress(address);
    return { endpoint: { address: { socket_address: { address: ip, port_value: port } } } };
  });
}

function setModelServers(cluster: YAMLMap, doc: Document, endpoints: string[]): void {
  cluster.set("load_assignment", doc.createNode({ cluster_name: MODEL_SERVERS_CLUSTER, endpoints: [{ lb_endpoints: lbEndpoints(endpoints) }] }));
}

/** ECDS file source: into `ecdsDir` when given, else the template's paths made absolute. */
function setPathConfigSource(source: YAMLMap, ecdsDir: string | undefined): void {
  const path = String(source.get("path") ?? "llm-picker.yaml");
  const file = path.split("/").pop() ?? path;
  source.set("path", ecdsDir ? join(ecdsDir, file) : resolveWasm(path));
  if (source.has("watched_directory")) {
    const dir = String(source.getIn(["watched_directory", "path"]) ?? ".");
    source.setIn(["watched_directory", "path"], ecdsDir ?? resolveWasm(dir));
  }
}

/** Renders one template (YAML text) with the substitutions; returns YAML text. */
export function renderEnvoyConfig(template: string, subs: EnvoySubstitutions = {}): string {
  const doc = parseDocument(template);
  if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0].message}`);
  if (subs.adminPort !== undefined && doc.hasIn(["admin", "address", "socket_address"])) {
    doc.setIn(["admin", "address", "socket_address", "port_value"], subs.adminPort);
  }
  walkMaps(doc.contents, [], (node, path) => {
    const inListeners = path.length === 3 && path[0] === "static_resources" && path[1] === "listeners";
    if (inListeners && node.hasIn(["address", "socket_address"])) {
      if (subs.listenerPort !== undefined) node.setIn(["address", "socket_address", "port_value"], subs.listenerPort);
      if (subs.listenerAddress !== undefined) node.setIn(["address", "socket_address", "address"], subs.listenerAddress);
    }
    if (node.has("vm_config")) setPluginConfig(node, doc, subs);
    const isCluster = path.length === 3 && path[0] === "static_resources" && path[1] === "clusters";
    if (isCluster && node.get("name") === MODEL_SERVERS_CLUSTER && subs.endpoints) {
      setModelServers(node, doc, subs.endpoints);
    }
    if (node.has("path_config_source")) setPathConfigSource(node.get("path_config_source") as YAMLMap, subs.ecdsDir);
  });
  return doc.toString({ lineWidth: 0 });
}

/** True when the YAML text is an Envoy bootstrap (not a compose file, an
 *  ECDS resource file or a Kubernetes manifest). */
export function isEnvoyBootstrap(text: string): boolean {
  const doc = parseDocument(text);
  const top = doc.contents;
  if (!isMap(top)) return false;
  return top.has("static_resources") || top.has("dynamic_resources");
}
