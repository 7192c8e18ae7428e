/**
 * One Wasm VM as Envoy runs it on a worker thread (or the configuration canary):
 * the instance, its contexts, and every host function of the 0.2.1 import set with
 * Envoy 1.40 semantics (cpp-host `src/exports.cc`, Envoy `context.cc`).
 */
import {
  BufferType,
  type HeaderPairs,
  LOG_LEVEL_NAMES,
  MapType,
  PAIRS_MAX_BYTES,
  RANDOM_GET_MAX_BYTES,
  WasmResult,
  decodePairs,
  encodePairs,
  headerByteSize,
  toBytes,
  toText,
} from "./abi.js";
import { ENV_EXTRA_FUNCTIONS, PROXY_HOST_FUNCTIONS, PROXY_HOST_FUNCTIONS_0_2_1, WASI_FUNCTIONS, WASI_MODULES, allowedDuringStart } from "./imports.js";
import { encodeProperty, lookup, splitPath, type PropertyTree } from "./properties.js";
import type { HostInternals } from "./internals.js";
import type { HttpStream } from "./stream.js";

/** A host function as the guest imports it: wasm numbers in, a number (or nothing) out. */
type HostFunction = (...args: any[]) => unknown;

/** Thrown from a host function to trap the guest (like cpp-host's `trap()`). */
export class HostTrap extends Error {}

/** Which VM this is: a worker index, or the configuration canary. */
export type VmLabel = number | "canary";

/** A root (plugin) context inside a VM. */
export interface RootContext {
  kind: "root";
  id: number;
  /** Plugin configuration bytes (buffer type 7) for this root. */
  config: Uint8Array;
  /** Tick period (0 = disabled) and next due time on the fake clock. */
  tickPeriodMs: number;
  nextTickAtMs: number;
  /** "active" until retired; "pending_done" when on_done returned false. */
  state: "active" | "pending_done" | "deleted";
}

/** The data an HTTP call response callback sees (buffer 4, maps 6/7). */
export interface CallResponseData {
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
}

/** A header map as a context exposes it: the live pairs and whether mutation is allowed. */
export interface HeaderMapRef {
  pairs: HeaderPairs;
  writable: boolean;
}

/** A buffer as a context exposes it. */
export interface BufferRef {
  bytes(): Uint8Array;
  /** Replace the whole content (after `copyFrom` rules were applied). */
  replace(bytes: Uint8Array): void;
}

type Ctx = RootContext | HttpStream;

const WASI_ERRNO = { SUCCESS: 0, BADF: 8, EFAULT: 21, INVAL: 28, NOENT: 44, NOSYS: 52, NOTSUP: 58 } as const;

/** Return codes of the WASI functions Envoy stubs out (cpp-host `exports.cc`). */
const WASI_STUB_RESULTS: Record<string, number> = {
  fd_read: WASI_ERRNO.NOSYS,
  fd_seek: 0,
  fd_close: 0,
  fd_fdstat_set_flags: WASI_ERRNO.NOSYS,
  fd_fdstat_set_rights: 0,
  fd_advise: 0,
  fd_allocate: 0,
  fd_datasync: 0,
  fd_filestat_set_size: 0,
  fd_filestat_set_times: 0,
  fd_pread: WASI_ERRNO.NOSYS,
  fd_pwrite: 0,
  fd_readdir: 20,
  fd_renumber: WASI_ERRNO.NOTSUP,
  fd_sync: 0,
  fd_tell: 0,
  path_create_directory: WASI_ERRNO.NOTSUP,
  path_filestat_set_times: WASI_ERRNO.NOTSUP,
  path_link: WASI_ERRNO.NOTSUP,
  path_readlink: WASI_ERRNO.NOTSUP,
  path_remove_directory: WASI_ERRNO.NOTSUP,
  path_rename: WASI_ERRNO.NOTSUP,
  path_symlink: WASI_ERRNO.NOTSUP,
  path_unlink_file: WASI_ERRNO.NOTSUP,
  sock_accept: WASI_ERRNO.NOTSUP,
  sock_recv: WASI_ERRNO.NOTSUP,
  sock_send: WASI_ERRNO.NOTSUP,
  sock_shutdown: WASI_ERRNO.NOTSUP,
  sched_yield: 0,
  path_open: WASI_ERRNO.NOENT,
  fd_prestat_get: WASI_ERRNO.BADF,
  fd_prestat_dir_name: WASI_ERRNO.NOSYS,
  path_filestat_get: WASI_ERRNO.NOTSUP,
  fd_filestat_get: WASI_ERRNO.BADF,
  clock_res_get: 0,
  poll_oneoff: 0,
};

const u32 = (v: number) => v >>> 0;

