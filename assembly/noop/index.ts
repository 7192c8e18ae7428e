// The smallest body-buffering filter, for bench:overhead's `wasm-noop`
// configuration: what running any AssemblyScript filter in Envoy's V8 costs
// before llm-picker does any work. Per request it holds the headers, lets
// Envoy buffer the body, copies the body into the VM once at end of stream
// (as the picker does), and sets one fixed request header. No parsing, no
// shared data, no stats. Built by `npm run asbuild:noop` into build/noop.wasm.
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
export function proxy_on_configure(rootId: u32, configSize: u32): u32 {
  return 1;
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
