/**
 * The emulator's implementation (`EmulatedEnvoy`): VMs per worker and the
 * configuration canary, the fake clock, HTTP callouts, logs and stats. Its
 * public type is `HostEmulator` (emulator.ts); the internal contracts it also
 * serves (`HostInternals` for its VMs, `StreamHost` for its streams) stay off it.
 */
import { readFile } from "node:fs/promises";
import { LOG_LEVEL_NAMES, LogLevel, WasmResult, toBytes, toText, type HeaderPairs, type LogLevelName } from "./abi.js";
import { checkModuleLinks } from "./imports.js";
import type { HttpCallRequest, ResolvedOptions, RootContext, TrapRecord, VmLabel } from "./contexts.js";
import {
  DEFAULT_EPOCH_MS,
  ProxyWasmHostError,
  type HostEmulator,
  type HttpCallRecord,
  type HttpCallResponse,
  type LogEntry,
  type ProxyWasmHostOptions,
  type SharedDataView,
} from "./emulator.js";
import type { Guest, HostInternals } from "./internals.js";
import { mergeTrees, type PropertyTree } from "./properties.js";
import { MetricsRegistry, SharedDataStore, type Metric } from "./shared.js";
import { HttpStream, type FailurePolicy, type StreamHost, type StreamMode } from "./stream.js";
import { Vm } from "./vm.js";

interface Call {
  record: HttpCallRecord;
  vm: Guest;
  root: RootContext;
}

async function loadBytes(wasm: string | Uint8Array): Promise<Uint8Array> {
  return typeof wasm === "string" ? new Uint8Array(await readFile(wasm)) : wasm;
}

/** Compile and check a module against Envoy's import set; throws a clear error. */
async function compileForEnvoy(wasm: string | Uint8Array): Promise<WebAssembly.Module> {
  const module = await WebAssembly.compile(new Uint8Array(await loadBytes(wasm)));
  const problems = checkModuleLinks(module);
  if (problems.length > 0) {
    throw new ProxyWasmHostError(`module does not link in Envoy 1.40:\n  - ${problems.join("\n  - ")}`, []);
  }
  return module;
}

/** A Proxy-Wasm host emulating Envoy 1.40 (see `HostEmulator` for its API). */
class EmulatedEnvoy implements HostEmulator, HostInternals, StreamHost {
  readonly options: ResolvedOptions;
  readonly shared: SharedDataStore;
  readonly metrics = new MetricsRegistry();
  readonly failurePolicy: FailurePolicy;
  readonly allowOnHeadersStopIteration: boolean;
  readonly bufferLimitBytes: number;
  /** True while the current plugin configuration is accepted (false after a rejected `reconfigure`). */
  configureOk = false;
  /** Route-cache clears Envoy would do (0.2.1 clears on every request-header mutation). */
  routeCacheClears = 0;
  private module: WebAssembly.Module;
  private pluginConfig: Uint8Array;
  private workerVms: Vm[] = [];
  private readonly opts: ProxyWasmHostOptions;
  private readonly entries: LogEntry[] = [];
  private readonly trapList: TrapRecord[] = [];
  private readonly procExits: Array<{ vm: VmLabel; code: number }> = [];
  private readonly hostCalls = new Map<string, number>();
  private readonly calls = new Map<number, Call>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly tasks: Array<() => void> = [];
  private draining = false;
  private nextCallToken = 1;
  private clockMs: number;
  private readonly startMs: number;
  private closed = false;

  private constructor(module: WebAssembly.Module, options: ProxyWasmHostOptions) {
    this.module = module;
    this.opts = options;
    this.options = {
      vmId: options.vmId ?? "llm_picker",
      rootId: options.rootId ?? "llm_picker",
      vmConfig: toBytes(options.vmConfig ?? ""),
      environment: options.environment ?? {},
      allowOnHeadersStopIteration: options.allowOnHeadersStopIteration ?? true,
      bufferLimitBytes: options.bufferLimitBytes ?? 1024 * 1024,
      foreignFunctions: options.foreignFunctions ?? {},
    };
    this.shared = options.sharedData ?? new SharedDataStore();
    this.failurePolicy = options.failurePolicy ?? "FAIL_CLOSED";
    this.allowOnHeadersStopIteration = this.options.allowOnHeadersStopIteration;
    this.bufferLimitBytes = this.options.bufferLimitBytes;
    this.pluginConfig = toBytes(options.pluginConfig ?? "");
    this.clockMs = options.epochMs ?? DEFAULT_EPOCH_MS;
    this.startMs = this.clockMs;
  }

