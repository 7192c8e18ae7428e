/**
 * Tiny WAT guest modules for the host self-tests, compiled with `wabt` at test
 * time. `guest({...})` wraps callback bodies in a skeleton that has memory, a
 * bump `malloc`, the ABI marker, and the imports it names (signatures below).
 * Guests report through fixed memory slots (`u32(host, addr)`) and `proxy_log`.
 */
import wabtInit from "wabt";
import type { ProxyWasmHost } from "../../../src/host/index.js";

/** Import signatures: name → [module, params, result]. */
const SIGNATURES: Record<string, [string, string, string]> = {
  proxy_log: ["env", "i32 i32 i32", "i32"],
  proxy_get_log_level: ["env", "i32", "i32"],
  proxy_set_tick_period_milliseconds: ["env", "i32", "i32"],
  proxy_get_current_time_nanoseconds: ["env", "i32", "i32"],
  proxy_get_buffer_bytes: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_set_buffer_bytes: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_get_header_map_value: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_add_header_map_value: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_replace_header_map_value: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_remove_header_map_value: ["env", "i32 i32 i32", "i32"],
  proxy_get_header_map_size: ["env", "i32 i32", "i32"],
  proxy_get_header_map_pairs: ["env", "i32 i32 i32", "i32"],
  proxy_continue_stream: ["env", "i32", "i32"],
  proxy_send_local_response: ["env", "i32 i32 i32 i32 i32 i32 i32 i32", "i32"],
  proxy_http_call: ["env", "i32 i32 i32 i32 i32 i32 i32 i32 i32 i32", "i32"],
  proxy_get_status: ["env", "i32 i32 i32", "i32"],
  proxy_set_shared_data: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_get_shared_data: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_register_shared_queue: ["env", "i32 i32 i32", "i32"],
  proxy_resolve_shared_queue: ["env", "i32 i32 i32 i32 i32", "i32"],
  proxy_enqueue_shared_queue: ["env", "i32 i32 i32", "i32"],
  proxy_dequeue_shared_queue: ["env", "i32 i32 i32", "i32"],
  proxy_define_metric: ["env", "i32 i32 i32 i32", "i32"],
  proxy_increment_metric: ["env", "i32 i64", "i32"],
  proxy_record_metric: ["env", "i32 i64", "i32"],
  proxy_get_metric: ["env", "i32 i32", "i32"],
  proxy_get_property: ["env", "i32 i32 i32 i32", "i32"],
  proxy_set_property: ["env", "i32 i32 i32 i32", "i32"],
  proxy_set_effective_context: ["env", "i32", "i32"],
  proxy_done: ["env", "", "i32"],
  // ABI 0.1.0 only (must NOT link) and made-up names.
  proxy_get_configuration: ["env", "i32 i32", "i32"],
  proxy_continue_request: ["env", "", "i32"],
  proxy_clear_route_cache: ["env", "", "i32"],
  proxy_dictionary_get: ["env", "i32 i32 i32 i32", "i32"],
  fd_write: ["wasi_snapshot_preview1", "i32 i32 i32 i32", "i32"],
  proc_exit: ["wasi_snapshot_preview1", "i32", ""],
  clock_time_get: ["wasi_snapshot_preview1", "i32 i64 i32", "i32"],
  random_get: ["wasi_snapshot_preview1", "i32 i32", "i32"],
  fd_read: ["wasi_snapshot_preview1", "i32 i32 i32 i32", "i32"],
  environ_sizes_get: ["wasi_snapshot_preview1", "i32 i32", "i32"],
};

export interface GuestSpec {
  /** Imports by name (see SIGNATURES); each becomes `$name` in WAT. */
  imports?: string[];
  /** Data segments: address → string (bytes are written as \hh escapes; use "\0" for NUL). */
  data?: Record<number, string>;
  /** Function definitions (WAT), usually `(func (export "proxy_on_…") …)`. */
  funcs: string;
  /** Leave out the `proxy_abi_version_0_2_1` marker. */
  noAbiMarker?: boolean;
}

let wabtPromise: ReturnType<typeof wabtInit> | undefined;

function watString(s: string): string {
  return [...Buffer.from(s, "utf8")].map((b) => "\\" + b.toString(16).padStart(2, "0")).join("");
}

/** Compile a guest module. The heap for `malloc` starts at 64 KiB; slots live below. */
export async function guest(spec: GuestSpec): Promise<Uint8Array> {
  wabtPromise ??= wabtInit();
  const wabt = await wabtPromise;
  const imports = (spec.imports ?? []).map((name) => {
    const sig = SIGNATURES[name];
    if (!sig) throw new Error(`no signature for ${name}`);
    const [mod, params, result] = sig;
    return `(import "${mod}" "${name}" (func $${name} ${params ? `(param ${params})` : ""} ${result ? `(result ${result})` : ""}))`;
  });
  const data = Object.entries(spec.data ?? {}).map(([addr, s]) => `(data (i32.const ${addr}) "${watString(s)}")`);
  const source = `(module
    ${imports.join("\n")}
    (memory (export "memory") 4)
    (global $heap (mut i32) (i32.const 65536))
    (func (export "malloc") (param $n i32) (result i32) (local $p i32)
      global.get $heap local.set $p
      global.get $heap local.get $n i32.add global.set $heap
      local.get $p)
    ${spec.noAbiMarker ? "" : `(func (export "proxy_abi_version_0_2_1"))`}
    ${data.join("\n")}
    ${spec.funcs}
  )`;
  const module = wabt.parseWat("guest.wat", source);
  try {
    module.resolveNames();
    module.validate();
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

function memory(host: ProxyWasmHost, worker: number): ArrayBuffer {
  return (host.vms()[worker].instance.exports.memory as WebAssembly.Memory).buffer;
}

/** Read a u32 slot from a worker's guest memory. */
export function u32(host: ProxyWasmHost, addr: number, worker = 0): number {
  return new DataView(memory(host, worker)).getUint32(addr, true);
}

/** Read a u64 slot. */
export function u64(host: ProxyWasmHost, addr: number, worker = 0): bigint {
  return new DataView(memory(host, worker)).getBigUint64(addr, true);
}

/** Write a u32 slot (to steer a guest). */
export function setU32(host: ProxyWasmHost, addr: number, value: number, worker = 0): void {
  new DataView(memory(host, worker)).setUint32(addr, value >>> 0, true);
}

/** Write bytes into guest memory. */
export function setBytes(host: ProxyWasmHost, addr: number, value: string | Uint8Array, worker = 0): number {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  new Uint8Array(memory(host, worker)).set(bytes, addr);
  return bytes.length;
}

/** WAT: log the string at a constant address with `proxy_log` at info. */
export function logConst(addr: number, text: string): string {
  return `(drop (call $proxy_log (i32.const 2) (i32.const ${addr}) (i32.const ${Buffer.byteLength(text)})))`;
}

/** WAT: log the bytes whose pointer and size were written at `ptrSlot`/`ptrSlot+4`. */
export function logReturned(ptrSlot: number): string {
  return `(drop (call $proxy_log (i32.const 2) (i32.load (i32.const ${ptrSlot})) (i32.load (i32.const ${ptrSlot + 4}))))`;
}
