/**
 * The emulator's public face: `HostEmulator`, a Proxy-Wasm ABI 0.2.1 host that
 * runs a filter module the way Envoy 1.40 does, for tests and the CLI, and the
 * types it takes and returns.
 *
 * The API follows proxy-wasm-go-sdk's `proxytest`: drivers (streams, the
 * clock, callout answers, configuration and module updates) and inspectors
 * (logs, stats, shared data, traps, host-call counts). What Envoy does that
 * the emulator reproduces is written down in docs/reference/envoy-proxy-wasm.md.
 *
 * ```ts
 * const host = await ProxyWasmHost.create({ wasm: "build/debug.wasm", pluginConfig: '{"endpoints":[…]}' });
 * const s = host.newHttpStream();
 * s.sendRequestHeaders([[":method", "POST"], [":path", "/v1/chat/completions"]], false);
 * s.sendRequestBody('{"model":"m"}', true);
 * s.forwardedRequest();   // what the router sees
 * s.end("complete");      // on_log → on_done → on_delete
 * host.close();
 * ```
 */
import type { HeaderPairs, LogLevelName } from "./abi.js";
import type { TrapRecord, VmLabel } from "./contexts.js";
import type { PropertyTree } from "./properties.js";
import type { Metric, SharedDataStore } from "./shared.js";
import type { FailurePolicy, HttpStream } from "./stream.js";
import type { Vm } from "./vm.js";

/** Default fake-clock start: 2025-01-01T00:00:00Z (fixed so tests are reproducible). */
export const DEFAULT_EPOCH_MS = Date.UTC(2025, 0, 1);

/** Options of `ProxyWasmHost.create`. */
export interface ProxyWasmHostOptions {
  /** The module: a file path or its bytes. */
  wasm: string | Uint8Array;
  /** `vm_config.vm_id`: the shared-data namespace. Default "llm_picker". */
  vmId?: string;
  /** `root_id` of the plugin. Default "llm_picker". */
  rootId?: string;
  /** Plugin `configuration` (buffer type 7, given to on_configure). Default "". */
  pluginConfig?: string | Uint8Array;
  /** `vm_config.configuration` (buffer type 6, given to on_vm_start). Default "". */
  vmConfig?: string | Uint8Array;
  /** `vm_config.environment_variables.key_values` (WASI environ). */
  environment?: Record<string, string>;
  /** Worker threads (`--concurrency`): one VM each. Default 1. */
  workers?: number;
  /** `failure_policy`. Default FAIL_CLOSED. */
  failurePolicy?: FailurePolicy;
  /** `allow_on_headers_stop_iteration`. Default true (what llm-picker's envoy.yaml sets). */
  allowOnHeadersStopIteration?: boolean;
  /** Request/response buffer limit (`per_connection_buffer_limit_bytes`). Default 1 MiB. */
  bufferLimitBytes?: number;
  /** Envoy's wasm log level; messages below it are dropped. Default "info". */
  logLevel?: LogLevelName;
  /** Share a store between hosts to model a VM replacement keeping the vm_id. */
  sharedData?: SharedDataStore;
  /** Extra global properties, e.g. `{xds: {cluster_name: "model_servers"}}`. */
  properties?: PropertyTree;
  /** Known cluster names for `proxy_http_call`; default: any cluster is accepted. */
  clusters?: string[];
  /** Answers HTTP callouts automatically (return null to fail the call). */
  httpCallHandler?: (call: HttpCallRecord) => Promise<HttpCallResponse | null>;
  /** Foreign functions for `proxy_call_foreign_function` (return bytes, or a status). */
  foreignFunctions?: Record<string, (args: Uint8Array) => Uint8Array | number>;
  /** Use the real wall clock instead of the fake one. Default false. */
  realClock?: boolean;
  /** Fake clock start (ms since the epoch). Default `DEFAULT_EPOCH_MS`. */
  epochMs?: number;
  /** Called for every log line as it happens (e.g. to print them in the CLI). */
  logSink?: (entry: LogEntry) => void;
}

/** One log line from a VM (proxy_log, or WASI stdout/stderr). */
export interface LogEntry {
  vm: VmLabel;
  level: number;
  levelName: LogLevelName;
  message: string;
}

/** An HTTP callout issued by the plugin with `proxy_http_call`. */
export interface HttpCallRecord {
  token: number;
  /** Worker index ("canary" for calls made while the canary was configured). */
  worker: VmLabel;
  /** The root context it belongs to (the response is delivered there). */
  rootContextId: number;
  cluster: string;
  headers: HeaderPairs;
  body: Uint8Array;
  bodyText: string;
  trailers: HeaderPairs;
  timeoutMs: number;
  state: "pending" | "answered" | "failed" | "cancelled";
}

/** A response to an HTTP callout. */
export interface HttpCallResponse {
  /** Shorthand for a `:status` header. Default 200 when `headers` has no `:status`. */
  status?: number;
  headers?: HeaderPairs;
  body?: string | Uint8Array;
  trailers?: HeaderPairs;
}