  /**
   * Compile, link-check, run the configuration canary, then start one VM per
   * worker (`_start` in restricted mode, on_context_create, on_vm_start,
   * on_configure). Throws `ProxyWasmHostError` (with the logs) on any failure.
   */
  static async create(options: ProxyWasmHostOptions): Promise<EmulatedEnvoy> {
    const module = await compileForEnvoy(options.wasm);
    const host = new EmulatedEnvoy(module, options);
    const canary = host.startVm("canary", host.pluginConfig);
    if ("error" in canary) throw new ProxyWasmHostError(`configuration canary failed: ${canary.error}`, host.entries);
    host.cancelCallsOf(canary.vm);
    const workers = Math.max(1, options.workers ?? 1);
    for (let i = 0; i < workers; i++) {
      const started = host.startVm(i, host.pluginConfig);
      if ("error" in started) throw new ProxyWasmHostError(`worker ${i} failed to start: ${started.error}`, host.entries);
      host.workerVms.push(started.vm);
    }
    host.configureOk = true;
    host.drain();
    return host;
  }

  /** Instantiate a VM, run `_start` and start a root context with `config`. */
  private startVm(label: VmLabel, config: Uint8Array): { vm: Vm } | { error: string; vm?: Vm } {
    let vm: Vm;
    try {
      vm = new Vm(this, this.module, label);
    } catch (error) {
      return { error: `instantiation failed: ${(error as Error).message}` };
    }
    if (!vm.startVm()) return { vm, error: `_start trapped: ${this.trapList.at(-1)?.message ?? ""}` };
    const { error } = vm.startRoot(config);
    if (error) return { vm, error };
    return { vm };
  }

  // ------------------------------------------------------------------ streams

  /**
   * A new HTTP stream on `worker` (default 0). A failed worker VM follows the
   * failure policy: FAIL_RELOAD builds a fresh VM first; FAIL_OPEN skips the
   * filter; FAIL_CLOSED answers 503.
   */
  newHttpStream(options: { worker?: number } = {}): HttpStream {
    const worker = options.worker ?? 0;
    if (worker < 0 || worker >= this.workerVms.length) throw new Error(`no worker ${worker} (workers: ${this.workerVms.length})`);
    let vm = this.workerVms[worker];
    if (vm.failed && this.failurePolicy === "FAIL_RELOAD") {
      const started = this.startVm(worker, this.pluginConfig);
      if (!("error" in started)) {
        // Envoy also applies `reload_config.backoff` (default 1 s); not modelled: reload on the next request.
        this.cancelCallsOf(vm);
        this.workerVms[worker] = started.vm;
        vm = started.vm;
      }
    }
    let mode: StreamMode = "filter";
    if (vm.failed || !vm.activeRoot) mode = this.failurePolicy === "FAIL_OPEN" ? "skipped" : "failed_closed";
    const root = vm.activeRoot ?? { kind: "root" as const, id: 0, config: this.pluginConfig, tickPeriodMs: 0, nextTickAtMs: 0, state: "deleted" as const };
    return new HttpStream(this, vm, root, worker, mode);
  }

  // ------------------------------------------------------------------ configuration updates

  /**
   * A config-only update (ECDS with the same vm_key): the canary checks the new
   * config; if accepted, each worker VM gets a NEW root context (create, vm_start,
   * configure) and the old root gets on_done / on_delete. Returns false (and keeps
   * the old config) when the canary rejects it.
   */
  reconfigure(pluginConfig: string | Uint8Array): boolean {
    const config = toBytes(pluginConfig);
    const canary = this.startVm("canary", config);
    if ("error" in canary) {
      this.log("canary", LogLevel.warn, `config update rejected: ${canary.error}`);
      this.drain();
      return false;
    }
    this.cancelCallsOf(canary.vm);
    this.pluginConfig = config;
    for (const vm of this.workerVms) {
      if (vm.failed) continue;
      const old = vm.activeRoot;
      vm.startRoot(config);
      if (old) vm.retireRoot(old);
    }
    this.configureOk = true;
    this.drain();
    return true;
  }

