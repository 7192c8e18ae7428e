// The proxy-wasm ABI 0.2.1 exports. We write these ourselves instead of
// re-exporting the SDK's (assembly/exports.ts in @gcoredev/proxy-wasm-sdk-as)
// because the SDK's dispatch traps: `getBaseContext` does `Map.get` on a map
// of stream contexts only, so Envoy's `proxy_on_done`/`proxy_on_delete` for a
// root context (sent whenever a plugin config is retired, e.g. by an ECDS
// update) aborts the VM, and it keeps a single root context per VM. Here every lookup is checked and an
// unknown context id is ignored. Every export brackets its work with
// gc.ts `enter`/`leave`: collections run only between callbacks.
import { CONTINUE } from "./host";
import { COLLECT_EVERY, enter, leave } from "./gc";
import { RootContext } from "./root";
import { StreamContext } from "./stream";

const roots = new Map<u32, RootContext>();
const streams = new Map<u32, StreamContext>();

/** Marker export: Envoy refuses a module without it. */
export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(id: u32, parentId: u32): void {
  enter();
  if (parentId == 0) roots.set(id, new RootContext(id));
  else if (roots.has(parentId)) streams.set(id, new StreamContext(id, roots.get(parentId)));
  leave(0);
}

export function proxy_on_vm_start(rootId: u32, vmConfigSize: u32): u32 {
  return 1;
}

export function proxy_on_configure(rootId: u32, configSize: u32): u32 {
  enter();
  const ok = roots.has(rootId) && roots.get(rootId).onConfigure(configSize);
  // A configuration's parse leaves much garbage and happens rarely: collect after it.
  leave(COLLECT_EVERY);
  return ok ? 1 : 0;
}

export function proxy_on_tick(rootId: u32): void {
  enter();
  if (roots.has(rootId)) roots.get(rootId).onTick();
  leave(1);
}

export function proxy_on_http_call_response(rootId: u32, token: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
  enter();
  if (roots.has(rootId)) roots.get(rootId).onHttpCallResponse(token, numHeaders, bodySize);
  leave(1);
}

export function proxy_on_queue_ready(rootId: u32, queueId: u32): void {}

export function proxy_on_request_headers(id: u32, numHeaders: u32, endOfStream: u32): u32 {
  enter();
  const r = streams.has(id) ? streams.get(id).onRequestHeaders(endOfStream != 0) : CONTINUE;
  leave(0);
  return r;
}

export function proxy_on_request_body(id: u32, bodySize: u32, endOfStream: u32): u32 {
  enter();
  const r = streams.has(id) ? streams.get(id).onRequestBody(bodySize, endOfStream != 0) : CONTINUE;
  leave(0);
  return r;
}

export function proxy_on_request_trailers(id: u32, numTrailers: u32): u32 {
  enter();
  const r = streams.has(id) ? streams.get(id).onRequestTrailers() : CONTINUE;
  leave(0);
  return r;
}

export function proxy_on_response_headers(id: u32, numHeaders: u32, endOfStream: u32): u32 {
  enter();
  const r = streams.has(id) ? streams.get(id).onResponseHeaders(endOfStream != 0) : CONTINUE;
  leave(0);
  return r;
}

export function proxy_on_response_body(id: u32, bodySize: u32, endOfStream: u32): u32 {
  enter();
  const r = streams.has(id) ? streams.get(id).onResponseBody(bodySize, endOfStream != 0) : CONTINUE;
  leave(0);
  return r;
}

export function proxy_on_log(id: u32): void {
  enter();
  if (streams.has(id)) streams.get(id).onLog();
  leave(0);
}

export function proxy_on_done(id: u32): u32 {
  enter();
  if (streams.has(id)) streams.get(id).onDone();
  else if (roots.has(id)) roots.get(id).onDone();
  leave(1);
  return 1;
}

export function proxy_on_delete(id: u32): void {
  enter();
  if (streams.has(id)) {
    streams.get(id).onDelete();
    streams.delete(id);
  } else if (roots.has(id)) {
    roots.delete(id);
  }
  leave(0);
}