/** One instantiated VM. Created by `ProxyWasmHost`; tests reach it through the host. */
export class Vm {
  readonly label: VmLabel;
  readonly host: HostInternals;
  readonly instance: WebAssembly.Instance;
  /** True once a callback trapped: every later callback is skipped (`isFailed()`). */
  failed = false;
  /** Every context alive in this VM, by id. */
  readonly contexts = new Map<number, Ctx>();
  /** The root context new streams attach to (the latest configured one). */
  activeRoot: RootContext | null = null;
  /** Set by `send_local_response`: the current callback's status becomes Stop (`stopNextIteration`). */
  stopNextIteration = false;
  /** Actions deferred until the VM call returns (`addAfterVmCallAction`). */
  afterCallActions: Array<() => void> = [];
  /** Data of the HTTP call response being delivered, if any. */
  callResponse: CallResponseData | null = null;
  /** Foreign-function arguments being delivered (buffer type 8), if any. */
  foreignArgs: Uint8Array | null = null;
  /** Last status for `proxy_get_status`. */
  status = { code: 0, message: "" };
  /** Name of the callback currently running (for trap records). */
  currentCallback = "";
  private restricted = false;
  /** True while a shared-data test hook runs for a get of this VM (re-entry guard). */
  private inSharedDataHook = false;
  private nextContextId = 1;
  private currentContextId = 0;
  private effectiveContextId = 0;

  constructor(host: HostInternals, module: WebAssembly.Module, label: VmLabel) {
    this.host = host;
    this.label = label;
    this.instance = new WebAssembly.Instance(module, this.buildImports());
  }

  // ---------------------------------------------------------------- calls into the VM

  private get exports(): Record<string, any> {
    return this.instance.exports as Record<string, any>;
  }

  /** Does the module export `name`? */
  has(name: string): boolean {
    return typeof this.exports[name] === "function";
  }

  /** Allocate a fresh context id (never reused within a VM, like `allocContextId`). */
  allocContextId(): number {
    return this.nextContextId++;
  }

  /**
   * Call an exported callback with `contextId` as the current context. Returns the
   * result (0 when the export is missing), or undefined when the call trapped (the VM
   * is then failed and the trap recorded). Deferred actions are left for the caller
   * (`runAfterCallActions`), so stream drivers can apply the status first.
   */
  invoke(name: string, contextId: number, ...args: Array<number | bigint>): number | undefined {
    if (this.inSharedDataHook) {
      // A test hook (SharedDataHooks.afterGet) tried to drive the VM whose get it
      // interrupts: a wasm instance cannot be re-entered. Drive another worker.
      throw new Error(`re-entrant call ${name} into VM ${this.label} from its own shared-data hook`);
    }
    if (this.failed) return undefined;
    const fn = this.exports[name];
    if (typeof fn !== "function") return 0;
    const savedCurrent = this.currentContextId;
    const savedCallback = this.currentCallback;
    this.currentContextId = contextId;
    this.currentCallback = name;
    try {
      const result = fn(...args);
      return typeof result === "bigint" ? Number(result) : (result ?? 0) >>> 0;
    } catch (error) {
      if (!isTrap(error)) throw error;
      this.fail(name, error as Error);
      return undefined;
    } finally {
      this.currentContextId = savedCurrent;
      this.currentCallback = savedCallback;
      if (savedCurrent === 0) this.effectiveContextId = 0;
    }
  }

  /**
   * Run the store's `afterGet` test hook (if any) for a get this VM just made;
   * the VM is marked busy meanwhile so the hook cannot re-enter it.
   */
  private afterSharedDataGet(key: string, entry: { value: Uint8Array; cas: number } | undefined): void {
    const store = this.host.shared;
    if (!store.wantsAfterGet()) return;
    this.inSharedDataHook = true;
    try {
      store.vmDidGet({ vmId: this.host.options.vmId, key, vm: this.label, cas: entry?.cas, value: entry?.value });
    } finally {
      this.inSharedDataHook = false;
    }
  }

  /** Run and clear the deferred actions of the last call (nothing if the VM failed). */
  runAfterCallActions(): void {
    const actions = this.afterCallActions;
    this.afterCallActions = [];
    if (this.failed) return;
    for (const action of actions) action();
  }

  /** Invoke a root-context callback and run its deferred actions. */
  invokeRoot(name: string, root: RootContext, ...args: Array<number | bigint>): number | undefined {
    const result = this.invoke(name, root.id, ...args);
    this.stopNextIteration = false;
    this.runAfterCallActions();
    return result;
  }

  /** Mark the VM failed after a trap in `callback`. */
  fail(callback: string, error: Error): void {
    this.failed = true;
    this.host.recordTrap({ vm: this.label, callback, message: error.message, error });
    this.host.log(this.label, 5, `Function: ${callback} failed: Uncaught ${error.name}: ${error.message}`);
  }

  /**
   * Run `_initialize` (+ `main`/`__main_void`) or `_start` in restricted mode
   * (cpp-host `WasmBase::startVm`): only logging and harmless WASI calls are allowed.
   */
  startVm(): boolean {
    this.restricted = true;
    try {
      if (this.has("_initialize")) {
        this.invoke("_initialize", 0);
        if (!this.failed && this.has("main")) this.invoke("main", 0, 0, 0);
        else if (!this.failed && this.has("__main_void")) this.invoke("__main_void", 0);
      } else if (this.has("_start")) {
        this.invoke("_start", 0);
      }
    } finally {
      this.restricted = false;
    }
    return !this.failed;
  }