  /**
   * A code update with the same vm_id: new VMs (canary first) replace the old ones,
   * whose roots get on_done / on_delete; shared data is kept. Throws like `create`
   * when the new module does not link or configure (the old VMs then stay).
   */
  async replaceModule(wasm: string | Uint8Array, pluginConfig?: string | Uint8Array): Promise<void> {
    const module = await compileForEnvoy(wasm);
    const previous = this.module;
    this.module = module;
    const config = pluginConfig === undefined ? this.pluginConfig : toBytes(pluginConfig);
    const fail = (message: string) => {
      this.module = previous;
      return new ProxyWasmHostError(message, this.entries);
    };
    const canary = this.startVm("canary", config);
    if ("error" in canary) throw fail(`configuration canary failed: ${canary.error}`);
    this.cancelCallsOf(canary.vm);
    const fresh: Vm[] = [];
    for (let i = 0; i < this.workerVms.length; i++) {
      const started = this.startVm(i, config);
      if ("error" in started) throw fail(`worker ${i} failed to start: ${started.error}`);
      fresh.push(started.vm);
    }
    const old = this.workerVms;
    this.workerVms = fresh;
    this.pluginConfig = config;
    for (const vm of old) this.shutdownVm(vm);
    this.drain();
  }

  /** Shut down like Envoy on exit: every root gets on_done (and on_delete). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const vm of this.workerVms) this.shutdownVm(vm);
    this.drain();
  }

  private shutdownVm(vm: Vm): void {
    for (const root of vm.roots()) vm.retireRoot(root);
    this.cancelCallsOf(vm);
  }

  // ------------------------------------------------------------------ time

  /** Current fake (or real) time in ms since the epoch. */
  nowMs(): number {
    return this.opts.realClock ? Date.now() + (this.clockMs - this.startMs) : this.clockMs;
  }

  /** @internal */
  nowNs(): bigint {
    return BigInt(Math.round(this.nowMs())) * 1_000_000n;
  }

  /** @internal */
  monotonicNs(): bigint {
    return BigInt(Math.round(this.nowMs() - this.startMs)) * 1_000_000n + 1_000_000_000n;
  }

  /**
   * Move the clock forward by `ms`, firing every due tick on every worker VM in
   * time order (ties by worker index), each rescheduled by its period.
   */
  advance(ms: number): void {
    const target = this.clockMs + ms;
    for (;;) {
      let next: { vm: Vm; root: RootContext } | null = null;
      for (const vm of this.workerVms) {
        if (vm.failed) continue;
        for (const root of vm.roots()) {
          if (root.tickPeriodMs <= 0 || root.nextTickAtMs > target) continue;
          if (!next || root.nextTickAtMs < next.root.nextTickAtMs) next = { vm, root };
        }
      }
      if (!next) break;
      this.clockMs = Math.max(this.clockMs, next.root.nextTickAtMs);
      next.root.nextTickAtMs += next.root.tickPeriodMs;
      next.vm.invokeRoot("proxy_on_tick", next.root, next.root.id);
      this.drain();
    }
    this.clockMs = target;
  }

  /**
   * Fire on_tick now on the roots that set a tick period, on `worker` or on all
   * workers (proxytest `Tick`). Returns how many ticks ran.
   */
  tick(worker?: number): number {
    let fired = 0;
    this.workerVms.forEach((vm, i) => {
      if (worker !== undefined && worker !== i) return;
      for (const root of vm.roots()) {
        if (root.tickPeriodMs <= 0 || vm.failed) continue;
        vm.invokeRoot("proxy_on_tick", root, root.id);
        fired++;
      }
    });
    this.drain();
    return fired;
  }

  /** The tick period the active root of `worker` set (0 = none). */
  tickPeriod(worker = 0): number {
    return this.workerVms[worker]?.activeRoot?.tickPeriodMs ?? 0;
  }

  // ------------------------------------------------------------------ HTTP callouts

  /** @internal `proxy_http_call` (Envoy `Context::httpCall` checks). */
  startHttpCall(vm: Guest, root: RootContext, request: HttpCallRequest): { token: number } | number {
    const has = (k: string) => request.headers.some(([key]) => key === k);
    if (!has(":path") || !has(":method") || !has(":authority")) return WasmResult.BadArgument;
    if (this.opts.clusters && !this.opts.clusters.includes(request.cluster)) return WasmResult.BadArgument;
    const token = this.nextCallToken++;
    const record: HttpCallRecord = {
      token,
      worker: vm.label,
      rootContextId: root.id,
      cluster: request.cluster,
      headers: request.headers,
      body: request.body,
      bodyText: toText(request.body),
      trailers: request.trailers,
      timeoutMs: request.timeoutMs,
      state: "pending",
    };
    this.calls.set(token, { record, vm, root });
    const handler = this.opts.httpCallHandler;
    if (handler) {
      const job = Promise.resolve()
        .then(() => (record.state === "pending" ? handler(record) : undefined))
        .then(
          (response) => {
            if (response === undefined || record.state !== "pending") return;
            if (response === null) this.failHttpCall(token);
            else this.respondToHttpCall(token, response);
          },
          (error) => {
            this.log(vm.label, LogLevel.warn, `httpCallHandler failed: ${(error as Error).message}`);
            if (record.state === "pending") this.failHttpCall(token);
          },
        )
        .finally(() => this.inFlight.delete(job));
      this.inFlight.add(job);
    }
    return { token };
  }

