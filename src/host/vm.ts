/**
 * One Wasm VM as Envoy runs it on a worker thread (or the configuration canary):
 * the instance, its contexts, and the callbacks into it, with Envoy 1.40
 * semantics (the proxy-wasm C++ host and Envoy's wasm context). The host
 * functions it imports live in hostcalls/, one file per ABI area.
 */
import type { CallResponseData, Ctx, RootContext, VmLabel } from "./contexts.js";
import { hostImports } from "./hostcalls/index.js";
import { GuestMemory } from "./hostcalls/memory.js";
import type { Guest, HostInternals } from "./internals.js";
import { isTrap } from "./trap.js";

export { HostTrap, isTrap } from "./trap.js";

export type { BufferRef, CallResponseData, HeaderMapRef, RootContext, VmLabel } from "./contexts.js";

/** One instantiated VM. Created by `ProxyWasmHost`; tests reach it through the host. */
export class Vm implements Guest {
  readonly label: VmLabel;
  readonly host: HostInternals;
  readonly instance: WebAssembly.Instance;
  /** The VM's linear memory, as host functions read and write it. */
  readonly mem: GuestMemory;
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
  /** True while `_start` runs: only a few host functions may be called (see imports.ts). */
  restricted = false;
  /** True while a shared-data test hook runs for a get of this VM (re-entry guard). */
  private inSharedDataHook = false;
  private nextContextId = 1;
  private currentContextId = 0;
  private effectiveContextId = 0;

  constructor(host: HostInternals, module: WebAssembly.Module, label: VmLabel) {
    this.host = host;
    this.label = label;
    this.mem = new GuestMemory(() => this.exports);
    this.instance = new WebAssembly.Instance(module, hostImports(this));
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
  afterSharedDataGet(key: string, entry: { value: Uint8Array; cas: number } | undefined): void {
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

  deleteRoot(root: RootContext): void {
    root.state = "deleted";
    this.invokeRoot("proxy_on_delete", root, root.id);
    this.contexts.delete(root.id);
  }

  /** Root contexts that are still active. */
  roots(): RootContext[] {
    return [...this.contexts.values()].filter((c): c is RootContext => c.kind === "root" && c.state === "active");
  }

  // ---------------------------------------------------------------- memory

  /** Linear memory size in bytes. */
  memoryBytes(): number {
    return this.mem.size();
  }

  /** Copy `len` bytes at `ptr` out of the VM, or null when out of bounds. */
  read(ptr: number, len: number): Uint8Array | null {
    return this.mem.read(ptr, len);
  }

  // ---------------------------------------------------------------- contexts

  /** The current context, or the effective one (`contextOrEffectiveContext()`). */
  context(): Ctx | undefined {
    return this.contexts.get(this.effectiveContextId || this.currentContextId);
  }

  rootOf(ctx: Ctx | undefined): RootContext | undefined {
    if (!ctx) return this.activeRoot ?? undefined;
    return ctx.kind === "root" ? ctx : ctx.root;
  }

  setEffectiveContext(id: number): void {
    this.effectiveContextId = id;
  }
}