  /**
   * Create a root context and run on_context_create(root, 0), on_vm_start and
   * on_configure (`WasmBase::start` + `configure`). Returns the root, or an error
   * message when a callback returned false or trapped.
   */
  startRoot(config: Uint8Array): { root: RootContext; error?: string } {
    const root: RootContext = { kind: "root", id: this.allocContextId(), config, tickPeriodMs: 0, nextTickAtMs: 0, state: "active" };
    this.contexts.set(root.id, root);
    this.invokeRoot("proxy_on_context_create", root, root.id, 0);
    if (this.failed) return { root, error: "proxy_on_context_create trapped" };
    const vmConfig = this.host.options.vmConfig;
    const started = this.invokeRoot("proxy_on_vm_start", root, root.id, vmConfig.length);
    if (this.failed) return { root, error: "proxy_on_vm_start trapped" };
    if (this.has("proxy_on_vm_start") && started === 0) return { root, error: "proxy_on_vm_start returned false" };
    const configured = this.invokeRoot("proxy_on_configure", root, root.id, config.length);
    if (this.failed) return { root, error: "proxy_on_configure trapped" };
    if (this.has("proxy_on_configure") && configured === 0) return { root, error: "proxy_on_configure returned false" };
    this.activeRoot = root;
    return { root };
  }

  /**
   * Retire a root context as Envoy does when its plugin config goes away
   * (`WasmBase::startShutdown`): on_done, then on_delete unless on_done returned
   * false (then on_delete waits for `proxy_done`).
   */
  retireRoot(root: RootContext): void {
    if (root.state !== "active") return;
    root.tickPeriodMs = 0;
    if (this.activeRoot === root) this.activeRoot = null;
    const done = this.invokeRoot("proxy_on_done", root, root.id);
    if (this.failed || done !== 0 || !this.has("proxy_on_done")) {
      this.deleteRoot(root);
    } else {
      root.state = "pending_done";
    }
  }

  private deleteRoot(root: RootContext): void {
    root.state = "deleted";
    this.invokeRoot("proxy_on_delete", root, root.id);
    this.contexts.delete(root.id);
  }

  /** Root contexts that are still active. */
  roots(): RootContext[] {
    return [...this.contexts.values()].filter((c): c is RootContext => c.kind === "root" && c.state === "active");
  }

  // ---------------------------------------------------------------- memory

  private memory(): Uint8Array {
    return new Uint8Array((this.exports.memory as WebAssembly.Memory).buffer);
  }

  /** Linear memory size in bytes. */
  memoryBytes(): number {
    return (this.exports.memory as WebAssembly.Memory).buffer.byteLength;
  }

  /** Copy `len` bytes at `ptr` out of the VM, or null when out of bounds. */
  read(ptr: number, len: number): Uint8Array | null {
    const mem = this.memory();
    if (ptr + len > mem.length) return null;
    return mem.slice(ptr, ptr + len);
  }

  private readString(ptr: number, len: number): string | null {
    const bytes = this.read(ptr, len);
    return bytes === null ? null : toText(bytes);
  }

  private writeU32(ptr: number, value: number): boolean {
    const mem = this.memory();
    if (ptr + 4 > mem.length) return false;
    new DataView(mem.buffer).setUint32(ptr, value >>> 0, true);
    return true;
  }

  private writeU64(ptr: number, value: bigint): boolean {
    const mem = this.memory();
    if (ptr + 8 > mem.length) return false;
    new DataView(mem.buffer).setBigUint64(ptr, BigInt.asUintN(64, value), true);
    return true;
  }

  private writeBytes(ptr: number, bytes: Uint8Array): boolean {
    const mem = this.memory();
    if (ptr + bytes.length > mem.length) return false;
    mem.set(bytes, ptr);
    return true;
  }

  /**
   * Copy `bytes` into memory allocated by the guest's `malloc` and write pointer and
   * size (cpp-host `copyToPointerSize`; an empty value writes 0/0 without allocating).
   */
  private copyOut(bytes: Uint8Array, ptrPtr: number, sizePtr: number): number {
    let ptr = 0;
    if (bytes.length > 0) {
      const malloc = this.exports.malloc ?? this.exports.proxy_on_memory_allocate;
      ptr = malloc(bytes.length) >>> 0;
      if (ptr === 0 || !this.writeBytes(ptr, bytes)) return WasmResult.InvalidMemoryAccess;
    }
    if (!this.writeU32(ptrPtr, ptr) || !this.writeU32(sizePtr, bytes.length)) return WasmResult.InvalidMemoryAccess;
    return WasmResult.Ok;
  }

  // ---------------------------------------------------------------- contexts

