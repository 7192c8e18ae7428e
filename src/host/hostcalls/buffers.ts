/**
 * Host functions for buffers (request/response bodies, configurations,
 * callout response body, foreign-function arguments), and which buffer a
 * type names in the current context.
 */
import { BufferType, concatBytes, WasmResult } from "../abi.js";
import type { BufferRef } from "../contexts.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

/** `proxy_get_buffer_status`, `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`. */
export function bufferFunctions(vm: Guest): HostFunctions {
  return {
    get_buffer_status: (type: number, lenPtr: number, flagsPtr: number) => {
      if (type > BufferType.CallData) return WasmResult.BadArgument;
      const buf = bufferOf(vm, type);
      if (!buf) return WasmResult.NotFound;
      return vm.mem.writeU32(u32(lenPtr), buf.bytes().length) && vm.mem.writeU32(u32(flagsPtr), 0) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
    get_buffer_bytes: (type: number, start: number, length: number, ptrPtr: number, sizePtr: number) => {
      if (type > BufferType.CallData) return WasmResult.BadArgument;
      const buf = bufferOf(vm, type);
      if (!buf) return WasmResult.NotFound;
      const bytes = buf.bytes();
      const from = u32(start);
      let len = u32(length);
      if (from > bytes.length) len = 0;
      else if (from + len > bytes.length) len = bytes.length - from;
      return vm.mem.copyOut(bytes.subarray(from, from + len), u32(ptrPtr), u32(sizePtr));
    },
    set_buffer_bytes: (type: number, start: number, length: number, dataPtr: number, dataSize: number) => {
      if (type > BufferType.CallData) return WasmResult.BadArgument;
      const buf = bufferOf(vm, type);
      if (!buf) return WasmResult.NotFound;
      const data = vm.mem.read(u32(dataPtr), u32(dataSize));
      if (!data) return WasmResult.InvalidMemoryAccess;
      // Envoy `Buffer::copyFrom`: prepend (0,0), replace all (0, ≥size) or append (start ≥ size).
      const current = buf.bytes();
      const from = u32(start);
      const len = u32(length);
      if (from === 0 && len === 0) buf.replace(concatBytes([data, current]));
      else if (from === 0 && len >= current.length) buf.replace(data.slice());
      else if (from >= current.length) buf.replace(concatBytes([current, data]));
      else return WasmResult.BadArgument;
      return WasmResult.Ok;
    },
  };
}

/** The buffer `type` names in the current context, or null when there is none. */
function bufferOf(vm: Guest, type: number): BufferRef | null {
  const ctx = vm.context();
  const root = vm.rootOf(ctx);
  const fixed = (bytes: Uint8Array | null): BufferRef | null => (bytes === null ? null : { bytes: () => bytes, replace: () => undefined });
  switch (type) {
    case BufferType.VmConfiguration:
      return fixed(vm.host.options.vmConfig);
    case BufferType.PluginConfiguration:
      return fixed(root ? root.config : null);
    case BufferType.HttpCallResponseBody: {
      const response = vm.callResponse;
      return response ? { bytes: () => response.body, replace: (b) => (response.body = b) } : null;
    }
    case BufferType.CallData:
      return fixed(vm.foreignArgs);
    case BufferType.HttpRequestBody:
    case BufferType.HttpResponseBody:
      return ctx && ctx.kind === "stream" ? ctx.bodyBuffer(type) : null;
    default:
      return null;
  }
}