/** Thrown by `create` when the module does not link, start or configure; carries the VM logs. */
export class ProxyWasmHostError extends Error {
  constructor(
    message: string,
    readonly logs: LogEntry[],
  ) {
    super(logs.length ? `${message}\n--- VM logs ---\n${logs.map(formatLog).join("\n")}` : message);
    this.name = "ProxyWasmHostError";
  }
}

/** "[warn] message" */
export function formatLog(entry: LogEntry): string {
  return `[${entry.vm}] [${entry.levelName}] ${entry.message}`;
}

/** Shared-data view bound to the host's vm_id. */
export interface SharedDataView {
  /** The stored value and CAS, or undefined. */
  get(key: string): { value: Uint8Array; cas: number } | undefined;
  /** Write as a plugin would (same CAS rules); returns the WasmResult. */
  set(key: string, value: string | Uint8Array, cas?: number): number;
  keys(): string[];
  /** Sum of key and value sizes. */
  totalBytes(): number;
  /** The underlying process-wide store. */
  store: SharedDataStore;
}

/** A Proxy-Wasm host emulating Envoy 1.40. Build one with `ProxyWasmHost.create(options)`. */
export interface HostEmulator {
  // ---- drivers: streams

  /**
   * A new HTTP stream on `worker` (default 0). A failed worker VM follows the
   * failure policy: FAIL_RELOAD builds a fresh VM first; FAIL_OPEN skips the
   * filter; FAIL_CLOSED answers 503.
   */
  newHttpStream(options?: { worker?: number }): HttpStream;

  // ---- drivers: configuration and code updates

  /**
   * A config-only update (ECDS with the same vm_key): the canary checks the new
   * config; if accepted, each worker VM gets a new root context (create,
   * vm_start, configure) and the old root gets on_done / on_delete. Returns
   * false (and keeps the old config) when the canary rejects it.
   */
  reconfigure(pluginConfig: string | Uint8Array): boolean;
  /**
   * A code update with the same vm_id: new VMs (canary first) replace the old
   * ones, whose roots get on_done / on_delete; shared data is kept. Throws like
   * `create` when the new module does not link or configure (the old VMs then stay).
   */
  replaceModule(wasm: string | Uint8Array, pluginConfig?: string | Uint8Array): Promise<void>;
  /** Shut down like Envoy on exit: every root gets on_done (and on_delete). */
  close(): void;

  // ---- drivers: time

  /** Current fake (or real) time in ms since the epoch. */
  nowMs(): number;
  /**
   * Move the clock forward by `ms`, firing every due tick on every worker VM in
   * time order (ties by worker index), each rescheduled by its period.
   */
  advance(ms: number): void;
  /** Fire on_tick now on the roots that set a tick period, on `worker` or on all workers. Returns how many ran. */
  tick(worker?: number): number;
  /** The tick period the active root of `worker` set (0 = none). */
  tickPeriod(worker?: number): number;

  // ---- drivers: HTTP callouts

  /** Callouts not yet answered. */
  pendingHttpCalls(): HttpCallRecord[];
  /** Every callout issued so far. */
  httpCalls(): HttpCallRecord[];
  /**
   * Answer a callout: proxy_on_http_call_response on the root context that
   * issued it. False when the call is unknown, not pending, or its VM/root is gone.
   */
  respondToHttpCall(token: number, response?: HttpCallResponse): boolean;
  /** Fail a callout: the root sees no headers and `proxy_get_status` gives (BrokenConnection, "reset"). */
  failHttpCall(token: number): boolean;
  /** Wait until every `httpCallHandler` answer has been delivered (including calls they trigger). */
  settle(): Promise<void>;

  // ---- inspectors

  /** True while the current plugin configuration is accepted (false after a rejected `reconfigure`). */
  readonly configureOk: boolean;
  /** Route-cache clears Envoy would do (0.2.1 clears on every request-header mutation). */
  readonly routeCacheClears: number;
  /** Shared data of this host's vm_id. */
  readonly sharedData: SharedDataView;
  /** The process-wide shared-data store (give it to another host, or install test hooks on it). */
  readonly shared: SharedDataStore;
  /** A stat defined by the plugin, by plain name (Envoy: `wasmcustom.<name>`). */
  metric(name: string): Metric | undefined;
  /** Log lines at or above `level` (all recorded lines by default). */
  logs(level?: LogLevelName): LogEntry[];
  /** Messages logged at exactly `level`. */
  logMessages(level: LogLevelName): string[];
  /** Traps so far (VM, callback, message). */
  traps(): TrapRecord[];
  /** `proc_exit` calls so far (Envoy only logs them). */
  procExitCalls(): Array<{ vm: VmLabel; code: number }>;
  /** How often each import was called (`env.proxy_log` → n). */
  hostCallCounts(): Map<string, number>;
  /** Linear memory of a worker's VM in bytes. */
  vmMemoryBytes(worker?: number): number;
  /** Whether a worker's VM has failed (trapped). */
  vmFailed(worker?: number): boolean;
  /** The worker VMs (advanced use: contexts, roots, memory). */
  vms(): readonly Vm[];
  /** Number of worker VMs. */
  readonly workers: number;
}
