/**
 * What a `Vm` and an `HttpStream` need from the host that owns them. Implemented
 * by `ProxyWasmHost`; kept as an interface so the pieces stay decoupled.
 */
import type { HeaderPairs } from "./abi.js";
import type { MetricsRegistry, SharedDataStore } from "./shared.js";
import type { PropertyTree } from "./properties.js";
import type { RootContext, Vm, VmLabel } from "./vm.js";

/** A trap recorded by the host. */
export interface TrapRecord {
  vm: VmLabel;
  /** The exported callback that was running, e.g. "proxy_on_request_body". */
  callback: string;
  message: string;
  error: Error;
}

/** What the guest asked for in `proxy_http_call`. */
export interface HttpCallRequest {
  cluster: string;
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
  timeoutMs: number;
}

/** Resolved host options (defaults applied). */
export interface ResolvedOptions {
  vmId: string;
  rootId: string;
  vmConfig: Uint8Array;
  environment: Record<string, string>;
  allowOnHeadersStopIteration: boolean;
  bufferLimitBytes: number;
  foreignFunctions: Record<string, (args: Uint8Array) => Uint8Array | number>;
}

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
  startHttpCall(vm: Vm, root: RootContext, request: HttpCallRequest): { token: number } | number;
  /** Queue work to run once the current driver call has finished (a dispatcher post). */
  post(task: () => void): void;
}
