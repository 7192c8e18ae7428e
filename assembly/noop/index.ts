// The smallest body-buffering filter, for bench:overhead's `wasm-noop`
// configuration: what running any AssemblyScript filter in Envoy's V8 costs
// before llm-picker does any work. Per request it holds the headers, lets
// Envoy buffer the body, copies the body into the VM once at end of stream
// (as the picker does), and sets one fixed request header. No parsing, no
// shared data, no stats. Built by `npm run asbuild:noop` into build/noop.wasm.
//
// With a plugin configuration it also scrapes, for bench:overhead's split
// of a scrape's cost: the configuration is a cluster name, an interval in
// ms and "ip:port" addresses, one per line; every interval it makes the
// same /metrics callout per address as the picker (same cluster, headers
// and timeout) and drops the answer unread. Envoy's own cost of a callout
// is then what this costs; what the picker adds over it (copying the page
// in, parsing, publishing) is the picker's.
import * as imports from "@gcoredev/proxy-wasm-sdk-as/assembly/imports";
import { free } from "@gcoredev/proxy-wasm-sdk-as/assembly/malloc";
export { malloc } from "@gcoredev/proxy-wasm-sdk-as/assembly/malloc";

const CONTINUE: u32 = 0;
const STOP: u32 = 1;
const REQUEST_HEADERS: u32 = 0;
const REQUEST_BODY: u32 = 0;

const RET_PTR: usize = memory.data(8);
const RET_SIZE: usize = memory.data(8);
const NAME = memory.data<u8>([0x78, 0x2d, 0x6e, 0x6f, 0x6f, 0x70]); // "x-noop"
const VALUE = memory.data<u8>([0x31]); // "1"

/** Body bytes seen, so the copy cannot be optimised away. */
let bytesSeen: u64 = 0;

export function proxy_abi_version_0_2_1(): void {}
export function proxy_on_context_create(id: u32, parentId: u32): void {}
export function proxy_on_vm_start(rootId: u32, vmConfigSize: u32): u32 {
  return 1;
}
const PLUGIN_CONFIGURATION: u32 = 7;
const CALLOUT_TIMEOUT_MS: u32 = 1000;
let cluster: ArrayBuffer = new ArrayBuffer(0);
/** One encoded header-pairs block per address (the callout's headers). */
const callouts = new Array<ArrayBuffer>();
const noTrailers = pairs([]);
/** Callouts answered (keeps the callback from being optimised away). */
let answered: u64 = 0;

export function proxy_on_configure(rootId: u32, configSize: u32): u32 {
  if (configSize == 0) return 1;
  store<usize>(RET_PTR, 0);
  store<usize>(RET_SIZE, 0);
  if (imports.proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, configSize, RET_PTR, RET_SIZE) != 0) return 1;
  const ptr = load<usize>(RET_PTR);
  if (ptr == 0) return 1;
  const lines = String.UTF8.decodeUnsafe(ptr, load<u32>(RET_SIZE)).split("\n");
  free(ptr);
  if (lines.length < 3) return 1;
  cluster = String.UTF8.encode(lines[0]);
  const intervalMs = <u32>I32.parseInt(lines[1]);
  for (let i = 2; i < lines.length; i++) {
    const a = lines[i];
    if (a.length == 0) continue;
    callouts.push(pairs([":method", "GET", ":path", "/metrics", ":authority", a, "x-gateway-destination-endpoint", a]));
  }
  imports.proxy_set_tick_period_milliseconds(intervalMs);
  return 1;
}

export function proxy_on_tick(rootId: u32): void {
  const token = memory.data(4);
  for (let i = 0; i < callouts.length; i++) {
    const h = unchecked(callouts[i]);
    imports.proxy_http_call(changetype<usize>(cluster), cluster.byteLength, changetype<usize>(h), h.byteLength, 0, 0, changetype<usize>(noTrailers), noTrailers.byteLength, CALLOUT_TIMEOUT_MS, token);
  }
}

export function proxy_on_http_call_response(rootId: u32, token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
  answered++;
}

/** proxy-wasm header pairs: count, (name size, value size) each, then the NUL-terminated bytes. */
function pairs(kv: Array<string>): ArrayBuffer {
  const n = kv.length / 2;
  const bytes = new Array<ArrayBuffer>(kv.length);
  let size = 4 + n * 8;
  for (let i = 0; i < kv.length; i++) {
    bytes[i] = String.UTF8.encode(kv[i]);
    size += bytes[i].byteLength + 1;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, n);
  let p = 4 + n * 8;
  for (let i = 0; i < kv.length; i++) {
    const b = bytes[i];
    store<u32>(base + 4 + i * 4, b.byteLength);
    memory.copy(base + p, changetype<usize>(b), b.byteLength);
    p += b.byteLength + 1; // the NUL (the buffer is zero-filled)
  }
  return out;
}
export function proxy_on_request_headers(id: u32, numHeaders: u32, endOfStream: u32): u32 {
  return endOfStream != 0 ? CONTINUE : STOP;
}
export function proxy_on_request_body(id: u32, bodySize: u32, endOfStream: u32): u32 {
  if (endOfStream == 0) return STOP; // keep buffering
  store<usize>(RET_PTR, 0);
  store<usize>(RET_SIZE, 0);
  if (imports.proxy_get_buffer_bytes(REQUEST_BODY, 0, bodySize, RET_PTR, RET_SIZE) == 0) {
    const ptr = load<usize>(RET_PTR);
    if (ptr != 0) {
      bytesSeen += <u64>load<u32>(RET_SIZE);
      free(ptr); // unpinned: the GC reclaims it
    }
  }
  imports.proxy_replace_header_map_value(REQUEST_HEADERS, NAME, 6, VALUE, 1);
  return CONTINUE;
}
export function proxy_on_request_trailers(id: u32, numTrailers: u32): u32 {
  return CONTINUE;
}
export function proxy_on_response_headers(id: u32, numHeaders: u32, endOfStream: u32): u32 {
  return CONTINUE;
}
export function proxy_on_log(id: u32): void {}
export function proxy_on_done(id: u32): u32 {
  return 1;
}
export function proxy_on_delete(id: u32): void {}
