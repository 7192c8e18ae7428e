/**
 * A Proxy-Wasm ABI 0.2.1 host emulating Envoy 1.40: `HostEmulator`
 * (emulator.ts) and `ProxyWasmHost.create` to build one, its HTTP streams, the
 * shared-data store and stats registry it inspects, and the ABI constants.
 */
export {
  DEFAULT_EPOCH_MS,
  formatLog,
  ProxyWasmHostError,
  type HostEmulator,
  type HttpCallRecord,
  type HttpCallResponse,
  type LogEntry,
  type ProxyWasmHostOptions,
  type SharedDataView,
} from "./emulator.js";
export { ProxyWasmHost, runRequest, type RunRequestOptions } from "./host.js";
export {
  HttpStream,
  type StreamEndKind,
  type StreamMode,
  type FailurePolicy,
  type LocalResponse,
  type ForwardedMessage,
  type PhaseState,
} from "./stream.js";
export {
  SharedDataStore,
  MetricsRegistry,
  type Metric,
  type SharedEntry,
  type SharedDataHooks,
  type SharedDataGetEvent,
  type SharedDataSetEvent,
} from "./shared.js";
export { Vm } from "./vm.js";
export { HostTrap } from "./trap.js";
export type { HttpCallRequest, RootContext, TrapRecord, VmLabel } from "./contexts.js";
export { checkModuleLinks, envoyImportNames, allowedDuringStart } from "./imports.js";
export * from "./abi.js";
export type { PropertyTree, PropertyValue } from "./properties.js";
