/**
 * The contracts inside the emulator, kept off its public type
 * (`HostEmulator`): what a VM needs from the host that owns it
 * (`HostInternals`), and what the host functions and the host need from a VM
 * (`Guest`, implemented by `Vm`).
 */
import type { CallResponseData, Ctx, HttpCallRequest, ResolvedOptions, RootContext, TrapRecord, VmLabel } from "./contexts.js";
import type { GuestMemory } from "./hostcalls/memory.js";
import type { PropertyTree } from "./properties.js";
import type { MetricsRegistry, SharedDataStore } from "./shared.js";

export interface HostInternals {
  readonly options: ResolvedOptions;
  readonly shared: SharedDataStore;
  readonly metrics: MetricsRegistry;
  log(vm: VmLabel, level: number, message: string): void;
  logLevel(): number;
  recordTrap(trap: TrapRecord): void;
  recordProcExit(vm: VmLabel, code: number): void;
  countHostCall(name: string): void;
  countHeaderMutation(ctx: unknown, mapType: number): void;
  nowMs(): number;
  nowNs(): bigint;
  monotonicNs(): bigint;
  globalProperties(): PropertyTree;
  startHttpCall(vm: Guest, root: RootContext, request: HttpCallRequest): { token: number } | number;
  /** Queue work to run once the current driver call has finished (a dispatcher post). */
  post(task: () => void): void;
}

/** A VM as its host functions see it. */
export interface Guest {
  readonly label: VmLabel;
  readonly host: HostInternals;
  readonly mem: GuestMemory;
  /** Every context alive in this VM, by id. */
  readonly contexts: Map<number, Ctx>;
  /** True once a callback trapped. */
  readonly failed: boolean;
  /** Last status for `proxy_get_status`. */
  status: { code: number; message: string };
  /** Actions deferred until the VM call returns (`addAfterVmCallAction`). */
  afterCallActions: Array<() => void>;
  /** Set by `send_local_response`: the current callback's status becomes Stop. */
  stopNextIteration: boolean;
  /** Data of the HTTP call response being delivered, if any. */
  callResponse: CallResponseData | null;
  /** Foreign-function arguments being delivered (buffer type 8), if any. */
  foreignArgs: Uint8Array | null;
  /** The current context, or the effective one `proxy_set_effective_context` chose. */
  context(): Ctx | undefined;
  /** The root a context belongs to (the active root when there is no context). */
  rootOf(ctx: Ctx | undefined): RootContext | undefined;
  setEffectiveContext(id: number): void;
  /** on_delete for a root whose on_done returned false, once it called `proxy_done`. */
  deleteRoot(root: RootContext): void;
  invokeRoot(name: string, root: RootContext, ...args: Array<number | bigint>): number | undefined;
  /** Runs the shared-data test hook after a get this VM made. */
  afterSharedDataGet(key: string, entry: { value: Uint8Array; cas: number } | undefined): void;
}