  /** `contextOrEffectiveContext()`. */
  private context(): Ctx | undefined {
    return this.contexts.get(this.effectiveContextId || this.currentContextId);
  }

  private rootOf(ctx: Ctx | undefined): RootContext | undefined {
    if (!ctx) return this.activeRoot ?? undefined;
    return ctx.kind === "root" ? ctx : ctx.root;
  }

  // ---------------------------------------------------------------- imports

  private buildImports(): WebAssembly.Imports {
    const env: Record<string, HostFunction> = {};
    const impl = this.proxyFunctions();
    for (const name of [...PROXY_HOST_FUNCTIONS, ...PROXY_HOST_FUNCTIONS_0_2_1]) {
      env[`proxy_${name}`] = this.guard("env", `proxy_${name}`, impl[name] ?? (() => WasmResult.Unimplemented));
    }
    env.pthread_equal = this.guard("env", "pthread_equal", (a: number, b: number) => (a === b ? 1 : 0));
    env.emscripten_notify_memory_growth = this.guard("env", "emscripten_notify_memory_growth", () => undefined);
    void ENV_EXTRA_FUNCTIONS;
    const imports: WebAssembly.Imports = { env: env as any };
    const wasi = this.wasiFunctions();
    for (const module of WASI_MODULES) {
      const fns: Record<string, HostFunction> = {};
      for (const name of WASI_FUNCTIONS) {
        const stub = () => WASI_STUB_RESULTS[name] ?? WASI_ERRNO.NOTSUP;
        fns[name] = this.guard(module, name, wasi[name] ?? stub);
      }
      imports[module] = fns as any;
    }
    return imports;
  }

  /** Wrap a host function: trap when called during `_start` unless allowed (§2.4). */
  private guard(module: string, name: string, fn: HostFunction): HostFunction {
    return (...args: unknown[]) => {
      if (this.restricted && !allowedDuringStart(module, name)) {
        this.host.log(this.label, 4, `Attempted call to restricted capability during _start: ${module}.${name}`);
        throw new HostTrap(`restricted_callback: ${module}.${name} called during _start`);
      }
      this.host.countHostCall(`${module}.${name}`);
      return fn(...args);
    };
  }

  private wasiFunctions(): Record<string, HostFunction> {
    return {
      fd_write: (fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) => {
        if (fd !== 1 && fd !== 2) return WASI_ERRNO.BADF;
        const parts: Uint8Array[] = [];
        for (let i = 0; i < u32(iovsLen); i++) {
          const iov = this.read(u32(iovs) + i * 8, 8);
          if (!iov) return WASI_ERRNO.EFAULT;
          const view = new DataView(iov.buffer);
          const buf = this.read(view.getUint32(0, true), view.getUint32(4, true));
          if (!buf) return WASI_ERRNO.EFAULT;
          parts.push(buf);
        }
        let text = parts.map((p) => toText(p)).join("");
        const written = parts.reduce((n, p) => n + p.length, 0);
        if (written > 0) {
          if (text.endsWith("\n")) text = text.slice(0, -1);
          this.host.log(this.label, fd === 1 ? 2 : 4, text);
        }
        return this.writeU32(u32(nwrittenPtr), written) ? 0 : WASI_ERRNO.EFAULT;
      },
      fd_fdstat_get: (fd: number, statPtr: number) => {
        if (fd !== 1 && fd !== 2) return WASI_ERRNO.BADF;
        const stat = new Uint8Array(24);
        stat[8] = 64; // fs_rights_base = __WASI_RIGHTS_FD_WRITE
        return this.writeBytes(u32(statPtr), stat) ? 0 : WASI_ERRNO.EFAULT;
      },
      environ_sizes_get: (countPtr: number, sizePtr: number) => {
        const env = this.environ();
        const size = env.reduce((n, e) => n + e.length + 1, 0);
        return this.writeU32(u32(countPtr), env.length) && this.writeU32(u32(sizePtr), size) ? 0 : WASI_ERRNO.EFAULT;
      },
      environ_get: (arrayPtr: number, bufPtr: number) => {
        let offset = u32(bufPtr);
        let slot = u32(arrayPtr);
        for (const entry of this.environ()) {
          if (!this.writeU32(slot, offset) || !this.writeBytes(offset, entry) || !this.writeBytes(offset + entry.length, new Uint8Array(1))) {
            return WASI_ERRNO.EFAULT;
          }
          slot += 4;
          offset += entry.length + 1;
        }
        return 0;
      },
      args_sizes_get: (argcPtr: number, sizePtr: number) => (this.writeU32(u32(argcPtr), 0) && this.writeU32(u32(sizePtr), 0) ? 0 : WASI_ERRNO.EFAULT),
      args_get: () => 0,
      clock_time_get: (clockId: number, _precision: bigint, resultPtr: number) => {
        if (clockId !== 0 && clockId !== 1) return WASI_ERRNO.NOTSUP;
        const now = clockId === 0 ? this.host.nowNs() : this.host.monotonicNs();
        return this.writeU64(u32(resultPtr), now) ? 0 : WASI_ERRNO.EFAULT;
      },
      clock_res_get: (clockId: number, resultPtr: number) => {
        if (clockId !== 0 && clockId !== 1) return WASI_ERRNO.NOTSUP;
        return this.writeU64(u32(resultPtr), 1n) ? 0 : WASI_ERRNO.EFAULT;
      },
      random_get: (ptr: number, len: number) => {
        if (u32(len) > RANDOM_GET_MAX_BYTES) return WASI_ERRNO.INVAL;
        if (u32(len) === 0) return 0;
        const bytes = new Uint8Array(u32(len));
        crypto.getRandomValues(bytes);
        return this.writeBytes(u32(ptr), bytes) ? 0 : WASI_ERRNO.EFAULT;
      },
      poll_oneoff: (_in: number, _out: number, _n: number, neventsPtr: number) => (this.writeU32(u32(neventsPtr), 0) ? 0 : WASI_ERRNO.EFAULT),
      proc_exit: (code: number) => {
        // Envoy only logs it; the module then runs on to its own `unreachable`.
        this.host.recordProcExit(this.label, code);
        this.host.log(this.label, 4, "wasi_unstable proc_exit");
      },
      fd_seek: () => {
        this.host.log(this.label, 4, "wasi_unstable fd_seek");
        return 0;
      },
      fd_close: () => {
        this.host.log(this.label, 4, "wasi_unstable fd_close");
        return 0;
      },
    };
  }

