/**
 * Host functions that steer the HTTP stream: resume, close, and answer
 * locally. Their effects run after the callback returns, as Envoy defers
 * them.
 */
import { WasmResult, decodePairs } from "../abi.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export function streamFunctions(vm: Guest): HostFunctions {
  return {
    continue_stream: (type: number) => {
      const ctx = vm.context();
      if (!ctx || ctx.kind === "root") return WasmResult.NotFound;
      if (type > 1) return type === 3 ? WasmResult.Unimplemented : WasmResult.BadArgument;
      vm.afterCallActions.push(() => ctx.resume(type === 0 ? "request" : "response"));
      return WasmResult.Ok;
    },
    close_stream: (type: number) => {
      const ctx = vm.context();
      if (!ctx || ctx.kind === "root") return WasmResult.NotFound;
      if (type > 1) return WasmResult.BadArgument;
      vm.afterCallActions.push(() => ctx.closeFromPlugin());
      return WasmResult.Ok;
    },
    send_local_response: (
      status: number,
      detailsPtr: number,
      detailsSize: number,
      bodyPtr: number,
      bodySize: number,
      headersPtr: number,
      headersSize: number,
      grpcStatus: number,
    ) => {
      const details = vm.mem.readString(u32(detailsPtr), u32(detailsSize));
      const body = vm.mem.read(u32(bodyPtr), u32(bodySize));
      const headerBytes = vm.mem.read(u32(headersPtr), u32(headersSize));
      if (details === null || !body || !headerBytes) return WasmResult.InvalidMemoryAccess;
      const ctx = vm.context();
      if (!ctx || ctx.kind === "root") return WasmResult.BadArgument;
      const headers = (decodePairs(headerBytes) ?? []).map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
      vm.stopNextIteration = true;
      const reply = { status: u32(status), headers, body, details, grpcStatus: grpcStatus | 0 };
      vm.afterCallActions.push(() => ctx.sendLocalReply(reply));
      return WasmResult.Ok;
    },
  };
}
