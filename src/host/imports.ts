/**
 * The exact import set Envoy 1.40 registers for a Proxy-Wasm 0.2.1 module
 * (cpp-host `src/wasm.cc` `WasmBase::registerCallbacks`, `include/proxy-wasm/exports.h`),
 * and the host calls allowed while `_start` runs (`WasmBase::startVm`,
 * `setRestrictedCallback`). Anything else fails to link, as in Envoy.
 */

/** `FOR_ALL_HOST_FUNCTIONS`: registered as `env.proxy_<name>` for every ABI version. */
export const PROXY_HOST_FUNCTIONS = [
  "log",
  "get_status",
  "set_property",
  "get_property",
  "send_local_response",
  "get_shared_data",
  "set_shared_data",
  "register_shared_queue",
  "resolve_shared_queue",
  "dequeue_shared_queue",
  "enqueue_shared_queue",
  "get_header_map_value",
  "add_header_map_value",
  "replace_header_map_value",
  "remove_header_map_value",
  "get_header_map_pairs",
  "set_header_map_pairs",
  "get_header_map_size",
  "get_buffer_status",
  "get_buffer_bytes",
  "set_buffer_bytes",
  "http_call",
  "grpc_call",
  "grpc_stream",
  "grpc_close",
  "grpc_cancel",
  "grpc_send",
  "set_tick_period_milliseconds",
  "get_current_time_nanoseconds",
  "define_metric",
  "increment_metric",
  "record_metric",
  "get_metric",
  "set_effective_context",
  "done",
  "call_foreign_function",
] as const;

/** Registered only for ABI 0.2.1 (0.1.0's get_configuration, continue_request,
 * continue_response and clear_route_cache are NOT registered: such a module fails to link). */
export const PROXY_HOST_FUNCTIONS_0_2_1 = ["continue_stream", "close_stream", "get_log_level"] as const;

/** Plain `env` helpers cpp-host registers for emscripten modules. */
export const ENV_EXTRA_FUNCTIONS = ["pthread_equal", "emscripten_notify_memory_growth"] as const;

/** `FOR_ALL_WASI_FUNCTIONS`, registered under both `wasi_unstable` and `wasi_snapshot_preview1`. */
export const WASI_FUNCTIONS = [
  "fd_write",
  "fd_read",
  "fd_seek",
  "fd_close",
  "fd_fdstat_get",
  "fd_fdstat_set_flags",
  "fd_fdstat_set_rights",
  "environ_get",
  "environ_sizes_get",
  "args_get",
  "args_sizes_get",
  "clock_time_get",
  "clock_res_get",
  "fd_advise",
  "fd_allocate",
  "fd_datasync",
  "fd_filestat_set_size",
  "fd_filestat_set_times",
  "fd_pread",
  "fd_pwrite",
  "fd_readdir",
  "fd_renumber",
  "fd_sync",
  "fd_tell",
  "path_create_directory",
  "path_filestat_set_times",
  "path_link",
  "path_readlink",
  "path_remove_directory",
  "path_rename",
  "path_symlink",
  "path_unlink_file",
  "sock_accept",
  "sock_recv",
  "sock_send",
  "sock_shutdown",
  "random_get",
  "sched_yield",
  "poll_oneoff",
  "proc_exit",
  "path_open",
  "fd_prestat_get",
  "fd_prestat_dir_name",
  "path_filestat_get",
  "fd_filestat_get",
] as const;

export const WASI_MODULES = ["wasi_unstable", "wasi_snapshot_preview1"] as const;

/** WASI functions NOT allowed during `_start` (every other WASI function is). */
const WASI_RESTRICTED_DURING_START = new Set(["fd_read", "fd_seek", "fd_close", "sched_yield", "proc_exit", "path_open"]);

/**
 * Is `module.name` callable while `_start`/`_initialize` runs? Any other host call
 * traps with "restricted_callback" and the VM fails to initialise
 * (docs/reference/envoy-proxy-wasm.md#_start-runs-restricted).
 */
export function allowedDuringStart(module: string, name: string): boolean {
  if (module === "env") return name === "proxy_log" || name === "emscripten_notify_memory_growth";
  return (WASI_MODULES as readonly string[]).includes(module) && !WASI_RESTRICTED_DURING_START.has(name);
}

/** Every `module.name` Envoy provides to a 0.2.1 module. */
export function envoyImportNames(): Set<string> {
  const names = new Set<string>();
  for (const f of PROXY_HOST_FUNCTIONS) names.add(`env.proxy_${f}`);
  for (const f of PROXY_HOST_FUNCTIONS_0_2_1) names.add(`env.proxy_${f}`);
  for (const f of ENV_EXTRA_FUNCTIONS) names.add(`env.${f}`);
  for (const m of WASI_MODULES) for (const f of WASI_FUNCTIONS) names.add(`${m}.${f}`);
  return names;
}

/**
 * Check a compiled module against Envoy's import set and ABI marker. Returns the
 * list of problems (empty when the module would link in Envoy 1.40).
 */
export function checkModuleLinks(module: WebAssembly.Module): string[] {
  const provided = envoyImportNames();
  const problems: string[] = [];
  for (const imp of WebAssembly.Module.imports(module)) {
    const name = `${imp.module}.${imp.name}`;
    if (imp.kind !== "function") {
      problems.push(`import ${name} (${imp.kind}) is not provided by Envoy: only functions are`);
    } else if (!provided.has(name)) {
      problems.push(`import ${name} is not provided by Envoy 1.40 for Proxy-Wasm ABI 0.2.1`);
    }
  }
  const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  if (!exports.has("proxy_abi_version_0_2_1")) {
    problems.push('missing export proxy_abi_version_0_2_1 (Envoy: "Missing or unknown Proxy-Wasm ABI version")');
  }
  if (!exports.has("malloc") && !exports.has("proxy_on_memory_allocate")) {
    problems.push("missing export malloc / proxy_on_memory_allocate (Envoy: FailState::MissingFunction)");
  }
  if (!exports.has("memory")) problems.push("missing exported memory");
  return problems;
}