  private environ(): Uint8Array[] {
    return Object.entries(this.host.options.environment).map(([k, v]) => toBytes(`${k}=${v}`));
  }

  // ---------------------------------------------------------------- proxy_* host functions

  private headerMap(type: number): HeaderMapRef | null {
    if (type === MapType.HttpCallResponseHeaders || type === MapType.HttpCallResponseTrailers) {
      if (!this.callResponse) return null;
      return { pairs: type === MapType.HttpCallResponseHeaders ? this.callResponse.headers : this.callResponse.trailers, writable: true };
    }
    const ctx = this.context();
    if (!ctx || ctx.kind === "root") return null;
    return ctx.headerMap(type);
  }

  private buffer(type: number): BufferRef | null {
    const ctx = this.context();
    const root = this.rootOf(ctx);
    const fixed = (bytes: Uint8Array | null): BufferRef | null => (bytes === null ? null : { bytes: () => bytes, replace: () => undefined });
    switch (type) {
      case BufferType.VmConfiguration:
        return fixed(this.host.options.vmConfig);
      case BufferType.PluginConfiguration:
        return fixed(root ? root.config : null);
      case BufferType.HttpCallResponseBody: {
        const response = this.callResponse;
        return response ? { bytes: () => response.body, replace: (b) => (response.body = b) } : null;
      }
      case BufferType.CallData:
        return fixed(this.foreignArgs);
      case BufferType.HttpRequestBody:
      case BufferType.HttpResponseBody:
        return ctx && ctx.kind === "stream" ? ctx.bodyBuffer(type) : null;
      default:
        return null;
    }
  }