  /** Callouts not yet answered. */
  pendingHttpCalls(): HttpCallRecord[] {
    return [...this.calls.values()].map((c) => c.record).filter((r) => r.state === "pending");
  }

  /** Every callout issued so far. */
  httpCalls(): HttpCallRecord[] {
    return [...this.calls.values()].map((c) => c.record);
  }

  /**
   * Answer a callout: proxy_on_http_call_response(root_id, token, headers, body,
   * trailers) on the ROOT context that issued it (body via buffer 4, maps 6/7).
   * Returns false when the call is unknown, not pending, or its VM/root is gone.
   */
  respondToHttpCall(token: number, response: HttpCallResponse = {}): boolean {
    const call = this.calls.get(token);
    if (call?.record.state !== "pending") return false;
    call.record.state = "answered";
    const headers: HeaderPairs = (response.headers ?? []).map(([k, v]) => [k.toLowerCase(), v]);
    if (!headers.some(([k]) => k === ":status")) headers.unshift([":status", String(response.status ?? 200)]);
    const body = toBytes(response.body ?? "");
    const trailers = response.trailers ?? [];
    return this.deliverCallResponse(call, { headers, body, trailers }, { code: WasmResult.Ok, message: "" });
  }

  /** Fail a callout: the root gets num_headers = 0 and `proxy_get_status` → (BrokenConnection, "reset"). */
  failHttpCall(token: number): boolean {
    const call = this.calls.get(token);
    if (call?.record.state !== "pending") return false;
    call.record.state = "failed";
    return this.deliverCallResponse(call, { headers: [], body: new Uint8Array(0), trailers: [] }, { code: WasmResult.BrokenConnection, message: "reset" });
  }

  private deliverCallResponse(
    call: Call,
    data: { headers: HeaderPairs; body: Uint8Array; trailers: HeaderPairs },
    status: { code: number; message: string },
  ): boolean {
    const { vm, root } = call;
    if (vm.failed || root.state !== "active" || !(this.workerVms as readonly Guest[]).includes(vm)) return false;
    vm.callResponse = status.code === WasmResult.Ok ? data : null;
    vm.status = status;
    const numHeaders = status.code === WasmResult.Ok ? data.headers.length : 0;
    vm.invokeRoot("proxy_on_http_call_response", root, root.id, call.record.token, numHeaders, data.body.length, data.trailers.length);
    vm.callResponse = null;
    vm.status = { code: WasmResult.Ok, message: "" };
    this.drain();
    return true;
  }

  private cancelCallsOf(vm: Guest): void {
    for (const call of this.calls.values()) if (call.vm === vm && call.record.state === "pending") call.record.state = "cancelled";
  }

  /** Wait until every `httpCallHandler` answer has been delivered (including calls they trigger). */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  // ------------------------------------------------------------------ inspectors

  /** Shared data of this host's vm_id. */
  get sharedData(): SharedDataView {
    const vmId = this.options.vmId;
    const store = this.shared;
    return {
      get: (key) => store.get(vmId, key),
      set: (key, value, cas = 0) => store.set(vmId, key, toBytes(value), cas),
      keys: () => store.keys(vmId),
      totalBytes: () => store.totalBytes(vmId),
      store,
    };
  }

  /** A stat defined by the plugin, by plain name (Envoy: `wasmcustom.<name>`). */
  metric(name: string): Metric | undefined {
    return this.metrics.byName(name);
  }

  /** Log lines at or above `level` (all recorded lines by default). */
  logs(level?: LogLevelName): LogEntry[] {
    const min = level === undefined ? 0 : LogLevel[level];
    return this.entries.filter((e) => e.level >= min);
  }

  /** Messages logged at exactly `level` (proxytest `GetInfoLogs` style). */
  logMessages(level: LogLevelName): string[] {
    return this.entries.filter((e) => e.level === LogLevel[level]).map((e) => e.message);
  }

  /** Traps so far (VM, callback, message). */
  traps(): TrapRecord[] {
    return [...this.trapList];
  }

  /** `proc_exit` calls so far (Envoy only logs them). */
  procExitCalls(): Array<{ vm: VmLabel; code: number }> {
    return [...this.procExits];
  }

  /** How often each import was called (`env.proxy_log` → n). */
  hostCallCounts(): Map<string, number> {
    return new Map(this.hostCalls);
  }

