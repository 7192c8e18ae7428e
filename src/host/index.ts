/**
 * Proxy-Wasm ABI 0.2.1 host emulating Envoy 1.40 (see host.ts for an overview).
 */
export {
  ProxyWasmHost,
  ProxyWasmHostError,
  runRequest,
  formatLog,
  DEFAULT_EPOCH_MS,
  type ProxyWasmHostOptions,
  type LogEntry,
  type HttpCallRecord,
  type HttpCallResponse,
  type SharedDataView,
  type RunRequestOptions,
} from "./host.js";
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
export { Vm, HostTrap, type VmLabel, type RootContext } from "./vm.js";
export type { TrapRecord, HttpCallRequest } from "./internals.js";
export { checkModuleLinks, envoyImportNames, allowedDuringStart } from "./imports.js";
export * from "./abi.js";
export type { PropertyTree, PropertyValue } from "./properties.js";