  private proxyFunctions(): Record<string, HostFunction> {
    return {
      log: (level: number, ptr: number, len: number) => {
        const msg = this.readString(u32(ptr), u32(len));
        if (msg === null) return WasmResult.InvalidMemoryAccess;
        if (level > 5) return WasmResult.BadArgument;
        this.host.log(this.label, level, msg);
        return WasmResult.Ok;
      },
      get_log_level: (retPtr: number) => (this.writeU32(u32(retPtr), this.host.logLevel()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess),
      get_status: (codePtr: number, msgPtrPtr: number, msgSizePtr: number) => {
        if (!this.writeU32(u32(codePtr), this.status.code)) return WasmResult.InvalidMemoryAccess;
        return this.copyOut(toBytes(this.status.message), u32(msgPtrPtr), u32(msgSizePtr));
      },
      done: () => {
        const root = this.rootOf(this.context());
        if (root?.state !== "pending_done") return WasmResult.NotFound;
        // Deferred so on_delete does not run inside the proxy_done call.
        this.afterCallActions.push(() => this.deleteRoot(root));
        return WasmResult.Ok;
      },
      set_effective_context: (id: number) => {
        const ctx = this.contexts.get(u32(id));
        if (!ctx || (ctx.kind === "stream" && ctx.destroyed)) return WasmResult.BadArgument;
        this.effectiveContextId = u32(id);
        return WasmResult.Ok;
      },
      get_current_time_nanoseconds: (retPtr: number) => (this.writeU64(u32(retPtr), this.host.nowNs()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess),
      set_tick_period_milliseconds: (ms: number) => {
        const root = this.rootOf(this.context());
        if (!root) return WasmResult.BadArgument;
        root.tickPeriodMs = u32(ms);
        root.nextTickAtMs = this.host.nowMs() + u32(ms);
        return WasmResult.Ok;
      },
      get_buffer_status: (type: number, lenPtr: number, flagsPtr: number) => {
        if (type > BufferType.CallData) return WasmResult.BadArgument;
        const buf = this.buffer(type);
        if (!buf) return WasmResult.NotFound;
        return this.writeU32(u32(lenPtr), buf.bytes().length) && this.writeU32(u32(flagsPtr), 0) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      get_buffer_bytes: (type: number, start: number, length: number, ptrPtr: number, sizePtr: number) => {
        if (type > BufferType.CallData) return WasmResult.BadArgument;
        const buf = this.buffer(type);
        if (!buf) return WasmResult.NotFound;
        const bytes = buf.bytes();
        const from = u32(start);
        let len = u32(length);
        if (from > bytes.length) len = 0;
        else if (from + len > bytes.length) len = bytes.length - from;
        return this.copyOut(bytes.subarray(from, from + len), u32(ptrPtr), u32(sizePtr));
      },
      set_buffer_bytes: (type: number, start: number, length: number, dataPtr: number, dataSize: number) => {
        if (type > BufferType.CallData) return WasmResult.BadArgument;
        const buf = this.buffer(type);
        if (!buf) return WasmResult.NotFound;
        const data = this.read(u32(dataPtr), u32(dataSize));
        if (!data) return WasmResult.InvalidMemoryAccess;
        // Envoy `Buffer::copyFrom`: prepend (0,0), replace all (0, ≥size) or append (start ≥ size).
        const current = buf.bytes();
        const from = u32(start);
        const len = u32(length);
        if (from === 0 && len === 0) buf.replace(concat(data, current));
        else if (from === 0 && len >= current.length) buf.replace(data.slice());
        else if (from >= current.length) buf.replace(concat(current, data));
        else return WasmResult.BadArgument;
        return WasmResult.Ok;
      },
      get_header_map_size: (type: number, retPtr: number) => {
        const map = this.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        return this.writeU32(u32(retPtr), headerByteSize(map.pairs)) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      get_header_map_pairs: (type: number, ptrPtr: number, sizePtr: number) => {
        const map = this.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        const encoded = encodePairs(map.pairs);
        if (encoded.length > PAIRS_MAX_BYTES) return WasmResult.BadArgument;
        return this.copyOut(encoded, u32(ptrPtr), u32(sizePtr));
      },
      set_header_map_pairs: (type: number, ptr: number, size: number) => {
        const map = this.headerMap(type);
        if (!map?.writable) return WasmResult.BadArgument;
        const bytes = this.read(u32(ptr), u32(size));
        if (!bytes) return WasmResult.InvalidMemoryAccess;
        const pairs = decodePairs(bytes) ?? [];
        map.pairs.length = 0;
        for (const [k, v] of pairs) map.pairs.push([k.toLowerCase(), v]);
        return WasmResult.Ok;
      },
      get_header_map_value: (type: number, kPtr: number, kSize: number, ptrPtr: number, sizePtr: number) => {
        const key = this.readString(u32(kPtr), u32(kSize));
        if (key === null) return WasmResult.InvalidMemoryAccess;
        const map = this.headerMap(type);
        if (!map) return WasmResult.BadArgument;
        // Envoy returns only the first value of a repeated header.
        const hit = map.pairs.find(([k]) => k === key.toLowerCase());
        if (!hit) return WasmResult.NotFound;
        return this.copyOut(toBytes(hit[1]), u32(ptrPtr), u32(sizePtr));
      },
      add_header_map_value: (type: number, kPtr: number, kSize: number, vPtr: number, vSize: number) => {
        const key = this.readString(u32(kPtr), u32(kSize));
        const value = this.readString(u32(vPtr), u32(vSize));
        if (key === null || value === null) return WasmResult.InvalidMemoryAccess;
        const map = this.headerMap(type);
        if (!map?.writable) return WasmResult.BadArgument;
        map.pairs.push([key.toLowerCase(), value]);
        this.host.countHeaderMutation(this.context(), type);
        return WasmResult.Ok;
      },
      replace_header_map_value: (type: number, kPtr: number, kSize: number, vPtr: number, vSize: number) => {
        const key = this.readString(u32(kPtr), u32(kSize));
        const value = this.readString(u32(vPtr), u32(vSize));
        if (key === null || value === null) return WasmResult.InvalidMemoryAccess;
        const map = this.headerMap(type);
        if (!map?.writable) return WasmResult.BadArgument;
        // setCopy: replace the first occurrence, drop the rest, add when missing.
        const lower = key.toLowerCase();
        const first = map.pairs.findIndex(([k]) => k === lower);
        if (first < 0) map.pairs.push([lower, value]);
        else {
          map.pairs[first] = [lower, value];
          for (let i = map.pairs.length - 1; i > first; i--) if (map.pairs[i][0] === lower) map.pairs.splice(i, 1);
        }
        this.host.countHeaderMutation(this.context(), type);
        return WasmResult.Ok;
      },
      remove_header_map_value: (type: number, kPtr: number, kSize: number) => {
        const key = this.readString(u32(kPtr), u32(kSize));
        if (key === null) return WasmResult.InvalidMemoryAccess;
        const map = this.headerMap(type);
        if (!map?.writable) return WasmResult.BadArgument;
        const lower = key.toLowerCase();
        for (let i = map.pairs.length - 1; i >= 0; i--) if (map.pairs[i][0] === lower) map.pairs.splice(i, 1);
        this.host.countHeaderMutation(this.context(), type);
        return WasmResult.Ok;
      },
      continue_stream: (type: number) => {
        const ctx = this.context();
        if (!ctx || ctx.kind === "root") return WasmResult.NotFound;
        if (type > 1) return type === 3 ? WasmResult.Unimplemented : WasmResult.BadArgument;
        this.afterCallActions.push(() => ctx.resume(type === 0 ? "request" : "response"));
        return WasmResult.Ok;
      },
      close_stream: (type: number) => {
        const ctx = this.context();
        if (!ctx || ctx.kind === "root") return WasmResult.NotFound;
        if (type > 1) return WasmResult.BadArgument;
        this.afterCallActions.push(() => ctx.closeFromPlugin());
        return WasmResult.Ok;
      },
      send_local_response: (
        status: number,
        detailsPtr: number,
        detailsSize: number,
        bodyPtr: number,
        bodySize: number,
        headersPtr: number,
        headersSize: number,
        grpcStatus: number,
      ) => {
        const details = this.readString(u32(detailsPtr), u32(detailsSize));
        const body = this.read(u32(bodyPtr), u32(bodySize));
        const headerBytes = this.read(u32(headersPtr), u32(headersSize));
        if (details === null || !body || !headerBytes) return WasmResult.InvalidMemoryAccess;
        const ctx = this.context();
        if (!ctx || ctx.kind === "root") return WasmResult.BadArgument;
        const headers = (decodePairs(headerBytes) ?? []).map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
        this.stopNextIteration = true;
        const reply = { status: u32(status), headers, body, details, grpcStatus: grpcStatus | 0 };
        this.afterCallActions.push(() => ctx.sendLocalReply(reply));
        return WasmResult.Ok;
      },
      http_call: (
        upPtr: number,
        upSize: number,
        hPtr: number,
        hSize: number,
        bPtr: number,
        bSize: number,
        tPtr: number,
        tSize: number,
        timeoutMs: number,
        tokenPtr: number,
      ) => {
        const cluster = this.readString(u32(upPtr), u32(upSize));
        const headerBytes = this.read(u32(hPtr), u32(hSize));
        const body = this.read(u32(bPtr), u32(bSize));
        const trailerBytes = this.read(u32(tPtr), u32(tSize));
        if (cluster === null || !headerBytes || !body || !trailerBytes) return WasmResult.InvalidMemoryAccess;
        if (!this.writeU32(u32(tokenPtr), 0)) return WasmResult.InvalidMemoryAccess;
        const root = this.rootOf(this.context());
        if (!root) return WasmResult.BadArgument;
        const headers = (decodePairs(headerBytes) ?? []).map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
        const trailers = decodePairs(trailerBytes) ?? [];
        const result = this.host.startHttpCall(this, root, { cluster, headers, body, trailers, timeoutMs: u32(timeoutMs) });
        if (typeof result !== "object") return result;
        this.writeU32(u32(tokenPtr), result.token);
        return WasmResult.Ok;
      },
      grpc_call: () => WasmResult.Unimplemented,
      grpc_stream: () => WasmResult.Unimplemented,
      grpc_send: () => WasmResult.Unimplemented,
      grpc_cancel: () => WasmResult.NotFound,
      grpc_close: () => WasmResult.NotFound,
      get_shared_data: (kPtr: number, kSize: number, vPtrPtr: number, vSizePtr: number, casPtr: number) => {
        const key = this.readString(u32(kPtr), u32(kSize));
        if (key === null) return WasmResult.InvalidMemoryAccess;
        const entry = this.host.shared.get(this.host.options.vmId, key);
        let result: number = WasmResult.NotFound;
        if (entry) {
          result = this.copyOut(entry.value, u32(vPtrPtr), u32(vSizePtr));
          if (result !== WasmResult.Ok) return result;
          if (!this.writeU32(u32(casPtr), entry.cas)) return WasmResult.InvalidMemoryAccess;
        }
        this.afterSharedDataGet(key, entry);
        return result;
      },
      set_shared_data: (kPtr: number, kSize: number, vPtr: number, vSize: number, cas: number) => {
        const key = this.readString(u32(kPtr), u32(kSize));
        const value = this.read(u32(vPtr), u32(vSize));
        if (key === null || !value) return WasmResult.InvalidMemoryAccess;
        const vmId = this.host.options.vmId;
        const result = this.host.shared.set(vmId, key, value, u32(cas));
        this.host.shared.vmDidSet({ vmId, key, vm: this.label, cas: u32(cas), result });
        return result;
      },
      register_shared_queue: (nPtr: number, nSize: number, tokenPtr: number) => {
        const name = this.readString(u32(nPtr), u32(nSize));
        if (name === null) return WasmResult.InvalidMemoryAccess;
        const root = this.rootOf(this.context());
        if (!root) return WasmResult.BadArgument;
        const token = this.host.shared.registerQueue(this.host.options.vmId, name, {
          notify: (t) =>
            this.host.post(() => {
              if (root.state === "active") this.invokeRoot("proxy_on_queue_ready", root, root.id, t);
            }),
        });
        return this.writeU32(u32(tokenPtr), token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      resolve_shared_queue: (vPtr: number, vSize: number, nPtr: number, nSize: number, tokenPtr: number) => {
        const vmId = this.readString(u32(vPtr), u32(vSize));
        const name = this.readString(u32(nPtr), u32(nSize));
        if (vmId === null || name === null) return WasmResult.InvalidMemoryAccess;
        const token = this.host.shared.resolveQueue(vmId, name);
        if (token === undefined) return WasmResult.NotFound;
        return this.writeU32(u32(tokenPtr), token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      enqueue_shared_queue: (token: number, vPtr: number, vSize: number) => {
        const value = this.read(u32(vPtr), u32(vSize));
        if (!value) return WasmResult.InvalidMemoryAccess;
        return this.host.shared.enqueue(u32(token), value);
      },
      dequeue_shared_queue: (token: number, ptrPtr: number, sizePtr: number) => {
        const item = this.host.shared.dequeue(u32(token));
        if (typeof item === "number") return item;
        return this.copyOut(item, u32(ptrPtr), u32(sizePtr));
      },
      define_metric: (type: number, nPtr: number, nSize: number, idPtr: number) => {
        const name = this.readString(u32(nPtr), u32(nSize));
        if (name === null) return WasmResult.InvalidMemoryAccess;
        const { result, id } = this.host.metrics.define(u32(type), name);
        if (result !== WasmResult.Ok) return result;
        return this.writeU32(u32(idPtr), id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      increment_metric: (id: number, delta: bigint) => this.host.metrics.increment(u32(id), BigInt(delta)),
      record_metric: (id: number, value: bigint) => this.host.metrics.record(u32(id), BigInt.asUintN(64, BigInt(value))),
      get_metric: (id: number, retPtr: number) => {
        const value = this.host.metrics.get(u32(id));
        if (typeof value === "number") return value;
        return this.writeU64(u32(retPtr), value) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      },
      get_property: (pPtr: number, pSize: number, ptrPtr: number, sizePtr: number) => {
        const path = this.readString(u32(pPtr), u32(pSize));
        if (path === null) return WasmResult.InvalidMemoryAccess;
        const value = this.getProperty(path);
        if (value === undefined) return WasmResult.NotFound;
        return this.copyOut(value, u32(ptrPtr), u32(sizePtr));
      },
      set_property: (pPtr: number, pSize: number, vPtr: number, vSize: number) => {
        const path = this.readString(u32(pPtr), u32(pSize));
        const value = this.read(u32(vPtr), u32(vSize));
        if (path === null || !value) return WasmResult.InvalidMemoryAccess;
        const ctx = this.context();
        if (!ctx || ctx.kind === "root") return WasmResult.NotFound;
        ctx.filterStateMap.set(path, value);
        return WasmResult.Ok;
      },
      call_foreign_function: (nPtr: number, nSize: number, aPtr: number, aSize: number, rPtrPtr: number, rSizePtr: number) => {
        const name = this.readString(u32(nPtr), u32(nSize));
        const args = this.read(u32(aPtr), u32(aSize));
        if (name === null || !args) return WasmResult.InvalidMemoryAccess;
        const fn = this.host.options.foreignFunctions[name];
        if (!fn) return WasmResult.NotFound;
        const out = fn(args);
        if (typeof out === "number") return out;
        return this.copyOut(out, u32(rPtrPtr), u32(rSizePtr));
      },
    };
  }

  /**
   * `Context::getProperty`: a single-segment path first looks at filter state set by
   * `proxy_set_property` (`wasm.<name>`), then the property tree (stream over global).
   */
  private getProperty(path: string): Uint8Array | undefined {
    const ctx = this.context();
    if (ctx && ctx.kind === "stream" && ctx.filterStateMap.has(path)) return ctx.filterStateMap.get(path);
    const tree: PropertyTree = ctx && ctx.kind === "stream" ? ctx.propertyTree() : this.host.globalProperties();
    const value = lookup(tree, splitPath(path));
    return value === undefined ? undefined : encodeProperty(value);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Errors that mean "the VM trapped" (as opposed to a bug in this host). */
export function isTrap(error: unknown): boolean {
  return error instanceof WebAssembly.RuntimeError || error instanceof HostTrap || (error instanceof RangeError && /call stack/i.test(error.message));
}

export { LOG_LEVEL_NAMES };