  /** Linear memory of a worker's VM in bytes. */
  vmMemoryBytes(worker = 0): number {
    return this.workerVms[worker].memoryBytes();
  }

  /** Whether a worker's VM has failed (trapped). */
  vmFailed(worker = 0): boolean {
    return this.workerVms[worker].failed;
  }

  /** The worker VMs (advanced use: contexts, roots). */
  vms(): readonly Vm[] {
    return this.workerVms;
  }

  /** Number of worker VMs. */
  get workers(): number {
    return this.workerVms.length;
  }

  // ------------------------------------------------------------------ HostInternals

  /** @internal */
  log(vm: VmLabel, level: number, message: string): void {
    if (level < this.logLevel()) return;
    const entry: LogEntry = { vm, level, levelName: LOG_LEVEL_NAMES[level] ?? "critical", message };
    this.entries.push(entry);
    this.opts.logSink?.(entry);
  }

  /** @internal */
  logLevel(): number {
    return LogLevel[this.opts.logLevel ?? "info"];
  }

  /** @internal */
  recordTrap(trap: TrapRecord): void {
    this.trapList.push(trap);
  }

  /** @internal */
  recordProcExit(vm: VmLabel, code: number): void {
    this.procExits.push({ vm, code });
  }

  /** @internal */
  countHostCall(name: string): void {
    this.hostCalls.set(name, (this.hostCalls.get(name) ?? 0) + 1);
  }

  /** @internal */
  countHeaderMutation(_ctx: unknown, mapType: number): void {
    if (mapType === 0) this.routeCacheClears++;
  }

  /** @internal */
  globalProperties(): PropertyTree {
    const base: PropertyTree = {
      plugin_name: this.options.rootId,
      plugin_root_id: this.options.rootId,
      plugin_vm_id: this.options.vmId,
    };
    return mergeTrees(base, this.opts.properties);
  }

  /** @internal */
  post(task: () => void): void {
    this.tasks.push(task);
  }

  /** @internal Run posted tasks (e.g. on_queue_ready) until none are left. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let task = this.tasks.shift(); task; task = this.tasks.shift()) task();
    } finally {
      this.draining = false;
    }
  }
}

/** The emulator as tests and the CLI use it: its public type, and `ProxyWasmHost.create`. */
export type ProxyWasmHost = HostEmulator;
export const ProxyWasmHost = {
  /**
   * Compile, link-check, run the configuration canary, then start one VM per
   * worker (`_start` in restricted mode, on_context_create, on_vm_start,
   * on_configure). Throws `ProxyWasmHostError` (with the logs) on any failure.
   */
  create(options: ProxyWasmHostOptions): Promise<HostEmulator> {
    return EmulatedEnvoy.create(options);
  },
};

/** A request for `runRequest`. */
export interface RunRequestOptions {
  method?: string;
  path?: string;
  authority?: string;
  headers?: HeaderPairs;
  body?: string | Uint8Array;
  /** Send the body in these chunks instead (the last one carries end_of_stream). */
  chunks?: Array<string | Uint8Array>;
  trailers?: HeaderPairs;
  worker?: number;
  /** Leave the stream open (no on_log/on_done/on_delete). Default false. */
  keepOpen?: boolean;
}

/**
 * Send one request through the filter: headers (end_of_stream when there is no
 * body), the body chunks, optional trailers; waits for `httpCallHandler` answers;
 * then ends the stream unless `keepOpen`.
 */
export async function runRequest(
  host: ProxyWasmHost,
  request: RunRequestOptions,
): Promise<{
  forwarded: ReturnType<HttpStream["forwardedRequest"]>;
  localResponse: ReturnType<HttpStream["localResponse"]>;
  stream: HttpStream;
}> {
  const stream = host.newHttpStream({ worker: request.worker });
  const chunks = request.chunks ?? (request.body === undefined ? [] : [request.body]);
  const headers: HeaderPairs = [
    [":method", request.method ?? (chunks.length ? "POST" : "GET")],
    [":path", request.path ?? "/"],
    [":authority", request.authority ?? "localhost"],
    [":scheme", "http"],
    ...(request.headers ?? []),
  ];
  const hasTrailers = request.trailers !== undefined;
  stream.sendRequestHeaders(headers, chunks.length === 0 && !hasTrailers);
  chunks.forEach((chunk, i) => {
    stream.sendRequestBody(chunk, i === chunks.length - 1 && !hasTrailers);
  });
  if (hasTrailers) stream.sendRequestTrailers(request.trailers!);
  await host.settle();
  const result = { forwarded: stream.forwardedRequest(), localResponse: stream.localResponse(), stream };
  if (!request.keepOpen) stream.end("complete");
  return result;
}
