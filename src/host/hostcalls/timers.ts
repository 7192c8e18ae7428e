/**
 * Host functions for time, the tick timer and HTTP callouts. gRPC calls are
 * not emulated: starting one answers Unimplemented, cancelling or closing one
 * NotFound.
 */
import { WasmResult, decodePairs } from "../abi.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export function timerAndCalloutFunctions(vm: Guest): HostFunctions {
  return {
    get_current_time_nanoseconds: (retPtr: number) => (vm.mem.writeU64(u32(retPtr), vm.host.nowNs()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess),
    set_tick_period_milliseconds: (ms: number) => {
      const root = vm.rootOf(vm.context());
      if (!root) return WasmResult.BadArgument;
      root.tickPeriodMs = u32(ms);
      root.nextTickAtMs = vm.host.nowMs() + u32(ms);
      return WasmResult.Ok;
    },
    http_call: (
      upPtr: number,
      upSize: number,
      hPtr: number,
      hSize: number,
      bPtr: number,
      bSize: number,
      tPtr: number,
      tSize: number,
      timeoutMs: number,
      tokenPtr: number,
    ) => {
      const cluster = vm.mem.readString(u32(upPtr), u32(upSize));
      const headerBytes = vm.mem.read(u32(hPtr), u32(hSize));
      const body = vm.mem.read(u32(bPtr), u32(bSize));
      const trailerBytes = vm.mem.read(u32(tPtr), u32(tSize));
      if (cluster === null || !headerBytes || !body || !trailerBytes) return WasmResult.InvalidMemoryAccess;
      if (!vm.mem.writeU32(u32(tokenPtr), 0)) return WasmResult.InvalidMemoryAccess;
      const root = vm.rootOf(vm.context());
      if (!root) return WasmResult.BadArgument;
      const headers = (decodePairs(headerBytes) ?? []).map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
      const trailers = decodePairs(trailerBytes) ?? [];
      const result = vm.host.startHttpCall(vm, root, { cluster, headers, body, trailers, timeoutMs: u32(timeoutMs) });
      if (typeof result !== "object") return result;
      vm.mem.writeU32(u32(tokenPtr), result.token);
      return WasmResult.Ok;
    },
    grpc_call: () => WasmResult.Unimplemented,
    grpc_stream: () => WasmResult.Unimplemented,
    grpc_send: () => WasmResult.Unimplemented,
    grpc_cancel: () => WasmResult.NotFound,
    grpc_close: () => WasmResult.NotFound,
  };
}
