/**
 * Host functions for the plugin's stats (counters, gauges, histograms).
 */
import { WasmResult } from "../abi.js";
import type { Guest } from "../internals.js";
import { type HostFunctions, u32 } from "./memory.js";

export function metricFunctions(vm: Guest): HostFunctions {
  return {
    define_metric: (type: number, nPtr: number, nSize: number, idPtr: number) => {
      const name = vm.mem.readString(u32(nPtr), u32(nSize));
      if (name === null) return WasmResult.InvalidMemoryAccess;
      const { result, id } = vm.host.metrics.define(u32(type), name);
      if (result !== WasmResult.Ok) return result;
      return vm.mem.writeU32(u32(idPtr), id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
    increment_metric: (id: number, delta: bigint) => vm.host.metrics.increment(u32(id), BigInt(delta)),
    record_metric: (id: number, value: bigint) => vm.host.metrics.record(u32(id), BigInt.asUintN(64, BigInt(value))),
    get_metric: (id: number, retPtr: number) => {
      const value = vm.host.metrics.get(u32(id));
      if (typeof value === "number") return value;
      return vm.mem.writeU64(u32(retPtr), value) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
  };
}
